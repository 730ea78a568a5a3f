"""The ``imitation`` and ``ppo`` solvers: a shipped checkpoint's greedy schedule.

Like RESPECT's post-processing (its pointer network emits an order that is then packed into
stages), option ``refine`` (default True) keeps the policy's node order (nodes sorted by the
policy's stage; within a stage by the visit order, and separately by the compiler's DFS order:
two topological orders) and re-cuts each optimally into K segments for the problem's objective
(:meth:`respect_gym.problem.objectives.Objective.best_cut`: the period with the host's per-stage
work, one input's latency, or the paper cost); the policy's own schedule is a cut of both, so
refining never makes it worse (the best is returned); the re-cut only costs segments that could
beat the best value so far (``upper``, which leaves the optimal cut unchanged). ``refine=False``
gives the raw policy. Option ``samples`` (default 0): also draw that
many episodes from the policy (:func:`~respect_gym_agents.rollout.policy_schedules`, seeded by
``seed``, softmax at ``temperature``) and keep the best of them and the greedy one before any
re-cut; no solver is involved, only the policy and the cost model. Inference runs the policy's
numpy scorer (equal to the torch net's greedy schedule) with the checkpoint loaded once per path. Registered through the
``respect_gym.solvers`` entry point, and by :func:`register` for a respect-gym without
entry-point discovery. Option ``checkpoint``: another checkpoint path; by default the shipped one
for the problem's objective (``imitation_paper.pt`` for ``paper`` where shipped, else the period
one). A checkpoint runs only on problems of the cost-model revision it was trained for (a
:class:`SolverError` otherwise; the ``paper`` objective does not depend on the cost model, so its
revision-2 suites can be solved with ``revision=3``).
``ppo`` is the same code on the MaskablePPO checkpoint (:mod:`respect_gym_agents.ppo`).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from respect_gym.graph import Graph
from respect_gym.solvers.base import Problem, SolverError, SolverOutput
from respect_gym.solvers.compiler import dfs_topological_order

from respect_gym_agents import checkpoints
from respect_gym_agents.policies import GraphPolicyNet
from respect_gym_agents.rollout import NumpyScorer, policy_schedules


@functools.lru_cache(maxsize=4)
def _net(path: str) -> tuple[GraphPolicyNet, NumpyScorer, int]:
    net, meta = checkpoints.load(path)
    return net, NumpyScorer(net), checkpoints.revision_of(meta)


def default_checkpoint(name: str, objective: str) -> str:
    """The shipped checkpoint of ``name`` for ``objective``, or the period one if none is shipped."""
    path = checkpoints.shipped(name, objective)
    return str(path if path.exists() else checkpoints.shipped(name))


def solve_imitation(problem: Problem) -> SolverOutput:
    """Greedy rollout of the imitation policy (one graph embedding, one small MLP per node)."""
    return _solve_policy(problem, "imitation")


def solve_ppo(problem: Problem) -> SolverOutput:
    """Greedy rollout of the MaskablePPO policy (same network, same options)."""
    return _solve_policy(problem, "ppo")


def _solve_policy(problem: Problem, name: str) -> SolverOutput:
    opts = problem.take_options(name, checkpoint=default_checkpoint(name, problem.objective.name), refine=True,
                                samples=0, temperature=1.0)
    try:
        samples, temperature = int(opts["samples"]), float(opts["temperature"])
    except ValueError as error:
        raise SolverError(f"{name}: samples must be an integer and temperature a number ({error})") from None
    if samples < 0 or not temperature > 0:
        raise SolverError(f"{name}: samples must be >= 0 and temperature > 0 (got {samples}, {temperature})")
    net, scorer, revision = _net(str(opts["checkpoint"]))
    if problem.cost_model.revision != revision:
        raise SolverError(f"{name} checkpoint {opts['checkpoint']} was trained for cost-model revision {revision}, "
                          f"this problem uses revision {problem.cost_model.revision}; solve with revision={revision}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        candidates = policy_schedules(net, problem.graph, problem.num_stages, problem.objective,
                                      problem.cost_model.hardware, scorer, samples=samples,
                                      rng=np.random.default_rng(problem.seed), temperature=temperature)
    finally:
        torch.set_num_threads(threads)
    stages = min(candidates, key=problem.objective_value)  # the first (greedy) one on ties
    if opts["refine"]:
        stages = _recut(problem, stages)
    return SolverOutput(stages=stages, status="heuristic", info={"checkpoint": opts["checkpoint"], "refine": opts["refine"],
                                                                       "samples": samples})


def _policy_orders(graph: Graph, stages: np.ndarray) -> list[np.ndarray]:
    """The orders the re-cut tries: nodes sorted by the policy's stage, ties in the visit order or
    in the compiler's DFS order (topological orders both; which cuts better varies, e.g.
    nasnet_mobile fused K=8 and K=6)."""
    return [base[np.argsort(stages[base], kind="stable")] for base in (graph.topological_order,
                                                                       dfs_topological_order(graph))]


def _recut(problem: Problem, stages: np.ndarray) -> np.ndarray:
    """The best optimal cut of the :func:`_policy_orders` into K segments, or ``stages`` if none is better."""
    best = problem.objective_value(stages)
    for order in _policy_orders(problem.graph, stages):
        value, cut = problem.best_cut(order, upper=best)
        if value < best:
            best, stages = value, cut
    return stages


def register() -> None:
    """Add ``imitation`` and ``ppo`` to respect-gym's solver registry (what the entry points do)."""
    from respect_gym.solvers.registry import register as add

    add("imitation", solve_imitation)
    add("ppo", solve_ppo)
