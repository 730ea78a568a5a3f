"""The quick start (agents/examples/quickstart_maskable_ppo.py) runs end to end on RespectPipeline-v1:
a tiny training run, then its greedy schedule checked against an independent rescoring."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import respect_gym
from respect_gym.cost.model import CostModel
from respect_gym.solvers.compiler import compiler_schedule

pytest.importorskip("sb3_contrib")
SCRIPT = Path(__file__).resolve().parents[1] / "agents" / "examples" / "quickstart_maskable_ppo.py"


def load_quickstart():
    spec = importlib.util.spec_from_file_location("quickstart_maskable_ppo", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.smoke
def test_quickstart_trains_a_little_and_schedules_resnet50(capsys):
    quickstart = load_quickstart()
    info = quickstart.main(["--steps", "512", "--envs", "2"])
    graph = respect_gym.load_graph("resnet50")
    stages = np.asarray(info["schedule"])
    assert stages.shape == (graph.num_nodes,) and ((stages >= 0) & (stages < 4)).all()
    assert (stages[graph.edges[:, 0]] <= stages[graph.edges[:, 1]]).all()
    cm = CostModel(graph)
    assert info["objective_value"] == pytest.approx(cm.evaluate(stages, 4).period_ms, rel=1e-12)
    assert info["compiler_value"] == pytest.approx(cm.evaluate(compiler_schedule(graph, 4), 4).period_ms, rel=1e-12)
    assert info["optimum_ms"] <= info["objective_value"] * (1 + 1e-9)
    assert "beats the compiler" in capsys.readouterr().out


def test_quickstart_env_is_the_cut_env_with_the_decision_view():
    import gymnasium as gym

    from respect_gym.problem.features import NUM_DECISION_FEATURES

    env = load_quickstart().make_env("resnet50", 2)
    obs, info = env.reset(seed=0)
    assert env.action_space == gym.spaces.Discrete(2) and obs.shape == (NUM_DECISION_FEATURES,)
    assert info["action_mask"].tolist() == [1, 0]  # nothing on the open stage: no cut yet
