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


def test_stacked_vec_env_is_its_parts_side_by_side() -> None:
    from respect_gym_agents.vecenv import StackedVecEnv

    kwargs = dict(model="dnn", observation="decision", action="cut", reward_mode="dense")
    stacked = StackedVecEnv([KernelVecEnv(2, seed=1, num_tpus=2, **kwargs), KernelVecEnv(3, seed=5, num_tpus=4, **kwargs)])
    parts = [KernelVecEnv(2, seed=1, num_tpus=2, **kwargs), KernelVecEnv(3, seed=5, num_tpus=4, **kwargs)]
    assert stacked.num_envs == 5 and stacked.action_space == gym.spaces.Discrete(2)
    obs = stacked.reset()
    assert np.array_equal(obs, np.concatenate([p.reset() for p in parts]))
    rng = np.random.default_rng(0)
    for _ in range(300):
        masks = get_action_masks(stacked)
        assert np.array_equal(masks, np.concatenate([p.action_masks() for p in parts]))
        actions = (masks[:, 1] & (rng.random(5) < 0.05)).astype(np.int64)
        obs, reward, done, infos = stacked.step(actions)
        expected = [p.step(actions[lo:hi]) for p, lo, hi in zip(parts, (0, 2), (2, 5))]
        assert np.array_equal(obs, np.concatenate([e[0] for e in expected]))
        assert np.array_equal(reward, np.concatenate([e[1] for e in expected]))
        assert np.array_equal(done, np.concatenate([e[2] for e in expected]))
    assert len(infos) == 5


def test_cut_ppo_smoke_run_writes_a_cut_policy(tmp_path) -> None:
    from respect_gym_agents.cut_policy import CutPolicyNet
    from respect_gym_agents.cut_ppo import CutPPOConfig, train

    config = CutPPOConfig(steps=1024, envs_per_k=2, ks="2,4", n_steps=128, batch_size=256, n_epochs=1, eval_every=512,
                          validation_graphs=2)
    net, log = train(config, tmp_path)
    assert isinstance(net, CutPolicyNet) and log["best_steps"] in {row["steps"] for row in log["validation"]}
    assert (tmp_path / "validation.csv").read_text().count("\n") == len(log["validation"]) + 1
