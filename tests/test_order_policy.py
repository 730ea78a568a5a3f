"""The order (pointer) policy of RespectOrder-v1: expert targets, decoding, numpy vs torch,
training determinism, checkpoints and the ``order_pointer`` solver."""

from __future__ import annotations

import csv
import json

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import respect_gym  # noqa: E402
from respect_gym.problem.instance import Instance  # noqa: E402
from respect_gym.solvers import SolverError  # noqa: E402
from respect_gym_agents import checkpoints  # noqa: E402
from respect_gym_agents.__main__ import main  # noqa: E402
from respect_gym_agents.order_policy import (  # noqa: E402
    NumpyOrderPolicy, OrderGraph, OrderNetConfig, OrderPolicyNet, expert_targets, order_cut,
)
from respect_gym_agents.order_solver import register  # noqa: E402
from respect_gym_agents.order_training import OrderTrainConfig, train  # noqa: E402
from solver_brute import brute_force, tiny_graph  # noqa: E402

TINY = dict(graphs=4, val_graphs=2, hidden=8, rounds=1, bc_epochs=1, dagger_rounds=1, dagger_epochs=1,
            rl_iterations=2, rl_graphs=2, rl_samples=3, rl_eval_every=1, batch_graphs=2)


def random_net(seed: int, hidden: int = 16) -> OrderPolicyNet:
    """A net with every weight drawn (the start vector and the successor bonus included)."""
    torch.manual_seed(seed)
    net = OrderPolicyNet(OrderNetConfig(hidden=hidden, rounds=2))
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.5)
    return net


def ready_mask(graph, prefix: list[int]) -> np.ndarray:
    """Ready nodes after ``prefix``, from the edge list (independent of the policy's code)."""
    placed = np.zeros(graph.num_nodes, dtype=bool)
    placed[prefix] = True
    blocked = np.zeros(graph.num_nodes, dtype=bool)
    for u, v in graph.edges.tolist():
        blocked[v] |= not placed[u]
    return ~placed & ~blocked


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [2, 3])
def test_every_order_following_the_expert_targets_cuts_to_the_optimum(seed, k) -> None:
    graph = tiny_graph(seed, max_nodes=7)
    optimum, _ = brute_force(graph, k)
    stages = respect_gym.solve(graph, k, "exact").stages
    instance = Instance.build(graph, k)
    og = OrderGraph.of(instance)
    finished = []

    def follow(prefix: list[int]) -> None:
        if len(prefix) == graph.num_nodes:
            finished.append(order_cut(instance, np.array(prefix))[0])
            return
        ready = torch.from_numpy(ready_mask(graph, prefix))
        target = expert_targets(og, ready[None], stages)[0]
        assert target.any() and not (target & ~ready).any()
        for v in np.flatnonzero(target.numpy()).tolist():
            follow(prefix + [v])

    follow([])
    assert finished and np.allclose(finished, optimum, rtol=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_decoding_is_a_topological_order_and_numpy_equals_torch(seed) -> None:
    spec = OrderTrainConfig().specs()[seed]
    instance = Instance.build(spec.graph(), spec.num_stages)
    og, net = OrderGraph.of(instance), random_net(seed)
    policy = NumpyOrderPolicy(net)
    with torch.no_grad():
        assert np.allclose(policy.encode(og), net.encode(og).numpy(), atol=1e-4)
    rng = np.random.default_rng(seed)
    for uniforms in (None, rng.random(og.num_nodes), rng.random(og.num_nodes)):
        order, logp = policy.decode(og, uniforms)
        assert sorted(order.tolist()) == list(range(og.num_nodes))
        pos = np.argsort(order)
        assert np.all(pos[og.edges[:, 0]] < pos[og.edges[:, 1]])
        with torch.no_grad():
            logits, ready = net.order_logits(og, order[None])
        steps = torch.arange(og.num_nodes)
        chosen = torch.from_numpy(order)
        assert bool(ready[0, steps, chosen].all())
        torch_logp = torch.log_softmax(logits[0].double(), -1)[steps, chosen].sum().item()
        assert torch_logp == pytest.approx(logp, abs=1e-3 * og.num_nodes)
        if uniforms is None:  # greedy: each step's node has the largest torch logit
            assert torch.all(logits[0, steps, chosen] >= logits[0].max(-1).values - 1e-4)


def test_training_is_deterministic_and_the_cli_writes_a_working_checkpoint(tmp_path) -> None:
    out = tmp_path / "order.pt"
    args = ["train", "order", *[f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()], "--seed=2",
            "--logdir", str(tmp_path / "run"), "--out", str(out), "--cache", str(tmp_path / "labels")]
    assert main(args) == 0
    assert (tmp_path / "run" / "validation.csv").exists()
    refs = json.loads((tmp_path / "run" / "references.json").read_text())  # the curve's reference lines
    assert refs["compiler_gap_mean_pct"] >= 0 and refs["random_gap_mean_pct"] >= 0  # gaps to proven optima
    rows = list(csv.DictReader((tmp_path / "run" / "validation.csv").open()))
    assert float(rows[0]["plain_order_gap_mean_pct"]) == pytest.approx(refs["plain_order_gap_mean_pct"], abs=1e-4)
    pytest.importorskip("matplotlib")
    assert main(["plot", "--runs", str(tmp_path / "run"), "--out", str(tmp_path / "curve.png")]) == 0
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    written, meta = checkpoints.load(out)
    assert meta["command"] == "respect-gym-agents " + " ".join(args)  # the argv main() was given
    assert isinstance(written, OrderPolicyNet) and meta["env_id"] == "RespectOrder-v1"
    assert meta["net"] == {"kind": "order", "hidden": 8, "rounds": 1} and meta["log"]["train_instances"] >= 1
    again, log = train(OrderTrainConfig(**TINY, seed=2), cache=tmp_path / "labels")  # same seed: same weights
    assert all(torch.equal(a, b) for a, b in zip(written.state_dict().values(), again.state_dict().values()))
    assert [row["phase"] for row in log["validation"]] == ["bc", "dagger1", "rl1", "rl2"]
    assert all(np.isfinite(log["loss"])) and log["env_steps"] > sum(row["steps"] for row in log["validation"][:1])


def test_checkpoint_round_trip_solver_and_refusals(tmp_path) -> None:
    net = random_net(7)
    path = tmp_path / "order.pt"
    checkpoints.save(net, path, command="test", env_id="RespectOrder-v1")
    loaded, _ = checkpoints.load(path)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), loaded.state_dict().values()))
    register()
    graph = respect_gym.load_graph("resnet50")
    result = respect_gym.solve(graph, 4, "order_pointer", checkpoint=str(path))
    env = gym.make("RespectOrder-v1", model=graph, num_tpus=4, max_nodes=None)
    env.reset(seed=0)
    for node in result.info["order"]:  # the env, played along the policy's order, cuts it the same way
        *_, info = env.step(node)
    assert info["illegal_actions"] == 0 and info["stages"] == result.stages.tolist()
    assert info["objective_value"] == pytest.approx(result.objective_value, rel=1e-12)
    assert result.info["order"] == NumpyOrderPolicy(loaded).decode(OrderGraph.of(Instance.build(graph, 4)))[0].tolist()
    with pytest.raises(SolverError, match="revision 3"):
        respect_gym.solve(graph, 4, "order_pointer", checkpoint=str(path), revision=2)
    with pytest.raises(SolverError, match="cannot optimise the 'latency' objective"):
        respect_gym.solve(graph, 4, "order_pointer", checkpoint=str(path), objective="latency")
    wrong_env = tmp_path / "wrong_env.pt"
    checkpoints.save(net, wrong_env, command="test", env_id="RespectPipeline-v1")
    with pytest.raises(SolverError, match="not RespectOrder-v1"):
        respect_gym.solve(graph, 4, "order_pointer", checkpoint=str(wrong_env))
    with pytest.raises(SolverError, match="not an order policy"):
        respect_gym.solve(graph, 4, "order_pointer", checkpoint=str(checkpoints.shipped("cut_imitation")))
    data = torch.load(path, weights_only=True)
    data["meta"]["net"]["rounds"] = 3  # weights of a 2-round net under a 3-round config
    torch.save(data, tmp_path / "bad.pt")
    with pytest.raises(checkpoints.CheckpointError, match="do not fit"):
        checkpoints.load(tmp_path / "bad.pt")


