"""Dynamics, masks, rewards and observations of RespectPipeline-v0, checked against independent
recomputation (brute-force legality from the edge list, the vectorised cost model, paper_cost)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence

import respect_gym
from respect_gym.cost.model import CostModel
from respect_gym.cost.paper import paper_cost
from respect_gym.cost.schedule import validate_schedule
from respect_gym.envs import RespectPipelineEnv
from respect_gym.envs.pipeline.env import EnvConfigError, InvalidActionError
from respect_gym.problem.features import NODE_FEATURES, ObservationSizeError
from respect_gym.envs.pipeline.sources import GraphSourceError
from respect_gym.generators import DnnGraphGenerator, RespectLayeredGenerator
from respect_gym.solvers.compiler import compiler_schedule
from respect_gym.zoo import load_graph

K = 4


def legal_stages(graph, stages, node, k):
    """Brute force from the edge list: stages >= every predecessor's stage."""
    preds = graph.edges[graph.edges[:, 1] == node, 0]
    low = max((int(stages[p]) for p in preds), default=0)
    return [s for s in range(k) if s >= low]


def play(env, policy, seed=None, options=None):
    """Run one episode; ``policy(env, info, rng)`` returns an action. Returns the trajectory."""
    obs, info = env.reset(seed=seed, options=options)
    rng = np.random.default_rng(0 if seed is None else seed)
    steps = [(obs, 0.0, info)]
    terminated = False
    while not terminated:
        obs, reward, terminated, truncated, info = env.step(policy(env, info, rng))
        assert not truncated
        steps.append((obs, reward, info))
    return steps


def random_masked(env, info, rng):
    return int(rng.choice(np.flatnonzero(info["action_mask"])))


def random_unmasked(env, info, rng):
    return int(rng.integers(env.action_space.n))


def compiler_value(graph, k, hardware="usb3"):
    return CostModel(graph, hardware).evaluate(compiler_schedule(graph, k), k).bottleneck_ms


@pytest.fixture(scope="module")
def resnet():
    return load_graph("resnet50", "fused")


def test_masks_are_legal_and_never_empty_under_random_play(resnet):
    graphs = [resnet, DnnGraphGenerator(seed=3, num_nodes=(40, 80))(1), RespectLayeredGenerator(seed=5)(0)]
    env = RespectPipelineEnv(model=graphs, num_tpus=K, max_nodes=128)
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        graph = env.state.instance.graph
        order, stages = graph.topological_order, np.full(graph.num_nodes, -1)
        for t, node in enumerate(order.tolist()):
            mask = info["action_mask"]
            assert mask.dtype == np.int8 and mask.any()
            assert np.flatnonzero(mask).tolist() == legal_stages(graph, stages, node, K)
            assert np.array_equal(env.action_masks(), mask.astype(bool))
            assert int(obs["current_node"][0]) == node
            stage = random_masked(env, info, np.random.default_rng(seed * 1000 + t))
            stages[node] = stage
            obs, _, terminated, _, info = env.step(stage)
            assert terminated == (t == graph.num_nodes - 1)
            assert not info["illegal_action"]
        validate_schedule(graph, info["schedule"], K)
        assert info["schedule"] == stages.tolist()


def test_compiler_actions_reproduce_the_cost_model_report(resnet):
    for graph in (resnet, DnnGraphGenerator(seed=1, num_nodes=(100, 200))(4)):
        env = RespectPipelineEnv(model=graph, num_tpus=K, max_nodes=256)
        split = compiler_schedule(graph, K)
        steps = play(env, lambda e, info, rng: int(split[e.state.current_node]), seed=0)
        info = steps[-1][2]
        expected = CostModel(graph).evaluate(split, K).to_dict()
        for key, value in expected.items():
            if isinstance(value, str) or value is None:
                assert info["report"][key] == value, key
            else:
                assert np.allclose(info["report"][key], value, rtol=1e-9, atol=0), key
        assert info["schedule"] == split.tolist()
        assert info["score"] == pytest.approx(0.0, abs=1e-12)
        assert steps[-1][1] == pytest.approx(0.0, abs=1e-12)
        assert info["is_success"] is False


