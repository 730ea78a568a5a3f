"""Best contiguous cut of a fixed topological order into K segments.

Every schedule is a cut of some topological order (DOMAIN.md section 1), so order-based solvers
(``slicegraph``, ``greedy``) search orders and call :func:`best_cut` on each. Up to
``dp_max_nodes`` nodes the cut is optimal: the exact DP of :mod:`exact_dp` over the order's
``n + 1`` prefixes, ``O(K n^2)`` (Archer et al., ICML 2024). Above it, :func:`bisect_cut` bisects
the bottleneck and grows each segment by binary search on its end, which is optimal only when a
segment's latency grows with its length (it usually does; merging can drop transfers), so the
result is a heuristic cut evaluated exactly.
"""

from __future__ import annotations

import heapq

import numpy as np

from respect_gym.cost.model import CostModel
from respect_gym.graph import Graph
from respect_gym.solvers.exact_dp import bottleneck_dp
from respect_gym.solvers.ideals import prefix_ideals
from respect_gym.solvers.stagecost import BatchStageCost

DP_MAX_NODES = 500


def best_cut(cost_model: CostModel, batch_cost: BatchStageCost, order: np.ndarray, num_stages: int,
             dp_max_nodes: int = DP_MAX_NODES, upper: float = np.inf) -> tuple[float, np.ndarray]:
    """Bottleneck and stage per node of the best cut found for ``order``.

    :param upper: only cuts with a bottleneck <= ``upper`` are of interest: segments whose
        latency without streaming exceeds it are not costed (the result is then ``inf`` when no
        cut reaches ``upper``).
    """
    n = order.shape[0]
    if n > dp_max_nodes:
        return bisect_cut(cost_model, order, num_stages)
    matrix = batch_cost.chain_latencies(order, upper=upper, ends_only=num_stages <= 2)
    return bottleneck_dp(prefix_ideals(order), num_stages, matrix)


def bisect_cut(cost_model: CostModel, order: np.ndarray, num_stages: int,
               rel_tol: float = 1e-3, max_rounds: int = 30) -> tuple[float, np.ndarray]:
    """Bisect a target bottleneck; each probe makes segments as long as the target allows."""
    n = order.shape[0]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)

    def seg_cost(i: int, j: int) -> float:
        return cost_model.stage_latency_ms((rank >= i) & (rank < j))

    def probe(target: float) -> list[int] | None:
        cuts, pos = [0], 0
        for _ in range(num_stages - 1):
            lo, hi = pos, n  # largest end with cost <= target, by binary search
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if seg_cost(pos, mid) <= target:
                    lo = mid
                else:
                    hi = mid - 1
            pos = lo
            cuts.append(pos)
        return cuts + [n] if seg_cost(pos, n) <= target else None

    def stages_of(cuts: list[int]) -> np.ndarray:
        return stages_from_cuts(order, np.asarray(cuts[1:-1]))

    best = stages_of([0] + [n] * num_stages)  # everything on stage 0: always feasible
    high = seg_cost(0, n)
    low = 0.0
    for _ in range(max_rounds):
        if high - low <= rel_tol * high:
            break
        mid = (low + high) / 2
        cuts = probe(mid)
        if cuts is None:
            low = mid
        else:
            best = stages_of(cuts)
            high = max(cost_model.stage_latency_ms(best == k) for k in range(num_stages))
    return high, best


def key_order(graph: Graph, keys: np.ndarray) -> np.ndarray:
    """Topological order that always runs the ready node with the smallest key (random-key
    decoding: any key vector gives a valid order, and every order has a key vector)."""
    indeg = graph.in_degree.tolist()
    succs = [s.tolist() for s in graph.successors]
    keys = np.asarray(keys, dtype=np.float64).tolist()
    ready = [(keys[v], v) for v in range(graph.num_nodes) if indeg[v] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, u = heapq.heappop(ready)
        order.append(u)
        for v in succs[u]:
            indeg[v] -= 1
            if indeg[v] == 0:
                heapq.heappush(ready, (keys[v], v))
    return np.asarray(order, dtype=np.int64)


def stages_from_cuts(order: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Stage per node when segment ``k`` is ``order[cuts[k-1]:cuts[k]]`` (``cuts``: the K-1
    inner cut positions, non-decreasing)."""
    stages = np.empty(order.shape[0], dtype=np.int64)
    stages[order] = np.searchsorted(np.asarray(cuts), np.arange(order.shape[0]), side="right")
    return stages
