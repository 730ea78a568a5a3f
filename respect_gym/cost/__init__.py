"""Edge TPU cost model: hardware presets, schedule validation and pipeline evaluation."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from respect_gym.cost.hardware import (
    HARDWARE, LATEST_REVISION, REVISIONS, EdgeTPU, EdgeTPU3, HardwareError, get_hardware,
)
from respect_gym.cost.model import COST_MODEL_VERSION, COST_MODEL_VERSIONS, CostModel, StageCost
from respect_gym.cost.paper import paper_cost
from respect_gym.cost.report import PipelineReport
from respect_gym.cost.schedule import ScheduleError, validate_schedule
from respect_gym.graph import Graph

# what a schedule minimises: the steady-state time between outputs (throughput), one input's
# latency, or the RESPECT authors' memory + crossings cost (the types: respect_gym.problem.objectives)
OBJECTIVES = ("period", "latency", "paper")


def evaluate(
    graph: Graph,
    stages: Sequence[int] | np.ndarray,
    num_stages: int,
    hardware: str | EdgeTPU = "usb3",
    objective: str = "period",
    revision: int | None = None,
) -> PipelineReport:
    """Score a schedule: ``stages[v]`` is node v's pipeline stage in ``0..num_stages-1``.

    :param objective: which figure ``report.objective_value`` is: ``"period"`` (ms between
        outputs while inputs stream), ``"latency"`` (one input, ms) or ``"paper"`` (the RESPECT
        authors' memory + edge-crossing cost, filled into ``report.paper_cost``). The report
        always carries the period, latency and per-stage figures.
    :param revision: cost-model revision (default: :data:`LATEST_REVISION`).
    """
    from respect_gym.problem.objectives import get_objective  # the objective types build on this package

    goal = get_objective(objective)
    model = CostModel(graph, hardware, revision)
    st = validate_schedule(graph, stages, num_stages)
    report = model.evaluate(st, num_stages)
    goal.label(report, goal.value(graph, st, num_stages, report))
    return report


__all__ = [
    "COST_MODEL_VERSION", "COST_MODEL_VERSIONS", "HARDWARE", "LATEST_REVISION", "OBJECTIVES", "REVISIONS",
    "CostModel", "EdgeTPU", "EdgeTPU3", "HardwareError", "PipelineReport",
    "ScheduleError", "StageCost", "evaluate", "get_hardware", "paper_cost", "validate_schedule",
]
