"""The ``cut_imitation`` and ``cut_ppo`` solvers: a shipped cut policy's greedy schedule, alone.

The policy (:mod:`respect_gym_agents.cut_policy`) walks the visit order once and decides at each
node whether to open the next stage; nothing is re-cut, sampled or searched afterwards, so the
schedule is what the learned policy does by itself. ``cut_imitation`` is trained by DAgger with
the exact cut expert (:mod:`respect_gym_agents.cut_training`), ``cut_ppo`` by MaskablePPO from
scratch (:mod:`respect_gym_agents.ppo`, ``train ppo --policy cut``). Option ``checkpoint``:
another checkpoint path. A checkpoint runs only on problems of the cost-model revision it was
trained for, and only for the period objective it was trained on.
"""

from __future__ import annotations

import functools

from respect_gym.problem.objectives import Period
from respect_gym.solvers.base import Problem, SolverError, SolverOutput

from respect_gym_agents import checkpoints
from respect_gym_agents.cut_policy import CutPolicyNet, NumpyCutPolicy, greedy_schedules


@functools.lru_cache(maxsize=4)
def _policy(path: str) -> tuple[NumpyCutPolicy, int]:
    net, meta = checkpoints.load(path)
    if not isinstance(net, CutPolicyNet):
        raise SolverError(f"{path} holds a graph policy, not a cut policy; use solver 'imitation' or 'ppo'")
    return NumpyCutPolicy(net), checkpoints.revision_of(meta)


def solve_cut_imitation(problem: Problem) -> SolverOutput:
    """Greedy rollout of the DAgger-trained cut policy."""
    return _solve(problem, "cut_imitation")


def solve_cut_ppo(problem: Problem) -> SolverOutput:
    """Greedy rollout of the cut policy MaskablePPO trained from scratch."""
    return _solve(problem, "cut_ppo")


def _solve(problem: Problem, name: str) -> SolverOutput:
    problem.refuse_unless(name, Period)
    opts = problem.take_options(name, checkpoint=str(checkpoints.shipped(name)))
    policy, revision = _policy(str(opts["checkpoint"]))
    instance = checkpoints.problem_instance(problem, name, opts["checkpoint"], revision)
    stages = greedy_schedules(policy, [instance])[0]
    return SolverOutput(stages=stages, status="heuristic", info={"checkpoint": opts["checkpoint"]})


def register() -> None:
    """Add ``cut_imitation`` and ``cut_ppo`` to respect-gym's solver registry (what the entry points do)."""
    from respect_gym.solvers.registry import register as add

    add("cut_imitation", solve_cut_imitation)
    add("cut_ppo", solve_cut_ppo)
