"""The env's opt-in options for RL libraries (issue 23): ``on_illegal``, ``info``, ``action_mask_key``,
``final_info()``, the ``ActionMask`` wrapper, and the same options on the native vector env. The
defaults' spaces, info and numbers are pinned by tests/test_v1_golden.py; here, that they hold
with the options off and that the options do what the env docstring says."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

import respect_gym  # noqa: F401  (registers the envs)
from respect_gym.envs import ActionMask, ActionMaskObservation, RespectPipelineEnv
from respect_gym.envs.pipeline.env import FLAT_INFO_KEYS, IllegalActionError, IllegalActionWarning
from respect_gym.envs.pipeline.spec import EnvConfigError

SMALL = {"model": "resnet50", "num_tpus": 4, "max_nodes": 96, "max_edges": 128}
V1_FINAL_KEYS = {"report", "schedule", "objective_value", "compiler_value", "score", "compiler_report",
                 "illegal_actions", "is_success", "graph", "graph_sha256", "action_mask", "illegal_action"}


def actions_with_illegal(env: RespectPipelineEnv, seed: int, every: int = 5):
    """A fixed action sequence: the highest legal stage, and every ``every`` steps stage 0."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(74):
        out.append(0 if t % every == every - 1 else int(rng.integers(4)))
    return out


def play(env, actions):
    obs, info = env.reset(seed=3)
    records = [(obs, info)]
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        records.append((obs, r, term, info))
        if term:
            break
    return records


def test_default_info_and_mask_dtype_are_v1s_and_masked_play_does_not_warn():
    env = RespectPipelineEnv(**SMALL)
    obs, info = env.reset(seed=0)
    assert set(info) == {"action_mask", "illegal_action", "graph", "graph_sha256"}
    assert info["action_mask"].dtype == np.int8 and env.action_masks().dtype == np.bool_
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        done = False
        while not done:
            obs, r, done, _, info = env.step(int(np.flatnonzero(info["action_mask"])[-1]))
    assert set(info) == V1_FINAL_KEYS and info["illegal_actions"] == 0


def test_warn_is_the_default_warns_once_and_changes_no_number():
    warn, repair = RespectPipelineEnv(**SMALL, illegal_action_penalty=0.5), RespectPipelineEnv(
        **SMALL, illegal_action_penalty=0.5, on_illegal="repair")
    actions = [3] * 3 + [0] * 71  # after stage 3, stage 0 is illegal: 71 repairs
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = play(warn, actions)
    assert [w.category for w in caught] == [IllegalActionWarning]
    assert "repaired a masked-out action" in str(caught[0].message) and "on_illegal='raise'" in str(caught[0].message)
    assert caught[0].filename == __file__  # it names the line that stepped, not a wrapper of gymnasium's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = play(repair, actions)
    assert [x[1] for x in a[1:]] == [x[1] for x in b[1:]]
    assert a[-1][3]["illegal_actions"] == b[-1][3]["illegal_actions"] > 60
    assert a[-1][3]["score"] == b[-1][3]["score"]
    with warnings.catch_warnings(record=True) as caught:  # a second episode of the same env: no new warning
        warnings.simplefilter("always")
        play(warn, actions)
    assert caught == []


def test_raise_refuses_a_masked_out_action_and_leaves_the_episode_as_it_was():
    strict, plain = RespectPipelineEnv(**SMALL, on_illegal="raise"), RespectPipelineEnv(**SMALL, on_illegal="repair")
    strict.reset(seed=0)
    plain.reset(seed=0)
    for env in (strict, plain):
        for _ in range(3):
            env.step(2)
    with pytest.raises(IllegalActionError, match="masked out"):
        strict.step(1)
    assert strict.state.step == 3 and strict.kernel.illegal_actions[0] == 0
    done = False
    while not done:
        _, r1, done, _, i1 = strict.step(3)
        _, r2, _, _, i2 = plain.step(3)
        assert r1 == r2
    assert i1["schedule"] == i2["schedule"] and i1["illegal_actions"] == 0
    with pytest.raises(ValueError):  # IllegalActionError is an InvalidActionError, a ValueError
        strict.reset(seed=0)
        strict.step(3)
        strict.step(0)


def test_flat_info_has_the_same_numeric_keys_every_step_and_the_full_final_values():
    flat, full = RespectPipelineEnv(**SMALL, info="flat", on_illegal="repair"), RespectPipelineEnv(
        **SMALL, on_illegal="repair")
    actions = actions_with_illegal(flat, seed=1)
    a, b = play(flat, actions), play(full, actions)
    infos = [a[0][1]] + [x[3] for x in a[1:]]
    for info in infos:
        assert tuple(info) == FLAT_INFO_KEYS
        assert info["action_mask"].dtype == np.bool_ and info["action_mask"].shape == (4,)
        for key in FLAT_INFO_KEYS[1:]:
            assert isinstance(info[key], np.generic) and info[key].shape == (), key
    for info in infos[:-1]:
        assert info["score"] == 0.0 and info["objective_value"] == 0.0 and not info["is_success"]
    last, want = infos[-1], b[-1][3]
    for key in ("score", "objective_value", "compiler_value", "is_success", "illegal_actions"):
        assert last[key] == want[key], key
    assert last["illegal_actions"] == sum(bool(x[3]["illegal_action"]) for x in a[1:]) > 0
    assert [x[1] for x in a[1:]] == [x[1] for x in b[1:]]
    full_final = flat.final_info()
    assert full_final["schedule"] == want["schedule"] and full_final["report"] == want["report"]
    assert full_final["compiler_report"] == want["compiler_report"]


