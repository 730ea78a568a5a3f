"""``action="cut"`` and ``observation="decision-v2"`` / ``"decision"`` of RespectPipeline-v1: an episode is a cut of the
visit order, the mask says when a cut is legal, the single and vector envs agree, and the
decision features stay finite and inside their space; version 2's probe prices a stage as the
cost model does."""

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


@pytest.mark.parametrize("model, k, observation", [("resnet50", 4, "decision"), ("mobilenet_v2", 8, "decision-v2"),
                                                   ("inception_v3", 2, "decision-v2")])
def test_a_cut_episode_is_a_contiguous_cut_of_the_visit_order(model, k, observation) -> None:
    env = gym.make("RespectPipeline-v1", model=model, num_tpus=k, observation=observation, action="cut")
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
                        observation="decision-v2", action="cut", max_nodes=1024)
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


def _chain(seed: int, n: int = 14):
    """A chain of Dense ops whose weights all fit the cache, with a 1-byte input and output: the
    decision view's segment estimate is then the stage formula itself (nothing streams, and every
    tensor a cut crosses is read by the next stage alone)."""
    from respect_gym.graph import Graph

    rng = np.random.default_rng(seed)
    out = rng.integers(20_000, 400_000, n).tolist()
    out[0] = out[-1] = 1
    return Graph([f"v{i}" for i in range(n)], ["Input"] + ["Dense"] * (n - 1), [0] + rng.integers(10**8, 10**9, n - 1).tolist(),
                 [0] + [40_000] * (n - 1), out, [(i, i + 1) for i in range(n - 1)])


@pytest.mark.parametrize("seed, k", [(0, 2), (1, 3), (2, 4)])
def test_decision_v2_probe_prices_stages_as_the_cost_model(seed, k) -> None:
    """Where the estimate is exact (a chain, all cached), the version-2 probe of the whole instance
    is the best cut of the visit order (the exact cut DP, computed independently), up to its
    bisection's tolerance; version 1 (kept for reproduction) leaves out each stage's invoke
    overhead and the first stage's share of its cut, so it reads lower."""
    from respect_gym.cost.model import CostModel
    from respect_gym.problem.instance import Instance
    from respect_gym.problem.objectives import Period
    from respect_gym.problem.observe import DecisionView
    from respect_gym.problem.state import State, reset
    from respect_gym.solvers.stagecost import BatchStageCost

    graph = _chain(seed)
    instance = Instance.build(graph, k)
    cost_model = CostModel(graph)
    best, _ = Period().best_cut(cost_model, BatchStageCost(cost_model), graph.topological_order, k)
    scales = {}
    for version in (1, 2):
        state = State.for_instance(instance, 1, graph.num_nodes)
        rows = np.arange(1)
        reset(state, rows, [instance])
        view = DecisionView(state, version)
        view.reset(rows)
        scales[version] = float(view.bound[0])
    assert scales[2] == pytest.approx(best, rel=2e-3)
    invoke = instance.cost_model.constants.invoke_overhead_ms
    assert scales[1] < best - 0.5 * invoke  # every segment it prices misses at least the invoke overhead
