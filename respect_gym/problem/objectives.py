"""What a schedule is scored on: one type per objective, used by the env, the solvers and the agents.

An objective owns four things, so that no caller compares objective names itself:

- :meth:`Objective.value`: the value of a complete schedule (lower is better);
- :meth:`Objective.running`: the value of the partial schedules of a batch of episodes (the dense
  reward's potential), from the kernel's running per-stage arrays;
- :meth:`Objective.lower_bound`: a proven lower bound on the optimal value of an instance;
- :meth:`Objective.best_cut`: the optimal cut of a node order into K stages (what order-based
  solvers and the agents' re-cut call), and :meth:`Objective.chain`: the optimal chain of ideals
  from a stage-cost matrix (the exact DP), for objectives that combine stage latencies;
- :attr:`Objective.name`, :attr:`Objective.uses_cost_model` and :attr:`Objective.separable`: how
  it is named in files, whether it prices schedules with the Edge TPU cost model (the paper cost
  does not), and whether its value is a max or sum of stage latencies (a DP over ideals prices it).

Objectives:

- :class:`Period` (``"period"``): the pipeline period in ms, steady-state time between outputs
  (throughput = 1000 / period): the slowest stage, or the host's serial work per used stage when
  that is longer (cost-model revision 3; under revision 2 the slowest stage).
- :class:`Latency` (``"latency"``): one input's time through an idle pipeline in ms.
- :class:`Paper` (``"paper"``): the RESPECT authors' cost (largest per-stage parameter memory plus
  edge boundary crossings, :func:`respect_gym.cost.paper.paper_cost`).
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

import numpy as np

from respect_gym.cost.hardware import EdgeTPU
from respect_gym.cost.model import CostModel
from respect_gym.cost.paper import EDGE_WEIGHT, MEMORY_UNIT_BYTES, MEMORY_WEIGHT, paper_cost
from respect_gym.cost.report import PipelineReport
from respect_gym.cost.schedule import validate_schedule
from respect_gym.graph import Graph

if TYPE_CHECKING:
    from respect_gym.problem.state import State


class ObjectiveError(ValueError):
    """An unknown objective name."""


class Objective(abc.ABC):
    """The quantity a schedule minimises (see the module docstring)."""

    name: str
    uses_cost_model: bool = True
    separable: bool = True

    @abc.abstractmethod
    def value(self, graph: Graph, stages: np.ndarray, num_stages: int, report: PipelineReport) -> float:
        """Value of the complete schedule ``stages`` whose cost-model report is ``report``."""

    @abc.abstractmethod
    def running(self, state: State, rows: np.ndarray) -> np.ndarray:
        """Value of the partial schedules of episodes ``rows`` of a kernel state, float64 ``(len(rows),)``."""

    def lower_bound(self, cost_model: CostModel, num_stages: int) -> float:
        """A proven lower bound on the optimal value (0 where none is known)."""
        return 0.0

    def label(self, report: PipelineReport, value: float) -> None:
        """Record in ``report`` that this objective scored it, with its value."""
        report.objective = self.name

    def chain(self, cost_model: CostModel, ideals: np.ndarray, matrix: np.ndarray, num_stages: int,
              window: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray | None:
        """Stage per node of the best chain of nested ideals (``ideals`` sorted by size, from empty
        to full) given ``matrix[J, I]``, the latency of stage ``I \\ J`` (``inf``: not allowed);
        ``window``: which stages each ideal may end (:func:`respect_gym.solvers.exact_dp.chain_dp`).
        ``None`` when no chain has a finite value."""
        raise ObjectiveError(f"the {self.name} objective is not a function of stage latencies; it has no chain DP")

    def best_cut(self, cost_model: CostModel, batch_cost, order: np.ndarray, num_stages: int,
                 upper: float = np.inf, dp_max_nodes: int | None = None) -> tuple[float, np.ndarray | None]:
        """``(value, stages)`` of the best cut of ``order`` into ``num_stages`` segments
        (:func:`respect_gym.solvers.cuts.best_cut`); ``(inf, None)`` when none is ``<= upper``."""
        from respect_gym.solvers.cuts import DP_MAX_NODES, best_cut

        return best_cut(cost_model, batch_cost, order, num_stages, self,
                        DP_MAX_NODES if dp_max_nodes is None else dp_max_nodes, upper)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))


class Period(Objective):
    """The pipeline period in ms (revision 2: the bottleneck stage)."""

    name = "period"

    def value(self, graph: Graph, stages: np.ndarray, num_stages: int, report: PipelineReport) -> float:
        return float(report.period_ms)

    def running(self, state: State, rows: np.ndarray) -> np.ndarray:
        return state.period_ms(rows)

    def lower_bound(self, cost_model: CostModel, num_stages: int) -> float:
        from respect_gym.solvers.bounds import combinatorial_lower_bound_ms

        return max(combinatorial_lower_bound_ms(cost_model, num_stages), cost_model.host_stage_ms)

    def chain(self, cost_model: CostModel, ideals: np.ndarray, matrix: np.ndarray, num_stages: int,
              window: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray | None:
        """The best stage count k <= K of ``max(best bottleneck with k stages, host_stage_ms * k)``:
        one bottleneck DP gives every k."""
        from respect_gym.solvers.exact_dp import chain_dp

        values, schedule = chain_dp(ideals, num_stages, matrix, np.maximum, window)
        periods = [max(v, cost_model.host_stage_ms * (n + 1)) for n, v in enumerate(values)]
        count = 1 + int(np.argmin(periods))
        return schedule(count) if np.isfinite(values[count - 1]) else None


class Latency(Objective):
    """One input's time through the pipeline in ms."""

    name = "latency"

    def value(self, graph: Graph, stages: np.ndarray, num_stages: int, report: PipelineReport) -> float:
        return float(report.latency_ms)

    def running(self, state: State, rows: np.ndarray) -> np.ndarray:
        return state.latency_ms(rows)

    def chain(self, cost_model: CostModel, ideals: np.ndarray, matrix: np.ndarray, num_stages: int,
              window: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray | None:
        """The DP with sums: every stage plus a hand-off per non-empty stage."""
        from respect_gym.solvers.exact_dp import chain_dp

        ops = ideals.astype(np.float64) @ np.asarray(cost_model.is_op, dtype=np.float64)
        nonempty = ops[None, :] > ops[:, None]
        values, schedule = chain_dp(ideals, num_stages, np.where(nonempty, matrix + cost_model.handoff_ms, matrix),
                                    np.add, window)
        return schedule(num_stages) if np.isfinite(values[-1]) else None


class Paper(Objective):
    """The RESPECT authors' memory + boundary-crossing cost, with the cost package's weights."""

    name = "paper"
    uses_cost_model = False
    separable = False

    def value(self, graph: Graph, stages: np.ndarray, num_stages: int, report: PipelineReport) -> float:
        return paper_cost(graph, stages, num_stages)

    def running(self, state: State, rows: np.ndarray) -> np.ndarray:
        memory = state.stage_param_bytes[rows].max(axis=1).astype(np.float64)
        return MEMORY_WEIGHT * memory / MEMORY_UNIT_BYTES + EDGE_WEIGHT * state.crossings[rows]

    def label(self, report: PipelineReport, value: float) -> None:
        report.objective = self.name
        report.paper_cost = value

    def best_cut(self, cost_model: CostModel, batch_cost, order: np.ndarray, num_stages: int,
                 upper: float = np.inf, dp_max_nodes: int | None = None) -> tuple[float, np.ndarray | None]:
        """The exact cut DP of the paper cost (:func:`respect_gym.solvers.cuts.best_paper_cut`)."""
        from respect_gym.solvers.cuts import best_paper_cut

        return best_paper_cut(cost_model.graph, order, num_stages, upper)


OBJECTIVE_TYPES: dict[str, type[Objective]] = {t.name: t for t in (Period, Latency, Paper)}
OBJECTIVES = tuple(OBJECTIVE_TYPES)  # the names used in files and on the command line


def get_objective(objective: str | Objective, revision: int | None = None) -> Objective:
    """The objective named ``objective`` (an :class:`Objective` passes through).

    Under cost-model revision 2 (``RespectPipeline-v0``) ``"latency"`` is the name that revision
    gave its bottleneck stage, i.e. its period, so it maps to :class:`Period` there.
    """
    if isinstance(objective, Objective):
        return objective
    if revision == 2 and objective == "latency":
        return Period()
    try:
        return OBJECTIVE_TYPES[objective]()
    except (KeyError, TypeError):
        raise ObjectiveError(f"unknown objective {objective!r}; choose one of {OBJECTIVES}") from None


def evaluate(graph: Graph, stages, num_stages: int, hardware: str | EdgeTPU = "usb3",
             objective: str | Objective = "period", revision: int | None = None) -> PipelineReport:
    """Score a schedule: ``stages[v]`` is node v's pipeline stage in ``0..num_stages-1``.

    :param objective: which figure ``report.objective_value`` is: ``"period"`` (ms between
        outputs while inputs stream), ``"latency"`` (one input, ms) or ``"paper"`` (the RESPECT
        authors' memory + edge-crossing cost, filled into ``report.paper_cost``). The report
        always carries the period, latency and per-stage figures.
    :param revision: cost-model revision (default: the latest).
    """
    goal = get_objective(objective)
    st = validate_schedule(graph, stages, num_stages)
    report = CostModel(graph, hardware, revision).evaluate(st, num_stages)
    goal.label(report, goal.value(graph, st, num_stages, report))
    return report