def test_final_info_mode_is_empty_until_the_last_step():
    env = RespectPipelineEnv(**SMALL, info="final")
    obs, info = env.reset(seed=0)
    assert info == {}
    with pytest.raises(ValueError, match="final_info"):
        env.final_info()
    done = False
    while not done:
        obs, r, done, _, info = env.step(3)
        if not done:
            assert info == {}
    assert set(info) == {"illegal_actions", "score", "objective_value", "compiler_value", "is_success"}
    assert env.final_info()["objective_value"] == info["objective_value"]
    env.reset(seed=1)
    with pytest.raises(ValueError, match="final_info"):
        env.final_info()


@pytest.mark.parametrize("observation", ["compact", "graph", "context"])
def test_action_mask_key_puts_the_bool_mask_into_any_observation(observation):
    env = RespectPipelineEnv(**SMALL, observation=observation, action_mask_key="mask")
    plain = RespectPipelineEnv(**SMALL, observation=observation)
    space = env.observation_space
    assert isinstance(space, spaces.Dict) and space["mask"] == spaces.Box(0, 1, (4,), bool)
    obs, _ = env.reset(seed=0)
    ref, _ = plain.reset(seed=0)
    for action in (1, 2, 2, 3):
        obs, *_ = env.step(action)
        ref, *_ = plain.step(action)
    assert space.contains(obs)
    assert obs["mask"].dtype == np.bool_ and obs["mask"].tolist() == env.action_masks().tolist() == [False] * 3 + [True]
    if observation == "compact":
        assert set(obs) == {"observation", "mask"} and np.array_equal(obs["observation"], ref)
    else:
        assert set(obs) == set(ref) | {"mask"} and all(np.array_equal(obs[k], ref[k]) for k in ref)


def test_gymnasium_checker_passes_on_the_opt_in_env():
    env = gym.make("RespectPipeline-v1", **SMALL, observation="compact", info="flat", action_mask_key="action_mask",
                   on_illegal="repair")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []


def test_mask_wrapper_wraps_a_box_under_any_key_and_keeps_v1s_int8_wrapper():
    env = ActionMask(gym.make("RespectPipeline-v1", **SMALL, observation="compact"), key="mask", observation_key="obs")
    obs, _ = env.reset(seed=0)
    assert set(env.observation_space.spaces) == {"obs", "mask"} and env.observation_space.contains(obs)
    assert obs["mask"].dtype == np.bool_ and env.action_masks().dtype == np.bool_
    old = ActionMaskObservation(RespectPipelineEnv(**SMALL))
    obs, _ = old.reset(seed=0)
    assert obs["action_mask"].dtype == np.int8 and old.observation_space["action_mask"].dtype == np.int8
    assert ActionMaskObservation(gym.make("RespectPipeline-v1", **SMALL, observation="compact")).reset(seed=0)[0][
        "action_mask"].tolist() == [1, 1, 1, 1]
    with pytest.raises(EnvConfigError, match="already has a key"):
        ActionMask(RespectPipelineEnv(**SMALL), key="node_mask")


@pytest.mark.parametrize("kwargs", [{"on_illegal": "ignore"}, {"info": "nested"}, {"action_mask_key": ""},
                                    {"action_mask_key": "observation", "observation": "compact"},
                                    {"action_mask_key": "edge_mask"}])
def test_bad_option_values_name_the_option(kwargs):
    with pytest.raises(EnvConfigError):
        RespectPipelineEnv(**SMALL, **kwargs)


def test_options_survive_pickling():
    env = RespectPipelineEnv(**SMALL, info="flat", on_illegal="raise", action_mask_key="mask")  # the compact view does not pickle (problem/observe.py)
    env.reset(seed=0)
    env.step(2)
    clone = pickle.loads(pickle.dumps(env))
    with pytest.raises(IllegalActionError):
        clone.step(0)
    a, b = env.step(3), clone.step(3)
    assert all(np.array_equal(a[0][k], b[0][k]) for k in a[0]) and a[1] == b[1] and a[4]["score"] == b[4]["score"]


def test_vector_env_takes_the_same_options():
    envs = gym.make_vec("RespectPipeline-v1", num_envs=3, model="resnet50", observation="compact",
                        action_mask_key="action_mask", info="flat", on_illegal="raise")
    obs, info = envs.reset(seed=0)
    assert envs.single_observation_space["action_mask"].dtype == np.bool_
    assert obs["action_mask"].shape == (3, 4) and obs["observation"].shape[0] == 3
    envs.step(np.array([3, 3, 3]))
    with pytest.raises(IllegalActionError, match=r"sub-envs \[1\]"):
        envs.step(np.array([3, 0, 3]))
    assert envs.unwrapped.kernel.step.tolist() == [1, 1, 1]
    warn = gym.make_vec("RespectPipeline-v1", num_envs=2, model="resnet50", observation="compact")
    warn.reset(seed=0)
    warn.step(np.array([3, 3]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn.step(np.array([0, 0]))
        warn.step(np.array([0, 0]))
    assert [w.category for w in caught] == [IllegalActionWarning]
    with pytest.raises(EnvConfigError, match="always 'flat'"):
        gym.make_vec("RespectPipeline-v1", num_envs=2, info="full")
