"""The native vector env (``gym.make_vec("RespectPipeline-v1", num_envs=N)``) as a Stable-Baselines3
``VecEnv``, so MaskablePPO trains on the problem kernel's batched steps instead of N Python envs.

SB3 resets finished episodes in the same step and returns the last observation in
``info["terminal_observation"]``; the native env resets on the next step (Gymnasium's convention).
:class:`KernelVecEnv` converts: after a step it resets the finished sub-envs at once with
``reset(options={"reset_mask": ...})`` (which the native env then does not reset again), so every
sub-env plays exactly the episodes of the native env. ``env_method("action_masks")`` returns the
batch's masks, where sb3-contrib's ``get_action_masks`` looks for them.

>>> from respect_gym_agents.vecenv import KernelVecEnv
>>> venv = KernelVecEnv(64, model="dnn", observation="compact", reward_mode="dense")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

import respect_gym  # noqa: F401  (registers the env ids)


class KernelVecEnv(VecEnv):
    """``num_envs`` episodes of ``env_id`` (``RespectPipeline-v1``'s native vector env) behind SB3's
    ``VecEnv``; ``env_kwargs`` are the env's arguments (``model``, ``num_tpus``, ``observation``, ...)."""

    def __init__(self, num_envs: int, env_id: str = "RespectPipeline-v1", seed: int = 0, **env_kwargs: Any) -> None:
        self.venv = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **env_kwargs)
        super().__init__(num_envs, self.venv.single_observation_space, self.venv.single_action_space)
        self._seed_value = seed
        self._actions = np.zeros(num_envs, dtype=np.int64)
        self._masks = np.ones((num_envs, self.action_space.n), dtype=bool)

    def reset(self):
        obs, info = self.venv.reset(seed=self._seed_value)
        self._seed_value = None  # later resets continue each sub-env's own random stream
        self._masks = info["action_mask"]
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)

    def step_wait(self) -> VecEnvStepReturn:
        obs, reward, terminated, truncated, info = self.venv.step(self._actions)
        done = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if done.any():
            rows = np.flatnonzero(done)
            for i in rows.tolist():
                infos[i] = {"terminal_observation": _row(obs, i), "is_success": bool(info["is_success"][i]),
                            "score": float(info["score"][i]), "TimeLimit.truncated": bool(truncated[i])}
            fresh, fresh_info = self.venv.reset(options={"reset_mask": done})
            obs = _replace_rows(obs, fresh, rows)
            info["action_mask"][rows] = fresh_info["action_mask"][rows]
        self._masks = info["action_mask"]
        return obs, reward.astype(np.float32), done, infos

    def action_masks(self) -> np.ndarray:
        """``(num_envs, K)`` bool: the legal stages of each sub-env's current node."""
        return self._masks

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        if method_name != "action_masks":
            raise AttributeError(f"KernelVecEnv has no per-env method {method_name!r} (only action_masks)")
        return list(self._masks[self._get_indices(indices)])

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.venv.unwrapped, attr_name)] * len(list(self._get_indices(indices)))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise AttributeError("KernelVecEnv's sub-envs share one batch; their attributes cannot be set one by one")

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False] * len(list(self._get_indices(indices)))

    def close(self) -> None:
        self.venv.close()

    def seed(self, seed: int | None = None) -> Sequence[None | int]:
        self._seed_value = seed
        return [None if seed is None else seed + i for i in range(self.num_envs)]


def _row(obs, i: int):
    return {key: value[i].copy() for key, value in obs.items()} if isinstance(obs, dict) else obs[i].copy()


def _replace_rows(obs, fresh, rows: np.ndarray):
    if isinstance(obs, dict):
        for key in obs:
            obs[key][rows] = fresh[key][rows]
        return obs
    obs[rows] = fresh[rows]
    return obs


class StackedVecEnv(VecEnv):
    """Several :class:`KernelVecEnv` as one ``VecEnv`` (their sub-envs in order), e.g. one per K:
    the native vector env has one K, and views and actions that do not depend on K
    (``observation="decision-v2"``, ``action="cut"``) let one policy train on all of them at once."""

    def __init__(self, parts: Sequence[KernelVecEnv]) -> None:
        first = parts[0]
        if any(p.observation_space != first.observation_space or p.action_space != first.action_space for p in parts):
            raise ValueError("stacked vector envs must share their observation and action spaces")
        self.parts = list(parts)
        self._bounds = np.cumsum([0] + [p.num_envs for p in parts])
        super().__init__(int(self._bounds[-1]), first.observation_space, first.action_space)

    def reset(self):
        return np.concatenate([p.reset() for p in self.parts])

    def step_async(self, actions: np.ndarray) -> None:
        for p, lo, hi in zip(self.parts, self._bounds, self._bounds[1:]):
            p.step_async(actions[lo:hi])

    def step_wait(self) -> VecEnvStepReturn:
        results = [p.step_wait() for p in self.parts]
        return (np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results]),
                np.concatenate([r[2] for r in results]), [info for r in results for info in r[3]])

    def action_masks(self) -> np.ndarray:
        return np.concatenate([p.action_masks() for p in self.parts])

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        if method_name != "action_masks":
            raise AttributeError(f"StackedVecEnv has no per-env method {method_name!r} (only action_masks)")
        return list(self.action_masks()[self._get_indices(indices)])

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        values = [v for p in self.parts for v in p.get_attr(attr_name)]
        return [values[i] for i in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise AttributeError("StackedVecEnv's sub-envs share batches; their attributes cannot be set one by one")

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False] * len(list(self._get_indices(indices)))

    def close(self) -> None:
        for p in self.parts:
            p.close()

    def seed(self, seed: int | None = None) -> Sequence[None | int]:
        return [s for i, p in enumerate(self.parts) for s in p.seed(None if seed is None else seed + 10_000 * i)]
