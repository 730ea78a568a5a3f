"""Exact bottleneck (and sum) DP over a family of ideals (Tarnawski et al., NeurIPS 2020).

``dp[k][I] = min over ideals J subset of I of max(dp[k-1][J], cost(I \\ J))``: the best
bottleneck of putting ideal ``I`` on the first ``k + 1`` stages (``+`` instead of ``max``: the
best sum of stage costs, i.e. one input's latency). Over ALL ideals of the graph this
is exact; over the prefixes of one topological order it is the optimal contiguous cut of that
order (SliceGraph's inner DP). Stage costs of all candidate pairs are computed once, in batches,
then each of the K layers is one vectorised min-max over an ``(M, M)`` matrix.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from respect_gym.solvers.ideals import subset_pairs

MaskCost = Callable[[np.ndarray], np.ndarray]
_PAIR_CHUNK = 50_000


def pair_cost_matrix(ideals: np.ndarray, cost: MaskCost, pairs: np.ndarray | None = None) -> np.ndarray:
    """``C[J, I]`` = cost of the stage ``I \\ J`` for subset pairs, ``inf`` elsewhere."""
    if pairs is None:
        pairs = subset_pairs(ideals)
    m = ideals.shape[0]
    matrix = np.full((m, m), np.inf)
    for lo in range(0, pairs.shape[0], _PAIR_CHUNK):
        j, i = pairs[lo : lo + _PAIR_CHUNK].T
        matrix[j, i] = cost(ideals[i] & ~ideals[j])
    return matrix


def bottleneck_dp(ideals: np.ndarray, num_stages: int, cost_matrix: np.ndarray) -> tuple[float, np.ndarray]:
    """Minimum bottleneck over chains of ``num_stages`` nested ideals from empty to full.

    :param ideals: ``(M, n)`` bool, sorted by size, row 0 empty and row ``M - 1`` the full set.
    :param cost_matrix: from :func:`pair_cost_matrix`.
    :returns: the optimal bottleneck and a stage per node achieving it.
    """
    values, schedule = chain_dp(ideals, num_stages, cost_matrix, np.maximum)
    return values[-1], schedule(num_stages)


def chain_dp(ideals: np.ndarray, num_stages: int, cost_matrix: np.ndarray,
             combine: Callable[[np.ndarray, np.ndarray], np.ndarray],
             window: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[list[float], Callable[[int], np.ndarray]]:
    """Best value of every stage count 1..``num_stages`` at once, for a monotone ``combine`` of the
    stage costs (``np.maximum``: the bottleneck; ``np.add``: the sum of stages).

    :param window: ``(lo, hi)`` per ideal: ideal I may end stage t (0-based) only if
        ``lo[I] <= t < hi[I]`` (fixed nodes); ``None``: any ideal ends any stage.
    :returns: ``values[k - 1]`` = the optimum with k stages (empty ones allowed), and a function
        giving the schedule that reaches it for a stage count k.
    """
    def allowed(values: np.ndarray, t: int) -> np.ndarray:
        return values if window is None else np.where((window[0] <= t) & (t < window[1]), values, np.inf)

    best = allowed(cost_matrix[0].copy(), 0)
    values, choices = [float(best[-1])], []
    for t in range(1, num_stages):
        cand = combine(best[:, None], cost_matrix)
        arg = cand.shape[0] - 1 - cand[::-1].argmin(axis=0)  # ties: the largest J, so empty stages come last
        best = allowed(cand[arg, np.arange(cand.shape[1])], t)
        choices.append(arg)
        values.append(float(best[-1]))

    def schedule(k: int) -> np.ndarray:
        stages = np.zeros(ideals.shape[1], dtype=np.int64)
        current = ideals.shape[0] - 1
        for s in range(k - 1, 0, -1):
            prev = int(choices[s - 1][current])
            stages[ideals[current] & ~ideals[prev]] = s
            current = prev
        return stages

    return values, schedule
