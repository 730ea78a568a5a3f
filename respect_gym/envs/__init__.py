"""Gymnasium environments of respect-gym (registered on ``import respect_gym``)."""

from respect_gym.envs.pipeline.env import RespectPipelineEnv

__all__ = ["RespectPipelineEnv"]
