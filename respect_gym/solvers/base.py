"""The result type every solver returns and the protocol every solver implements.

A solver is a callable ``solver(problem) -> SolverOutput``: it only searches. The registry
(:mod:`respect_gym.solvers.registry`) times it, evaluates its schedule with the cost model,
strengthens its lower bound with the combinatorial one and packs a :class:`SolveResult`, so every
solver reports the same fields computed the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from respect_gym.cost.model import CostModel
from respect_gym.graph import Graph
from respect_gym.problem.objectives import Objective, Period

if TYPE_CHECKING:  # imported lazily at run time: most solvers never need it
    from respect_gym.solvers.stagecost import BatchStageCost


class SolverError(ValueError):
    """Bad solver input: unknown solver or objective, bad time limit or option."""


@dataclass
class Problem:
    """One scheduling instance as solvers see it.

    :param objective: what to minimise (:mod:`respect_gym.problem.objectives`); a solver that
        cannot honour it refuses it by name (:meth:`refuse_unless`).
    :param deadline: ``time.perf_counter()`` value after which anytime solvers stop (``None``:
        no limit).
    """

    graph: Graph
    num_stages: int
    cost_model: CostModel
    objective: Objective = field(default_factory=Period)
    seed: int = 0
    time_limit: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    deadline: float | None = None

    def time_left(self) -> float | None:
        """Seconds until the deadline (never negative), or ``None`` without a limit."""
        return None if self.deadline is None else max(0.0, self.deadline - time.perf_counter())

    def take_options(self, solver: str, **defaults: Any) -> dict[str, Any]:
        """The solver's options with defaults filled in; unknown names raise :class:`SolverError`."""
        unknown = sorted(set(self.options) - set(defaults))
        if unknown:
            allowed = ", ".join(sorted(defaults)) or "none"
            raise SolverError(f"unknown {solver} option(s) {unknown}; allowed: {allowed}")
        return {**defaults, **self.options}

    def out_of_time(self) -> bool:
        """Whether an anytime solver must stop now and return its best schedule."""
        return self.deadline is not None and time.perf_counter() >= self.deadline

    @cached_property
    def batch_cost(self) -> BatchStageCost:
        """Batched stage latencies (:class:`~respect_gym.solvers.stagecost.BatchStageCost`)."""
        from respect_gym.solvers.stagecost import BatchStageCost

        return BatchStageCost(self.cost_model)

    def objective_value(self, stages: np.ndarray) -> float:
        """The objective being minimised for a schedule (period or latency ms, or the paper cost)."""
        report = self.cost_model.evaluate(stages, self.num_stages) if self.objective.uses_cost_model else None
        return float(self.objective.value(self.graph, np.asarray(stages), self.num_stages, report))

    def best_cut(self, order: np.ndarray, upper: float = np.inf, dp_max_nodes: int | None = None
                 ) -> tuple[float, np.ndarray | None]:
        """The objective's best cut of ``order`` (:meth:`Objective.best_cut`)."""
        return self.objective.best_cut(self.cost_model, self.batch_cost, order, self.num_stages, upper, dp_max_nodes)

    def refuse_unless(self, solver: str, *allowed: type[Objective]) -> None:
        """Raise :class:`SolverError` naming ``solver`` and the objective unless it is one of ``allowed``."""
        if not isinstance(self.objective, allowed):
            names = ", ".join(repr(t.name) for t in allowed)
            raise SolverError(f"{solver} cannot optimise the {self.objective.name!r} objective (only {names}); "
                              "use solver='exact'")


@dataclass
class SolverOutput:
    """What a solver found: a schedule, and what it proved about it.

    :param optimal: proven optimal for the problem's objective (see ``exact_cpsat`` for the
        tolerance of CP-SAT's integer-scaled proofs).
    :param objective_bound: a proven lower bound on the objective, if the solver has one.
    :param status: ``"optimal"``, ``"feasible"`` (stopped with a gap) or ``"heuristic"``.
    """

    stages: np.ndarray
    optimal: bool = False
    objective_bound: float | None = None
    status: str = "heuristic"
    info: dict[str, Any] = field(default_factory=dict)


class Solver(Protocol):
    def __call__(self, problem: Problem) -> SolverOutput: ...


@dataclass
class SolveResult:
    """A solved instance.

    :param stages: stage (0..K-1) per node.
    :param report: the cost model's evaluation of ``stages``.
    :param lower_bound_ms: proven lower bound on the optimal period (the period objective's
        bound; for the other objectives the combinatorial bound on the period).
    :param optimal: ``True`` only when optimality was proven.
    :param objective_value: value of the optimised objective (period or latency ms, or paper cost).
    :param objective_bound: proven lower bound on that objective.
    :param seconds: wall-clock solve time (not part of any determinism guarantee).
    """

    solver: str
    stages: np.ndarray
    num_stages: int
    report: Any
    lower_bound_ms: float
    optimal: bool
    status: str
    seconds: float
    objective: str
    objective_value: float
    objective_bound: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def bottleneck_ms(self) -> float:
        """The slowest stage of the schedule in ms."""
        return float(self.report.bottleneck_ms)

    @property
    def period_ms(self) -> float:
        """Steady-state time between outputs in ms (throughput = 1000 / period)."""
        return float(self.report.period_ms)

    @property
    def gap(self) -> float:
        """Proven relative optimality gap ``(value - bound) / value`` (0 when optimal)."""
        if self.optimal or self.objective_value <= 0:
            return 0.0
        return max(0.0, (self.objective_value - self.objective_bound) / self.objective_value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (plain lists and numbers)."""
        return {
            "solver": self.solver,
            "num_stages": self.num_stages,
            "stages": self.stages.tolist(),
            "objective": self.objective,
            "objective_value": self.objective_value,
            "objective_bound": self.objective_bound,
            "bottleneck_ms": self.bottleneck_ms,
            "period_ms": self.period_ms,
            "latency_ms": float(self.report.latency_ms),
            "revision": int(self.report.revision),
            "lower_bound_ms": self.lower_bound_ms,
            "gap": self.gap,
            "optimal": self.optimal,
            "status": self.status,
            "solve_seconds": self.seconds,
            "report": self.report.to_dict(),
            "info": self.info,
        }
