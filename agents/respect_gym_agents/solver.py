"""The ``imitation`` solver: the shipped imitation checkpoint's greedy schedule (no search).

Registered through the ``respect_gym.solvers`` entry point, and by :func:`register` for a
respect-gym without entry-point discovery. Option ``checkpoint``: another checkpoint path.
"""

from __future__ import annotations

import functools

import torch

from respect_gym.solvers.base import Problem, SolverOutput

from respect_gym_agents import checkpoints
from respect_gym_agents.policies import GraphPolicyNet
from respect_gym_agents.rollout import greedy_episode


@functools.lru_cache(maxsize=4)
def _net(path: str) -> tuple[GraphPolicyNet, str]:
    net, meta = checkpoints.load(path)
    return net, meta["objective"]


def solve_imitation(problem: Problem) -> SolverOutput:
    """Greedy rollout of the imitation policy (one graph embedding, one small MLP per node)."""
    opts = problem.take_options("imitation", checkpoint=str(checkpoints.shipped("imitation")))
    net, _ = _net(str(opts["checkpoint"]))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        episode = greedy_episode(net, problem.graph, problem.num_stages, problem.objective, problem.cost_model.hardware)
    finally:
        torch.set_num_threads(threads)
    return SolverOutput(stages=episode.stages, status="heuristic", info={"checkpoint": opts["checkpoint"]})


def register() -> None:
    """Add ``imitation`` to respect-gym's solver registry (what the entry point does)."""
    from respect_gym.solvers.registry import register as add

    add("imitation", solve_imitation)