@pytest.mark.parametrize("model,granularity", [("inception_v3", "fused"), ("resnet50", "layers")])
def test_bounded_order_cut_has_the_full_dps_value(monkeypatch, model, granularity) -> None:
    from respect_gym.solvers import cuts
    from respect_gym.solvers.stagecost import BatchStageCost

    graph = respect_gym.load_graph(model, granularity)
    rng = np.random.default_rng(0)
    for k in (2, 4, 8):
        instance = Instance.build(graph, k)
        cm = instance.cost_model
        for order in (graph.topological_order, cuts.key_order(graph, rng.random(graph.num_nodes))):
            monkeypatch.setattr(cuts, "BOUND_MIN_NODES", 10**9)  # the DP over every segment
            full, _ = instance.objective.best_cut(cm, BatchStageCost(cm), order, k, np.inf, graph.num_nodes)
            monkeypatch.setattr(cuts, "BOUND_MIN_NODES", 0)  # the heuristic bound on every order
            value, stages = order_cut(instance, order)
            assert value == pytest.approx(full, rel=1e-12) and instance.evaluate(stages)[0] == pytest.approx(value)


def test_order_cut_is_the_envs_cut() -> None:
    graph = respect_gym.load_graph("inception_v3")
    env = gym.make("RespectOrder-v1", model=graph, num_tpus=8, max_nodes=None).unwrapped
    env.reset(seed=0)
    instance = Instance.build(graph, 8)
    assert order_cut(instance, graph.topological_order)[0] == pytest.approx(env.topological_value(), rel=1e-12)
    with pytest.raises(ValueError, match="topological order"):
        order_cut(instance, graph.topological_order[::-1])


def test_report_counts_against_the_best_known_value() -> None:
    from respect_gym_agents.order_report import report

    rows = [{"model": "a", "granularity": "fused", "k": 4, "nodes": 10, "exact_ms": 10.0, "compiler_ms": 12.0,
             "order_pointer_ms": 10.0, "order_plain_cut_ms": 11.0},
            {"model": "b", "granularity": "fused", "k": 4, "nodes": 20, "exact_ms": 9.0, "compiler_ms": 8.0,
             "order_pointer_ms": 8.8, "order_plain_cut_ms": 8.8}]
    reference = [{"model": "b", "granularity": "fused", "k": 4, "exact_ms": 8.0}]  # b: exact unproven in this run
    text = report(rows, reference)
    assert "| fused | 2 | `order_pointer` | 1 | 5.00 | 10.00 | 50.0% |" in text  # gaps 0% and 8.8 / 8 - 1 = 10%
    assert "| fused | 2 | `order_plain_cut` | 0 | 10.00 | 10.00 | 50.0% |" in text
    assert "| a fused | 4 | 10 | 10.00 | 0.00 |" in text and "| b fused | 4 | 20 | 10.00 | 10.00 |" in text
    assert "better than the plain order on 1 of 2 instances, worse on 0" in text
