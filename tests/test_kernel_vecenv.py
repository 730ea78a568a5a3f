"""The SB3 VecEnv over the native vector env: the same episodes as SB3's DummyVecEnv of single envs,
masks where MaskablePPO finds them, and a MaskablePPO smoke run on it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sb3_contrib")

import gymnasium as gym  # noqa: E402
from sb3_contrib import MaskablePPO  # noqa: E402
from sb3_contrib.common.maskable.utils import get_action_masks  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402

from respect_gym_agents.vecenv import KernelVecEnv  # noqa: E402

KWARGS = dict(model=["mobilenet_v2", "dnn"], num_tpus=3, observation="compact", reward_mode="dense", max_nodes=512)


def test_kernel_vec_env_plays_what_dummy_vec_env_plays() -> None:
    n = 3
    kernel = KernelVecEnv(n, seed=7, **KWARGS)
    dummy = DummyVecEnv([lambda: gym.make("RespectPipeline-v1", **KWARGS) for _ in range(n)])
    dummy.seed(7)
    a, b = kernel.reset(), dummy.reset()
    assert np.array_equal(a, b)
    rng = np.random.default_rng(0)
    finished = 0
    for _ in range(400):
        masks = get_action_masks(kernel)
        assert np.array_equal(masks, np.stack(dummy.env_method("action_masks")))
        low = masks.argmax(axis=1)
        actions = low + rng.integers(0, 3 - low)
        a_obs, a_rew, a_done, a_info = kernel.step(actions)
        b_obs, b_rew, b_done, b_info = dummy.step(actions)
        assert np.array_equal(a_obs, b_obs) and np.allclose(a_rew, b_rew, rtol=0, atol=1e-6)
        assert np.array_equal(a_done, b_done)
        for i in np.flatnonzero(a_done):
            finished += 1
            assert np.array_equal(a_info[i]["terminal_observation"], b_info[i]["terminal_observation"])
            assert a_info[i]["is_success"] == b_info[i]["is_success"]
    assert finished >= 6


def test_maskable_ppo_trains_on_the_kernel_vec_env() -> None:
    venv = KernelVecEnv(8, seed=0, model="dnn", observation="compact", reward_mode="dense")
    model = MaskablePPO("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(512)
    obs = venv.reset()
    actions, _ = model.predict(obs, action_masks=get_action_masks(venv), deterministic=True)
    assert actions.shape == (8,) and get_action_masks(venv)[np.arange(8), actions].all()
