"""``action="cut"`` and ``observation="decision"`` of RespectPipeline-v1: an episode is a cut of the
visit order, the mask says when a cut is legal, the single and vector envs agree, and the
decision features stay finite and inside their space."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import respect_gym  # noqa: F401
from respect_gym.envs.pipeline.env import IllegalActionError
from respect_gym.problem.features import DECISION_FEATURES, NUM_DECISION_FEATURES
from respect_gym.zoo import load_graph


def _play(env, rng: np.random.Generator, p_cut: float = 0.1) -> tuple[dict, list[np.ndarray]]:
    obs, info = env.reset(seed=0)
    seen, terminated = [obs], False
    while not terminated:
        mask = env.unwrapped.action_masks()
        action = int(mask[1] and rng.random() < p_cut)
        obs, _, terminated, _, info = env.step(action)
        seen.append(obs)
    return info, seen


@pytest.mark.parametrize("model, k", [("resnet50", 4), ("mobilenet_v2", 8), ("inception_v3", 2)])
def test_a_cut_episode_is_a_contiguous_cut_of_the_visit_order(model, k) -> None:
    env = gym.make("RespectPipeline-v1", model=model, num_tpus=k, observation="decision", action="cut")
    assert env.action_space == gym.spaces.Discrete(2)
    info, seen = _play(env, np.random.default_rng(1), p_cut=0.2)
    order = load_graph(model).topological_order
    along = np.asarray(info["schedule"])[order]
    assert along[0] == 0 and set(np.diff(along).tolist()) <= {0, 1}  # stays or opens the next stage
    assert along[-1] <= k - 1
    assert info["illegal_actions"] == 0
    # the reported value is the cost model's value of that schedule
    report = respect_gym.evaluate(load_graph(model), info["schedule"], k)
    assert info["objective_value"] == pytest.approx(report.objective_value, rel=1e-12)
    for obs in seen[:-1]:
        assert obs.shape == (NUM_DECISION_FEATURES,) and np.isfinite(obs).all()
        assert env.observation_space.contains(obs)


def test_cut_mask_and_illegal_cuts() -> None:
    env = gym.make("RespectPipeline-v1", model="resnet50", num_tpus=2, observation="decision", action="cut",
                   on_illegal="repair", illegal_action_penalty=1.0)
    obs, info = env.reset(seed=0)
    assert info["action_mask"].tolist() == [1, 0]  # nothing on the open stage yet: a cut would leave it empty
    assert obs[DECISION_FEATURES.index("can_cut")] == 0.0
    _, reward, _, _, info = env.step(1)  # repaired to "stay", penalised, counted
    assert info["illegal_action"] and reward == -1.0
    assert info["action_mask"].tolist() == [1, 1]
    env.step(1)  # opens stage 1, the last: no further cut is legal
    _, _, _, _, info = env.step(0)
    assert info["action_mask"].tolist() == [1, 0]
    strict = gym.make("RespectPipeline-v1", model="resnet50", num_tpus=2, action="cut", on_illegal="raise")
    strict.reset(seed=0)
    with pytest.raises(IllegalActionError, match="cut 1 is masked out"):
        strict.step(1)
    with pytest.raises(ValueError, match="action must be one of"):
        gym.make("RespectPipeline-v1", action="jump")


def test_vector_env_plays_what_single_envs_play_with_cut_actions() -> None:
    n, kwargs = 3, dict(model=["resnet50", "mobilenet_v2", "dnn"], num_tpus=4, reward_mode="dense",
                        observation="decision", action="cut", max_nodes=1024)
    venv = gym.make_vec("RespectPipeline-v1", num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
    envs = [gym.make("RespectPipeline-v1", **kwargs) for _ in range(n)]
    obs, info = venv.reset(seed=5)
    singles = [env.reset(seed=5 + i)[0] for i, env in enumerate(envs)]
    rng = np.random.default_rng(0)
    done = np.zeros(n, dtype=bool)
    for _ in range(400):
        assert all(np.array_equal(singles[i], obs[i]) for i in range(n) if not done[i])
        actions = (info["action_mask"][:, 1] & (rng.random(n) < 0.1)).astype(np.int64)
        obs, reward, terminated, _, info = venv.step(actions)
        for i, env in enumerate(envs):
            if done[i]:
                continue
            singles[i], r, t, _, single_info = env.step(int(actions[i]))
            assert r == pytest.approx(reward[i], rel=1e-12, abs=1e-15)
            if t:
                assert single_info["objective_value"] == pytest.approx(info["objective_value"][i], rel=1e-12)
                done[i] = True
        if done.all():
            break
    assert done.all()
