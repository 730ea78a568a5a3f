"""One registry of solvers by name, shared by the API, the CLI, the benchmarks and leaderboards."""

from __future__ import annotations

import importlib
import math
import time
from importlib.metadata import entry_points
from typing import Any

import numpy as np

from respect_gym.cost.hardware import EdgeTPU, get_hardware
from respect_gym.cost.model import CostModel
from respect_gym.cost.schedule import check_num_stages, validate_schedule
from respect_gym.graph import Graph
from respect_gym.problem.objectives import Objective, ObjectiveError, Period, get_objective
from respect_gym.solvers.base import Problem, SolveResult, Solver, SolverError
from respect_gym.solvers.bounds import combinatorial_lower_bound_ms

# name -> "module:function"; modules are imported on first use so `list_solvers` stays cheap
SOLVERS: dict[str, str | Solver] = {
    "exact": "respect_gym.solvers.exact:solve_exact",
    "compiler": "respect_gym.solvers.compiler:solve_compiler",
    "profiling": "respect_gym.solvers.profiling:solve_profiling",
    "slicegraph": "respect_gym.solvers.slicegraph:solve_slicegraph",
    "greedy": "respect_gym.solvers.greedy:solve_greedy",
    "random": "respect_gym.solvers.random_:solve_random",
}


ENTRY_POINT_GROUP = "respect_gym.solvers"
PLUGIN_EXTRAS = {"respect_gym_agents": "agents"}  # plug-in package -> the extra that installs its dependencies


class SolverUnavailableError(SolverError):
    """A registered solver whose module cannot be imported here (an optional extra is missing)."""


def _discover_plugins() -> None:
    """Add solvers that installed packages declare under the ``respect_gym.solvers`` entry-point
    group (e.g. the ``agents`` extra's ``imitation``), so the CLI offers them after setup. Only
    their ``module:function`` strings are recorded: nothing is imported until one is used."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        SOLVERS.setdefault(ep.name, ep.value)


_discover_plugins()


def register(name: str, solver: Solver | str) -> None:
    """Add a solver (a callable, or ``"module:function"``) under ``name``."""
    if not isinstance(name, str) or not name:
        raise SolverError(f"solver name must be a non-empty string, got {name!r}")
    SOLVERS[name] = solver


def list_solvers() -> list[str]:
    """Names accepted by :func:`solve`, in registry order (``exact`` first)."""
    return list(SOLVERS)


def get_solver(name: str) -> Solver:
    """The solver callable registered as ``name``, importing its module on first use."""
    if name not in SOLVERS:
        raise SolverError(f"unknown solver {name!r}; choose one of {list_solvers()}")
    entry = SOLVERS[name]
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        try:
            entry = getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:  # a plug-in whose optional dependencies are not installed
            extra = PLUGIN_EXTRAS.get(module.partition(".")[0])
            hint = f"; install them with: pip install 'respect-gym[{extra}]'" if extra else ""
            raise SolverUnavailableError(f"solver {name!r} needs the module {exc.name!r}, which is not "
                                         f"installed{hint}") from None
    return entry


def solve(
    graph: Graph,
    num_stages: int,
    solver: str = "exact",
    hardware: str | EdgeTPU = "usb3",
    time_limit: float | None = None,
    seed: int = 0,
    objective: str | Objective = "period",
    cost_model: CostModel | None = None,
    revision: int | None = None,
    **options: Any,
) -> SolveResult:
    """Schedule ``graph`` onto ``num_stages`` Edge TPUs with the named solver.

    :param time_limit: seconds for anytime solvers (``exact`` falls back to its best schedule
        and a proven gap when it is hit); ``None`` means no limit.
    :param objective: ``"period"`` (minimise the steady-state time between outputs, i.e.
        maximise throughput), ``"latency"`` (one input through the pipeline) or ``"paper"`` (the
        RESPECT authors' memory + edge-crossing objective).
    :param cost_model: reuse a prebuilt cost model of ``graph`` (must match ``hardware`` and
        ``revision``).
    :param revision: cost-model revision (``None``: the latest, or ``cost_model``'s).
    :param options: solver-specific keyword options (see each solver's docstring).
    """
    k = check_num_stages(num_stages)
    try:
        goal = get_objective(objective)
    except ObjectiveError as exc:
        raise SolverError(str(exc)) from None
    if time_limit is not None and not (isinstance(time_limit, (int, float)) and time_limit > 0 and math.isfinite(time_limit)):
        raise SolverError(f"time_limit must be a positive number of seconds or None, got {time_limit!r}")
    run = get_solver(solver)
    if cost_model is not None:
        if revision is None:
            revision = cost_model.revision
        if (cost_model.graph is not graph or cost_model.revision != revision
                or cost_model.hardware != get_hardware(hardware, revision)):
            raise SolverError("cost_model was built for another graph, hardware or revision than the ones passed to solve()")
    cm = cost_model if cost_model is not None else CostModel(graph, hardware, revision)
    start = time.perf_counter()
    # a schedule never uses more stages than nodes: solve with at most n (exact for every objective;
    # the other stages stay empty), so a huge K costs nothing
    k_solved = min(k, max(graph.num_nodes, 1))
    problem = Problem(graph=graph, num_stages=k_solved, cost_model=cm, objective=goal, seed=int(seed),
                      time_limit=time_limit, options=dict(options),
                      deadline=None if time_limit is None else start + float(time_limit))
    out = run(problem)
    seconds = time.perf_counter() - start
    stages = validate_schedule(graph, out.stages, k)
    report = cm.evaluate(stages, k)
    value = float(goal.value(graph, stages, k, report))  # the report just made, not a second evaluation
    goal.label(report, value)
    period_bound = Period().lower_bound(cm, k_solved)  # on the period, whatever the objective
    goal_bound = period_bound if isinstance(goal, Period) else goal.lower_bound(cm, k_solved)
    bound = max(out.objective_bound if out.objective_bound is not None else -np.inf, goal_bound)
    lower = bound if isinstance(goal, Period) else period_bound
    if out.optimal:
        bound = value
        if isinstance(goal, Period):
            lower = value
    return SolveResult(
        solver=solver,
        stages=stages,
        num_stages=k,
        report=report,
        lower_bound_ms=float(min(lower, report.period_ms)),
        optimal=bool(out.optimal),
        status=out.status,
        seconds=seconds,
        objective=goal.name,
        objective_value=value,
        objective_bound=float(max(bound, 0.0)),
        info=out.info if k_solved == k else {**out.info, "solved_with_stages": k_solved},
    )


def lower_bound_ms(graph: Graph, num_stages: int, hardware: str | EdgeTPU = "usb3",
                   time_limit: float | None = None) -> float:
    """Best proven lower bound on the optimal bottleneck: the combinatorial bound, raised to the
    CP-SAT model's best bound (or the optimum itself) when a ``time_limit`` in seconds is given."""
    cost_model = CostModel(graph, hardware)
    bound = combinatorial_lower_bound_ms(cost_model, num_stages)
    if time_limit is None:
        return bound
    result = solve(graph, num_stages, solver="exact", hardware=hardware, time_limit=time_limit,
                   cost_model=cost_model, method="cpsat")
    return max(bound, result.lower_bound_ms)
