"""Rewards of ``RespectPipeline-v0`` / ``-v1``: what is optimised (the objective) and when it is paid.

Objectives (lower is better; ``value`` of a complete schedule):

- ``"period"``: the pipeline period in ms from :class:`respect_gym.cost.model.CostModel`
  (steady-state time between outputs, throughput = 1000 / period; under cost-model revision 2,
  ``RespectPipeline-v0``, the bottleneck stage, which v0 calls ``"latency"``).
- ``"latency"`` (revision 3, ``RespectPipeline-v1``): one input's time through the pipeline.
- ``"paper"``: the RESPECT authors' cost :func:`respect_gym.cost.paper.paper_cost` (largest
  per-stage parameter MB + edge boundary crossings).

Both are normalised by the same objective of the vendor compiler's split of the same graph
(``reference``), so returns are comparable across graphs and sizes::

    score = reference / value - 1

``score`` is the speed-up over the compiler minus one: 0 ties it, 0.5 is 1.5x better, -0.5 is 2x
worse; it lies in ``(-1, inf)``. A degenerate ``value`` of 0 (paper cost of a parameter-free graph
without crossings) scores 0.

- :class:`TerminalReward` pays ``score`` on the last step and 0 before.
- :class:`DenseReward` pays ``phi(s') - phi(s)`` every step with the potential
  ``phi(s) = reference / max(running(s), reference) - 1`` on unfinished states and
  ``phi(s) = score`` on the final state; ``running(s)`` is the objective of the nodes assigned so
  far (the running bottleneck, or the running paper cost). ``phi`` of the empty schedule is 0, so
  an episode's rewards sum to exactly the terminal ``score``: the shaping only moves the credit
  earlier, penalising a step the moment a stage grows past the compiler's bottleneck.
"""

from __future__ import annotations

import abc

import numpy as np

from respect_gym.cost import OBJECTIVES
from respect_gym.cost.paper import EDGE_WEIGHT, MEMORY_UNIT_BYTES, MEMORY_WEIGHT, paper_cost
from respect_gym.cost.report import PipelineReport
from respect_gym.envs.pipeline.types import EpisodeState
from respect_gym.graph import Graph

REWARD_MODES = ("terminal", "dense")


class RewardConfigError(ValueError):
    """An unknown objective or reward mode."""


def normalised_score(reference: float, value: float) -> float:
    """``reference / value - 1``: the speed-up over the compiler split minus one (0 if value is 0)."""
    return reference / value - 1.0 if value > 0 else 0.0


class Objective(abc.ABC):
    """The quantity a schedule is scored on, for a complete and for a partial schedule."""

    name: str

    @abc.abstractmethod
    def value(self, graph: Graph, stages: np.ndarray, num_stages: int, report: PipelineReport) -> float:
        """Objective of a complete schedule ``stages`` whose latency report is ``report``."""

    def reset(self, state: EpisodeState) -> None:
        """Start tracking a new episode."""

    @abc.abstractmethod
    def running(self, state: EpisodeState, node: int) -> float:
        """Objective of the partial schedule right after ``node`` was assigned (O(degree))."""


class PeriodObjective(Objective):
    """The pipeline period in ms (revision 2: the bottleneck stage)."""

    name = "period"

    def value(self, graph: Graph, stages: np.ndarray, num_stages: int, report: PipelineReport) -> float:
        return report.period_ms

    def running(self, state: EpisodeState, node: int) -> float:
        return float(state.evaluator.period_ms)


class LatencyObjective(Objective):
    """One input's time through the pipeline in ms."""

    name = "latency"

    def value(self, graph: Graph, stages: np.ndarray, num_stages: int, report: PipelineReport) -> float:
        return report.latency_ms

    def running(self, state: EpisodeState, node: int) -> float:
        return float(state.evaluator.latency_ms)


class PaperObjective(Objective):
    """The RESPECT authors' memory + boundary-crossing cost, with the cost package's weights."""

    name = "paper"

    def __init__(self) -> None:
        self._crossings = 0

    def value(self, graph: Graph, stages: np.ndarray, num_stages: int, report: PipelineReport) -> float:
        return paper_cost(graph, stages, num_stages)

    def reset(self, state: EpisodeState) -> None:
        self._crossings = 0

    def running(self, state: EpisodeState, node: int) -> float:
        preds = state.instance.graph.predecessors[node]
        if preds.size:
            self._crossings += int(state.stages[node]) * preds.size - int(state.stages[preds].sum())
        memory = float(np.max(state.evaluator.stage_param_bytes))
        return MEMORY_WEIGHT * memory / MEMORY_UNIT_BYTES + EDGE_WEIGHT * self._crossings


def make_objective(name: str) -> Objective:
    """The objective named by the env's ``objective`` argument."""
    if name == "period":
        return PeriodObjective()
    if name == "latency":
        return LatencyObjective()
    if name == "paper":
        return PaperObjective()
    raise RewardConfigError(f"unknown objective {name!r}; choose one of {OBJECTIVES}")


class RewardFn(abc.ABC):
    """Turns an assignment into a reward; ``final`` is the complete schedule's objective or None."""

    def __init__(self, objective: str | Objective = "period") -> None:
        self.objective = objective if isinstance(objective, Objective) else make_objective(objective)

    def reset(self, state: EpisodeState) -> None:
        self.objective.reset(state)

    @abc.abstractmethod
    def __call__(self, state: EpisodeState, node: int, final: float | None) -> float:
        """Reward of the step that assigned ``node``; ``final`` is given on the last step only."""


class TerminalReward(RewardFn):
    """``score`` on the last step, 0 before (see the module docstring)."""

    def __call__(self, state: EpisodeState, node: int, final: float | None) -> float:
        if final is None:
            return 0.0
        return normalised_score(state.instance.reference, final)


class DenseReward(RewardFn):
    """Potential-based shaping of the terminal score; the rewards of an episode sum to it."""

    def __init__(self, objective: str | Objective = "period") -> None:
        super().__init__(objective)
        self._phi = 0.0

    def reset(self, state: EpisodeState) -> None:
        super().reset(state)
        self._phi = 0.0

    def __call__(self, state: EpisodeState, node: int, final: float | None) -> float:
        reference = state.instance.reference
        running = self.objective.running(state, node)
        if final is None:
            phi = reference / max(running, reference) - 1.0 if reference > 0 else 0.0
        else:
            phi = normalised_score(reference, final)
        reward, self._phi = phi - self._phi, phi
        return reward


def make_reward_fn(mode: str, objective: str) -> RewardFn:
    """The reward function named by the env's ``reward_mode`` and ``objective`` arguments."""
    if mode == "terminal":
        return TerminalReward(objective)
    if mode == "dense":
        return DenseReward(objective)
    raise RewardConfigError(f"unknown reward_mode {mode!r}; choose one of {REWARD_MODES}")
