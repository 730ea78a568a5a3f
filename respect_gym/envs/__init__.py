"""Gymnasium environments of respect-gym (registered on ``import respect_gym``)."""

from respect_gym.envs.pipeline.env import IllegalActionError, IllegalActionWarning, RespectPipelineEnv
from respect_gym.envs.pipeline.wrappers import (
    ActionMask,
    ActionMaskObservation,
    CompactObservation,
    GraphContextObservation,
    GraphObservation,
    to_pyg_data,
)

__all__ = [
    "ActionMask",
    "ActionMaskObservation",
    "CompactObservation",
    "GraphContextObservation",
    "GraphObservation",
    "IllegalActionError",
    "IllegalActionWarning",
    "RespectPipelineEnv",
    "to_pyg_data",
]
