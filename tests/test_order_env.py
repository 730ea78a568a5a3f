"""RespectOrder-v1 (RESPECT's formulation: order the nodes, the optimal cut makes the stages), checked
against independent recomputation: the ready set from the edge list, stage validity from the edges,
the cut from a fresh cost model and, on tiny graphs, from every cut of the order."""

from __future__ import annotations

import itertools
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence

import respect_gym
from respect_gym.cost.model import CostModel
from respect_gym.cost.paper import paper_cost
from respect_gym.envs.order import RespectOrderEnv
from respect_gym.envs.order.env import IllegalActionError, IllegalActionWarning, InvalidActionError
from respect_gym.envs.pipeline.spec import EnvConfigError
from respect_gym.generators import DnnGraphGenerator
from respect_gym.problem.features import ObservationSizeError
from respect_gym.problem.objectives import get_objective
from respect_gym.solvers.compiler import compiler_schedule
from respect_gym.solvers.cuts import stages_from_cuts
from respect_gym.solvers.stagecost import BatchStageCost
from respect_gym.zoo import load_graph
from solver_brute import tiny_graph

SMALL = {"model": "resnet50", "num_tpus": 4, "max_nodes": 96, "max_edges": 128}


def ready_brute_force(graph, placed: set[int]) -> set[int]:
    """Nodes not yet ordered whose every predecessor (from the edge list) is ordered."""
    return {v for v in range(graph.num_nodes) if v not in placed
            and all(int(u) in placed for u in graph.edges[graph.edges[:, 1] == v, 0])}


def play(env, policy, seed=0, options=None):
    """One episode; ``policy(info, rng)`` picks an action. Returns (observations, rewards, infos)."""
    obs, info = env.reset(seed=seed, options=options)
    rng = np.random.default_rng(seed)
    observations, rewards, infos = [obs], [], [info]
    terminated = False
    while not terminated:
        obs, reward, terminated, truncated, info = env.step(policy(info, rng))
        assert not truncated
        observations.append(obs)
        rewards.append(reward)
        infos.append(info)
    return observations, rewards, infos


def random_ready(info, rng):
    return int(rng.choice(np.flatnonzero(info["action_mask"])))


def smallest_ready(info, rng):
    return int(np.flatnonzero(info["action_mask"])[0])


def independent_value(graph, stages, k, objective):
    report = CostModel(graph).evaluate(np.asarray(stages), k)
    return {"period": report.period_ms, "latency": report.latency_ms, "paper": paper_cost(graph, np.asarray(stages), k)}[objective]


def graphs():
    return [load_graph("resnet50", granularity="layers"), load_graph("inception_v3"),
            DnnGraphGenerator(seed=3, num_nodes=60)(np.random.default_rng(0))]


def test_mask_is_exactly_the_ready_set_at_every_step():
    for graph in graphs():
        env = RespectOrderEnv(model=graph, num_tpus=4, max_nodes=None)
        obs, info = env.reset(seed=1)
        rng = np.random.default_rng(1)
        placed: list[int] = []
        while True:
            mask = info["action_mask"]
            assert mask.dtype == bool and mask.shape == (env.max_nodes,)
            assert np.array_equal(mask, env.action_masks())
            assert set(np.flatnonzero(mask).tolist()) == ready_brute_force(graph, set(placed))
            assert np.array_equal(obs["ready"], mask.astype(np.int8))
            assert set(np.flatnonzero(obs["placed"]).tolist()) == set(placed)
            assert env.observation_space.contains(obs)
            node = int(rng.choice(np.flatnonzero(mask)))
            obs, reward, terminated, _, info = env.step(node)
            placed.append(node)
            assert not info["illegal_action"]
            if terminated:
                break
            assert reward == 0.0
        assert info["order"] == placed
        assert not info["action_mask"].any()


