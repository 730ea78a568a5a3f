"""``exact``: a proven-optimal schedule, by the ideal DP when the lattice is small, else CP-SAT.

The DP over all ideals (:mod:`exact_dp`) is exact for any stage cost that depends only on the
stage's node set, which the cost model guarantees; its cost grows with the square of the number
of ideals times the nodes, so it takes lattices of at most ``max_ideals`` ideals (option, default
2500) and :data:`DP_MAX_WORK` element operations. A period problem beyond that goes to the segment
DP (:mod:`exact_segments`: the graph cut at its waists, linear memory, anytime under a time limit)
when its segments' ideals are few enough, else to the order-encoded CP-SAT model
(:mod:`exact_cpsat`), which is also used for ``objective="paper"``.
The period objective ``max(bottleneck, host_stage_ms * used stages)`` is the minimum over stage
counts k <= K of ``max(best bottleneck with k stages, host_stage_ms * k)``, and one DP gives the
best bottleneck of every k; one input's latency (``"latency"``) is the DP with sums.
Options: ``method``: ``"auto"`` (default), ``"dp"`` or ``"cpsat"``; ``search``: CP-SAT's
``"single"`` worker (default) or its parallel ``"portfolio"``; ``deterministic``: a CP-SAT time
limit counted in deterministic time, so that a limited search stops at the same point on any run
(the DP is always deterministic, and proven optimal values never vary), with
``deterministic_time`` that limit in CP-SAT's deterministic seconds (see :mod:`exact_cpsat`);
``fixed``: a partial schedule (stage per node, -1 = free) that the optimum must extend, e.g. the
nodes a learner has placed so far (DAgger's expert); ``warm_start``: a registered solver's name
(e.g. ``"imitation"``) or a schedule that seeds CP-SAT's search (the DP ignores it).
"""

from __future__ import annotations

import numpy as np

from respect_gym.problem.objectives import Period
from respect_gym.solvers.base import Problem, SolverError, SolverOutput
from respect_gym.solvers.exact_dp import pair_cost_matrix
from respect_gym.solvers.fixed import check_fixed
from respect_gym.solvers.ideals import TooManyIdealsError, enumerate_ideals, subset_pairs
from respect_gym.solvers.reductions import segment_ideals

MAX_IDEALS = 2500
# the all-pairs ideal DP costs ~ M^2 n element operations (a 2,000-node chain: 8e9, 80 s and 4.7 GB);
# above this the segment DP (exact_segments) takes a period problem
DP_MAX_WORK = 1e9
MAX_SEGMENT_IDEALS = 2_000_000  # ideals of all segments together (memory: a few per-ideal arrays)
# ideals of one segment: stages inside a segment are costed pair by pair (quadratic in this), so a
# segment with more sends the graph to CP-SAT (measured, 20 s limit: inception_resnet_v2 layers, a
# 1,400-ideal segment, stopped at 21-37% gaps where CP-SAT proves it; inception_v3 layers: 9,200)
MAX_LOCAL_IDEALS = 500
SEARCHES = ("single", "portfolio")  # CP-SAT's (exact_cpsat)


