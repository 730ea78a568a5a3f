"""``exact``: a proven-optimal schedule, by the ideal DP when the lattice is small, else CP-SAT.

The DP over all ideals (:mod:`exact_dp`) is exact for any stage cost that depends only on the
stage's node set, which the cost model guarantees; its cost grows with the square of the number
of ideals, so graphs with more than ``max_ideals`` ideals (option, default 2500) go to the
order-encoded CP-SAT model (:mod:`exact_cpsat`), which is also used for ``objective="paper"``.
Options: ``method``: ``"auto"`` (default), ``"dp"`` or ``"cpsat"``; ``deterministic``: reproducible
CP-SAT search (slower; the DP is always deterministic, and proven optimal values never vary), with
``deterministic_time`` its limit in CP-SAT's deterministic seconds (see :mod:`exact_cpsat`).
"""

from __future__ import annotations

import numpy as np

from respect_gym.solvers.base import Problem, SolverError, SolverOutput
from respect_gym.solvers.cuts import best_cut
from respect_gym.solvers.exact_dp import bottleneck_dp, pair_cost_matrix
from respect_gym.solvers.ideals import TooManyIdealsError, enumerate_ideals, subset_pairs

MAX_IDEALS = 2500


def solve_exact(problem: Problem) -> SolverOutput:
    opts = problem.take_options("exact", method="auto", max_ideals=MAX_IDEALS, deterministic=False,
                                deterministic_time=None)
    method = opts["method"]
    if method not in ("auto", "dp", "cpsat"):
        raise SolverError(f"exact: method must be 'auto', 'dp' or 'cpsat', got {method!r}")
    if method == "dp" and problem.objective != "latency":
        raise SolverError("exact: the ideal DP optimises the latency objective only; use method='cpsat'")
    if method != "cpsat" and problem.objective == "latency":
        limit = None if method == "dp" else int(opts["max_ideals"])
        try:
            ideals = enumerate_ideals(problem.graph, limit=limit)
        except TooManyIdealsError:
            ideals = None
        if ideals is not None:
            return solve_dp(problem, ideals)
    from respect_gym.solvers.exact_cpsat import solve_cpsat

    if opts["deterministic_time"] is not None and not opts["deterministic"]:
        raise SolverError("exact: deterministic_time needs deterministic=True")
    return solve_cpsat(problem, bool(opts["deterministic"]), opts["deterministic_time"])


def solve_dp(problem: Problem, ideals: np.ndarray) -> SolverOutput:
    """Exact DP over all ideals of the graph, costing only the stages an optimum can use.

    An upper bound ``ub`` (the best cut of the canonical order) prunes every stage ``I \\ J``
    whose invoke overhead plus compute alone exceeds ``ub``: an optimal schedule has no such
    stage. Only the first stage starts from the empty ideal and only the last ends at the full
    one, so with K = 2 no other pair is needed. Pruned pairs cost ``inf``, the DP stays exact.
    A lattice with ``n + 1`` ideals is a chain (one topological order): its stage costs come
    from the faster contiguous-segment evaluator.
    """
    k = problem.num_stages
    ub, _ = best_cut(problem.cost_model, problem.batch_cost, problem.graph.topological_order, k)
    if ideals.shape[0] == problem.graph.num_nodes + 1:  # a chain: the prefixes of the only order
        matrix = problem.batch_cost.chain_latencies(problem.graph.topological_order, upper=ub, ends_only=k <= 2)
        value, stages = bottleneck_dp(ideals, k, matrix)
        return SolverOutput(stages=stages, optimal=True, objective_bound=value, status="optimal",
                            info={"method": "dp", "num_ideals": int(ideals.shape[0])})
    pairs = subset_pairs(ideals)
    j, i = pairs.T
    full = ideals.shape[0] - 1
    ends = (j == 0) | (i == full)
    keep = ends if k <= 2 else np.ones(pairs.shape[0], dtype=bool)
    cm = problem.cost_model
    work = ideals.astype(np.float64) @ np.asarray(cm.compute_ms)
    ops = ideals.astype(np.float64) @ np.asarray(cm.is_op, dtype=np.float64)
    stage_lb = work[i] - work[j] + np.where(ops[i] > ops[j], cm.hardware.invoke_overhead_ms, 0.0)
    keep &= stage_lb <= ub * (1 + 1e-9) + 1e-12
    matrix = pair_cost_matrix(ideals, problem.batch_cost, pairs[keep])
    value, stages = bottleneck_dp(ideals, k, matrix)
    return SolverOutput(stages=stages, optimal=True, objective_bound=value, status="optimal",
                        info={"method": "dp", "num_ideals": int(ideals.shape[0]), "pairs_costed": int(keep.sum())})
