"""The cut policy: its expert against brute force, its numpy scorer against torch and the env, its
checkpoints and solvers."""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import respect_gym  # noqa: E402
from respect_gym.problem.instance import Instance  # noqa: E402
from respect_gym.solvers import SolverError  # noqa: E402
from respect_gym_agents import checkpoints  # noqa: E402
from respect_gym_agents.cut_expert import CutExpert  # noqa: E402
from respect_gym_agents.cut_policy import CutNetConfig, CutPolicyNet, NumpyCutPolicy, greedy_schedules  # noqa: E402
from respect_gym_agents.cut_solver import register  # noqa: E402
from respect_gym_agents.cut_training import CutTrainConfig, train  # noqa: E402
from solver_brute import tiny_graph  # noqa: E402


def _all_cut_sequences(n: int, k: int):
    """Every action sequence of a cut episode: a[0] = 0, a[t] in {0, 1}, at most K-1 ones."""
    for tail in itertools.product((0, 1), repeat=n - 1):
        if sum(tail) <= k - 1:
            yield (0, *tail)


@pytest.mark.parametrize("seed, k", [(0, 2), (1, 3), (2, 3), (3, 4), (4, 2), (5, 3)])
def test_expert_values_equal_brute_force_over_every_continuation(seed, k) -> None:
    graph = tiny_graph(seed, max_nodes=8)
    instance = Instance.build(graph, k)
    order = np.asarray(instance.order)
    n = graph.num_nodes
    value = {}
    for seq in _all_cut_sequences(n, k):  # the cost model's value of every complete cut
        stages = np.empty(n, dtype=np.int64)
        stages[order] = np.cumsum(seq)
        value[seq] = instance.evaluate(stages)[0]
    expert = CutExpert(instance)
    for seq in value:  # every state on the way to every cut, both actions
        for t in range(1, n):
            prefix = seq[:t]
            cuts = [i for i in range(1, t) if prefix[i] == 1]
            starts = [0, *cuts]
            closed = max((expert.seg[a, b] for a, b in zip(starts, starts[1:])), default=0.0)
            stay, cut = expert.values(t, starts[-1], len(cuts), closed)
            best = {a: min((v for s, v in value.items() if s[:t] == prefix and s[t] == a), default=np.inf)
                    for a in (0, 1)}
            assert stay == pytest.approx(best[0], rel=1e-9)
            assert cut == pytest.approx(best[1], rel=1e-9)
    assert expert.optimum() == pytest.approx(min(value.values()), rel=1e-9)


@pytest.mark.parametrize("squash, view, observation", [(False, 1, "decision"), (True, 2, "decision-v2")])
def test_numpy_scorer_plays_what_the_torch_net_plays_in_the_env(squash, view, observation) -> None:
    torch.manual_seed(0)
    net = CutPolicyNet(CutNetConfig(hidden=16, layers=2, members=2, view=view, squash=squash))
    with torch.no_grad():  # make cuts likely, so the episode is not all "stay"
        for member in net.members:
            member[-1].bias[1] += 2.0
    for model, k in (("resnet50", 4), ("mobilenet_v2", 8)):
        env = gym.make("RespectPipeline-v1", model=model, num_tpus=k, observation=observation, action="cut")
        obs, info = env.reset(seed=0)
        terminated = False
        while not terminated:
            mask = torch.as_tensor(info["action_mask"], dtype=torch.bool)[None]
            action = int(net(torch.as_tensor(obs)[None], mask).argmax())
            obs, _, terminated, _, info = env.step(action)
        batch = greedy_schedules(NumpyCutPolicy(net), [Instance.build(respect_gym.load_graph(model), k)])
        assert batch[0].tolist() == info["schedule"]
        assert len(set(info["schedule"])) > 1
        features = np.random.default_rng(0).normal(0, 20, (64, obs.shape[0])).astype(np.float32)
        masks = np.ones((64, 2), dtype=bool)
        assert NumpyCutPolicy(net).logits(features, masks) == pytest.approx(
            net(torch.as_tensor(features), torch.as_tensor(masks)).detach().numpy(), rel=1e-4, abs=1e-4)


def test_training_smoke_learns_and_checkpoint_round_trips(tmp_path) -> None:
    config = CutTrainConfig(graphs=12, rounds=1, epochs=2, hidden=16, envs=8, members=2, stay_noise=0.05)
    net, log = train(config)
    assert len(log["loss"]) == 4 and all(np.isfinite(log["loss"])) and log["states"][1] > log["states"][0]
    assert not torch.equal(net.members[0][0].weight, net.members[1][0].weight)  # two seeds, two members
    path = tmp_path / "cut.pt"
    checkpoints.save(net, path, command="test", env_id=checkpoints.ENV_ID)
    loaded, meta = checkpoints.load(path)
    assert isinstance(loaded, CutPolicyNet) and meta["net"] == {"kind": "cut", "hidden": 16, "layers": 2, "members": 2, "view": 2,
                                                                   "squash": True}
    register()
    graph = respect_gym.load_graph("resnet50")
    result = respect_gym.solve(graph, 4, "cut_imitation", checkpoint=str(path))
    expected = greedy_schedules(NumpyCutPolicy(net), [Instance.build(graph, 4)])[0]
    assert result.stages.tolist() == expected.tolist()
    with pytest.raises(SolverError, match="cannot optimise the 'latency' objective"):
        respect_gym.solve(graph, 4, "cut_imitation", checkpoint=str(path), objective="latency")
    with pytest.raises(SolverError, match="revision 3"):
        respect_gym.solve(graph, 4, "cut_imitation", checkpoint=str(path), revision=2)
    with pytest.raises(SolverError, match="not a cut policy"):
        respect_gym.solve(graph, 4, "cut_imitation", checkpoint=str(checkpoints.shipped("imitation")))


def test_training_is_deterministic() -> None:
    config = CutTrainConfig(graphs=8, rounds=1, epochs=1, hidden=8, envs=4, members=1, stay_noise=0.05, seed=3)
    first, _ = train(config)
    second, _ = train(config)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
