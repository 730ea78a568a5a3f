"""The shipped integrations (integrations/): TorchRL, Tianshou and PufferLib train on
``RespectPipeline-v1`` as it is, masked (0 illegal actions under ``on_illegal="raise"``), seeded,
a few hundred steps each; and the library checks that used to need glue (issue 23) pass."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest

import respect_gym  # noqa: F401  (registers the envs)

ROOT = Path(__file__).resolve().parents[1]
SMOKE_STEPS = 256
COMPACT = {"model": "resnet50", "num_tpus": 4, "observation": "compact"}


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "integrations" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def smoke(module, **kwargs) -> dict:
    start = time.perf_counter()
    first = module.train(total_steps=SMOKE_STEPS, seed=0, **kwargs)
    seconds = time.perf_counter() - start
    assert first["steps"] >= SMOKE_STEPS and first["episodes"] >= 2  # resnet50 fused: 74 steps an episode
    assert first["illegal_actions"] == 0 and module.ENV_KWARGS["on_illegal"] == "raise"
    assert first["glue_lines"] == 0 and -1.0 < first["mean_score"] < 2.0
    assert seconds < 60, seconds
    return first


@pytest.mark.smoke
def test_torchrl_masked_ppo_trains_seeded_with_no_illegal_action():
    pytest.importorskip("torchrl")
    module = load("torchrl_masked_ppo")
    a = smoke(module, steps_per_batch=128)
    b = module.train(total_steps=SMOKE_STEPS, seed=0, steps_per_batch=128)
    assert a["mean_score"] == b["mean_score"]  # seeded: the same run twice


@pytest.mark.smoke
def test_tianshou_masked_dqn_trains_seeded_with_no_illegal_action():
    pytest.importorskip("tianshou")
    module = load("tianshou_masked_dqn")
    a = smoke(module, steps_per_collect=32)
    b = module.train(total_steps=SMOKE_STEPS, seed=0, steps_per_collect=32)
    assert a["mean_score"] == b["mean_score"]


@pytest.mark.smoke
def test_pufferlib_masked_ppo_trains_seeded_with_no_illegal_action():
    pytest.importorskip("pufferlib")
    module = load("pufferlib_masked_ppo")
    a = smoke(module, num_envs=2, num_steps=64)
    b = module.train(total_steps=SMOKE_STEPS, seed=0, num_envs=2, num_steps=64)
    assert a["mean_score"] == b["mean_score"]


def test_torchrl_checks_and_registers_the_flat_info():
    pytest.importorskip("torchrl")
    import torch
    from torchrl.envs import ActionMask, GymEnv, TransformedEnv
    from torchrl.envs.utils import check_env_specs

    kwargs = {**COMPACT, "action_mask_key": "action_mask", "info": "flat", "categorical_action_encoding": True}
    env = GymEnv("RespectPipeline-v1", on_illegal="repair", **kwargs)
    env.auto_register_info_dict()  # every info key, every step: numpy scalars with a dtype
    env.set_seed(0)
    td = env.rollout(80, break_when_any_done=False)
    assert td["action_mask"].dtype == torch.bool
    done = td["next", "done"].squeeze(-1)
    assert int(done.sum()) == 1 and float(td["next", "score"][done]) != 0.0
    masked = TransformedEnv(GymEnv("RespectPipeline-v1", on_illegal="raise", **kwargs), ActionMask())
    check_env_specs(masked)  # TorchRL's random rollout, masked: no IllegalActionError
    masked.rollout(200, break_when_any_done=False)


def test_torchrl_batched_gym_env_takes_the_flat_info():
    """TorchRL's ``GymEnv(..., num_envs=N)`` registers the info with an unmasked random rollout when
    it is built (a nested final ``report`` used to break it): ``on_illegal="repair"`` there. Its
    workers are spawned: the ``respect_gym:`` prefix imports the package that registers the id."""
    pytest.importorskip("torchrl")
    from torchrl.envs import ActionMask, GymEnv, TransformedEnv

    env = TransformedEnv(GymEnv("respect_gym:RespectPipeline-v1", num_envs=2, categorical_action_encoding=True,
                                on_illegal="repair", action_mask_key="action_mask", info="flat", **COMPACT),
                         ActionMask())
    try:
        env.set_seed(0)
        td = env.rollout(160, break_when_any_done=False)
    finally:
        env.close()
    assert td.shape == (2, 160) and int(td["next", "done"].sum()) >= 2
    assert int(td["next", "illegal_action"].sum()) == 0  # the masked rollout: no repair


def test_tianshou_random_masked_policy_and_buffer_take_the_env_as_it_is():
    pytest.importorskip("tianshou")
    import gymnasium as gym
    from tianshou.algorithm.random import MARLRandomDiscreteMaskedOffPolicyAlgorithm
    from tianshou.data import Collector, VectorReplayBuffer
    from tianshou.env import DummyVectorEnv

    envs = DummyVectorEnv([lambda: gym.make("RespectPipeline-v1", **COMPACT, action_mask_key="mask", info="flat",
                                            on_illegal="raise")] * 2)
    envs.seed(0)
    np.random.seed(0)
    random_policy = MARLRandomDiscreteMaskedOffPolicyAlgorithm(envs.action_space[0]).policy  # indexes by ~mask
    collector = Collector(random_policy, envs, VectorReplayBuffer(400, 2))
    stats = collector.collect(n_step=300, reset_before_collect=True)
    buffer = collector.buffer
    assert stats.n_collected_steps == 300 and stats.n_collected_episodes >= 2
    assert buffer.info.illegal_action[: len(buffer)].sum() == 0 and buffer.obs.mask.dtype == np.bool_
    ended = buffer.terminated[: len(buffer)]
    assert (buffer.info.score[: len(buffer)][~ended] == 0).all() and (buffer.info.score[: len(buffer)][ended] != 0).all()


def test_pufferlib_emulation_keeps_the_compact_buffer_small_and_the_mask_bool():
    pytest.importorskip("pufferlib")
    import gymnasium as gym
    import pufferlib.emulation

    env = pufferlib.emulation.GymnasiumPufferEnv(env_creator=gym.make, env_args=["RespectPipeline-v1"],
                                                 env_kwargs={**COMPACT, "action_mask_key": "action_mask",
                                                             "info": "final"})
    obs, info = env.reset(seed=0)
    assert obs.nbytes == 380 and info == {}  # 94 float32 + 4 bool
    fields = obs.view(env.obs_dtype)
    assert fields["action_mask"].dtype == np.bool_ and fields["action_mask"].all()
