"""``RespectOrder-v1``: RESPECT's formulation; the agent orders the nodes, the optimal cut makes the stages."""

from respect_gym.envs.order.env import RespectOrderEnv

__all__ = ["RespectOrderEnv"]
