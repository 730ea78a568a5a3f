"""Training the order policy: imitation of ``exact``'s orders (BC + DAgger), then REINFORCE.

The expert is ``exact``'s proven-optimal schedule of each synthetic training graph
(:func:`respect_gym_agents.labels.label`, cached). Its stages are monotone along the edges, so the
target of a step is set-valued: every ready node of the smallest expert stage among the ready ones
(:func:`respect_gym_agents.order_policy.expert_targets`); following any of them to the end gives
an order sorted by stage, whose optimal cut is the optimum (tested by brute force). The loss is the
negative log of the summed probability of the targets, over the steps where some ready node is not
a target (the others teach nothing).

1. Behaviour cloning: the expert's order (stage by stage, the plain topological order inside a
   stage), ``bc_epochs`` passes.
2. DAgger (Ross et al., 2011): ``dagger_rounds`` times, decode every training graph greedily with
   the current policy, add those orders to the data and retrain ``dagger_epochs`` passes on all of
   it. A state the policy reaches after a deviation is labelled by the same rule on the original
   expert schedule: the ready nodes the expert runs earliest. That is not re-solved for the
   deviated prefix (a fresh ``exact`` per state would cost a solve per step), so it may not be the
   optimal continuation there; it is the expert's own priority, and it never labels a state on the
   expert's path wrongly.
3. REINFORCE with a shared baseline (POMO, Kwon et al. 2020; Kool et al. 2019's estimator): per
   iteration ``rl_graphs`` training graphs of at most ``rl_max_nodes`` nodes, ``rl_samples`` orders
   sampled from the policy on each, each cut optimally (the env's reward, relative to the optimum:
   ``-value / exact``), advantage = reward - the mean over the graph's samples.

After every phase (and every ``rl_eval_every`` RL iterations) the greedy policy is scored on
held-out synthetic graphs (another seed; never a zoo model); the weights with the smallest mean gap
to their optimum are the result (``validation.csv``). Same seed, same weights: torch on one thread,
every draw from seeded generators, labels from exact's deterministic search.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import track

from respect_gym.problem.instance import Instance
from respect_gym.solvers.cuts import key_order
from respect_gym.solvers.stagecost import BatchStageCost

from respect_gym_agents.imitation import seed_everything
from respect_gym_agents.labels import GraphSpec, label, training_specs
from respect_gym_agents.order_policy import (
    NumpyOrderPolicy, OrderGraph, OrderNetConfig, OrderPolicyNet, expert_targets, order_cut,
)

ENV_ID = "RespectOrder-v1"
# the training distribution: branchy RESPECT-style graphs, DNN-like graphs, and DNN-like graphs of
# only the branching blocks (inception, residual, dense), where the order matters most
DISTRIBUTION = (
    ("respect", {"num_nodes": (20, 40), "levels": (8, 20)}),
    ("dnn", {"num_nodes": (20, 100)}),
    ("dnn", {"num_nodes": (20, 150), "blocks": ("inception", "residual", "dense")}),
    ("dnn", {"num_nodes": (100, 300)}),
)
VALIDATION_SEED_OFFSET = 10_000  # held-out graphs: the same distribution from seed + this


@dataclass(frozen=True)
class OrderTrainConfig:
    """Everything a training run depends on (recorded in the checkpoint)."""

    graphs: int = 800  # training (graph, K) instances
    val_graphs: int = 48  # held-out instances scored after every phase
    label_time_limit: float = 5.0  # seconds of exact per instance; unproven ones are dropped
    label_workers: int = 1  # labelling processes (labels are the same whatever the count)
    hidden: int = 64
    rounds: int = 3  # message-passing rounds of the encoder
    lr: float = 1e-3
    batch_graphs: int = 16  # graphs per gradient step
    bc_epochs: int = 6
    dagger_rounds: int = 3
    dagger_epochs: int = 2
    rl_iterations: int = 100
    rl_graphs: int = 16
    rl_samples: int = 8
    rl_max_nodes: int = 150
    rl_lr: float = 3e-4
    rl_eval_every: int = 20
    seed: int = 0
    ks: str = "2,3,4,5,6,7,8"

    def specs(self, validation: bool = False) -> list[GraphSpec]:
        count, seed = (self.val_graphs, self.seed + VALIDATION_SEED_OFFSET) if validation else (self.graphs, self.seed)
        return training_specs(count, seed, tuple(int(k) for k in self.ks.split(",")), max_nodes=10**9,
                              distribution=DISTRIBUTION)


@dataclass
class Example:
    """One labelled instance: what the policy reads, the expert's schedule and its value."""

    instance: Instance
    graph: OrderGraph
    stages: np.ndarray
    optimum: float
    batch_cost: BatchStageCost

    def expert_order(self) -> np.ndarray:
        """The expert's order: stage by stage, the plain topological order inside a stage."""
        n = self.graph.num_nodes
        rank = np.empty(n, dtype=np.int64)
        rank[self.instance.graph.topological_order] = np.arange(n)
        return key_order(self.instance.graph, self.stages * n + rank)

    def value(self, order: np.ndarray) -> float:
        """The objective of the optimal cut of ``order`` (the env's reward before normalising)."""
        return order_cut(self.instance, order, self.batch_cost)[0]