@pytest.mark.parametrize("objective", ["period", "latency", "paper"])
def test_final_stages_are_valid_and_the_value_is_the_best_cut_of_the_order(objective):
    for graph in graphs():
        k = 4 if objective != "paper" else 3
        env = RespectOrderEnv(model=graph, num_tpus=k, max_nodes=None, objective=objective)
        for seed in range(2):
            _, rewards, infos = play(env, random_ready, seed=seed)
            final = infos[-1]
            order, stages = np.asarray(final["order"]), np.asarray(final["stages"])
            assert sorted(order.tolist()) == list(range(graph.num_nodes))
            assert ((stages >= 0) & (stages < k)).all()
            assert (stages[graph.edges[:, 0]] <= stages[graph.edges[:, 1]]).all()  # precedence
            assert (np.diff(stages[order]) >= 0).all()  # a contiguous cut of the order played
            cm = CostModel(graph)
            expected, _ = get_objective(objective).best_cut(cm, BatchStageCost(cm), order, k)
            assert final["objective_value"] == expected
            assert independent_value(graph, stages, k, objective) == pytest.approx(expected, rel=1e-12)
            compiler = independent_value(graph, compiler_schedule(graph, k), k, objective)
            assert final["compiler_value"] == pytest.approx(compiler, rel=1e-12)
            assert rewards[-1] == final["score"] == pytest.approx(compiler / expected - 1, rel=1e-12)
            assert final["is_success"] == (expected < compiler * (1 - 1e-9))
            assert final["report"]["num_stages"] == k


def test_the_cut_is_optimal_over_every_cut_of_the_order_on_tiny_graphs():
    for seed in range(6):
        graph = tiny_graph(seed, max_nodes=9)
        env = RespectOrderEnv(model=graph, num_tpus=3, max_nodes=16)
        _, _, infos = play(env, random_ready, seed=seed)
        order, n = np.asarray(infos[-1]["order"]), graph.num_nodes
        brute = min(independent_value(graph, stages_from_cuts(order, np.asarray(cuts)), 3, "period")
                    for cuts in itertools.combinations_with_replacement(range(n + 1), 2))
        assert infos[-1]["objective_value"] == pytest.approx(brute, rel=1e-12)


def test_playing_the_topological_order_gives_its_cut_and_random_orders_are_never_better_than_exact():
    graph = load_graph("resnet50", granularity="layers")
    env = RespectOrderEnv(model=graph, num_tpus=8, max_nodes=None)
    _, _, infos = play(env, smallest_ready)
    final = infos[-1]
    assert final["order"] == graph.topological_order.tolist()
    cm = CostModel(graph)
    topo, _ = get_objective("period").best_cut(cm, BatchStageCost(cm), graph.topological_order, 8)
    assert final["objective_value"] == final["topological_value"] == topo
    optimum = respect_gym.solve(graph, 8, "exact").objective_value
    for seed in range(3):
        value = play(env, random_ready, seed=seed)[2][-1]["objective_value"]
        assert value >= optimum * (1 - 1e-9)
        assert play(env, random_ready, seed=seed)[2][-1]["topological_value"] == topo


def test_illegal_actions_order_the_smallest_ready_node_and_pay_the_penalty():
    env = RespectOrderEnv(**SMALL, illegal_action_penalty=0.25, on_illegal="repair")
    graph = load_graph("resnet50")
    obs, info = env.reset(seed=0)
    _, reward, _, _, info = env.step(int(np.flatnonzero(info["action_mask"])[0]))
    placed = int(np.flatnonzero(obs["ready"])[0])
    ready = np.flatnonzero(info["action_mask"])
    obs, reward, _, _, info = env.step(placed)  # already ordered: illegal
    assert info["illegal_action"] and reward == -0.25
    assert obs["last_node"][0] == ready[0] and obs["placed"][ready[0]] == 1
    obs, reward, _, _, info = env.step(SMALL["max_nodes"] - 1)  # padding: illegal too
    assert info["illegal_action"] and reward == -0.25
    with pytest.raises(InvalidActionError):
        env.step(SMALL["max_nodes"])
    with pytest.raises(InvalidActionError):
        env.step(-1)
    with pytest.raises(InvalidActionError):
        env.step(np.array([0.5]))
    # always illegal: the plain topological order, and the penalty on every step
    env.reset(seed=0)
    done, total, steps = False, 0.0, 0
    while not done:
        _, reward, done, _, info = env.step(SMALL["max_nodes"] - 1)
        total, steps = total + reward, steps + 1
    assert info["order"] == graph.topological_order.tolist()
    assert info["illegal_actions"] == steps == graph.num_nodes
    assert total == pytest.approx(info["score"] - 0.25 * steps)
    with pytest.raises(InvalidActionError):
        env.step(0)


