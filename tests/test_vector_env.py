"""The problem kernel and the native vector env: the same episodes as single envs, the cost model's
numbers, Gymnasium's vector conventions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import respect_gym  # noqa: F401
from respect_gym.cost.model import CostModel
from respect_gym.envs.pipeline.vector import InvalidActionError, RespectPipelineVectorEnv
from respect_gym.envs.pipeline.wrappers import CompactObservation, GraphContextObservation
from respect_gym.problem import pool as pool_module
from respect_gym.problem.instance import Instance
from respect_gym.problem.state import State, legal, reset, step
from respect_gym.zoo import load_graph

WRAPPERS = {"graph": lambda env: env, "compact": CompactObservation, "context": GraphContextObservation}


def _same_obs(single, batched, i: int) -> bool:
    if isinstance(single, dict):
        return all(np.array_equal(single[k], batched[k][i]) for k in single)
    return np.array_equal(single, batched[i])


@pytest.mark.parametrize("model, k, mode, objective, observation", [
    ("resnet50", 4, "dense", "period", "compact"),
    (["resnet50", "mobilenet_v2", "dnn"], 3, "dense", "latency", "graph"),
    ("respect", 5, "dense", "paper", "context"),
    ("inception_v3", 8, "terminal", "period", "graph"),
])
def test_vector_env_plays_what_single_envs_seeded_s_plus_i_play(model, k, mode, objective, observation) -> None:
    n = 3
    kwargs = dict(model=model, num_tpus=k, reward_mode=mode, objective=objective, max_nodes=1024,
                  illegal_action_penalty=0.5)
    venv = gym.make_vec("RespectPipeline-v1", num_envs=n, vectorization_mode="vector_entry_point",
                        observation=observation, **kwargs)
    envs = [WRAPPERS[observation](gym.make("RespectPipeline-v1", **kwargs)) for _ in range(n)]
    vobs, vinfo = venv.reset(seed=10)
    for i, env in enumerate(envs):
        obs, info = env.reset(seed=10 + i)
        assert _same_obs(obs, vobs, i)
    rng = np.random.default_rng(0)
    ended = np.zeros(n, dtype=bool)
    episodes = 0
    while episodes < 2 * n:
        actions = rng.integers(0, k, size=n)  # unmasked: illegal ones are repaired and penalised
        vobs, vreward, vterm, vtrunc, vinfo = venv.step(actions)
        assert not vtrunc.any()
        for i, env in enumerate(envs):
            if ended[i]:  # next-step autoreset: the vector env reset this sub-env
                obs, info = env.reset()
                reward, term = 0.0, False
            else:
                obs, reward, term, _, info = env.step(int(actions[i]))
                assert vinfo["illegal_action"][i] == info["illegal_action"]
            assert _same_obs(obs, vobs, i)
            assert reward == vreward[i] and term == vterm[i]
            assert np.array_equal(info["action_mask"].astype(bool), vinfo["action_mask"][i])
            if term:
                episodes += 1
                assert vinfo["_score"][i]
                for key in ("score", "objective_value", "compiler_value", "is_success", "illegal_actions"):
                    assert info[key] == vinfo[key][i], key
            else:
                assert not vinfo["_score"][i] and vinfo["score"][i] == 0.0
            ended[i] = term


@pytest.mark.parametrize("model, k, revision", [("resnet50", 4, 3), ("nasnet_mobile", 6, 3), ("vgg16", 3, 2),
                                                ("densenet121", 8, 3)])
def test_finished_episodes_report_what_the_cost_model_evaluates(model: str, k: int, revision: int) -> None:
    graph = load_graph(model)
    instance = Instance.build(graph, k, revision=revision)
    b = 6
    state = State.for_instance(instance, b, graph.num_nodes)
    rows = np.arange(b)
    reset(state, rows, [instance] * b)
    rng = np.random.default_rng(revision)
    for _ in range(graph.num_nodes):
        mask = legal(state)
        assert mask[:, -1].all()
        # drift-free random legal actions: from the smallest legal stage up
        low = mask.argmax(axis=1)
        step(state, rows, low + (rng.random(b) * (k - low) ** 0.5).astype(np.int64))
    assert state.done().all()
    model_ = CostModel(graph, revision=revision)
    for row in range(b):
        schedule = state.schedule(row)
        want = model_.evaluate(schedule, k)
        got = state.report(row)
        np.testing.assert_array_equal(got.stage_ms, want.stage_ms)  # same formula, same order of sums
        assert got.stage_cached_bytes.tolist() == want.stage_cached_bytes.tolist()
        assert got.stage_in_bytes.tolist() == want.stage_in_bytes.tolist()
        assert got.stage_out_bytes.tolist() == want.stage_out_bytes.tolist()
        assert got.period_ms == want.period_ms == state.period_ms(np.array([row]))[0]
        assert got.latency_ms == want.latency_ms == state.latency_ms(np.array([row]))[0]


def test_make_vec_defaults_to_the_native_vector_env_with_named_observations() -> None:
    venv = gym.make_vec("RespectPipeline-v1", num_envs=2, model="resnet50", observation="compact")
    assert isinstance(venv.unwrapped, RespectPipelineVectorEnv)
    obs, info = venv.reset(seed=0)
    assert obs.shape == venv.observation_space.shape and obs.dtype == np.float32
    assert venv.single_observation_space.contains(obs[0])
    assert info["action_mask"].dtype == bool and info["action_mask"].shape == (2, 4)
    graph = gym.make_vec("RespectPipeline-v1", num_envs=2, model="resnet50")
    gobs, _ = graph.reset(seed=0)
    # padding sized to the source: resnet50 fused has 74 nodes
    assert gobs["node_features"].shape == (2, 74, 11)
    assert graph.single_observation_space.contains({key: value[1] for key, value in gobs.items()})
    assert venv.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP


def test_vector_env_is_deterministic_and_refuses_bad_actions() -> None:
    def run(seed: int) -> list[float]:
        venv = gym.make_vec("RespectPipeline-v1", num_envs=4, model="dnn", observation="compact")
        venv.reset(seed=seed)
        rng = np.random.default_rng(1)
        scores = []
        for _ in range(600):
            _, _, term, _, info = venv.step(rng.integers(0, 4, size=4))
            scores.extend(info["score"][term].tolist())
        return scores

    first = run(3)
    assert len(first) >= 4 and first == run(3) and first != run(4)
    venv = gym.make_vec("RespectPipeline-v1", num_envs=2, model="resnet50")
    with pytest.raises(InvalidActionError):
        venv.step(np.array([0, 1]))  # before reset
    venv.reset(seed=0)
    for bad in (np.array([0, 4]), np.array([0, -1]), np.array([0.5, 1.0]), np.array([0, 1, 2])):
        with pytest.raises(InvalidActionError):
            venv.step(bad)


def test_partial_reset_and_a_graph_option() -> None:
    venv = gym.make_vec("RespectPipeline-v1", num_envs=3, model=["resnet50", "mobilenet_v2"], max_nodes=512)
    venv.reset(seed=0)
    venv.step(np.array([1, 1, 1]))
    steps = venv.unwrapped.kernel.step.copy()
    venv.reset(options={"reset_mask": np.array([False, True, False])})
    assert venv.unwrapped.kernel.step.tolist() == [steps[0], 0, steps[2]]
    venv.reset(options={"graph": "vgg16"})
    kernel = venv.unwrapped.kernel
    assert {kernel.instance(i).graph.meta.model for i in range(3)} == {"vgg16"}


def test_pool_compacts_dead_instances_and_keeps_live_episodes_intact(monkeypatch) -> None:
    monkeypatch.setattr(pool_module, "_MIN_COMPACT_NODES", 500)
    venv = gym.make_vec("RespectPipeline-v1", num_envs=2, model="respect", observation="compact")
    twin = [CompactObservation(gym.make("RespectPipeline-v1", model="respect")) for _ in range(2)]
    vobs, _ = venv.reset(seed=5)
    for i, env in enumerate(twin):
        env.reset(seed=5 + i)
    rng = np.random.default_rng(2)
    ended = np.zeros(2, dtype=bool)
    sizes = []
    for _ in range(30 * 31):
        actions = rng.integers(0, 4, size=2)
        vobs, vreward, vterm, _, _ = venv.step(actions)
        for i, env in enumerate(twin):
            obs, reward = (env.reset()[0], 0.0) if ended[i] else env.step(int(actions[i]))[:2]
            assert np.array_equal(obs, vobs[i]) and reward == vreward[i]
        ended = vterm
        sizes.append(venv.unwrapped.kernel.pool.size)
    assert max(sizes) <= 1000 + 60  # 30-node graphs, compacted past 500 nodes


def test_a_partial_reset_of_an_ended_episode_is_not_reset_again_by_the_next_step() -> None:
    venv = gym.make_vec("RespectPipeline-v1", num_envs=2, model="mobilenet_v2", num_tpus=2)
    single = gym.make("RespectPipeline-v1", model="mobilenet_v2", num_tpus=2, max_nodes=None)
    venv.reset(seed=0)
    single.reset(seed=1)
    terminated = np.zeros(2, dtype=bool)
    while not terminated[1]:
        _, _, terminated, _, _ = venv.step(np.array([1, 1]))
        single.step(1)
    venv.reset(options={"reset_mask": np.array([False, True])})  # what SB3-style same-step autoreset does
    obs1, _ = single.reset()
    vobs, reward, _, _, info = venv.step(np.array([1, 0]))
    obs2, single_reward, *_ = single.step(0)
    assert venv.unwrapped.kernel.step[1] == 1  # stepped, not reset a second time
    assert all(np.array_equal(obs2[key], vobs[key][1]) for key in obs2) and reward[1] == single_reward


def test_a_single_env_with_the_compact_view_pickles_mid_episode() -> None:
    import pickle

    env = gym.make("RespectPipeline-v1", model="resnet50", observation="compact")
    env.reset(seed=0)
    env.step(1)
    clone = pickle.loads(pickle.dumps(env))
    for action in (1, 2, 3):
        a, b = env.step(action), clone.step(action)
        assert np.array_equal(a[0], b[0]) and a[1] == b[1]


def test_padding_is_sized_to_the_graph_source() -> None:
    from respect_gym.generators import DnnGraphGenerator, RespectLayeredGenerator

    spaces_of = lambda model: gym.make_vec("RespectPipeline-v1", num_envs=1, model=model).single_observation_space  # noqa: E731
    assert spaces_of("resnet50")["node_features"].shape == (74, 11)
    assert spaces_of(["resnet50", "mobilenet_v2"])["node_features"].shape[0] == 74
    assert spaces_of("dnn")["edge_index"].shape == (2, 400 * DnnGraphGenerator.max_in_degree)
    assert spaces_of("respect")["node_mask"].shape == (30,)
    # the bounds hold: no generated graph has a node with more predecessors than its generator says
    for gen in (DnnGraphGenerator(seed=1), RespectLayeredGenerator(seed=1)):
        assert max(int(gen(i).in_degree.max()) for i in range(200)) <= gen.max_in_degree


def test_static_graph_arrays_are_handed_out_once_per_episode_by_the_vector_env() -> None:
    venv = gym.make_vec("RespectPipeline-v1", num_envs=3, model=["resnet50", "mobilenet_v2"])
    first, _ = venv.reset(seed=0)
    kept = {key: value.copy() for key, value in first.items()}
    second, *_ = venv.step(np.array([0, 1, 2]))
    for key in ("node_mask", "edge_index", "edge_mask"):  # not copied again by a step
        assert second[key] is first[key]
    assert not np.shares_memory(second["node_features"], first["node_features"])  # what a step changes is fresh
    ended = False
    for _ in range(200):  # past the end of some episodes: their autoreset hands out new arrays
        obs, _, terminated, _, _ = venv.step(np.array([3, 3, 3]))
        ended |= bool(terminated.any())
    assert ended and not np.shares_memory(obs["edge_index"], first["edge_index"])
    assert all(np.array_equal(first[key], kept[key]) for key in kept)  # nothing handed out was altered
    single = gym.make("RespectPipeline-v1", model="resnet50")  # Gymnasium's convention: new data every call
    a, _ = single.reset(seed=0)
    b, *_ = single.step(1)
    assert not np.shares_memory(a["edge_index"], b["edge_index"])