def examples(specs: list[GraphSpec], config: OrderTrainConfig, cache: str | Path) -> list[Example]:
    """The labelled instances of ``specs`` (those exact proves within the time limit)."""
    labels = label(specs, cache, "period", workers=config.label_workers, time_limit=config.label_time_limit)
    out = []
    for spec, stages in track(list(zip(specs, labels)), description="instances"):
        if stages is None:
            continue
        instance = Instance.build(spec.graph(), spec.num_stages)
        out.append(Example(instance, OrderGraph.of(instance), stages, instance.evaluate(stages)[0],
                           BatchStageCost(instance.cost_model)))
    return out


def imitation_loss(net: OrderPolicyNet, example: Example, orders: np.ndarray) -> tuple[torch.Tensor, int]:
    """``(summed loss, informative steps)`` of the set likelihood along ``orders`` ``(M, n)``."""
    logits, ready = net.order_logits(example.graph, orders)
    target = expert_targets(example.graph, ready, example.stages)
    informative = target.sum(-1) < ready.sum(-1)
    loss = torch.logsumexp(logits, -1) - torch.logsumexp(logits.masked_fill(~target, -1e9), -1)
    return loss[informative].sum(), int(informative.sum())


def fit(net: OrderPolicyNet, data: list[tuple[Example, np.ndarray]], epochs: int, optimizer: torch.optim.Optimizer,
        batch_graphs: int, generator: torch.Generator) -> float:
    """``epochs`` passes over ``(example, order)`` pairs; returns the last pass's mean loss per step."""
    mean = 0.0
    for _ in range(epochs):
        total, count = 0.0, 0
        perm = torch.randperm(len(data), generator=generator).tolist()
        for lo in range(0, len(perm), batch_graphs):
            parts = [imitation_loss(net, data[i][0], data[i][1][None]) for i in perm[lo : lo + batch_graphs]]
            steps = sum(c for _, c in parts)
            if not steps:
                continue
            loss = sum(part for part, _ in parts) / steps
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, count = total + float(loss.detach()) * steps, count + steps
        mean = total / max(count, 1)
    return mean


def reinforce_step(net: OrderPolicyNet, batch: list[Example], samples: int, optimizer: torch.optim.Optimizer,
                   rng: np.random.Generator) -> tuple[float, int]:
    """One REINFORCE update with the samples' mean as baseline; ``(mean gap %, nodes decoded)``."""
    policy = NumpyOrderPolicy(net)
    terms, gaps, steps = [], [], 0
    for example in batch:
        n = example.graph.num_nodes
        orders = np.stack([policy.decode(example.graph, rng.random(n))[0] for _ in range(samples)])
        values = np.array([example.value(order) for order in orders])
        reward = -values / example.optimum
        gaps.append(100.0 * float(values.mean() / example.optimum - 1.0))
        steps += samples * n
        advantage = reward - reward.mean()
        if np.all(advantage == 0):
            continue
        logits, _ = net.order_logits(example.graph, orders)
        logp = torch.log_softmax(logits, -1).gather(-1, torch.from_numpy(orders).unsqueeze(-1)).squeeze(-1).sum(-1)
        terms.append(-(torch.from_numpy(advantage).float() * logp).mean())
    if terms:
        optimizer.zero_grad()
        (sum(terms) / len(batch)).backward()
        optimizer.step()
    return float(np.mean(gaps)), steps