def test_random_play_reward_and_report_match_independent_evaluation():
    gen = DnnGraphGenerator(seed=11, num_nodes=(30, 120))
    env = RespectPipelineEnv(model=gen, num_tpus=3, max_nodes=128, hardware="pcie")
    for seed in range(5):
        steps = play(env, random_masked, seed=seed)
        graph = env.state.instance.graph
        info = steps[-1][2]
        schedule = validate_schedule(graph, info["schedule"], 3)
        report = respect_gym.evaluate(graph, schedule, 3, hardware="pcie")
        assert info["report"]["bottleneck_ms"] == pytest.approx(report.bottleneck_ms, rel=1e-9)
        assert np.allclose(info["report"]["stage_ms"], report.stage_ms, rtol=1e-9)
        ref = compiler_value(graph, 3, "pcie")
        assert steps[-1][1] == pytest.approx(ref / report.bottleneck_ms - 1, rel=1e-9)
        assert all(r == 0.0 for _, r, _ in steps[:-1])
        assert info["is_success"] == (report.bottleneck_ms < ref * (1 - 1e-9))
        assert "report" not in steps[-2][2]  # the report only comes with the last step


def test_unmasked_actions_use_the_nearest_legal_stage_and_pay_the_penalty(resnet):
    plain = RespectPipelineEnv(model=resnet, num_tpus=K, max_nodes=128)
    fined = RespectPipelineEnv(model=resnet, num_tpus=K, max_nodes=128, illegal_action_penalty=0.25)
    rng = np.random.default_rng(7)
    plain.reset(seed=1)
    fined.reset(seed=1)
    stages = np.full(resnet.num_nodes, -1)
    illegal_seen = 0
    for node in resnet.topological_order.tolist():
        action = int(rng.integers(K))
        low = legal_stages(resnet, stages, node, K)[0]
        stages[node] = max(action, low)
        _, r0, _, _, i0 = plain.step(action)
        _, r1, _, _, i1 = fined.step(action)
        assert i0["illegal_action"] == (action < low)
        assert r1 == pytest.approx(r0 - 0.25 * (action < low))
        illegal_seen += action < low
    assert illegal_seen > 0
    assert i0["schedule"] == stages.tolist()
    assert i0["illegal_actions"] == illegal_seen


