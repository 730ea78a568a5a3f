"""Imitation of the exact expert (the RESPECT idea): behaviour cloning, then DAgger.

BC trains :class:`~respect_gym_agents.policies.GraphPolicyNet` with cross-entropy on the expert's
stage of every node, on the states the expert's own episode visits. DAgger then rolls out the
learner, relabels each visited state with the stage an optimal *completion* of the learner's
partial schedule gives the current node (``solve(..., "exact", fixed=partial)``), adds those
states and retrains, so early mistakes stop compounding. The completion is re-solved only where
the learner leaves it: while the learner follows it, it stays an optimal completion.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

import numpy as np
import torch
from rich.progress import track

import respect_gym
from respect_gym.graph import Graph

from respect_gym_agents.labels import GraphSpec, label, training_specs
from respect_gym_agents.policies import GraphPolicyNet, NetConfig
from respect_gym_agents.rollout import Episode, GreedyChooser, episode_logits, follow, make_env, play


@dataclass(frozen=True)
class ImitationConfig:
    """Everything a training run depends on (recorded in the checkpoint)."""

    graphs: int = 2000  # labelled (graph, K) pairs
    epochs: int = 8  # BC passes over the data
    dagger_rounds: int = 0  # rounds of learner rollouts relabelled by exact(fixed=...)
    dagger_graphs: int = 200  # learner rollouts relabelled per round
    batch: int = 32  # episodes per gradient step
    lr: float = 2e-3
    hidden: int = 64
    rounds: int = 3
    seed: int = 0
    workers: int = 2
    objective: str = "period"
    ks: str = "2,3,4,5,6,7,8"  # the K of each graph is drawn from these
    max_nodes: int = 150  # only the parts of the distribution with graphs of at most this size
    generators: str = "respect,dnn"  # only the parts of the distribution from these generators
    label_time_limit: float = 0.0  # seconds per label (0: none); specs exact does not prove in it are skipped

    def specs(self) -> list[GraphSpec]:
        """The labelled training instances."""
        return training_specs(self.graphs, self.seed, tuple(int(k) for k in self.ks.split(",")), self.max_nodes,
                              tuple(self.generators.split(",")))


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch; single-threaded torch makes CPU runs repeatable."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)


def expert_episodes(specs: list[GraphSpec], labels: list[np.ndarray], objective: str) -> list[Episode]:
    """The expert's episodes (its labels replayed through the env), one per spec."""
    episodes = []
    for spec, stages in track(list(zip(specs, labels)), description="expert episodes"):
        graph = spec.graph()
        episodes.append(play(make_env(graph, spec.num_stages, objective), graph, follow(stages, graph.topological_order)))
    return episodes


def fit(net: GraphPolicyNet, episodes: list[Episode], epochs: int, batch: int, lr: float, seed: int) -> list[float]:
    """Cross-entropy on every recorded (state, action); returns the mean loss per epoch."""
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    losses = []
    net.train()
    for epoch in track(range(epochs), description="behaviour cloning"):
        order = rng.permutation(len(episodes))
        total, count = 0.0, 0
        for lo in range(0, len(order), batch):
            optimiser.zero_grad()
            chunk = [episodes[i] for i in order[lo : lo + batch]]
            steps = sum(e.actions.shape[0] for e in chunk)
            loss = sum(torch.nn.functional.cross_entropy(episode_logits(net, e), e.actions, reduction="sum")
                       for e in chunk) / steps
            loss.backward()
            optimiser.step()
            total += loss.item() * steps
            count += steps
        losses.append(total / count)
    net.eval()
    return losses


def optimal_completion(graph: Graph, num_stages: int, partial: np.ndarray, objective: str = "period") -> np.ndarray:
    """An optimal schedule among those agreeing with ``partial`` (-1 = free node)."""
    return respect_gym.solve(graph, num_stages, "exact", objective=objective, fixed=partial).stages


def dagger_episode(net: GraphPolicyNet, spec: GraphSpec, objective: str) -> Episode:
    """The learner's episode on ``spec``, with each state's action relabelled by the expert."""
    graph = spec.graph()
    env = make_env(graph, spec.num_stages, objective)
    greedy = GreedyChooser(net, graph, env)
    order = graph.topological_order
    partial = np.full(graph.num_nodes, -1, dtype=np.int64)
    completion = optimal_completion(graph, spec.num_stages, partial, objective)
    labels = np.empty(graph.num_nodes, dtype=np.int64)

    def choose(step: int, stages: np.ndarray, glob: np.ndarray) -> int:
        nonlocal completion
        node = int(order[step])
        labels[step] = completion[node]
        action = greedy(step, stages, glob)
        partial[node] = action
        if action != completion[node] and step + 1 < graph.num_nodes:
            completion = optimal_completion(graph, spec.num_stages, partial, objective)
        return action

    episode = play(env, graph, choose)
    episode.actions = torch.from_numpy(labels)
    return episode


def train(config: ImitationConfig, cache_dir: str) -> tuple[GraphPolicyNet, dict]:
    """BC on expert labels, then ``dagger_rounds`` of DAgger; returns the net and a training log."""
    seed_everything(config.seed)
    specs = config.specs()
    labels = label(specs, cache_dir, config.objective, config.workers, time_limit=config.label_time_limit or None)
    unproven = [i for i, stages in enumerate(labels) if stages is None]
    specs = [spec for spec, stages in zip(specs, labels) if stages is not None]
    labels = [stages for stages in labels if stages is not None]
    if not specs:
        raise RuntimeError(f"exact proved none of the {len(unproven)} training graphs within the label time limit")
    episodes = expert_episodes(specs, labels, config.objective)
    net = GraphPolicyNet(NetConfig(config.hidden, config.rounds))
    log = {"config": asdict(config), "unproven_specs": unproven, "bc_loss": fit(net, episodes, config.epochs, config.batch, config.lr, config.seed)}
    rng = np.random.default_rng(config.seed + 1)
    for round_ in range(config.dagger_rounds):
        chosen = rng.choice(len(specs), size=min(config.dagger_graphs, len(specs)), replace=False)
        episodes += [dagger_episode(net, specs[i], config.objective)
                     for i in track(chosen, description=f"DAgger round {round_ + 1}")]
        log.setdefault("dagger_loss", []).append(fit(net, episodes, max(1, config.epochs // 2), config.batch,
                                                     config.lr / 2, config.seed + round_)[-1])
    return net, log