def solve_exact(problem: Problem) -> SolverOutput:
    opts = problem.take_options("exact", method="auto", max_ideals=MAX_IDEALS, deterministic=False,
                                deterministic_time=None, fixed=None, warm_start=None, search="single")
    fixed = check_fixed(problem, opts["fixed"])
    method = opts["method"]
    if method not in ("auto", "dp", "cpsat"):
        raise SolverError(f"exact: method must be 'auto', 'dp' or 'cpsat', got {method!r}")
    if opts["search"] not in SEARCHES:
        raise SolverError(f"exact: search must be one of {SEARCHES}, got {opts['search']!r}")
    separable = problem.objective.separable  # a max or sum of stage latencies: the ideal DP prices it
    # the segment DP (exact_segments) prices the period with no fixed nodes
    segmentable = isinstance(problem.objective, Period) and fixed is None and method == "auto"
    if method == "dp" and not separable:
        raise SolverError(f"exact: the ideal DP optimises the period and latency objectives only, not "
                          f"{problem.objective.name!r}; use method='cpsat'")
    if method != "cpsat" and separable:
        limit = None if method == "dp" else int(opts["max_ideals"])
        try:
            ideals = enumerate_ideals(problem.graph, limit=limit)
        except TooManyIdealsError:
            ideals = None
        n = problem.graph.num_nodes
        if ideals is not None and (method == "dp" or ideals.shape[0] ** 2 * n <= DP_MAX_WORK or not segmentable):
            return solve_dp(problem, ideals, fixed)
        if segmentable:
            try:
                segments = segment_ideals(problem.graph, limit=MAX_SEGMENT_IDEALS, local_limit=MAX_LOCAL_IDEALS)
            except TooManyIdealsError:
                segments = None
            if segments is not None:
                from respect_gym.solvers.exact_segments import WORK_PER_SECOND, solve_segments

                limit_s = problem.time_limit
                return solve_segments(problem, segments, None if limit_s is None else int(limit_s * WORK_PER_SECOND))
    from respect_gym.solvers.exact_cpsat import solve_cpsat

    if opts["deterministic_time"] is not None and not opts["deterministic"]:
        raise SolverError("exact: deterministic_time needs deterministic=True")
    return solve_cpsat(problem, bool(opts["deterministic"]), opts["deterministic_time"], fixed, opts["warm_start"],
                       opts["search"])


def solve_dp(problem: Problem, ideals: np.ndarray, fixed: np.ndarray | None = None) -> SolverOutput:
    """Exact DP over all ideals of the graph, costing only the stages an optimum can use.

    An upper bound ``ub`` on the objective (from the best cut of the canonical order) prunes
    every stage ``I \\ J`` whose invoke overhead plus compute alone exceeds ``ub``: no stage of an
    optimal schedule costs more than its objective. Only the first stage starts from the empty
    ideal and only the last ends at the full one, so with K = 2 no other pair is needed. Pruned
    pairs cost ``inf``, the DP stays exact. A lattice with ``n + 1`` ideals is a chain (one
    topological order): its stage costs come from the faster contiguous-segment evaluator.
    """
    k = problem.num_stages
    cm = problem.cost_model
    if fixed is None:
        ub, _ = problem.best_cut(problem.graph.topological_order)
    else:
        ub = np.inf
    if ideals.shape[0] == problem.graph.num_nodes + 1:  # a chain: the prefixes of the only order
        matrix = problem.batch_cost.chain_latencies(problem.graph.topological_order, upper=ub, ends_only=k <= 2)
        return _best_chain(problem, ideals, matrix, {"method": "dp", "num_ideals": int(ideals.shape[0])}, fixed)
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
    return _best_chain(problem, ideals, matrix, {"method": "dp", "num_ideals": int(ideals.shape[0]),
                                                 "pairs_costed": int(keep.sum())}, fixed)


def _best_chain(problem: Problem, ideals: np.ndarray, matrix: np.ndarray, info: dict,
                fixed: np.ndarray | None = None) -> SolverOutput:
    """The optimal chain of ideals for the problem's objective, from the stage-cost matrix."""
    k = problem.num_stages
    window = None
    if fixed is not None:  # ideal I may end stage t iff lo[I] <= t < hi[I]
        pinned = fixed >= 0
        stage_in = np.where(ideals & pinned, fixed, -1)
        stage_out = np.where(~ideals & pinned, fixed, k)
        window = (stage_in.max(axis=1), stage_out.min(axis=1))
    stages = problem.objective.chain(problem.cost_model, ideals, matrix, k, window)
    if stages is None:
        raise SolverError("exact: no schedule extends the fixed stages")  # check_fixed rules this out
    return SolverOutput(stages=stages, optimal=True, objective_bound=problem.objective_value(stages),
                        status="optimal", info=info)
