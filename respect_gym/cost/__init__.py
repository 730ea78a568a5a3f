"""Edge TPU cost model: hardware presets, schedule validation and pipeline evaluation."""

from __future__ import annotations

from respect_gym.cost.hardware import (
    HARDWARE, LATEST_REVISION, REVISIONS, EdgeTPU, EdgeTPU3, HardwareError, get_hardware,
)
from respect_gym.cost.model import COST_MODEL_VERSION, COST_MODEL_VERSIONS, CostModel, StageCost
from respect_gym.cost.paper import paper_cost
from respect_gym.cost.report import PipelineReport
from respect_gym.cost.schedule import ScheduleError, validate_schedule

__all__ = [
    "COST_MODEL_VERSION", "COST_MODEL_VERSIONS", "HARDWARE", "LATEST_REVISION", "REVISIONS",
    "CostModel", "EdgeTPU", "EdgeTPU3", "HardwareError", "PipelineReport",
    "ScheduleError", "StageCost", "get_hardware", "paper_cost", "validate_schedule",
]
