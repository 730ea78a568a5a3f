"""``exact``: a proven-optimal schedule, by the ideal DP when the lattice is small, else CP-SAT.

The DP over all ideals (:mod:`exact_dp`) is exact for any stage cost that depends only on the
stage's node set, which the cost model guarantees; its cost grows with the square of the number
of ideals, so graphs with more than ``max_ideals`` ideals (option, default 2500) go to the
order-encoded CP-SAT model (:mod:`exact_cpsat`), which is also used for ``objective="paper"``.
Option ``method``: ``"auto"`` (default), ``"dp"`` or ``"cpsat"``.
"""

from __future__ import annotations

from respect_gym.solvers.base import Problem, SolverError, SolverOutput
from respect_gym.solvers.exact_dp import bottleneck_dp, pair_cost_matrix
from respect_gym.solvers.ideals import TooManyIdealsError, enumerate_ideals

MAX_IDEALS = 2500


def solve_exact(problem: Problem) -> SolverOutput:
    opts = problem.options
    method = opts.get("method", "auto")
    if method not in ("auto", "dp", "cpsat"):
        raise SolverError(f"exact: method must be 'auto', 'dp' or 'cpsat', got {method!r}")
    if method == "dp" and problem.objective != "latency":
        raise SolverError("exact: the ideal DP optimises the latency objective only; use method='cpsat'")
    if method != "cpsat" and problem.objective == "latency":
        limit = None if method == "dp" else int(opts.get("max_ideals", MAX_IDEALS))
        try:
            ideals = enumerate_ideals(problem.graph, limit=limit)
        except TooManyIdealsError:
            ideals = None
        if ideals is not None:
            return solve_dp(problem, ideals)
    from respect_gym.solvers.exact_cpsat import solve_cpsat

    return solve_cpsat(problem)


def solve_dp(problem: Problem, ideals) -> SolverOutput:
    """Exact DP over the given ideals (all ideals of the graph)."""
    matrix = pair_cost_matrix(ideals, problem.batch_cost)
    value, stages = bottleneck_dp(ideals, problem.num_stages, matrix)
    return SolverOutput(stages=stages, optimal=True, objective_bound=value, status="optimal",
                        info={"method": "dp", "num_ideals": int(ideals.shape[0])})
