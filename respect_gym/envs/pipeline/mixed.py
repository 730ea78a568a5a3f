"""Pipeline episodes with the number of TPUs drawn per episode, behind one action space.

A policy trained for one K sees one stage count; :class:`MixedStagesEnv` draws K per episode from
a set and pads the action space and the per-stage context to the largest K (padded stages masked),
so one model (the agents' MaskablePPO) trains on every K at once.
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from respect_gym.problem.features import NUM_STAGE_CONTEXT

KS = (2, 3, 4, 5, 6, 7, 8)


class MixedStagesEnv(gym.Env):
    """Pipeline envs for several K behind one ``Discrete(max K)`` action space, observing the
    ``"context"`` view (:class:`~respect_gym.problem.observe.ContextView`).

    Each ``reset`` draws K uniformly from ``ks`` with ``self.np_random``; stages ``>= K`` are
    masked in ``action_masks()``, in ``info["action_mask"]`` and by zero ``stage_context`` rows
    (``legal`` = 0). An action ``>= K`` (only possible unmasked) is treated as an illegal action:
    the env places the node on its smallest legal stage and ``info["illegal_action"]`` is True.
    With ``skip_forced`` (default), a state with a single legal stage (every node after the
    policy reaches the last stage, for one) is stepped through at once and its reward added to
    the step that led there: no PPO sample is spent on a state without a choice.

    :param env_id: gym id of the pipeline env.
    :param model: the graph source (anything the env's ``model`` accepts).
    :param ks: the stage counts to mix.
    :param skip_forced: step through states with one legal stage (see above).
    :param env_kwargs: passed to every ``gym.make`` (``reward_mode``, ``objective``, ...).
    """

    metadata = {"render_modes": []}

    def __init__(self, env_id: str, model: Any, ks: Sequence[int] = KS, max_nodes: int = 1024,
                 max_edges: int | None = None, skip_forced: bool = True, **env_kwargs: Any) -> None:
        self.skip_forced = skip_forced
        self.ks = tuple(sorted(int(k) for k in ks))
        self.k_max = self.ks[-1]
        self.envs = [gym.make(env_id, model=model, num_tpus=k, max_nodes=max_nodes, max_edges=max_edges,
                              observation="context", **env_kwargs) for k in self.ks]
        self.observation_space = self.envs[-1].observation_space
        self.action_space = spaces.Discrete(self.k_max)
        self._active = self.envs[-1]
        self._k = self.k_max

    def _pad(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        stages = np.zeros((self.k_max, NUM_STAGE_CONTEXT), dtype=np.float32)
        stages[: self._k] = obs["stage_context"]
        return {**obs, "stage_context": stages}

    def _pad_info(self, info: dict[str, Any]) -> dict[str, Any]:
        mask = np.zeros(self.k_max, dtype=np.int8)
        mask[: self._k] = info["action_mask"]
        return {**info, "action_mask": mask, "num_tpus": self._k}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        index = int(self.np_random.integers(len(self.ks)))
        self._active, self._k = self.envs[index], self.ks[index]
        obs, info = self._active.reset(seed=int(self.np_random.integers(2**31 - 1)), options=options)
        return self._pad(obs), self._pad_info(info)

    def step(self, action):
        action = int(action)
        beyond = action >= self._k
        obs, reward, terminated, truncated, info = self._active.step(0 if beyond else action)
        illegal = bool(info["illegal_action"] or beyond)
        forced = 0
        while self.skip_forced and not terminated and info["action_mask"].sum() == 1:
            obs, more, terminated, truncated, info = self._active.step(int(info["action_mask"].argmax()))
            reward += more
            forced += 1
        info = self._pad_info(info)
        info["illegal_action"], info["forced_steps"] = illegal, forced
        return self._pad(obs), reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        mask = np.zeros(self.k_max, dtype=bool)
        mask[: self._k] = self._active.unwrapped.action_masks()
        return mask
