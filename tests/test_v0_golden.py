"""``RespectPipeline-v0`` and cost-model revision 2 reproduce the numbers of the code before
revision 3 existed (golden values written by commit 3917951, scripts/record_v0_golden.py)."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import respect_gym
from respect_gym.problem.objectives import evaluate
from respect_gym.zoo import load_graph

GOLDEN = json.loads((Path(__file__).parent / "data" / "v0_golden.json").read_text())


@pytest.mark.parametrize("case", GOLDEN["episodes"], ids=lambda c: f"{c['model']}-K{c['k']}-{c['mode']}")
def test_v0_episode_rewards_and_reports_are_unchanged(case: dict) -> None:
    env = gym.make("RespectPipeline-v0", model=case["model"], num_tpus=case["k"], reward_mode=case["mode"], max_nodes=256)
    obs, info = env.reset(seed=case["seed"])
    rng = np.random.default_rng(case["seed"])
    rewards, done = [], False
    while not done:
        obs, r, done, _, info = env.step(int(rng.choice(np.flatnonzero(info["action_mask"]))))
        rewards.append(float(r))
    np.testing.assert_allclose(rewards, case["rewards"], rtol=1e-12, atol=1e-15)
    assert info["objective_value"] == pytest.approx(case["objective_value"], rel=1e-12)
    assert info["compiler_value"] == pytest.approx(case["compiler_value"], rel=1e-12)
    np.testing.assert_allclose(info["report"]["stage_ms"], case["stage_ms"], rtol=1e-12)
    np.testing.assert_allclose(obs["stage_features"], case["stage_features"], rtol=1e-6)
    assert info["report"]["revision"] == 2


@pytest.mark.parametrize("case", GOLDEN["reports"], ids=lambda c: c["model"])
def test_revision_2_reports_are_unchanged(case: dict) -> None:
    g = load_graph(case["model"])
    assert respect_gym.solve(g, 4, "compiler").stages.tolist() == case["stages"]
    rep = evaluate(g, case["stages"], 4, revision=2)
    np.testing.assert_allclose(rep.stage_ms, case["stage_ms"], rtol=1e-12)
    assert rep.bottleneck_ms == rep.period_ms == pytest.approx(case["bottleneck_ms"], rel=1e-12)
    assert rep.latency_ms == pytest.approx(case["latency_ms"], rel=1e-12)
    assert rep.stage_cached_bytes.tolist() == case["stage_cached_bytes"]
