"""``random``: a uniformly drawn valid schedule, the floor every other solver must beat.

A random-key topological order cut at K-1 uniformly drawn positions: every valid schedule has
non-zero probability. Deterministic under ``seed``.
"""

from __future__ import annotations

import numpy as np

from respect_gym.solvers.base import Problem, SolverOutput
from respect_gym.solvers.cuts import key_order, stages_from_cuts


def solve_random(problem: Problem) -> SolverOutput:
    problem.take_options("random")
    rng = np.random.default_rng(problem.seed)
    n = problem.graph.num_nodes
    order = key_order(problem.graph, rng.random(n))
    cuts = np.sort(rng.integers(0, n + 1, size=problem.num_stages - 1))
    return SolverOutput(stages=stages_from_cuts(order, cuts), status="heuristic")
