"""The graph policies alone, as leaderboard schedulers: ``respect-gym leaderboard run --policy
respect_gym_agents.leaderboard_policies:imitation_raw`` (and ``ppo_raw``).

The ``imitation`` and ``ppo`` solvers re-cut the policy's order exactly by default (post-processing);
these run them with ``refine=False``, so the raw policy and the re-cut are separate entries. The cut
policies need no such wrapper: their solvers (``cut_imitation``, ``cut_ppo``) are the policy alone.
"""

from __future__ import annotations

from typing import Sequence

import respect_gym
from respect_gym.graph import Graph


def imitation_raw(graph: Graph, num_stages: int, hardware: str = "usb3", objective: str = "period",
                  revision: int | None = None) -> Sequence[int]:
    """The imitation policy's greedy schedule, no re-cut."""
    return _raw("imitation", graph, num_stages, hardware, objective, revision)


def ppo_raw(graph: Graph, num_stages: int, hardware: str = "usb3", objective: str = "period",
            revision: int | None = None) -> Sequence[int]:
    """The PPO policy's greedy schedule, no re-cut."""
    return _raw("ppo", graph, num_stages, hardware, objective, revision)


def _raw(solver: str, graph: Graph, num_stages: int, hardware: str, objective: str,
         revision: int | None) -> Sequence[int]:
    from respect_gym_agents.solver import register

    register()
    return respect_gym.solve(graph, num_stages, solver, hardware=hardware, objective=objective, revision=revision,
                             refine=False).stages.tolist()
