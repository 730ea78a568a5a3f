"""RLlib training (respect_gym_agents.rllib_train): the masked RLModule never picks an illegal
stage, in sampling, in a one-iteration run with an env-runner actor, or greedily; the run writes
its curve, run record and a checkpoint that restores."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ray_local import local_ray

pytest.importorskip("ray.rllib")
torch = pytest.importorskip("torch")
rllib_train = pytest.importorskip("respect_gym_agents.rllib_train")

TINY = rllib_train.RLlibConfig(iterations=1, env_runners=1, train_batch=256, minibatch=64, epochs=1,
                               checkpoint_every=0, validation="resnet50,mobilenet")


@pytest.fixture(scope="module")
def ray_local():
    ray = local_ray()
    yield ray
    ray.shutdown()  # the last module that needs it


@pytest.fixture(scope="module")
def run(ray_local, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rllib")
    rllib_train.train(TINY, out, command="test")
    return out


def test_one_iteration_with_an_env_runner_actor_takes_no_illegal_action(run: Path) -> None:
    (row,) = list(csv.DictReader(open(run / "curve.csv")))
    assert int(row["env_steps"]) >= TINY.train_batch and int(row["train_episodes"]) >= 1  # episodes were counted
    assert row["train_illegal_actions"] == "0" and row["validation_illegal_actions"] == "0"
    assert len(row["validation_scores"].split()) == 2 and np.isfinite(float(row["validation_score_mean"]))
    assert json.loads((run / "run.json").read_text())["config"]["env_id"] == "RespectPipeline-v1"


def test_the_checkpoint_restores_the_trained_policy(run: Path) -> None:
    module = rllib_train.load_policy(run / "checkpoint")
    assert isinstance(module, rllib_train.MaskedPPOTorchRLModule)
    info = rllib_train.greedy_episode(module, rllib_train.make_env(rllib_train.env_config(TINY)), seed=0)
    validation = next(csv.DictReader(open(run / "curve.csv")))["validation_scores"].split()[0]
    assert info["illegal_actions"] == 0 and f"{info['score']:.4f}" == validation


def test_masked_logits_never_sample_an_illegal_stage() -> None:
    env = rllib_train.make_env(rllib_train.env_config(TINY))
    module = rllib_train.MaskedPPOTorchRLModule(
        observation_space=env.observation_space, action_space=env.action_space,
        model_config=rllib_train.DefaultModelConfig(fcnet_hiddens=[8, 8]))
    masks = torch.tensor([[0, 0, 1, 1], [0, 0, 0, 1], [1, 1, 1, 1]], dtype=torch.float32).repeat(400, 1)
    obs = torch.rand(len(masks), env.observation_space["observations"].shape[0])
    out = module.forward_exploration({"obs": {"observations": obs, "action_mask": masks}})
    dist = module.get_exploration_action_dist_cls().from_logits(out["action_dist_inputs"])
    actions = dist.sample()
    assert masks[torch.arange(len(masks)), actions].eq(1).all()
    assert torch.isfinite(dist.entropy()).all()


def test_the_maskable_ppo_baseline_writes_the_same_curve_columns(tmp_path: Path) -> None:
    pytest.importorskip("sb3_contrib")
    from respect_gym_agents import rllib_baseline

    rllib_baseline.train(TINY, tmp_path, command="test")
    (row,) = list(csv.DictReader(open(tmp_path / "curve.csv")))
    assert int(row["env_steps"]) == TINY.train_batch and row["validation_illegal_actions"] == "0"
    assert len(row["validation_scores"].split()) == 2
