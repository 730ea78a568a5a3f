"""``greedy``: balance standalone op compute along the canonical topological order.

Cuts ``graph.topological_order`` where the running compute sum crosses ``k * total / K``. It
ignores caching, streaming and transfers, runs in O(n), and is the simple "balance the work"
baseline between ``random`` and the cost-aware solvers.
"""

from __future__ import annotations

import numpy as np

from respect_gym.solvers.base import Problem, SolverOutput
from respect_gym.solvers.cuts import stages_from_cuts


def solve_greedy(problem: Problem) -> SolverOutput:
    problem.take_options("greedy")
    order = problem.graph.topological_order
    work = np.cumsum(np.asarray(problem.cost_model.compute_ms)[order])
    total = float(work[-1]) if work.size else 0.0
    targets = total * np.arange(1, problem.num_stages) / problem.num_stages
    cuts = np.searchsorted(work, targets, side="right")  # a segment ends once it reaches its share
    return SolverOutput(stages=stages_from_cuts(order, cuts), status="heuristic")
