"""What a schedule is scored on: one type per objective, used by the env, the solvers and the agents.

An objective owns four things, so that no caller compares objective names itself:

- :meth:`Objective.value`: the value of a complete schedule (lower is better);
- :meth:`Objective.running`: the value of the partial schedules of a batch of episodes (the dense
  reward's potential), from the kernel's running per-stage arrays;
- :meth:`Objective.lower_bound`: a proven lower bound on the optimal value of an instance;
- :attr:`Objective.name` and :attr:`Objective.uses_cost_model`: how it is named in files and
  whether it prices schedules with the Edge TPU cost model (the paper cost does not).

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

from respect_gym.cost.model import CostModel
from respect_gym.cost.paper import EDGE_WEIGHT, MEMORY_UNIT_BYTES, MEMORY_WEIGHT, paper_cost
from respect_gym.cost.report import PipelineReport
from respect_gym.graph import Graph

if TYPE_CHECKING:
    from respect_gym.problem.state import State


class ObjectiveError(ValueError):
    """An unknown objective name."""


class Objective(abc.ABC):
    """The quantity a schedule minimises (see the module docstring)."""

    name: str
    uses_cost_model: bool = True

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


class Latency(Objective):
    """One input's time through the pipeline in ms."""

    name = "latency"

    def value(self, graph: Graph, stages: np.ndarray, num_stages: int, report: PipelineReport) -> float:
        return float(report.latency_ms)

    def running(self, state: State, rows: np.ndarray) -> np.ndarray:
        return state.latency_ms(rows)


class Paper(Objective):
    """The RESPECT authors' memory + boundary-crossing cost, with the cost package's weights."""

    name = "paper"
    uses_cost_model = False

    def value(self, graph: Graph, stages: np.ndarray, num_stages: int, report: PipelineReport) -> float:
        return paper_cost(graph, stages, num_stages)

    def running(self, state: State, rows: np.ndarray) -> np.ndarray:
        memory = state.stage_param_bytes[rows].max(axis=1).astype(np.float64)
        return MEMORY_WEIGHT * memory / MEMORY_UNIT_BYTES + EDGE_WEIGHT * state.crossings[rows]

    def label(self, report: PipelineReport, value: float) -> None:
        report.objective = self.name
        report.paper_cost = value


OBJECTIVE_TYPES: dict[str, type[Objective]] = {"period": Period, "latency": Latency, "paper": Paper}
OBJECTIVES = tuple(OBJECTIVE_TYPES)


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
