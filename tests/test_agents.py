"""The agents package: context observations, graph policy, labels, imitation, checkpoints, solver."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import respect_gym  # noqa: E402
from respect_gym.cost import COST_MODEL_VERSION, COST_MODEL_VERSIONS, validate_schedule  # noqa: E402
from respect_gym.cost.model import CostModel  # noqa: E402
from respect_gym.envs import CompactObservation, GraphContextObservation  # noqa: E402
from respect_gym.solvers import SolverError  # noqa: E402
from respect_gym_agents import checkpoints  # noqa: E402
from respect_gym_agents.imitation import ImitationConfig, optimal_completion, seed_everything, train  # noqa: E402
from respect_gym_agents.labels import expert_stages, training_specs  # noqa: E402
from respect_gym_agents.policies import GraphPolicyNet, MASKED_LOGIT  # noqa: E402
from respect_gym_agents import rollout  # noqa: E402
from respect_gym_agents.rollout import episode_logits, greedy_episode, greedy_stages, policy_schedules  # noqa: E402
from respect_gym_agents.solver import register  # noqa: E402
from solver_brute import tiny_graph, valid_schedules  # noqa: E402


def test_compact_observation_is_bounded_and_masks_legal_stages():
    env = CompactObservation(gym.make("RespectPipeline-v0", model="resnet50", num_tpus=4, max_nodes=96))
    obs, info = env.reset(seed=0)
    terminated = False
    while not terminated:
        assert env.observation_space.contains(obs)
        obs, _, terminated, _, info = env.step(int(np.flatnonzero(info["action_mask"])[-1]))
    assert info["illegal_actions"] == 0


def test_graph_context_batches_through_the_net():
    env = GraphContextObservation(gym.make("RespectPipeline-v0", model="resnet50", num_tpus=4, max_nodes=96))
    obs, info = env.reset(seed=0)
    obs, *_ = env.step(2)  # stages 0 and 1 become illegal
    batch = {key: torch.as_tensor(np.stack([value, value])) for key, value in obs.items()}
    logits, values = GraphPolicyNet()(batch)
    assert logits.shape == (2, 4) and values.shape[0] == 2
    assert torch.all(logits[:, :2] == MASKED_LOGIT) and torch.all(logits[:, 2:] > MASKED_LOGIT)


@pytest.mark.parametrize("seed", range(5))
def test_greedy_rollout_never_takes_an_illegal_action(seed):
    torch.manual_seed(seed)
    net = GraphPolicyNet()
    spec = training_specs(4, seed=seed)[seed % 4]
    graph = spec.graph()
    episode = greedy_episode(net, graph, spec.num_stages)
    validate_schedule(graph, episode.stages, spec.num_stages)
    legal = episode.stage_context[torch.arange(graph.num_nodes), episode.actions, 4]
    assert torch.all(legal == 1)


def test_labels_equal_the_exact_schedule():
    for spec in training_specs(8):
        assert expert_stages(spec) == respect_gym.solve(spec.graph(), spec.num_stages, "exact").stages.tolist()


def test_training_specs_keep_only_small_parts_and_the_given_ks():
    specs = ImitationConfig(graphs=12, ks="4,6", max_nodes=60).specs()
    assert {s.num_stages for s in specs} <= {4, 6}
    assert all(s.kwargs["num_nodes"][1] <= 60 for s in specs)
    assert {s.generator for s in specs} == {"respect", "dnn"}
    assert all(s.graph().num_nodes <= 60 for s in specs)
    assert ImitationConfig(graphs=40).specs() == training_specs(40)  # the default is the full distribution
    assert {s.generator for s in ImitationConfig(graphs=8, generators="dnn").specs()} == {"dnn"}
    with pytest.raises(ValueError):
        training_specs(3, max_nodes=10)


def test_unproven_labels_are_skipped_by_training(tmp_path, monkeypatch):
    from respect_gym_agents import labels

    real = respect_gym.solve
    specs = ImitationConfig(graphs=6).specs()
    slow = specs[1].graph().num_nodes  # pretend exact cannot prove this graph within the limit

    def solve(graph, k, solver, **kwargs):
        result = real(graph, k, solver, **kwargs)
        return dataclasses.replace(result, optimal=False, status="feasible") if graph.num_nodes == slow else result

    monkeypatch.setattr(labels.respect_gym, "solve", solve)
    got = labels.label(specs, tmp_path, workers=1, time_limit=60.0)
    assert got[1] is None and all(g is not None for i, g in enumerate(got) if specs[i].graph().num_nodes != slow)
    with pytest.raises(RuntimeError, match="not prove"):
        labels.expert_stages(specs[1])  # without a limit, an unproven label is an error
    _, log = train(ImitationConfig(graphs=6, epochs=1, workers=1, label_time_limit=60.0), str(tmp_path))
    assert 1 in log["unproven_specs"]


def test_tiny_training_run_and_checkpoint_round_trip(tmp_path):
    net, log = train(ImitationConfig(graphs=8, epochs=2, workers=1), str(tmp_path))
    assert np.isfinite(log["bc_loss"]).all()
    path = tmp_path / "net.pt"
    checkpoints.save(net, path, command="respect-gym-agents train imitation --graphs 8", env_id="RespectPipeline-v1")
    again, meta = checkpoints.load(path)
    assert meta["cost_model_version"] == COST_MODEL_VERSION and meta["env_id"] == checkpoints.ENV_ID
    checkpoints.save(net, path, command="", env_id="RespectPipeline-v0")  # what the env it names scores with
    assert checkpoints.load(path)[1]["cost_model_version"] == COST_MODEL_VERSIONS[2]
    for a, b in zip(net.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    graph = training_specs(1)[0].graph()
    assert np.array_equal(greedy_episode(net, graph, 3).stages, greedy_episode(again, graph, 3).stages)


def test_training_is_seeded(tmp_path):
    runs = [train(ImitationConfig(graphs=4, epochs=1, workers=1), str(tmp_path))[0] for _ in range(2)]
    for a, b in zip(runs[0].state_dict().values(), runs[1].state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_for_another_cost_model_is_refused(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"meta": {"cost_model_version": "1.deadbeef", "env_id": "RespectPipeline-v0", "command": "retrain-me",
                         "net": {"hidden": 8, "rounds": 1}}, "state_dict": {}}, path)
    with pytest.raises(checkpoints.CheckpointError, match="retrain it") as info:
        checkpoints.load(path)
    assert "retrain-me" not in str(info.value)  # a command taken from the file is never printed


@pytest.mark.skipif(not checkpoints.shipped("imitation").exists(), reason="no shipped checkpoint yet")
def test_shipped_checkpoint_schedules_every_zoo_model():
    register()
    for model in respect_gym.list_models():
        graph = respect_gym.load_graph(model)
        result = respect_gym.solve(graph, 4, "imitation")
        validate_schedule(graph, result.stages, 4)


@pytest.mark.parametrize("seed", range(4))
def test_fast_greedy_stages_equal_the_torch_episode(seed):
    torch.manual_seed(seed)
    net = GraphPolicyNet()
    for spec in training_specs(8, seed=seed):
        graph = spec.graph()
        assert np.array_equal(greedy_stages(net, graph, spec.num_stages), greedy_episode(net, graph, spec.num_stages).stages)


@pytest.mark.skipif(not checkpoints.shipped("imitation").exists(), reason="no shipped checkpoint yet")
def test_fast_greedy_stages_equal_the_shipped_policy_on_zoo_models():
    net, _ = checkpoints.load(checkpoints.shipped("imitation"))
    for model, k in (("resnet50", 4), ("mobilenet_v2", 8), ("vgg16", 2), ("densenet121", 6)):
        graph = respect_gym.load_graph(model)
        assert np.array_equal(greedy_stages(net, graph, k), greedy_episode(net, graph, k).stages), (model, k)


def test_near_ties_are_decided_by_the_torch_net(monkeypatch):
    calls = []
    original = rollout._TorchScorer.__call__
    monkeypatch.setattr(rollout._TorchScorer, "__call__", lambda self, *a: calls.append(1) or original(self, *a))
    torch.manual_seed(0)
    net = GraphPolicyNet()
    with torch.no_grad():
        net.stage_score[-1].weight.zero_()  # every legal stage scores the bias: a tie at each step
    graph = training_specs(1)[0].graph()
    stages = greedy_stages(net, graph, 4)
    assert calls and np.array_equal(stages, greedy_episode(net, graph, 4).stages)
    monkeypatch.setattr(rollout, "TIE_TOLERANCE", np.inf)  # every step through the torch net
    torch.manual_seed(1)
    net = GraphPolicyNet()
    assert np.array_equal(greedy_stages(net, graph, 5), greedy_episode(net, graph, 5).stages)


def test_sampled_first_choice_follows_the_torch_softmax():
    torch.manual_seed(3)
    net = GraphPolicyNet()
    with torch.no_grad():
        net.stage_score[-1].weight.mul_(20.0)  # a policy far from uniform
    graph, k = tiny_graph(5, 12), 4
    logits = episode_logits(net, greedy_episode(net, graph, k))[0]  # the first state never depends on choices
    expected = torch.softmax(logits.detach().double(), dim=0).numpy()
    assert expected.max() < 0.9 and expected.min() > 0.005
    first = int(graph.topological_order[0])
    schedules = policy_schedules(net, graph, k, samples=4000, rng=np.random.default_rng(0))
    assert np.array_equal(schedules[0], greedy_stages(net, graph, k))
    counts = np.bincount([s[first] for s in schedules[1:]], minlength=k) / 4000
    assert np.abs(counts - expected).max() < 0.03, (counts, expected)
    for stages in schedules[:50]:
        validate_schedule(graph, stages, k)


def test_sampled_episodes_are_seeded_and_need_an_rng():
    torch.manual_seed(0)
    net = GraphPolicyNet()
    graph = training_specs(1)[0].graph()
    a = policy_schedules(net, graph, 5, samples=6, rng=np.random.default_rng(7))
    b = policy_schedules(net, graph, 5, samples=6, rng=np.random.default_rng(7))
    c = policy_schedules(net, graph, 5, samples=6, rng=np.random.default_rng(8))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a[1:], c[1:]))
    with pytest.raises(ValueError, match="rng"):
        policy_schedules(net, graph, 5, samples=2)


@pytest.mark.skipif(not checkpoints.shipped("imitation").exists(), reason="no shipped checkpoint yet")
def test_solver_samples_keep_the_best_episode_and_bad_options_are_named():
    register()
    for model, k in (("resnet50", 4), ("densenet121", 6), ("inception_v3", 8)):
        graph = respect_gym.load_graph(model)
        greedy = respect_gym.solve(graph, k, "imitation", refine=False)
        sampled = respect_gym.solve(graph, k, "imitation", refine=False, samples=8, seed=1)
        validate_schedule(graph, sampled.stages, k)
        assert sampled.objective_value <= greedy.objective_value
        again = respect_gym.solve(graph, k, "imitation", refine=False, samples=8, seed=1)
        assert np.array_equal(again.stages, sampled.stages)
        refined = respect_gym.solve(graph, k, "imitation", samples=8, seed=1)
        assert refined.objective_value <= sampled.objective_value
    for bad in ({"samples": -1}, {"samples": "x"}, {"temperature": 0}):
        with pytest.raises(SolverError, match="samples|temperature"):
            respect_gym.solve(graph, k, "imitation", **bad)


@pytest.mark.skipif(not checkpoints.shipped("imitation").exists(), reason="no shipped checkpoint yet")
def test_imitation_solver_equals_the_best_unbounded_recut_of_the_torch_policy():
    from respect_gym.solvers.compiler import dfs_topological_order
    from respect_gym.problem.objectives import Period
    from respect_gym.solvers.cuts import best_cut
    from respect_gym.solvers.stagecost import BatchStageCost

    register()
    net, _ = checkpoints.load(checkpoints.shipped("imitation"))
    for model, k in (("resnet50", 4), ("inception_v3", 6), ("mobilenet", 2), ("efficientnet_b0", 8), ("nasnet_mobile", 8)):
        graph = respect_gym.load_graph(model)
        cm = CostModel(graph)
        stages = greedy_episode(net, graph, k).stages
        expected, best = stages, cm.evaluate(stages, k).period_ms  # the objective: the period
        for base in (graph.topological_order, dfs_topological_order(graph)):  # the two tie-breaks
            order = base[np.argsort(stages[base], kind="stable")]
            value, cut = best_cut(cm, BatchStageCost(cm), order, k, Period())
            if value < best:
                expected, best = cut, value
        assert np.array_equal(respect_gym.solve(graph, k, "imitation").stages, expected), (model, k)
        assert np.array_equal(respect_gym.solve(graph, k, "imitation", refine=False).stages, stages), (model, k)


@pytest.mark.skipif(not checkpoints.shipped("imitation").exists(), reason="no shipped checkpoint yet")
def test_checkpoint_runs_only_on_its_cost_model_revision():
    register()
    graph = respect_gym.load_graph("mobilenet")
    with pytest.raises(SolverError, match="revision=3"):
        respect_gym.solve(graph, 4, "imitation", revision=2)


@pytest.mark.skipif(not checkpoints.shipped("imitation", "paper").exists(), reason="no paper checkpoint shipped")
def test_paper_objective_uses_the_paper_checkpoint():
    register()
    graph = respect_gym.load_graph("respect/resnet50")
    result = respect_gym.solve(graph, 4, "imitation", objective="paper")
    assert result.info["checkpoint"] == str(checkpoints.shipped("imitation", "paper"))
    assert checkpoints.load(result.info["checkpoint"])[1]["objective"] == "paper"
    validate_schedule(graph, result.stages, 4)
    assert respect_gym.solve(graph, 4, "imitation").info["checkpoint"] == str(checkpoints.shipped("imitation"))


@pytest.mark.skipif(not checkpoints.shipped("imitation").exists(), reason="no shipped checkpoint yet")
def test_shipped_imitation_checkpoint_is_bc_plus_dagger_and_says_how_to_retrain_it():
    net, meta = checkpoints.load(checkpoints.shipped("imitation"))
    assert meta["log"]["config"]["dagger_rounds"] == 1 and len(meta["log"]["dagger_loss"]) == 1
    assert meta["command"].startswith("respect-gym-agents train imitation ") and "--out" not in meta["command"]
    graph = respect_gym.load_graph("resnet50")
    validate_schedule(graph, greedy_stages(net, graph, 4), 4)


@pytest.mark.parametrize("seed", range(12))
def test_paper_cut_is_the_best_cut_of_the_order(seed):
    import itertools

    from respect_gym.cost.paper import paper_cost
    from respect_gym.solvers.cuts import stages_from_cuts
    from respect_gym.solvers.cuts import best_paper_cut

    graph = tiny_graph(seed, 8)
    order = graph.topological_order
    for k in (1, 2, 3, 4):
        best = min(paper_cost(graph, stages_from_cuts(order, np.asarray(c, dtype=np.int64)), k)
                   for c in itertools.combinations_with_replacement(range(graph.num_nodes + 1), k - 1))
        value, stages = best_paper_cut(graph, order, k, upper=np.inf)
        assert value == pytest.approx(best, abs=1e-9) and paper_cost(graph, stages, k) == pytest.approx(value, abs=1e-9)
        assert best_paper_cut(graph, order, k, upper=best + 1e-6)[0] == pytest.approx(best, abs=1e-9)
        assert best_paper_cut(graph, order, k, upper=best - 1e-6) == (np.inf, None)  # nothing beats the bound


@pytest.mark.skipif(not checkpoints.shipped("imitation").exists(), reason="no shipped checkpoint yet")
def test_paper_refinement_never_worsens_the_policy():
    register()
    for model in ("respect/resnet50", "respect/vgg16", "respect/mobilenetv2_1.00_224"):
        graph = respect_gym.load_graph(model)
        raw = respect_gym.solve(graph, 5, "imitation", objective="paper", refine=False)
        refined = respect_gym.solve(graph, 5, "imitation", objective="paper")
        validate_schedule(graph, refined.stages, 5)
        assert refined.objective_value <= raw.objective_value


@pytest.mark.parametrize("seed", range(6))
def test_dagger_relabel_is_optimal_among_completions(seed):
    graph, k = tiny_graph(seed, 6), 3
    order = graph.topological_order
    partial = np.full(graph.num_nodes, -1)
    partial[order[: graph.num_nodes // 2]] = np.minimum(np.arange(graph.num_nodes // 2) // 2, k - 1)
    completion = optimal_completion(graph, k, partial)
    fixed = partial >= 0
    assert np.array_equal(completion[fixed], partial[fixed])
    cm = CostModel(graph)
    best = min(cm.evaluate(s, k).period_ms for s in valid_schedules(graph, k) if np.array_equal(s[fixed], partial[fixed]))
    assert cm.evaluate(completion, k).period_ms == pytest.approx(best, rel=1e-9)


def test_seed_everything_makes_torch_repeatable():
    seed_everything(3)
    a = torch.rand(3)
    seed_everything(3)
    assert torch.equal(a, torch.rand(3))


def test_agents_cli_refuses_a_bad_checkpoint_in_one_line(tmp_path, capsys):
    from respect_gym_agents.__main__ import main

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x04not a checkpoint")
    assert main(["evaluate", "imitation", "--checkpoint", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err and "Traceback" not in err


@pytest.mark.skipif(not checkpoints.shipped("imitation").exists(), reason="no shipped checkpoint yet")
def test_leaderboard_raw_policies_are_the_solvers_without_the_recut():
    from respect_gym_agents.leaderboard_policies import imitation_raw, ppo_raw

    register()
    graph = respect_gym.load_graph("mobilenet_v2")
    for name, policy in (("imitation", imitation_raw), ("ppo", ppo_raw)):
        expected = respect_gym.solve(graph, 4, name, refine=False).stages.tolist()
        assert list(policy(graph, 4, hardware="usb3", objective="period", revision=3)) == expected