def test_illegal_actions_warn_once_under_the_default_and_raise_when_strict():
    env = RespectOrderEnv(**SMALL)
    env.reset(seed=0)
    with pytest.warns(IllegalActionWarning, match="repaired a masked-out action"):
        env.step(50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, _, _, _, info = env.step(50)  # once per env
    assert info["illegal_action"]
    strict = RespectOrderEnv(**SMALL, on_illegal="raise")
    obs, info = strict.reset(seed=0)
    with pytest.raises(IllegalActionError, match="not ready"):
        strict.step(50)
    assert not strict.action_masks()[50] and strict.action_masks().tolist() == info["action_mask"].tolist()
    obs2, _, _, _, info2 = strict.step(0)  # the episode was left as it was
    assert info2["illegal_action"] is False and obs2["last_node"][0] == 0
    with pytest.raises(EnvConfigError, match="on_illegal"):
        RespectOrderEnv(**SMALL, on_illegal="ignore")


def test_gymnasium_check_env_passes_without_warnings():
    # the checker steps random (unmasked) actions: the env warns once that it repaired one
    for kwargs in ({**SMALL, "render_mode": "ansi"}, {**SMALL, "objective": "paper"}, {"max_nodes": 400}):
        env = gym.make("RespectOrder-v1", **kwargs)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_env(env.unwrapped)
        assert [str(w.message) for w in caught if not issubclass(w.category, IllegalActionWarning)] == []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(gym.make("RespectOrder-v1", **SMALL, on_illegal="repair").unwrapped)
    assert [str(w.message) for w in caught] == []


def test_episodes_are_deterministic_under_seeds():
    def run(seed):
        env = gym.make("RespectOrder-v1", model=["resnet50", "mobilenet_v2", "dnn"], max_nodes=400)
        return play(env, random_ready, seed=seed)

    a, b, c = run(7), run(7), run(8)
    for x, y in zip(a, b):
        assert data_equivalence(x, y)
    assert a[2][0]["graph_sha256"] != c[2][0]["graph_sha256"] or a[2][-1]["order"] != c[2][-1]["order"]


def test_render_and_arguments():
    env = RespectOrderEnv(**SMALL, render_mode="ansi")
    play(env, random_ready)
    text = env.render()
    assert "74/74 nodes ordered" in text and "score" in text
    with pytest.raises(EnvConfigError, match="num_tpus"):
        RespectOrderEnv(model="resnet50", num_tpus=0)
    with pytest.raises(EnvConfigError, match="objective"):
        RespectOrderEnv(model="resnet50", objective="speed")
    with pytest.raises(ObservationSizeError):
        RespectOrderEnv(model="densenet201", max_nodes=64).reset(seed=0)
    assert gym.spec("RespectOrder-v1").kwargs == {"revision": 3}
    assert respect_gym.RespectOrderEnv is RespectOrderEnv


def test_docstring_example_runs():
    import doctest

    import respect_gym.envs.order.env as module

    result = doctest.testmod(module, verbose=False)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.smoke
def test_maskable_ppo_runs_on_the_order_env():
    pytest.importorskip("sb3_contrib")
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = RespectOrderEnv(**SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SB3 notes that the 2-D Boxes are not images
        sb3_check_env(env)
    model = MaskablePPO("MultiInputPolicy", env, n_steps=128, batch_size=64, n_epochs=1, seed=0, verbose=0)
    model.learn(256)
    obs, info = env.reset(seed=0)
    terminated = False
    while not terminated:
        action, _ = model.predict(obs, action_masks=info["action_mask"], deterministic=True)
        obs, _, terminated, _, info = env.step(int(action))
    assert info["illegal_actions"] == 0
    assert sorted(info["order"]) == list(range(74))


def test_dp_max_nodes_switches_large_orders_to_the_bisection_cut():
    graph = load_graph("resnet50", granularity="layers")
    exact_env = RespectOrderEnv(model=graph, num_tpus=8, max_nodes=None)
    fast_env = RespectOrderEnv(model=graph, num_tpus=8, max_nodes=None, dp_max_nodes=100)
    exact = play(exact_env, random_ready, seed=4)[2][-1]
    fast = play(fast_env, random_ready, seed=4)[2][-1]
    assert fast["order"] == exact["order"]
    cm = CostModel(graph)
    bisected, _ = get_objective("period").best_cut(cm, BatchStageCost(cm), np.asarray(fast["order"]), 8, dp_max_nodes=100)
    assert fast["objective_value"] == bisected >= exact["objective_value"] * (1 - 1e-12)
    with pytest.raises(EnvConfigError, match="dp_max_nodes"):
        RespectOrderEnv(model=graph, dp_max_nodes=0)
