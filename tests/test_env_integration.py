"""RespectPipeline-v0 with the ecosystem: Gymnasium's and SB3's env checkers, vector envs,
pickling, and a MaskablePPO smoke run."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence

import respect_gym  # noqa: F401  (registers the env)
from respect_gym.cost.schedule import validate_schedule
from respect_gym.envs import ActionMaskObservation, RespectPipelineEnv
from respect_gym.envs.pipeline.env import IllegalActionWarning

SMALL = {"model": "resnet50", "num_tpus": 4, "max_nodes": 96, "max_edges": 128}
# SB3 notes that 2-D Boxes are not images; its CombinedExtractor flattens them, which is intended.
SB3_SHAPE_NOTE = "unconventional shape"


def test_gymnasium_check_env_passes_without_warnings():
    for kwargs in ({**SMALL, "render_mode": "ansi"}, {**SMALL, "reward_mode": "dense", "objective": "paper"},
                   {"max_nodes": 128}):
        env = gym.make("RespectPipeline-v0", **kwargs)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gym.utils.env_checker.check_env(env.unwrapped)
        assert [str(w.message) for w in caught] == []


def test_sb3_check_env_passes_with_only_the_2d_box_note():
    from stable_baselines3.common.env_checker import check_env

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(RespectPipelineEnv(**SMALL))
    # the checker steps unmasked random actions: the env may warn once that it repaired one
    messages = [str(w.message) for w in caught if not issubclass(w.category, IllegalActionWarning)]
    assert all(SB3_SHAPE_NOTE in m for m in messages), messages
    flagged = sorted(m.split()[2] for m in messages)
    assert flagged == ["edge_index", "node_features", "stage_features"]


def test_namespaced_id_imports_the_package():
    env = gym.make("respect_gym:RespectPipeline-v0", **SMALL)
    obs, _ = env.reset(seed=0)
    assert obs["node_mask"].sum() == 74


def play_masked_vector(envs, steps, seed):
    rng = np.random.default_rng(seed)
    obs, info = envs.reset(seed=seed)
    finals = []
    for _ in range(steps):
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in info["action_mask"]])
        obs, rewards, terminated, truncated, info = envs.step(actions)
        assert envs.single_observation_space.contains({k: v[0] for k, v in obs.items()})
        finals.extend(info["schedule"][i] for i in np.flatnonzero(terminated))
    return finals


def test_async_vector_env_matches_sync():
    kwargs = {**SMALL, "model": ["resnet50", "mobilenet_v2"]}
    finals = {}
    for mode in ("async", "sync"):
        envs = gym.make_vec("RespectPipeline-v0", num_envs=2, vectorization_mode=mode, **kwargs)
        try:
            finals[mode] = play_masked_vector(envs, 160, seed=1)
        finally:
            envs.close()
    async_finals, sync_finals = finals["async"], finals["sync"]
    assert len(async_finals) >= 2
    assert [list(s) for s in async_finals] == [list(s) for s in sync_finals]


def test_pickled_env_continues_the_same_episode():
    env = RespectPipelineEnv(**SMALL, reward_mode="dense")
    env.reset(seed=2)
    for action in (0, 1, 1, 2):
        env.step(action)
    clone = pickle.loads(pickle.dumps(env))
    for action in [2] * 30 + [3] * 40:
        a = env.step(action)
        b = clone.step(action)
        assert data_equivalence(a, b)
    assert a[2] and a[4]["schedule"] == b[4]["schedule"]


def test_subproc_vec_env_reaches_action_masks():
    from stable_baselines3.common.vec_env import SubprocVecEnv

    venv = SubprocVecEnv([lambda: RespectPipelineEnv(**SMALL)] * 2)
    try:
        venv.seed(0)
        venv.reset()
        masks = np.stack(venv.env_method("action_masks"))
        assert masks.shape == (2, 4) and masks.all()
        venv.step_async(np.array([3, 1]))
        venv.step_wait()
        masks = np.stack(venv.env_method("action_masks"))
        assert masks[0].tolist() == [False, False, False, True]
    finally:
        venv.close()


@pytest.mark.smoke
def test_smoke_maskable_ppo_learns_and_produces_valid_schedules():
    """Smoke run: 256 MaskablePPO steps, then a masked greedy episode yields a valid schedule."""
    from sb3_contrib import MaskablePPO

    env = RespectPipelineEnv(**{**SMALL, "reward_mode": "dense"})
    model = MaskablePPO("MultiInputPolicy", env, n_steps=128, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(256)
    obs, _ = env.reset(seed=0)
    terminated = False
    while not terminated:
        action, _ = model.predict(obs, action_masks=env.action_masks(), deterministic=True)
        obs, _, terminated, _, info = env.step(action)
        assert not info["illegal_action"]
    graph = env.state.instance.graph
    assert validate_schedule(graph, info["schedule"], 4).shape == (graph.num_nodes,)


def test_mask_observation_wrapper_forwards_masks_to_maskable_ppo():
    from sb3_contrib.common.maskable.utils import get_action_masks

    env = ActionMaskObservation(RespectPipelineEnv(**SMALL))
    obs, _ = env.reset(seed=0)
    env.step(2)
    assert get_action_masks(env).tolist() == [False, False, True, True]
