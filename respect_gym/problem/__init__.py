"""The scheduling problem itself, shared by the envs, the solvers and the agents: nothing here is a
Gymnasium env (Jumanji's split of types, state transitions, observations and rewards).

- :mod:`~respect_gym.problem.instance`: :class:`Instance`, a graph on K TPUs under a cost-model
  revision and an objective, built once (cost model, compiler reference, node tables);
- :mod:`~respect_gym.problem.objectives`: one type per objective (period, latency, paper);
- :mod:`~respect_gym.problem.state`: the state of a batch of episodes as arrays, and its
  transitions (``reset``, ``legal``, ``step``), over instances pooled by :mod:`~respect_gym.problem.pool`;
- :mod:`~respect_gym.problem.observe`: observations as functions of the state;
- :mod:`~respect_gym.problem.reward`: terminal and dense rewards;
- :mod:`~respect_gym.problem.features`: the observed features' definitions and bounds.
"""

from respect_gym.problem.instance import Instance
from respect_gym.problem.objectives import OBJECTIVES, Latency, Objective, Paper, Period, evaluate, get_objective
from respect_gym.problem.state import Episode, State, Transition, legal, reset, step

__all__ = ["OBJECTIVES", "Episode", "Instance", "Latency", "Objective", "Paper", "Period", "State", "Transition",
           "evaluate", "get_objective", "legal", "reset", "step"]
