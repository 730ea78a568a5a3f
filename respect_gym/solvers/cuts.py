"""Best contiguous cut of a fixed topological order into K segments, for each objective.

Every schedule is a cut of some topological order (a chain of nested ideals), so order-based
solvers (``slicegraph``, the agents' re-cut) search orders and cut each one with
:meth:`respect_gym.problem.objectives.Objective.best_cut`, which calls the functions here. Up to
``dp_max_nodes`` nodes the cut is optimal for the period and the latency: the exact DP of
:mod:`exact_dp` over the order's ``n + 1`` prefixes, ``O(K n^2)`` (Archer et al., ICML 2024), combined
by the objective (:meth:`~respect_gym.problem.objectives.Objective.chain`). Above it,
:func:`bisect_cut` bisects the bottleneck and grows each segment by binary search on its end, which
is optimal only when a segment's latency grows with its length (it usually does; merging can drop
transfers), so the result is a heuristic cut evaluated exactly. The paper objective has its own
exact DP (:func:`best_paper_cut`).
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

import numpy as np

from respect_gym.cost.model import CostModel
from respect_gym.cost.paper import EDGE_WEIGHT, MEMORY_UNIT_BYTES, MEMORY_WEIGHT
from respect_gym.graph import Graph
from respect_gym.solvers.ideals import prefix_ideals
from respect_gym.solvers.stagecost import BatchStageCost

if TYPE_CHECKING:
    from respect_gym.problem.objectives import Objective

DP_MAX_NODES = 500
# one full DP cut's seconds per n^3, for budgets (hard-v1's 300-node graph: 1.2-1.9 s, the machine loaded)
DP_CUT_SECONDS_PER_NODE3 = 4.5e-8
BOUND_MIN_NODES = 200  # from this many nodes on, the exact cut DP is bounded by the bisection heuristic's cut


def dp_cut_seconds(num_nodes: int) -> float:
    """Estimated seconds of one full DP cut of an order of ``num_nodes`` nodes (``O(n^3)`` pricing)."""
    return DP_CUT_SECONDS_PER_NODE3 * num_nodes**3


def best_cut(cost_model: CostModel, batch_cost: BatchStageCost, order: np.ndarray, num_stages: int,
             objective: Objective, dp_max_nodes: int = DP_MAX_NODES, upper: float = np.inf
             ) -> tuple[float, np.ndarray | None]:
    """Objective value and stage per node of the best cut found for ``order``.

    :param upper: only cuts with a value <= ``upper`` are of interest: segments whose latency
        without streaming exceeds it are not costed; ``(inf, None)`` when no cut reaches ``upper``.
    :param objective: a :class:`respect_gym.problem.objectives.Objective` whose value is a max or
        a sum of stage latencies (:attr:`~respect_gym.problem.objectives.Objective.separable`).
    """
    n = order.shape[0]
    if n > dp_max_nodes:
        _, stages = bisect_cut(cost_model, order, num_stages)
    else:
        if n >= BOUND_MIN_NODES:
            # the heuristic's cut (milliseconds) bounds the optimum, so the DP need not price the
            # segments above it, whose first-fit streaming is most of its time on long orders
            # (2-5x on the zoo's 300-800-node graphs); the optimum's value is unchanged
            _, heuristic = bisect_cut(cost_model, order, num_stages)
            bound = objective.value(cost_model.graph, heuristic, num_stages, cost_model.evaluate(heuristic, num_stages))
            upper = min(upper, bound * (1 + 1e-9) + 1e-12)
        matrix = batch_cost.chain_latencies(order, upper=upper, ends_only=num_stages <= 2)
        stages = objective.chain(cost_model, prefix_ideals(order), matrix, num_stages)
        if stages is None:
            return np.inf, None
    value = objective.value(cost_model.graph, stages, num_stages, cost_model.evaluate(stages, num_stages))
    return value, stages


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


def boundary_costs(graph: Graph, order: np.ndarray) -> np.ndarray:
    """``cross[b]`` for ``b`` in ``0..n``: edges a boundary before position ``b`` cuts."""
    n = order.shape[0]
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    diff = np.zeros(n + 2, dtype=np.int64)
    if graph.num_edges:
        np.add.at(diff, pos[graph.edges[:, 0]] + 1, 1)
        np.add.at(diff, pos[graph.edges[:, 1]] + 1, -1)
    return np.cumsum(diff)[: n + 1]


def best_paper_cut(graph: Graph, order: np.ndarray, num_stages: int, upper: float) -> tuple[float, np.ndarray | None]:
    """Paper cost and stage per node of the best cut of ``order`` with a cost below ``upper``.

    The paper objective of a schedule is ``memory_weight * max_k mem_k / unit + edge_weight *
    crossings`` (:mod:`respect_gym.cost.paper`). For a cut of an order into segments, an edge
    ``u -> v`` crosses every boundary between its two positions, so the crossings are a sum over the
    boundaries: boundary ``b`` (a segment starting at position ``b > 0``) costs ``cross[b]``
    (:func:`boundary_costs`). The DP keeps, for ``k`` non-empty segments covering the first ``j``
    positions with ``x`` crossings, the smallest largest segment memory; crossings are bounded by
    what could still beat ``upper``, so it is exact (the brute-force test checks it) and costs
    ``O(K n^2 X)`` element operations, vectorised over the segment start and ``x``. Fewer than K
    segments are allowed (the later stages stay empty, which costs nothing).

    Returns ``(inf, None)`` when no cut beats ``upper`` (which bounds the crossings searched:
    ``x * EDGE_WEIGHT < upper``).
    """
    n = order.shape[0]
    cross = boundary_costs(graph, order)
    memory = np.concatenate([[0.0], np.cumsum(np.asarray(graph.param_bytes, dtype=np.float64)[order])])
    memory *= MEMORY_WEIGHT / MEMORY_UNIT_BYTES  # the memory term in objective units
    most = int(cross.sum()) * max(num_stages - 1, 1)  # no cut crosses more
    xs = 1 + (min(int(np.floor(upper / EDGE_WEIGHT)), most) if np.isfinite(upper) else most)
    inf = np.inf
    # best[j, x]: smallest largest-segment memory covering positions [0, j) with x crossings
    best = np.full((n + 1, xs), inf)
    best[1:, 0] = memory[1:]  # one segment [0, j)
    choices = []  # per extra segment: argmin start for (j, x)
    results = [best.copy()]
    column = np.arange(xs)
    for _ in range(1, num_stages):
        # shifted[i, x] = best[i, x - cross[i]]: the previous segments plus the boundary at i
        shifted = np.full((n + 1, xs), inf)
        for i in range(1, n):
            c = int(cross[i])
            if c < xs:
                shifted[i, c:] = best[i, : xs - c]
        new = np.full((n + 1, xs), inf)
        start = np.zeros((n + 1, xs), dtype=np.int64)
        for j in range(2, n + 1):
            cand = np.maximum(shifted[1:j], (memory[j] - memory[1:j])[:, None])  # segment [i, j), i in 1..j-1
            arg = cand.argmin(axis=0)
            new[j] = cand[arg, column]
            start[j] = arg + 1
        choices.append(start)
        best = new
        results.append(best)
    totals = [r[n] + EDGE_WEIGHT * column for r in results]  # k + 1 segments ending at n
    flat = np.array([t.min() for t in totals])
    k = int(flat.argmin())
    value = float(flat[k])
    if not value < upper:
        return inf, None
    x = int(totals[k].argmin())
    bounds, j = [], n
    for level in range(k, 0, -1):  # walk back through the segment starts
        i = int(choices[level - 1][j, x])
        bounds.append(i)
        x -= int(cross[i])
        j = i
    stages = np.empty(n, dtype=np.int64)
    stages[order] = np.searchsorted(np.asarray(sorted(bounds), dtype=np.int64), np.arange(n), side="right")
    return value, stages
