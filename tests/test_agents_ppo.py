"""The MaskablePPO baseline: mixed-K env, deduplicating extractor, tiny training runs, checkpoints,
the shipped ``ppo`` solver, the learning-curve plot, and the CleanRL-style example."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sb3_contrib")

import respect_gym  # noqa: E402
from respect_gym.cost import COST_MODEL_VERSION, validate_schedule  # noqa: E402
from respect_gym.problem.features import STAGE_CONTEXT  # noqa: E402
from respect_gym_agents import checkpoints, ppo  # noqa: E402
from respect_gym_agents.__main__ import main as agents_main  # noqa: E402
from respect_gym_agents.policies import MASKED_LOGIT, GraphFeaturesExtractor  # noqa: E402
from respect_gym_agents.rollout import greedy_episode  # noqa: E402
from respect_gym_agents.solver import register  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LEGAL = STAGE_CONTEXT.index("legal")
TINY = ["--steps", "128", "--n-steps", "32", "--batch", "64", "--epochs", "1", "--val-graphs", "3",
        "--eval-every", "64"]


def _rollout_observations(env: ppo.MixedStagesEnv, episodes: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for episode in range(episodes):
        obs, info = env.reset(seed=seed + episode)
        terminated = False
        while not terminated:
            out.append(obs)
            obs, _, terminated, _, info = env.step(int(rng.choice(np.flatnonzero(info["action_mask"]))))
    return out


def test_mixed_stages_env_pads_and_masks_every_k():
    env = ppo.make_training_env(ppo.PPOConfig())
    seen = set()
    for seed in range(20):
        obs, info = env.reset(seed=seed)
        k = info["num_tpus"]
        seen.add(k)
        assert env.observation_space.contains(obs)
        assert not info["action_mask"][k:].any() and not env.action_masks()[k:].any()
        assert np.all(obs["stage_context"][k:] == 0) and np.all(obs["stage_context"][:k, LEGAL] == 1)
    assert seen == set(ppo.KS)


def test_skipped_forced_steps_keep_the_episode_return():
    env = ppo.MixedStagesEnv(ppo.PPOConfig.env_id, ppo.training_sources(), reward_mode="dense")
    rng = np.random.default_rng(1)
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        total, terminated, decisions = 0.0, False, 0
        while not terminated:
            legal = np.flatnonzero(info["action_mask"])
            assert legal.size > 1  # a state without a choice is never shown
            obs, reward, terminated, _, info = env.step(int(rng.choice(legal)))
            total += reward
            decisions += 1
        assert total == pytest.approx(info["score"], abs=1e-9)
        assert decisions <= len(info["schedule"])
        assert info["illegal_actions"] == 0


def test_action_beyond_k_is_an_illegal_action_not_a_crash():
    env = ppo.make_training_env(ppo.PPOConfig())
    for seed in range(30):
        _, info = env.reset(seed=seed)
        if info["num_tpus"] < env.k_max:
            break
    _, _, _, _, info = env.step(env.k_max - 1)
    assert info["illegal_action"]


def test_dedup_extractor_equals_the_plain_extractor():
    env = ppo.make_training_env(ppo.PPOConfig())
    observations = _rollout_observations(env, 12)
    batch = {k: torch.as_tensor(np.stack([o[k] for o in observations])).float() for k in observations[0]}
    torch.manual_seed(0)
    dedup = ppo.DedupGraphExtractor(env.observation_space)
    plain = GraphFeaturesExtractor(env.observation_space)
    plain.net.load_state_dict(dedup.net.state_dict())
    a, b = dedup(batch), plain(batch)
    assert torch.allclose(a, b, atol=1e-5)
    a.square().sum().backward()
    b.square().sum().backward()
    for p, q in zip(dedup.net.parameters(), plain.net.parameters()):
        assert torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-5)
    with torch.no_grad():  # the rollout path (cached embeddings)
        assert torch.allclose(dedup(batch), b, atol=1e-5)
    illegal = batch["stage_context"][..., LEGAL] == 0
    assert illegal.any() and torch.all(a[:, : env.k_max][illegal] == MASKED_LOGIT)
    assert torch.all(a[:, : env.k_max][~illegal] > MASKED_LOGIT)


def test_masked_ppo_never_chooses_an_illegal_action():
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from respect_gym_agents.policies import GraphMaskablePolicy

    vec = DummyVecEnv([lambda: ppo.make_training_env(ppo.PPOConfig())] * 2)
    model = MaskablePPO(GraphMaskablePolicy, vec, n_steps=32, batch_size=32, seed=0, device="cpu",
                        policy_kwargs={"features_extractor_class": ppo.DedupGraphExtractor})
    obs = vec.reset()
    for _ in range(200):
        masks = np.stack(vec.env_method("action_masks"))
        actions, _ = model.predict(obs, action_masks=masks, deterministic=False)
        assert masks[np.arange(2), actions].all()
        obs, _, dones, infos = vec.step(actions)
        assert not any(info["illegal_action"] for info in infos)


def test_tiny_ppo_run_via_the_cli_round_trips_and_repeats(tmp_path):
    runs = []
    for name, vec in (("a", "subproc"), ("b", "dummy")):
        out = tmp_path / name / "ppo.pt"
        agents_main(["train", "ppo", *TINY, "--vec", vec, "--logdir", str(tmp_path / name), "--out", str(out)])
        runs.append(checkpoints.load(out))
    (net, meta), (again, _) = runs
    assert meta["env_id"] == ppo.PPOConfig.env_id and meta["cost_model_version"] == COST_MODEL_VERSION
    assert "train ppo" in meta["command"] and meta["algorithm"].startswith("MaskablePPO")
    for a, b in zip(net.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)  # same seed, one thread: the same weights with SubprocVecEnv or in-process
    sidecar = json.loads((tmp_path / "a" / "ppo.json").read_text())
    assert sidecar["env_id"] == ppo.PPOConfig.env_id and sidecar["command"] == meta["command"]
    rows = (tmp_path / "a" / "validation.csv").read_text().splitlines()
    assert rows[0].startswith("steps,") and len(rows) >= 3
    refs = json.loads((tmp_path / "a" / "references.json").read_text())
    assert refs["exact_mean"] >= refs["random_mean"] and refs["compiler_mean"] == 0.0
    for graph, k in ppo.validation_instances(6, seed=123):
        validate_schedule(graph, greedy_episode(net, graph, k).stages, k)
    pytest.importorskip("matplotlib")
    agents_main(["plot", "--runs", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "curve.png")])
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_warm_start_begins_at_the_imitation_policy(tmp_path):
    config = ppo.PPOConfig(steps=32, n_steps=16, batch=32, epochs=1, val_graphs=3, eval_every=10**6,
                           vec="dummy", warm_start="imitation")
    _, log = ppo.train(config, tmp_path, quiet=True)
    imitation, meta = ppo.load_weights("imitation")  # the weights, whatever cost model they were trained on
    assert log["warm_start_from"]["cost_model_version"] == meta["cost_model_version"]
    validator = ppo.Validator(config.env_id, ppo.validation_instances(3))
    exact = json.loads((tmp_path / "references.json").read_text())["per_graph"]["exact"]
    expected = ppo.summarise(validator.scores(imitation), exact)
    assert log["validation"][0]["score_mean"] == pytest.approx(expected["score_mean"], abs=1e-12)


@pytest.mark.skipif(not checkpoints.shipped("ppo").exists(), reason="no shipped ppo checkpoint yet")
def test_shipped_ppo_checkpoint_schedules_every_zoo_model():
    register()
    assert "ppo" in respect_gym.list_solvers()
    net, meta = checkpoints.load(checkpoints.shipped("ppo"))
    assert meta["env_id"].startswith("RespectPipeline-") and "train ppo" in meta["command"]
    for model in respect_gym.list_models():
        graph = respect_gym.load_graph(model)
        for refine in (False, True):
            result = respect_gym.solve(graph, 4, "ppo", refine=refine)
            validate_schedule(graph, result.stages, 4)


@pytest.mark.smoke
def test_cleanrl_example_smoke():
    spec = importlib.util.spec_from_file_location("cleanrl_masked_ppo", ROOT / "agents" / "examples" / "cleanrl_masked_ppo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    args = module.parse_args(["--total-timesteps", "128", "--num-steps", "32", "--val-graphs", "2",
                              "--num-nodes-high", "40"])
    result = module.main(args)
    assert result["illegal_train_actions"] == 0 and result["illegal_actions"] == 0
    assert result["steps"] == 128 and np.isfinite(result["policy_score"]) and np.isfinite(result["random_score"])


@pytest.mark.skipif(not checkpoints.shipped("ppo").exists(), reason="no shipped ppo checkpoint yet")
def test_evaluation_row_against_direct_solves():
    from respect_gym_agents import evaluation

    register()
    row = evaluation.evaluate_instance("mobilenet_v2", "fused", 4, str(checkpoints.shipped("imitation")), 10.0)
    graph = respect_gym.load_graph("mobilenet_v2")
    exact = respect_gym.solve(graph, 4, "exact", time_limit=10.0)
    assert row["exact_proven"] and row["exact_ms"] == pytest.approx(exact.objective_value)
    greedy = respect_gym.solve(graph, 4, "ppo", refine=False).period_ms
    sampled = respect_gym.solve(graph, 4, "ppo", refine=False, samples=evaluation.SAMPLES).period_ms
    assert row["objective"] == "period" and row["exact_bound_ms"] <= row["exact_ms"]
    assert row["ppo_raw_ms"] == pytest.approx(greedy) and row["ppo_sampled_ms"] == pytest.approx(sampled)
    assert exact.period_ms <= sampled * (1 + 1e-9) and sampled <= greedy
    # the control: the period of the best of all cuts of the visit order into at most 4 stages, by brute force
    import itertools

    from respect_gym.cost.model import CostModel
    from respect_gym.solvers.cuts import stages_from_cuts

    order, n, cost_model = graph.topological_order, graph.num_nodes, CostModel(graph)
    cut_values = (cost_model.evaluate(stages_from_cuts(order, np.asarray(c)), 4).period_ms
                  for c in itertools.combinations_with_replacement(range(n + 1), 3))
    assert row["visit_order_recut_ms"] == pytest.approx(min(cut_values), rel=1e-12)
    for name in evaluation.AGENTS:
        assert row[f"{name}_gap_pct"] == pytest.approx(100 * (row[f"{name}_ms"] / row["exact_ms"] - 1))
        assert row[f"{name}_speedup"] == pytest.approx(row["compiler_ms"] / row[f"{name}_ms"])
