"""Incremental schedule evaluation for environments that assign one node at a time.

Each :meth:`IncrementalEvaluator.assign` costs O(in-degree of the node): per-stage running sums of
compute, streaming and transfers are updated with the same per-node arrays and first-fit rule as
:meth:`CostModel.evaluate`, so the final :meth:`~IncrementalEvaluator.report` equals it. A stage's
caching is refitted from scratch only when its cache capacity shrinks (a larger activation
arrived) or a layer arrives out of execution order, which never happens when nodes are assigned
in ``graph.topological_order``.
"""

from __future__ import annotations

import bisect
import numbers

import numpy as np

from respect_gym.cost.model import CostModel, first_fit
from respect_gym.cost.report import PipelineReport
from respect_gym.cost.schedule import ScheduleError, check_num_stages


class IncrementalEvaluator:
    """Running pipeline cost of a partial schedule.

    :param cost_model: the :class:`CostModel` of the graph and hardware.
    :param num_stages: number of pipeline stages K.

    Public running state (read-only numpy arrays of length K): ``stage_ms``,
    ``stage_param_bytes``; ``bottleneck_ms`` is the slowest stage so far and ``stages`` the
    assignment so far (-1 = unassigned).
    """

    def __init__(self, cost_model: CostModel, num_stages: int) -> None:
        self.model = cost_model
        self.num_stages = check_num_stages(num_stages)
        g = cost_model.graph
        self._n = g.num_nodes
        self._preds = [p.tolist() for p in g.predecessors]
        self._is_op = cost_model.is_op.tolist()
        self._compute = cost_model.compute_ms.tolist()
        self._extra = cost_model.extra_ms.tolist()
        self._param = cost_model.param_bytes.tolist()
        self._act = cost_model.act_bytes.tolist()
        self._out = cost_model.out_bytes.tolist()
        self._rank = cost_model.topo_rank.tolist()
        self._sink = (cost_model.is_op & (g.out_degree == 0)).tolist()
        self.reset()

    def reset(self) -> None:
        """Forget every assignment."""
        k = self.num_stages
        self._stages = np.full(self._n, -1, dtype=np.int64)
        self._assigned = 0
        self._num_ops = np.zeros(k, dtype=np.int64)
        self._compute_ms = np.zeros(k)
        self._stream_ms = np.zeros(k)
        self._param_bytes = np.zeros(k, dtype=np.int64)
        self._streamed_bytes = np.zeros(k, dtype=np.int64)
        self._in_bytes = np.zeros(k, dtype=np.int64)
        self._out_bytes = np.zeros(k, dtype=np.int64)
        self._stage_ms = np.zeros(k)
        self._max_act = [0] * k
        self._capacity = [self.model.capacity(0)] * k
        self._remaining = list(self._capacity)
        self._layers: list[list[tuple[int, int]]] = [[] for _ in range(k)]  # (topo rank, node)
        self._sent = [False] * self._n  # tensor already sent TPU -> host
        self._received: dict[int, set[int]] = {}  # tensor -> stages it was sent to

    # ----------------------------------------------------------------- state
    @property
    def stages(self) -> np.ndarray:
        return _view(self._stages)

    @property
    def stage_ms(self) -> np.ndarray:
        return _view(self._stage_ms)

    @property
    def stage_param_bytes(self) -> np.ndarray:
        return _view(self._param_bytes)

    @property
    def bottleneck_ms(self) -> float:
        return float(self._stage_ms.max())

    @property
    def period_ms(self) -> float:
        """Steady-state period of the stages so far (the cost model's pipeline formula)."""
        return self.model.pipeline_ms(self._stage_ms, int((self._num_ops > 0).sum()))[0]

    @property
    def latency_ms(self) -> float:
        """One input's latency through the stages so far."""
        return self.model.pipeline_ms(self._stage_ms, int((self._num_ops > 0).sum()))[1]

    @property
    def complete(self) -> bool:
        return self._assigned == self._n

    # ----------------------------------------------------------------- steps
    def assign(self, node: int, stage: int) -> None:
        """Put ``node`` on ``stage``; all its predecessors must already be assigned."""
        v, s = self._check(node, stage)
        self._stages[v] = s
        self._assigned += 1
        touched = {s}
        if self._is_op[v]:
            self._num_ops[s] += 1
            self._compute_ms[s] += self._compute[v]
            self._add_layer(v, s)
            for u in self._preds[v]:
                su = int(self._stages[u])
                if su == s and self._is_op[u]:
                    continue
                seen = self._received.setdefault(u, set())
                if s not in seen:
                    seen.add(s)
                    self._in_bytes[s] += self._out[u]
                if self._is_op[u] and not self._sent[u]:
                    self._sent[u] = True
                    self._out_bytes[su] += self._out[u]
                    touched.add(su)
            if self._sink[v]:
                self._sent[v] = True
                self._out_bytes[s] += self._out[v]
        for t in touched:
            self._stage_ms[t] = self.model.combine(
                int(self._num_ops[t]), self._compute_ms[t] + self._stream_ms[t],
                int(self._in_bytes[t] + self._out_bytes[t]),
            )

    def _check(self, node: int, stage: int) -> tuple[int, int]:
        for label, value, bound in (("node", node, self._n), ("stage", stage, self.num_stages)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < bound:
                raise ScheduleError(f"{label} must be an integer in 0..{bound - 1}, got {value!r}")
        v, s = int(node), int(stage)
        names = self.model.graph.names
        if self._stages[v] >= 0:
            raise ScheduleError(f"node {v} ({names[v]!r}) is already assigned to stage {int(self._stages[v])}")
        for u in self._preds[v]:
            su = int(self._stages[u])
            if su < 0:
                raise ScheduleError(f"node {v} ({names[v]!r}) assigned before its predecessor {u} ({names[u]!r})")
            if su > s:
                raise ScheduleError(
                    f"precedence violated on edge {u} -> {v} ({names[u]!r} -> {names[v]!r}): stage {su} > stage {s}"
                )
        return v, s

    def _add_layer(self, v: int, s: int) -> None:
        refit = False
        if self._act[v] > self._max_act[s]:
            self._max_act[s] = self._act[v]
            capacity = self.model.capacity(self._act[v])
            refit = capacity < self._capacity[s]
            self._capacity[s] = capacity
        p = self._param[v]
        if p > 0:
            self._param_bytes[s] += p
            layers = self._layers[s]
            entry = (self._rank[v], v)
            if layers and entry < layers[-1]:
                bisect.insort(layers, entry)
                refit = True
            else:
                layers.append(entry)
                if not refit:
                    if p <= self._remaining[s] and p <= self.model.max_layer_bytes:
                        self._remaining[s] -= p
                    else:
                        self._stream_ms[s] += self._extra[v]
                        self._streamed_bytes[s] += p
        if refit:
            self._refit(s)

    def _refit(self, s: int) -> None:
        nodes = [v for _, v in self._layers[s]]
        params = np.asarray([self._param[v] for v in nodes], dtype=np.int64)
        cached = first_fit(params, self._capacity[s], self.model.max_layer_bytes)
        self._remaining[s] = self._capacity[s] - int(params[cached].sum())
        self._streamed_bytes[s] = int(params[~cached].sum())
        self._stream_ms[s] = float(sum(self._extra[v] for v, c in zip(nodes, cached.tolist()) if not c))

    # ----------------------------------------------------------------- result
    def report(self) -> PipelineReport:
        """The pipeline report of the complete schedule (equal to :meth:`CostModel.evaluate`)."""
        if not self.complete:
            raise ScheduleError(f"schedule incomplete: {self._n - self._assigned} of {self._n} nodes unassigned")
        return self.model.report(
            stage_ms=self._stage_ms.copy(),
            stage_compute_ms=self._compute_ms.copy(),
            stage_stream_ms=self._stream_ms.copy(),
            stage_transfer_ms=(self._in_bytes + self._out_bytes) * self.model.ms_per_link_byte,
            stage_param_bytes=self._param_bytes.copy(),
            stage_cached_bytes=self._param_bytes - self._streamed_bytes,
            stage_streamed_bytes=self._streamed_bytes.copy(),
            stage_in_bytes=self._in_bytes.copy(),
            stage_out_bytes=self._out_bytes.copy(),
            stage_num_ops=self._num_ops.copy(),
        )


def _view(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.setflags(write=False)
    return view
