"""The CP-SAT exact path against brute force and against the ideal DP."""

from __future__ import annotations

import os

import pytest

import respect_gym
from respect_gym.solvers import SolverError, solve
from solver_brute import brute_force, brute_force_paper, tiny_graph


@pytest.mark.parametrize("seed", range(8))
def test_cpsat_equals_brute_force_on_tiny_graphs(seed: int) -> None:
    graph = tiny_graph(100 + seed)
    k = 2 + seed % 2
    best, _ = brute_force(graph, k)
    result = solve(graph, k, method="cpsat")
    assert result.optimal and result.info["method"] == "cpsat"
    assert result.bottleneck_ms == pytest.approx(best, rel=1e-6)
    assert result.lower_bound_ms <= best * (1 + 1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_cpsat_paper_objective_equals_brute_force(seed: int) -> None:
    graph = tiny_graph(200 + seed)
    result = solve(graph, 3, objective="paper")
    assert result.optimal and result.objective == "paper"
    assert result.objective_value == pytest.approx(brute_force_paper(graph, 3), rel=1e-12)
    assert result.objective_bound <= result.objective_value


@pytest.mark.parametrize("model,k", [("mobilenet", 3), ("resnet50", 4), ("vgg16", 5)])
def test_dp_and_cpsat_agree_on_zoo_graphs(model: str, k: int) -> None:
    graph = respect_gym.load_graph(model)
    dp = solve(graph, k, method="dp")
    cpsat = solve(graph, k, method="cpsat")
    assert dp.optimal and cpsat.optimal
    assert cpsat.bottleneck_ms == pytest.approx(dp.bottleneck_ms, rel=1e-6)


def test_time_limit_returns_a_schedule_with_an_honest_gap() -> None:
    graph = respect_gym.load_graph("inception_v3", granularity="layers")
    result = solve(graph, 6, method="cpsat", time_limit=1.0)
    assert result.lower_bound_ms <= result.bottleneck_ms
    if not result.optimal:
        assert result.status == "feasible" and result.gap > 0


@pytest.mark.parametrize("search", ["single", "portfolio"])
@pytest.mark.parametrize("granularity,k,options", [("fused", 4, {}), ("layers", 6, {"deterministic_time": 0.3})])
def test_cpsat_is_deterministic(granularity: str, k: int, options: dict, search: str) -> None:
    # fused K=4: tied optima (a free-running portfolio returned 3 schedules in 3 runs);
    # layers: stopped by the deterministic limit mid-search
    graph = respect_gym.load_graph("inception_v3", granularity=granularity)
    first, second = (solve(graph, k, method="cpsat", seed=3, deterministic=True, search=search, **options)
                     for _ in range(2))
    assert first.info["deterministic"] and second.info["deterministic"] and first.info["search"] == search
    assert first.stages.tolist() == second.stages.tolist()
    assert first.lower_bound_ms == second.lower_bound_ms and first.optimal == second.optimal


def test_single_search_repeats_without_a_deterministic_limit() -> None:
    graph = respect_gym.load_graph("inception_v3")
    first, second = (solve(graph, 4, method="cpsat", seed=3) for _ in range(2))
    assert first.optimal and first.info["deterministic"] and first.info["search"] == "single"
    assert first.stages.tolist() == second.stages.tolist()


def test_unknown_search_is_refused() -> None:
    with pytest.raises(SolverError, match="search must be one of"):
        solve(respect_gym.load_graph("mobilenet"), 2, search="lp")


def test_deterministic_time_without_deterministic_is_refused() -> None:
    with pytest.raises(SolverError, match="deterministic=True"):
        solve(respect_gym.load_graph("mobilenet"), 2, method="cpsat", deterministic_time=1.0)


@pytest.mark.parametrize("n, time_limit, reason", [(60_000, None, "node-stage cells"),  # memory, even unlimited
                                                  (4_000, 5.0, "time left")])  # within the cells, not in 5 s
def test_exact_on_a_graph_too_large_to_model_returns_the_warm_start_with_a_bound(
        n: int, time_limit: float | None, reason: str) -> None:
    import time

    from respect_gym.graph import Graph
    from respect_gym.solvers import exact_cpsat

    graph = Graph([f"n{i}" for i in range(n)], ["Conv2D"] * n, [1000] * n, [100] * n, [64] * n,
                  [(i, i + 1) for i in range(n - 1)])
    start = time.perf_counter()
    result = respect_gym.solve(graph, 4, "exact", time_limit=time_limit, method="cpsat")  # auto proves it (segment DP)
    assert time.perf_counter() - start < 30  # bounded: no n^2 tables, no model too large or too slow to build
    assert result.info["method"] == "warm start only" and not result.optimal
    assert reason in result.info["reason"]
    assert 0 < result.objective_bound <= result.objective_value
    compiler = respect_gym.solve(graph, 4, "compiler")
    assert result.objective_value <= compiler.objective_value  # the warm start includes the compiler split
    assert (4 * n > exact_cpsat.MAX_MODEL_CELLS) == (time_limit is None)  # which limit it was


@pytest.mark.parametrize("flows", [False, True])
@pytest.mark.parametrize("linearization", [None, 2])
@pytest.mark.parametrize("seed", range(6))
def test_targets_refute_only_periods_below_the_optimum(seed: int, linearization: int | None, flows: bool) -> None:
    # the targets alone, from the compiler's split and a zero bound: every refuted target lies below
    # the brute-force optimum, and the last one proves it; raced without and with the LP (None, on
    # two cores or more) and with the LP alone; with and without the flow cuts
    import time

    from respect_gym.cost.model import CostModel
    from respect_gym.solvers.base import Problem
    from respect_gym.solvers.compiler import compiler_schedule
    from respect_gym.solvers.exact_cpsat import OPTIMALITY_RTOL, _StageTimeModel, _targets

    graph = tiny_graph(300 + seed)
    k = 2 + seed % 3
    best, _ = brute_force(graph, k)
    problem = Problem(graph, k, CostModel(graph), time_limit=40.0, deadline=time.perf_counter() + 40.0)
    start = compiler_schedule(graph, k)
    built = _StageTimeModel(problem)
    if flows:
        built.add_flow_cuts()
    stages, value, bound, runs = _targets(problem, built, False, start,
                                          problem.objective_value(start), lo=0.0, dtime=None, presolve_s=0.0,
                                          linearization=linearization)
    assert value - bound <= OPTIMALITY_RTOL * value and bound <= best * (1 + 1e-9)
    assert value == pytest.approx(best, rel=1e-6) and problem.objective_value(stages) == pytest.approx(value, rel=1e-12)
    assert runs and all(r.target < best for r in runs if r.status_name == "INFEASIBLE")
    if linearization is not None:
        assert all(r.linearization == linearization and not r.raced for r in runs)
    elif (os.cpu_count() or 1) >= 2:  # raced: the path depends on which search answers first
        assert all(r.raced for r in runs)


def test_a_limited_period_solve_raises_its_bound_by_targets() -> None:
    graph = respect_gym.load_graph("nasnet_mobile", granularity="layers")
    # deterministic seconds: the minimisation takes 80% of them, the first target (T <= 3.98 ms) about
    # 1 of the rest
    result = solve(graph, 6, method="cpsat", time_limit=120.0, deterministic=True, deterministic_time=15.0)
    refuted = [t["target_ms"] for t in result.info["targets"] if t["status"] == "INFEASIBLE"]
    assert refuted and result.lower_bound_ms >= max(refuted) > result.info["cpsat_bound"]
    assert result.lower_bound_ms <= result.period_ms


def test_targets_under_a_deterministic_limit_repeat() -> None:
    graph = respect_gym.load_graph("nasnet_mobile", granularity="layers")
    first, second = (solve(graph, 6, method="cpsat", time_limit=120.0, deterministic=True, deterministic_time=6.0)
                     for _ in range(2))
    assert first.info["targets"] and first.info["deterministic"] and second.info["deterministic"]
    assert ([(t["target_ms"], t["status"]) for t in first.info["targets"]]
            == [(t["target_ms"], t["status"]) for t in second.info["targets"]])
    assert first.stages.tolist() == second.stages.tolist() and first.lower_bound_ms == second.lower_bound_ms


@pytest.mark.parametrize("seed", range(6))
def test_boundary_cuts_hold_for_every_schedule(seed: int) -> None:
    """The CP-SAT model's boundary cuts (``_StageTimeModel.add_boundary_cuts``), recomputed in ms from
    the graph and checked against the evaluator's stage latencies on every valid schedule: the
    first s + 1 stages cost at least their compute, the graph inputs they read and each tensor
    crossing boundary s, the later stages their compute and the same tensors; with an invoke added
    (a used stage pays it, and the period is at least one used stage) s + 1 (k - 1 - s) periods
    bound them."""
    import numpy as np

    from respect_gym.cost.model import CostModel
    from solver_brute import valid_schedules

    graph, k = tiny_graph(300 + seed, max_nodes=7), 3
    cm = CostModel(graph)
    is_op = np.asarray(cm.is_op)
    compute, invoke = np.asarray(cm.compute_ms), cm.hardware.invoke_overhead_ms
    tensor_ms = np.asarray(cm.out_bytes) * cm.ms_per_link_byte
    edges = graph.edges[is_op[graph.edges[:, 1]]]
    for stages in valid_schedules(graph, k):
        stage_ms = cm.evaluate(stages, k).stage_ms
        period = stage_ms.max()  # the model's T is at least every stage latency
        u, w = edges[:, 0], edges[:, 1]
        for s in range(k - 1):
            early = stages <= s
            sent = tensor_ms[np.unique(u[early[u] & ~early[w] & is_op[u]])].sum()
            read = tensor_ms[np.unique(u[~is_op[u] & early[w]])].sum()
            assert stage_ms[: s + 1].sum() >= compute[early & is_op].sum() + sent + read - 1e-9
            assert stage_ms[s + 1:].sum() >= compute[~early & is_op].sum() + sent - 1e-9
            assert (s + 1) * period >= compute[early & is_op].sum() + invoke + sent + read - 1e-9
            assert (k - 1 - s) * period >= compute[~early & is_op].sum() + invoke + sent - 1e-9


def _flow_terms(graph):
    """The integer compute and tensor terms the CP-SAT model passes to ``closure_cut_costs``."""
    import numpy as np

    from respect_gym.cost.model import CostModel
    from respect_gym.solvers.exact_cpsat import UNITS_PER_MS

    cm = CostModel(graph)
    compute = np.rint(np.asarray(cm.compute_ms) * UNITS_PER_MS).astype(np.int64)
    tensor = np.rint(np.asarray(cm.out_bytes) * cm.ms_per_link_byte * UNITS_PER_MS).astype(np.int64)
    return cm, np.asarray(cm.is_op), compute, tensor


@pytest.mark.parametrize("seed", range(8))
def test_closure_cut_costs_are_the_cheapest_ideal_and_filter(seed: int) -> None:
    """Each op's maximum-flow costs (``bounds.closure_cut_costs``) against every node subset of a tiny
    graph: the cheapest ideal holding the op (compute, tensors sent out of it, host tensors read
    in it) and the cheapest filter holding it (compute, tensors received)."""
    import itertools

    import numpy as np

    from respect_gym.solvers.bounds import closure_cut_costs

    graph = tiny_graph(500 + seed, max_nodes=8)
    _, is_op, compute, tensor = _flow_terms(graph)
    ideal_cost, filter_cost = closure_cut_costs(graph, is_op, compute, tensor)
    u, w = graph.edges[:, 0], graph.edges[:, 1]
    n = graph.num_nodes
    best_ideal, best_filter = np.full(n, np.iinfo(np.int64).max), np.full(n, np.iinfo(np.int64).max)
    for bits in itertools.product((False, True), repeat=n):
        inside = np.asarray(bits)
        if (inside[w] & ~inside[u]).any():  # not an ideal
            continue
        read_by_op = is_op[w]
        sent = np.unique(u[inside[u] & ~inside[w] & is_op[u] & read_by_op])
        read = np.unique(u[~is_op[u] & inside[w] & read_by_op])
        ideal = compute[inside & is_op].sum() + tensor[sent].sum() + tensor[read].sum()
        filt = compute[~inside & is_op].sum() + tensor[sent].sum()
        best_ideal[inside] = np.minimum(best_ideal[inside], ideal)
        best_filter[~inside] = np.minimum(best_filter[~inside], filt)
    assert np.array_equal(ideal_cost[is_op], best_ideal[is_op])
    assert np.array_equal(filter_cost[is_op], best_filter[is_op])


@pytest.mark.parametrize("seed", range(6))
def test_flow_cuts_hold_for_every_schedule(seed: int) -> None:
    """The prefix / suffix cuts the model states with the flow costs, on every valid schedule of a
    tiny graph: an op on a stage <= s makes (s + 1) periods at least its ideal cost plus an invoke,
    one on a later stage (k - 1 - s) periods its filter cost plus an invoke."""
    import numpy as np

    from respect_gym.solvers.bounds import closure_cut_costs
    from respect_gym.solvers.exact_cpsat import UNITS_PER_MS
    from solver_brute import valid_schedules

    graph, k = tiny_graph(600 + seed, max_nodes=7), 3
    cm, is_op, compute, tensor = _flow_terms(graph)
    ideal_cost, filter_cost = closure_cut_costs(graph, is_op, compute, tensor)
    first, last = ideal_cost / UNITS_PER_MS, filter_cost / UNITS_PER_MS
    invoke, slack = cm.hardware.invoke_overhead_ms, graph.num_nodes * 1e-9  # half a unit per rounded term
    for stages in valid_schedules(graph, k):
        period = cm.evaluate(stages, k).stage_ms.max()
        for s in range(k - 1):
            early = (stages <= s) & is_op
            late = (stages > s) & is_op
            assert ((s + 1) * period >= first[early] + invoke - slack).all()
            assert ((k - 1 - s) * period >= last[late] + invoke - slack).all()


@pytest.mark.parametrize("seed", range(4))
def test_hints_on_a_clone_give_back_the_hinted_schedule(seed: int) -> None:
    """A restart's model is a clone of the built one; hints mapped onto it (``add_hints``) must be
    the schedule itself, every auxiliary variable included: fixed to them, CP-SAT finds exactly it."""
    import numpy as np
    from ortools.sat.python import cp_model

    from respect_gym.cost.model import CostModel
    from respect_gym.solvers.base import Problem
    from respect_gym.solvers.exact_cpsat import _Run, _StageTimeModel, _target_model
    from solver_brute import valid_schedules

    graph, k = tiny_graph(400 + seed), 3
    problem = Problem(graph, k, CostModel(graph))
    built = _StageTimeModel(problem)
    is_op = np.asarray(problem.cost_model.is_op)
    # the model's own form: used stages first, graph inputs on stage 0 (its symmetry breaking)
    canonical = [s for s in valid_schedules(graph, k) if (s[~is_op] == 0).all()
                 and np.array_equal(np.unique(s[is_op]), np.arange(np.unique(s[is_op]).size))]
    stages = canonical[len(canonical) // 2]
    model = _target_model(built, problem.objective_value(stages))
    built.add_hints(stages, model)
    solver = cp_model.CpSolver()
    solver.parameters.fix_variables_to_their_hinted_value = True
    assert solver.solve(model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    run = _Run(problem, built, "single", False, None, None, model)
    assert run.status == cp_model.OPTIMAL  # and, searched freely, the bounded clone is a model like any other
    best, _ = brute_force(graph, k)
    assert run.value == pytest.approx(min(best, problem.objective_value(stages)), rel=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_the_restart_race_keeps_the_optimum(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The minimisation beside its restarts, from the worst schedule and restarting on any
    improvement: the best schedule is the brute-force optimum, and no run's bound passes it."""
    import time

    import numpy as np

    from respect_gym.cost.model import CostModel
    from respect_gym.solvers import exact_cpsat
    from respect_gym.solvers.base import Problem
    from solver_brute import valid_schedules

    monkeypatch.setattr(exact_cpsat, "RESTART_GAIN", 1e-9)
    graph = tiny_graph(500 + seed)
    k = 2 + seed % 3
    best, _ = brute_force(graph, k)
    problem = Problem(graph, k, CostModel(graph), time_limit=40.0, deadline=time.perf_counter() + 40.0)
    schedules = valid_schedules(graph, k)
    values = np.asarray([problem.objective_value(s) for s in schedules])
    worst = schedules[int(values.argmax())]
    built = exact_cpsat._StageTimeModel(problem)
    built.add_hints(worst)
    built.bound_above(values.max())
    runs = exact_cpsat._restart_race(problem, built, 30.0, worst, float(values.max()), 0.0)
    assert min(r.value for r in runs) == pytest.approx(best, rel=1e-6)
    assert any(r.definite for r in runs) and max(r.bound for r in runs) <= best * (1 + 1e-9)
    assert runs[0].target is None and all(r.target is not None and r.value <= r.target * (1 + 1e-9)
                                          for r in runs[1:] if r.stages is not None)
    assert all(r.raced for r in runs)


def test_restarts_follow_the_first_search_on_nasnet_mobile() -> None:
    """nasnet_mobile layers K=8, whose warm start (5.36 ms) lies far above the optimum: within 8 s
    the first search improves on it by more than RESTART_GAIN, so restarts run, each bounded by a
    period at least RESTART_GAIN below the last; each restart's schedule keeps its bound, and no
    bound passes a schedule found."""
    import time

    from respect_gym.cost.model import CostModel
    from respect_gym.solvers import exact_cpsat
    from respect_gym.solvers.base import Problem

    if (os.cpu_count() or 1) < 2:
        pytest.skip("the race runs on two cores or more")
    graph = respect_gym.load_graph("nasnet_mobile", granularity="layers")
    problem = Problem(graph, 8, CostModel(graph), time_limit=60.0, deadline=time.perf_counter() + 60.0)
    hint, hint_value = exact_cpsat._warm_start(problem, seconds=1.0, deterministic=False)
    built = exact_cpsat._StageTimeModel(problem)
    built.add_hints(hint)
    built.bound_above(hint_value)
    runs = exact_cpsat._restart_race(problem, built, 8.0, hint, hint_value, 0.0)
    bounds = [hint_value] + [r.target for r in runs[1:]]
    assert len(bounds) >= 2
    assert all(later <= (1 - exact_cpsat.RESTART_GAIN) * earlier * (1 + 1e-9) for earlier, later in zip(bounds, bounds[1:]))
    assert all(r.value <= r.target * (1 + 1e-9) for r in runs[1:] if r.stages is not None)
    assert max(r.bound for r in runs) <= min(r.value for r in runs) * (1 + 1e-9)


def test_a_far_target_that_runs_out_gives_way_to_a_lower_one() -> None:
    """hard-v3's 300-node layered DAG at K=6, from its reference schedule (342 ms) and the
    combinatorial bound (78 ms): the gap is far, so the targets climb a quarter of the way at a
    time (halfway, ~210 ms, the LP needs 14-27 s alone), and one that runs out of its share of the
    10 s gives way to a lower one; the bound rises above the combinatorial one by refuted targets."""
    import time

    import numpy as np

    from respect_gym.cost.model import CostModel
    from respect_gym.leaderboard.suite import load_suite
    from respect_gym.solvers.base import Problem
    from respect_gym.solvers.bounds import combinatorial_lower_bound_ms
    from respect_gym.solvers import exact_cpsat
    from respect_gym.solvers.exact_cpsat import BUILD_SECONDS_PER_CELL, _StageTimeModel, _targets

    suite = load_suite("hard-v3")
    inst = next(i for i in suite.instances if i.id == "respect-7-300/k6")
    graph = suite.graph(inst)
    cm = CostModel(graph, inst.hardware, inst.cost_model_revision)
    built = _StageTimeModel(Problem(graph, 6, cm))
    built.add_boundary_cuts()
    built.add_flow_cuts()
    problem = Problem(graph, 6, cm, time_limit=10.0, deadline=time.perf_counter() + 10.0)
    start = np.asarray(inst.reference.stages)
    lower = combinatorial_lower_bound_ms(cm, 6)
    _, value, bound, runs = _targets(problem, built, False, start, problem.objective_value(start), lower,
                                     None, graph.num_nodes * 6 * BUILD_SECONDS_PER_CELL)
    refuted = [r.target for r in runs if r.status_name == "INFEASIBLE"]
    assert value - runs[0].target > exact_cpsat.FAR_GAP * value  # the first target is a far one
    for run, after in zip(runs, runs[1:]):  # after a target that ran out (here, the first), a lower one
        if run.status_name == "UNKNOWN":
            assert after.target < run.target
    assert refuted and bound == max(refuted) > lower and bound <= value <= inst.reference.value + 1e-9
