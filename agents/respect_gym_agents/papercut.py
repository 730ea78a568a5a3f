"""Best contiguous cut of a fixed topological order under the RESPECT paper objective.

The paper objective of a schedule is ``memory_weight * max_k mem_k / unit + edge_weight *
crossings`` (:mod:`respect_gym.cost.paper`). For a cut of an order into segments, an edge
``u -> v`` crosses every boundary between its two positions, so the crossings are a sum over the
boundaries: boundary ``b`` (a segment starting at position ``b > 0``) costs ``cross[b]``, the
number of edges with ``pos(u) < b <= pos(v)``. The DP keeps, for ``k`` non-empty segments
covering the first ``j`` positions with ``x`` crossings, the smallest largest segment memory;
crossings are bounded by what could still beat a known value, so it is exact (the brute-force test
checks it) and costs ``O(K n^2 X)`` element operations, vectorised over the segment start and
``x``. Fewer than K segments are allowed (the later stages stay empty, which costs nothing).
"""

from __future__ import annotations

import numpy as np

from respect_gym.cost.paper import EDGE_WEIGHT, MEMORY_UNIT_BYTES, MEMORY_WEIGHT
from respect_gym.graph import Graph


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