class OrderValidator:
    """The greedy policy's gap to the optimum on held-out instances, beside the plain order's;
    keeps the best weights seen and writes ``validation.csv``, and ``references.json`` with the
    mean gaps of the plain order's cut, the ``compiler`` split and the ``random`` solver on the same
    instances (the reference lines of ``respect-gym-agents plot``)."""

    def __init__(self, held_out: list[Example], logdir: Path | None) -> None:
        import respect_gym

        self.examples = held_out
        self.logdir = logdir
        self.plain_gaps = np.array([100.0 * (e.value(e.instance.graph.topological_order) / e.optimum - 1.0)
                                    for e in held_out])
        self.rows: list[dict[str, float]] = []
        self.best: tuple[float, dict[str, torch.Tensor]] | None = None
        if logdir is not None:
            random = [respect_gym.solve(e.instance.graph, e.instance.num_stages, "random", seed=0).objective_value
                      for e in held_out]
            (logdir / "references.json").write_text(json.dumps({
                "env_id": ENV_ID, "graphs": len(held_out),
                "plain_order_gap_mean_pct": float(self.plain_gaps.mean()),
                "compiler_gap_mean_pct": float(np.mean([100.0 * (e.instance.reference / e.optimum - 1.0)
                                                        for e in held_out])),
                "random_gap_mean_pct": float(np.mean([100.0 * (v / e.optimum - 1.0)
                                                      for v, e in zip(random, held_out)]))}, indent=1))

    def log(self, net: OrderPolicyNet, phase: str, steps: int, seconds: float) -> dict[str, float]:
        """Score ``net`` greedily, keep it if it is the best so far, append the row."""
        policy = NumpyOrderPolicy(net)
        gaps = np.array([100.0 * (e.value(policy.decode(e.graph)[0]) / e.optimum - 1.0) for e in self.examples])
        row = {"phase": phase, "steps": int(steps), "seconds": round(seconds, 1),
               "gap_mean_pct": round(float(gaps.mean()), 4), "gap_max_pct": round(float(gaps.max()), 4),
               "at_optimum_pct": round(float(100.0 * np.mean(gaps <= 1e-4)), 2),
               "plain_order_gap_mean_pct": round(float(self.plain_gaps.mean()), 4),
               "beats_plain_order": int(np.sum(gaps < self.plain_gaps - 1e-4)),
               "worse_than_plain_order": int(np.sum(gaps > self.plain_gaps + 1e-4))}
        self.rows.append(row)
        if self.best is None or row["gap_mean_pct"] < self.best[0]:
            self.best = (row["gap_mean_pct"], {k: v.detach().clone() for k, v in net.state_dict().items()})
        if self.logdir is not None:
            with open(self.logdir / "validation.csv", "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(row))
                writer.writeheader()
                writer.writerows(self.rows)
        print(f"{phase}: {steps} steps, {seconds:.0f} s: validation gap {row['gap_mean_pct']:.2f}% "
              f"(max {row['gap_max_pct']:.1f}%, plain order {row['plain_order_gap_mean_pct']:.2f}%), "
              f"at the optimum on {row['at_optimum_pct']:.0f}%")
        return row


def train(config: OrderTrainConfig, logdir: str | Path | None = None,
          cache: str | Path = Path.home() / ".cache" / "respect-gym-agents") -> tuple[OrderPolicyNet, dict]:
    """BC, DAgger, then REINFORCE (module docstring); returns the best validated net and a log."""
    seed_everything(config.seed)
    if logdir is not None:
        logdir = Path(logdir)
        logdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    train_set = examples(config.specs(), config, cache)
    validator = OrderValidator(examples(config.specs(validation=True), config, cache), logdir)
    log: dict = {"config": asdict(config), "train_instances": len(train_set), "val_instances": len(validator.examples),
                 "setup_seconds": round(time.perf_counter() - start, 1), "loss": []}
    generator = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    net = OrderPolicyNet(OrderNetConfig(config.hidden, config.rounds))
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    data = [(e, e.expert_order()) for e in train_set]
    steps = sum(e.graph.num_nodes for e in train_set)
    log["loss"].append(round(fit(net, data, config.bc_epochs, optimizer, config.batch_graphs, generator), 5))
    validator.log(net, "bc", steps, time.perf_counter() - start)
    for r in range(config.dagger_rounds):
        policy = NumpyOrderPolicy(net)
        data += [(e, policy.decode(e.graph)[0]) for e in train_set]
        steps += sum(e.graph.num_nodes for e in train_set)
        log["loss"].append(round(fit(net, data, config.dagger_epochs, optimizer, config.batch_graphs, generator), 5))
        validator.log(net, f"dagger{r + 1}", steps, time.perf_counter() - start)
    small = [e for e in train_set if e.graph.num_nodes <= config.rl_max_nodes]
    rl_optimizer = torch.optim.Adam(net.parameters(), lr=config.rl_lr)
    log["rl_sample_gap_pct"] = []
    for it in range(config.rl_iterations):
        picks = rng.choice(len(small), size=min(config.rl_graphs, len(small)), replace=False)
        gap, decoded = reinforce_step(net, [small[i] for i in picks], config.rl_samples, rl_optimizer, rng)
        steps += decoded
        log["rl_sample_gap_pct"].append(round(gap, 3))
        if (it + 1) % config.rl_eval_every == 0 or it + 1 == config.rl_iterations:
            validator.log(net, f"rl{it + 1}", steps, time.perf_counter() - start)
    net.load_state_dict(validator.best[1])
    log["best_validation_gap_pct"] = validator.best[0]
    log["validation"] = validator.rows
    log["env_steps"] = steps
    log["train_seconds"] = round(time.perf_counter() - start, 1)
    log["env_steps_per_s"] = round(steps / max(log["train_seconds"] - log["setup_seconds"], 1e-9))
    return net.eval(), log
