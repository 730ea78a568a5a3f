"""Rewards of a batch of episodes, as functions of the kernel's state before and after a step.

Every episode is normalised by the same objective of the vendor compiler's split of its graph
(``reference``), so returns are comparable across graphs and sizes::

    score = reference / value - 1

``score`` is the speed-up over the compiler minus one: 0 ties it, 0.5 is 1.5x better, -0.5 is 2x
worse; it lies in ``(-1, inf)``. A degenerate ``value`` of 0 (paper cost of a parameter-free graph
without crossings) scores 0.

- ``"terminal"`` pays ``score`` on the last step and 0 before.
- ``"dense"`` pays ``phi(s') - phi(s)`` every step with the potential
  ``phi(s) = reference / max(running(s), reference) - 1`` on unfinished states and
  ``phi(s) = score`` on the final state; ``running(s)`` is the objective of the nodes placed so far
  (:meth:`~respect_gym.problem.objectives.Objective.running`). ``phi`` of the empty schedule is 0,
  so an episode's rewards sum to exactly the terminal ``score``: the shaping only moves the credit
  earlier, penalising a step the moment a stage grows past the compiler's value.
"""

from __future__ import annotations

import numpy as np

from respect_gym.problem.objectives import Objective
from respect_gym.problem.state import State, Transition

REWARD_MODES = ("terminal", "dense")


class RewardConfigError(ValueError):
    """An unknown reward mode."""


def normalised_score(reference: float, value: float) -> float:
    """``reference / value - 1``: the speed-up over the compiler split minus one (0 if value is 0)."""
    return reference / value - 1.0 if value > 0 else 0.0


SUCCESS_RTOL = 1e-9  # "beats the compiler" must beat it by more than float noise


def beats_compiler(reference, value):
    """``is_success``: the value is below the compiler's by more than :data:`SUCCESS_RTOL` (scalars or arrays)."""
    return value < reference * (1.0 - SUCCESS_RTOL)


def scores(reference: np.ndarray, value: np.ndarray) -> np.ndarray:
    """:func:`normalised_score` of arrays."""
    safe = np.where(value > 0, value, 1.0)
    return np.where(value > 0, reference / safe - 1.0, 0.0)


def final_values(objective: Objective, state: State, rows: np.ndarray) -> np.ndarray:
    """The objective of the complete schedules of episodes ``rows`` (what ``score`` is taken of)."""
    if not rows.size:
        return np.zeros(0)
    if objective.uses_cost_model:
        return objective.running(state, rows)  # a complete schedule's running value is its value
    out = np.empty(rows.shape[0])
    for i, row in enumerate(rows.tolist()):
        instance = state.instance(row)
        out[i] = objective.value(instance.graph, state.schedule(row), state.num_stages, None)
    return out


class Reward:
    """Rewards of every episode of a :class:`State` under one objective and mode.

    :param mode: ``"terminal"`` or ``"dense"`` (see the module docstring).
    """

    def __init__(self, state: State, objective: Objective, mode: str = "terminal") -> None:
        if mode not in REWARD_MODES:
            raise RewardConfigError(f"unknown reward_mode {mode!r}; choose one of {REWARD_MODES}")
        self.state, self.objective, self.mode = state, objective, mode
        self.phi = np.zeros(state.num_envs)

    def reset(self, rows: np.ndarray) -> None:
        self.phi[rows] = 0.0

    def __call__(self, rows: np.ndarray, transition: Transition, final: np.ndarray) -> np.ndarray:
        """Reward of the step ``transition`` of episodes ``rows``; ``final`` holds the objective
        values of those that finished (``transition.done``), in that order."""
        s = self.state
        reference = s.pool.reference[s.instance_id[rows]]
        done = transition.done
        if self.mode == "terminal":
            reward = np.zeros(rows.shape[0])
            if final.size:
                reward[done] = scores(reference[done], final)
            return reward
        phi = np.empty(rows.shape[0])
        live = ~done
        if live.any():
            running = self.objective.running(s, rows[live])
            ref = reference[live]
            top = np.maximum(running, ref)
            phi[live] = np.where(ref > 0, ref / np.where(top > 0, top, 1.0) - 1.0, 0.0)
        if final.size:
            phi[done] = scores(reference[done], final)
        reward = phi - self.phi[rows]
        self.phi[rows] = phi
        return reward
