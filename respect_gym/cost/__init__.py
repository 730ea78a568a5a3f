"""Edge TPU cost model: hardware presets, schedule validation and pipeline evaluation."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from respect_gym.cost.hardware import HARDWARE, EdgeTPU, HardwareError, get_hardware
from respect_gym.cost.model import COST_MODEL_VERSION, CostModel, StageCost
from respect_gym.cost.paper import paper_cost
from respect_gym.cost.report import PipelineReport
from respect_gym.cost.schedule import ScheduleError, validate_schedule
from respect_gym.graph import Graph

OBJECTIVES = ("latency", "paper")


def evaluate(
    graph: Graph,
    stages: Sequence[int] | np.ndarray,
    num_stages: int,
    hardware: str | EdgeTPU = "usb3",
    objective: str = "latency",
) -> PipelineReport:
    """Score a schedule: ``stages[v]`` is node v's pipeline stage in ``0..num_stages-1``.

    :param objective: ``"latency"`` (the Edge TPU latency model) or ``"paper"`` (the RESPECT
        authors' memory + edge-crossing cost, filled into ``report.paper_cost``; the report's
        bottleneck, latency and throughput are still the latency model's figures).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {OBJECTIVES}")
    report = CostModel(graph, hardware).evaluate(stages, num_stages)
    if objective == "paper":
        report.objective = "paper"
        report.paper_cost = paper_cost(graph, stages, num_stages)
    return report


__all__ = [
    "COST_MODEL_VERSION", "HARDWARE", "OBJECTIVES", "CostModel", "EdgeTPU", "HardwareError", "PipelineReport",
    "ScheduleError", "StageCost", "evaluate", "get_hardware", "paper_cost", "validate_schedule",
]