def test_invalid_actions_and_steps_outside_an_episode_raise(resnet):
    env = RespectPipelineEnv(model=resnet, num_tpus=K, max_nodes=128)
    with pytest.raises(InvalidActionError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    for bad in (K, -1, 1.5, "a", [0, 1]):
        with pytest.raises(InvalidActionError):
            env.step(bad)
    env.step(np.int64(1))
    env.step(np.array([2]))
    assert env.state.step == 2


@pytest.mark.parametrize("objective", ["latency", "paper"])
def test_dense_rewards_sum_to_the_terminal_score(objective):
    gen = RespectLayeredGenerator(seed=2, num_nodes=(20, 40))
    dense = RespectPipelineEnv(model=gen, reward_mode="dense", objective=objective, max_nodes=64)
    terminal = RespectPipelineEnv(model=gen, reward_mode="terminal", objective=objective, max_nodes=64)
    for seed in range(4):
        d = play(dense, random_masked, seed=seed)
        t = play(terminal, random_masked, seed=seed)
        assert d[-1][2]["schedule"] == t[-1][2]["schedule"]
        rewards = [r for _, r, _ in d[1:]]
        assert math.fsum(rewards) == pytest.approx(t[-1][1], abs=1e-9)
        partial = np.cumsum(rewards[:-1])  # potentials of unfinished states lie in [-1, 0]
        assert np.all(partial <= 1e-12) and np.all(partial >= -1 - 1e-12)


def test_paper_objective_scores_with_paper_cost():
    graph = RespectLayeredGenerator(seed=9)(3)
    env = RespectPipelineEnv(model=graph, objective="paper", max_nodes=64)
    info = play(env, random_masked, seed=4)[-1][2]
    schedule = np.asarray(info["schedule"])
    value = paper_cost(graph, schedule, K)
    ref = paper_cost(graph, compiler_schedule(graph, K), K)
    assert info["objective_value"] == pytest.approx(value)
    assert info["compiler_value"] == pytest.approx(ref)
    assert info["report"]["paper_cost"] == pytest.approx(value)
    assert info["report"]["objective"] == "paper"
    assert info["score"] == pytest.approx(ref / value - 1)


def test_same_seed_same_episode_different_seed_different_graph():
    def trajectory(seed):
        env = gym.make("RespectPipeline-v0", max_nodes=256)
        return play(env, random_masked, seed=seed)

    a, b = trajectory(3), trajectory(3)
    assert len(a) == len(b)
    for (o1, r1, i1), (o2, r2, i2) in zip(a, b):
        assert data_equivalence(o1, o2) and r1 == r2 and data_equivalence(i1, i2)
    sizes = {len(trajectory(seed)) for seed in range(4)}
    assert len(sizes) > 1  # the default source draws different graphs for different seeds


def test_observation_fields_match_the_graph_and_the_schedule(resnet):
    env = RespectPipelineEnv(model=resnet, num_tpus=K, max_nodes=100, max_edges=120)
    steps = play(env, random_masked, seed=5)
    n, e = resnet.num_nodes, resnet.num_edges
    for obs, _, _ in steps:
        assert env.observation_space.contains(obs)
    obs, _, info = steps[-1]
    assert obs["node_mask"].tolist() == [1] * n + [0] * (100 - n)
    assert obs["edge_mask"].sum() == e and np.array_equal(obs["edge_index"][:, :e].T, resnet.edges)
    stage_col = obs["node_features"][:n, NODE_FEATURES.index("stage")]
    assert np.allclose(stage_col * (K - 1), info["schedule"])
    stored = CostModel(resnet, revision=env.revision).param_bytes  # the compiler's aligned bytes
    shares = np.bincount(info["schedule"], weights=stored, minlength=K) / stored.sum()
    assert np.allclose(obs["stage_features"][:, 0], shares, atol=1e-6)
    latency = np.minimum(np.asarray(info["report"]["stage_ms"]) / info["compiler_report"]["bottleneck_ms"], 16)
    assert np.allclose(obs["stage_features"][:, 1], latency, rtol=1e-5)
    assert np.allclose(obs["stage_features"][:, 2], np.bincount(info["schedule"], minlength=K) / n)
    first = steps[0][0]["node_features"]
    assert np.all(first[:n, NODE_FEATURES.index("stage")] == -1)
    current = first[:, NODE_FEATURES.index("is_current")]
    assert np.flatnonzero(current).tolist() == [int(resnet.topological_order[0])]
    level = first[:n, NODE_FEATURES.index("level")] * resnet.levels.max()
    assert np.allclose(level, resnet.levels, atol=1e-4)


def test_observations_are_copies(resnet):
    env = RespectPipelineEnv(model=resnet, max_nodes=128)
    obs, _ = env.reset(seed=0)
    before = {k: v.copy() for k, v in obs.items()}
    env.step(3)
    assert data_equivalence(obs, before)


def test_graphs_larger_than_the_padding_error_at_reset():
    layers = load_graph("resnet50", "layers")
    env = RespectPipelineEnv(model="resnet50", granularity="layers", max_nodes=100)
    with pytest.raises(ObservationSizeError, match=f"{layers.num_nodes} nodes but max_nodes=100"):
        env.reset(seed=0)
    env = RespectPipelineEnv(model=layers, max_nodes=200, max_edges=100)
    with pytest.raises(ObservationSizeError, match="max_edges=100"):
        env.reset(seed=0)


def test_graph_sources_and_reset_options(tmp_path, resnet):
    path = tmp_path / "g.json"
    mobilenet = load_graph("mobilenet_v2", "fused")
    mobilenet.to_json(path)
    env = RespectPipelineEnv(model=["resnet50", str(path)], max_nodes=256)
    seen = {env.reset(seed=s)[0]["node_mask"].sum() for s in range(8)}
    assert seen == {resnet.num_nodes, mobilenet.num_nodes}
    env.reset(seed=0, options={"graph": mobilenet})
    assert env.state.instance.graph is mobilenet
    env.reset(options={"graph": "resnet50"})
    assert env.state.instance.graph.num_nodes == resnet.num_nodes
    env = RespectPipelineEnv(model="respect", max_nodes=64)
    env.reset(seed=0)
    assert env.state.instance.graph.meta.model.startswith("respect")


def test_bad_arguments_name_the_problem():
    with pytest.raises(GraphSourceError, match="not-a-model"):
        RespectPipelineEnv(model="not-a-model")
    with pytest.raises(EnvConfigError, match="num_tpus"):
        RespectPipelineEnv(model="resnet50", num_tpus=0)
    with pytest.raises(EnvConfigError, match="max_nodes"):
        RespectPipelineEnv(model="resnet50", max_nodes=True)
    with pytest.raises(EnvConfigError, match="reward_mode"):
        RespectPipelineEnv(model="resnet50", reward_mode="sparse")
    with pytest.raises(EnvConfigError, match="objective"):
        RespectPipelineEnv(model="resnet50", objective="energy")
    with pytest.raises(EnvConfigError, match="observation"):
        RespectPipelineEnv(model="resnet50", observation="pixels")
    with pytest.raises(EnvConfigError, match="granularity"):
        RespectPipelineEnv(model="resnet50", granularity="ops")
    with pytest.raises(EnvConfigError, match="render_mode"):
        RespectPipelineEnv(model="resnet50", render_mode="human")
    env = RespectPipelineEnv(model="resnet50")
    with pytest.raises(GraphSourceError, match="options"):
        env.reset(options={"graph": 3})


def test_compiler_split_is_computed_once_per_graph(monkeypatch, resnet):
    import respect_gym.solvers.compiler as compiler_module

    calls = []
    monkeypatch.setattr(compiler_module, "compiler_schedule", lambda g, k: calls.append(g) or compiler_schedule(g, k))
    env = RespectPipelineEnv(model=resnet, max_nodes=128)
    for seed in range(3):
        env.reset(seed=seed)
    assert calls == [resnet]


def test_env_docstring_example_runs():
    import doctest

    import respect_gym.envs.pipeline.env as env_module

    result = doctest.testmod(env_module, verbose=False)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("objective", ["period", "latency"])
def test_v1_scores_revision_3_with_the_named_objective(objective):
    env = gym.make("RespectPipeline-v1", model="mobilenet_v2", num_tpus=3, reward_mode="dense", objective=objective)
    obs, info = env.reset(seed=0)
    rng = np.random.default_rng(0)
    total, done = 0.0, False
    while not done:
        obs, r, done, _, info = env.step(int(rng.choice(np.flatnonzero(info["action_mask"]))))
        total += r
    graph = respect_gym.load_graph("mobilenet_v2")
    report = respect_gym.evaluate(graph, info["schedule"], 3, objective=objective, revision=3)
    compiler = respect_gym.solve(graph, 3, "compiler", objective=objective, revision=3)
    assert info["report"]["revision"] == 3
    assert info["objective_value"] == pytest.approx(report.objective_value, rel=1e-12)
    assert info["compiler_value"] == pytest.approx(compiler.objective_value, rel=1e-12)
    assert total == pytest.approx(info["compiler_value"] / info["objective_value"] - 1, rel=1e-9, abs=1e-12)


def test_an_unknown_revision_is_a_clear_error():
    with pytest.raises(Exception, match="revision"):
        gym.make("RespectPipeline-v0", model="mobilenet", revision=7)
