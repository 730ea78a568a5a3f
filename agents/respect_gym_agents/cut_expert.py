"""The expert of the cut policy: the optimal value of each cut action from any state, by a DP.

With ``action="cut"`` an episode of ``RespectPipeline-v1`` is a cut of the visit order into
contiguous segments (stage ``k`` = the ``k``-th segment). Its state, for this purpose, is the
position ``t`` of the current node, the start ``j`` of the open stage ``f`` and the largest latency
``M`` among the closed stages. The best value reachable from there is a DP over the order's
segment latencies (:meth:`respect_gym.solvers.stagecost.BatchStageCost.chain_latencies`, the
cost model's stage formula on every segment ``order[a:b]``):

- ``W[e, m]``: the smallest bottleneck of ``order[e:]`` split into exactly ``m`` non-empty
  segments (``W[n, 0] = 0``);
- the period of a complete cut is ``max(bottleneck, host_stage_ms * stages used)``, so the value
  of ending the open stage at ``e`` is ``max(M, seg[j, e], min over m of max(W[e, m], host *
  (f + 1 + m)))``;
- "stay" (0) may end the open stage anywhere after the current node (``e > t``); "cut" (1) ends
  it just before it (``e = t``, legal when the open stage is not empty and not the last).

This is the exact optimum over the action space the policy has (every continuation of its own
state), so relabelling the states a policy visits is DAgger with an exact expert (Ross et al.,
2011); the best cut of the visit order is what an optimal cut policy reaches, and its gap to the
optimum over all schedules is the "visit-order re-cut" control of the agents' results. Only the
period objective is handled (the objective every shipped agent is trained on).
"""

from __future__ import annotations

import numpy as np

from respect_gym.problem.instance import Instance
from respect_gym.solvers.stagecost import BatchStageCost


class CutExpert:
    """Optimal action values of every cut-policy state of one instance (module docstring).

    Building it costs the segment matrix, ``O(n^2)`` segments, and the DP, ``O(K n^2)``: meant for
    training graphs of up to a few hundred nodes.
    """

    def __init__(self, instance: Instance) -> None:
        if instance.objective.name != "period":
            raise ValueError(f"the cut expert handles the period objective, not {instance.objective.name!r}")
        cm = instance.cost_model
        order = np.asarray(instance.order)
        self.n, self.k = n, k = order.shape[0], instance.num_stages
        self.seg = BatchStageCost(cm).chain_latencies(order)  # seg[a, b]: latency of order[a:b]; inf if b <= a
        self.seg[np.arange(n + 1), np.arange(n + 1)] = np.inf  # no empty segments
        host = cm.host_stage_ms
        w = np.full((n + 1, k), np.inf)
        w[n, 0] = 0.0
        for m in range(1, k):
            w[:, m] = np.maximum(self.seg, w[None, :, m - 1]).min(axis=1)
        # tail[f, e]: the best value of order[e:] on the stages after open stage f, host term included
        used = host * (np.arange(k)[None, :] + np.arange(k)[:, None] + 1)  # used[f, m] = host * (f + 1 + m)
        fits = np.arange(k)[None, :] <= (k - 1 - np.arange(k))[:, None]  # m <= K - 1 - f
        self.tail = np.where(fits[:, None, :], np.maximum(w[None, :, :], used[:, None, :]), np.inf).min(axis=2)
        self.w, self.used = w, used

    def values(self, t: int, start: int, open_stage: int, closed_max: float) -> tuple[float, float]:
        """``(stay, cut)``: the best period reachable after each action (``inf`` when illegal)."""
        f, j = open_stage, start
        ends = self.seg[j, t + 1 :]
        stay = float(np.maximum(np.maximum(ends, self.tail[f, t + 1 :]), closed_max).min())
        cut = np.inf
        if t > j and f < self.k - 1:
            head = max(closed_max, self.seg[j, t])
            cut = float(np.maximum(np.maximum(self.w[t, 1 : self.k - f], self.used[f, 1 : self.k - f]), head).min())
        return stay, cut

    def optimum(self) -> float:
        """The best period of any cut of the visit order (the value of the initial state)."""
        return self.values(0, 0, 0, 0.0)[0]
