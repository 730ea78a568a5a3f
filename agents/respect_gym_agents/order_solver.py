"""The ``order_pointer`` solver: the order policy alone, in RESPECT's formulation (``RespectOrder-v1``).

The pointer network (:mod:`respect_gym_agents.order_policy`) decodes one topological order
greedily; the order's optimal cut into at most K stages makes the schedule, exactly as the env
scores an episode (:func:`~respect_gym_agents.order_policy.order_cut`, the exact DP at every size).
That cut is part of the formulation (the env's reward is the cut's value), not post-processing:
nothing is sampled, searched or re-ordered. ``info`` holds the two parts' times, ``order_seconds``
(encoder and decoding) and ``cut_seconds``.

Options: ``checkpoint`` (another checkpoint path). A checkpoint runs only if it is an order policy
trained on ``RespectOrder-v1``, for the cost-model revision of the problem and the period objective.
"""

from __future__ import annotations

import functools
import time

from respect_gym.problem.objectives import Period
from respect_gym.safe_io import excerpt
from respect_gym.solvers.base import Problem, SolverError, SolverOutput

from respect_gym_agents import checkpoints
from respect_gym_agents.order_policy import NumpyOrderPolicy, OrderGraph, OrderPolicyNet, order_cut
from respect_gym_agents.order_training import ENV_ID

NAME = "order_pointer"


@functools.lru_cache(maxsize=4)
def policy(path: str) -> tuple[NumpyOrderPolicy, int]:
    """The numpy policy of an order checkpoint and the cost-model revision it was trained for;
    refuses another kind of net or a checkpoint of another env."""
    net, meta = checkpoints.load(path)
    if not isinstance(net, OrderPolicyNet):
        raise SolverError(f"{path} holds a {type(net).__name__}, not an order policy; use solver 'cut_imitation', "
                          "'imitation' or 'ppo' for it")
    if meta["env_id"] != ENV_ID:
        raise SolverError(f"{path} was trained on {excerpt(meta['env_id'])}, not {ENV_ID}")
    return NumpyOrderPolicy(net), checkpoints.revision_of(meta)


def solve_order_pointer(problem: Problem) -> SolverOutput:
    """Greedy order of the pointer policy, cut optimally (the policy alone in RESPECT's formulation)."""
    problem.refuse_unless(NAME, Period)
    opts = problem.take_options(NAME, checkpoint=str(checkpoints.shipped(NAME)))
    numpy_policy, revision = policy(str(opts["checkpoint"]))
    instance = checkpoints.problem_instance(problem, NAME, opts["checkpoint"], revision)
    start = time.perf_counter()
    order, _ = numpy_policy.decode(OrderGraph.of(instance))
    decoded = time.perf_counter()
    _, stages = order_cut(instance, order)
    return SolverOutput(stages=stages, status="heuristic",
                        info={"checkpoint": opts["checkpoint"], "order": order.tolist(),
                              "order_seconds": decoded - start, "cut_seconds": time.perf_counter() - decoded})


def register() -> None:
    """Add ``order_pointer`` to respect-gym's solver registry (what the entry point does)."""
    from respect_gym.solvers.registry import register as add

    add(NAME, solve_order_pointer)
