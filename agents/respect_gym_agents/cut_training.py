"""Training the cut policy: DAgger with the exact cut expert, on batches of kernel episodes.

Round 0 rolls the expert out (behaviour cloning); each later round rolls out the current policy
(greedy; with probability ``expert_mix ** round`` per step the expert acts instead), labels every
visited state with the optimal value of both actions (:class:`~respect_gym_agents.cut_expert.CutExpert`:
exact for the policy's action space, so no state is ever labelled wrongly), adds the states to
the data set and retrains on all of it (Ross et al., 2011). Rollouts step ``envs`` episodes at a
time on the problem kernel with one batched forward pass per step.

The loss is the negative log-probability of the set of optimal actions (where both actions lead
to the same optimum the state teaches nothing), weighted by how much the other action would cost
(``regret / regret_scale``, clipped to [``min_weight``, ``max_weight``]): a cut that loses 0.1%
matters less than one that loses 30%.

Training graphs are synthetic (``respect`` and ``dnn`` generators, 20-500 nodes, K in 2..8; a
fifth of them with VGG's classifier head, ``head="fc"``), never a zoo model: the zoo is the test
set.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import track

from respect_gym.problem.instance import Instance
from respect_gym.problem.observe import DECISION_VERSIONS, DecisionView
from respect_gym.problem.state import State, cut_choices, reset, step

from respect_gym_agents.cut_expert import CutExpert
from respect_gym_agents.cut_policy import CutNetConfig, CutPolicyNet, NumpyCutPolicy, greedy_schedules
from respect_gym_agents.imitation import seed_everything
from respect_gym_agents.labels import GraphSpec, training_specs

VIEWS = {version: name for name, version in DECISION_VERSIONS.items()}  # decision view version -> observation name

# the training distribution: graph sizes up to those of the zoo's fused ImageNet models, both
# classifier heads of real CNNs (global pooling; VGG's dense layers of 100 MB and more)
DISTRIBUTION = (
    ("respect", {"num_nodes": (20, 60), "levels": (8, 40)}),
    ("dnn", {"num_nodes": (20, 100)}),
    ("dnn", {"num_nodes": (20, 100), "head": "fc"}),
    ("dnn", {"num_nodes": (100, 250)}),
    ("dnn", {"num_nodes": (250, 500)}),
)


@dataclass(frozen=True)
class CutTrainConfig:
    """Everything a training run depends on (recorded in the checkpoint)."""

    graphs: int = 1000  # training (graph, K) instances
    rounds: int = 5  # DAgger rounds after the behaviour-cloning round
    expert_mix: float = 0.5  # in round r the expert acts with probability expert_mix ** r
    epochs: int = 8  # passes over the aggregated data after each round
    batch_size: int = 1024
    lr: float = 2e-3
    hidden: int = 64
    layers: int = 2
    envs: int = 64  # episodes stepped together in rollouts
    stay_noise: float = 0.01  # DAgger rounds: per-step probability of a forced-stay streak (see rollouts)
    members: int = 3  # ensemble members, each trained from its own seed on the same instances
    squash: bool = True  # the net reads symlog features (CutNetConfig)
    view: int = 2  # the decision view's version (observation "decision-v2")
    regret_scale: float = 0.05  # a relative regret of this much gets weight 1
    min_weight: float = 0.05
    max_weight: float = 1.0
    seed: int = 0
    ks: str = "2,3,4,5,6,7,8"

    def specs(self) -> list[GraphSpec]:
        return training_specs(self.graphs, self.seed, tuple(int(k) for k in self.ks.split(",")), max_nodes=10**9,
                              distribution=DISTRIBUTION)


@dataclass
class Dataset:
    """Visited states: features, action masks and the optimal value after each action."""

    features: list[np.ndarray]
    masks: list[np.ndarray]
    values: list[np.ndarray]

    def add(self, features: np.ndarray, masks: np.ndarray, values: np.ndarray) -> None:
        self.features.append(features)
        self.masks.append(masks)
        self.values.append(values)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Features, masks, targets (the optimal actions) and weights as tensors."""
        x = np.concatenate(self.features)
        mask = np.concatenate(self.masks)
        q = np.where(mask, np.concatenate(self.values), np.inf)
        best = q.min(axis=1, keepdims=True)
        target = mask & (q <= best * (1 + 1e-9) + 1e-12)
        worst = np.where(mask, q, -np.inf).max(axis=1)
        return (torch.from_numpy(x), torch.from_numpy(mask), torch.from_numpy(target),
                torch.from_numpy((worst - best[:, 0]) / best[:, 0]).float())


def rollouts(instances: list[Instance], experts: list[CutExpert], net: CutPolicyNet | None, expert_prob: float,
             rng: np.random.Generator, data: Dataset, envs: int, stay_noise: float = 0.0, view: int = 2) -> None:
    """Play every instance once (``net`` greedy, the expert with probability ``expert_prob`` per
    step; the expert only when ``net`` is None) and add every visited state to ``data``.

    ``stay_noise``: per step, the probability that the episode starts a streak of forced "stay"
    actions (up to ``n / K`` steps), so the data holds over-full open stages, the states a policy
    reaches after missing a cut, labelled like any other (noise injection, Laskey et al. 2017)."""
    by_k: dict[int, list[int]] = {}
    for i, inst in enumerate(instances):
        by_k.setdefault(inst.num_stages, []).append(i)
    for ids in by_k.values():
        for lo in range(0, len(ids), envs):
            chunk = ids[lo : lo + envs]
            _play(instances, experts, chunk, net, expert_prob, rng, data, stay_noise, view)


def _play(instances, experts, chunk, net, expert_prob, rng, data, stay_noise, view) -> None:
    batch = [instances[i] for i in chunk]
    state = State.for_instance(batch[0], len(batch), max(i.graph.num_nodes for i in batch))
    rows = np.arange(len(batch))
    reset(state, rows, batch)
    decision = DecisionView(state, view)
    decision.reset(rows)
    start = np.zeros(len(batch), dtype=np.int64)
    closed = np.zeros(len(batch))
    streak = np.zeros(len(batch), dtype=np.int64)
    live = rows
    while live.size:
        x = decision.observe(live)
        open_stage, mask = cut_choices(state, live)
        t = state.step[live]
        q = np.array([experts[chunk[r]].values(int(t[i]), int(start[r]), int(open_stage[i]), float(closed[r]))
                      for i, r in enumerate(live.tolist())])
        data.add(x, mask, q)
        expert_action = (q[:, 1] < q[:, 0]).astype(np.int64)
        if net is None:
            actions = expert_action
        else:
            with torch.no_grad():
                actions = net(torch.from_numpy(x), torch.from_numpy(mask)).argmax(1).numpy()
            actions = np.where(rng.random(live.size) < expert_prob, expert_action, actions)
        if stay_noise > 0:
            nodes = state.num_nodes(live)
            start_streak = (streak[live] == 0) & (rng.random(live.size) < stay_noise)
            streak[live[start_streak]] = rng.integers(1, np.maximum(nodes[start_streak] // state.num_stages, 1) + 1)
            actions = np.where(streak[live] > 0, 0, actions)
            streak[live] = np.maximum(streak[live] - 1, 0)
        for i in np.flatnonzero(actions == 1).tolist():
            r = int(live[i])
            closed[r] = max(closed[r], experts[chunk[r]].seg[start[r], t[i]])
            start[r] = t[i]
        transition = step(state, live, open_stage + actions)
        live = live[~transition.done]


def fit(net: CutPolicyNet, data: Dataset, config: CutTrainConfig, generator: torch.Generator) -> float:
    """``config.epochs`` passes of the weighted set-likelihood loss; returns the last epoch's mean loss."""
    x, mask, target, regret = data.tensors()
    weight = (regret / config.regret_scale).clamp(config.min_weight, config.max_weight)
    informative = (target.sum(1) < mask.sum(1))  # states where some legal action is not optimal
    x, mask, target, weight = x[informative], mask[informative], target[informative], weight[informative]
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    mean = 0.0
    for _ in range(config.epochs):
        perm = torch.randperm(x.shape[0], generator=generator)
        total, count = 0.0, 0
        for lo in range(0, x.shape[0], config.batch_size):
            idx = perm[lo : lo + config.batch_size]
            logits = net(x[idx], mask[idx])
            good = torch.logsumexp(logits.masked_fill(~target[idx], -1e9), 1)
            loss = (weight[idx] * (torch.logsumexp(logits, 1) - good)).sum() / weight[idx].sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, count = total + float(loss.detach()) * idx.shape[0], count + idx.shape[0]
        mean = total / max(count, 1)
    return mean


class CutValidator:
    """The greedy score of a cut net on ``count`` held-out synthetic ``(graph, K)`` pairs (the PPO
    agents' validation set, :func:`respect_gym_agents.ppo.validation_instances`), and the scores
    of ``exact`` and ``random`` on them: the rows and reference lines of a learning curve
    (``respect-gym-agents plot``)."""

    def __init__(self, count: int) -> None:
        from respect_gym_agents.ppo import validation_instances

        self.instances = [Instance.build(g, k) for g, k in validation_instances(count)]
        self.rows: list[dict[str, float]] = []
        self.exact: list[float] = []

    def scores(self, net: CutPolicyNet) -> np.ndarray:
        """Speed-up over the compiler minus one of the greedy schedule, per instance."""
        policy = NumpyCutPolicy(net)
        out = np.empty(len(self.instances))
        for k in {inst.num_stages for inst in self.instances}:
            ids = [i for i, inst in enumerate(self.instances) if inst.num_stages == k]
            for i, stages in zip(ids, greedy_schedules(policy, [self.instances[i] for i in ids])):
                inst = self.instances[i]
                out[i] = inst.reference / inst.evaluate(stages)[0] - 1.0
        return out

    def write_references(self, logdir: Path, env_id: str, time_limit: float = 20.0) -> None:
        """Solve every instance with ``exact`` and ``random`` and write ``references.json``."""
        import respect_gym

        per: dict[str, list] = {"exact": [], "random": [], "exact_proven": []}
        for inst in self.instances:
            for name in ("exact", "random"):
                result = respect_gym.solve(inst.graph, inst.num_stages, name, seed=0,
                                           time_limit=time_limit if name == "exact" else None)
                per[name].append(inst.reference / result.objective_value - 1.0)
                if name == "exact":
                    per["exact_proven"].append(bool(result.optimal))
        self.exact = per["exact"]
        (logdir / "references.json").write_text(json.dumps({
            "env_id": env_id, "graphs": len(self.instances), "exact_mean": float(np.mean(per["exact"])),
            "random_mean": float(np.mean(per["random"])), "per_graph": per}, indent=1))

    def log(self, net: CutPolicyNet, steps: int, seconds: float, logdir: Path, member: int = 0) -> dict[str, float]:
        """Score ``net``, append the row and rewrite ``validation.csv`` (``member``: which ensemble
        member the row scores, -1 for the whole ensemble)."""
        from respect_gym_agents.ppo import summarise

        row = {"steps": int(steps), "seconds": round(seconds, 1), "member": member,
               **summarise(self.scores(net), self.exact)}
        self.rows.append(row)
        with open(logdir / "validation.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(row))
            writer.writeheader()
            writer.writerows(self.rows)
        print(f"{steps} steps, {seconds:.0f} s: validation score {row['score_mean']:+.3f}, "
              f"gap {row['gap_mean_pct']:.1f}%, beats the compiler on {row['better_pct']:.0f}%")
        return row


def train(config: CutTrainConfig, logdir: str | Path | None = None,
          validation_graphs: int = 42) -> tuple[CutPolicyNet, dict]:
    """Build the training instances and their experts once, then train ``config.members`` members
    (seeds ``seed``, ``seed + 1``, ...), each by BC + ``config.rounds`` DAgger rounds, and return
    their ensemble. With ``logdir``: the greedy validation score of each member after every round
    and of the ensemble at the end (learning curve; held-out synthetic graphs, never the zoo)."""
    seed_everything(config.seed)
    validator = None
    if logdir is not None:
        logdir = Path(logdir)
        logdir.mkdir(parents=True, exist_ok=True)
        validator = CutValidator(validation_graphs)
        validator.write_references(logdir, env_id=f"RespectPipeline-v1 (action='cut', observation='{VIEWS[config.view]}')")
    start = time.perf_counter()
    instances = [Instance.build(spec.graph(), spec.num_stages) for spec in
                 track(config.specs(), description="instances")]
    experts = [CutExpert(inst) for inst in track(instances, description="experts")]
    log: dict = {"setup_seconds": round(time.perf_counter() - start, 1), "loss": [], "states": [],
                 "round_seconds": []}
    net = CutPolicyNet(CutNetConfig(config.hidden, config.layers, config.members, config.view, config.squash))
    steps = 0
    for m, member in enumerate(net.members):
        seed_everything(config.seed + m)
        generator = torch.Generator().manual_seed(config.seed + m)
        rng = np.random.default_rng(config.seed + m)
        single = CutPolicyNet(CutNetConfig(config.hidden, config.layers, view=config.view, squash=config.squash))
        data = Dataset([], [], [])
        for r in range(config.rounds + 1):
            tick = time.perf_counter()
            before = sum(len(f) for f in data.features)
            rollouts(instances, experts, None if r == 0 else single, config.expert_mix ** r, rng, data, config.envs,
                     config.stay_noise if r > 0 else 0.0, config.view)
            steps += sum(len(f) for f in data.features) - before
            log["loss"].append(round(fit(single, data, config, generator), 5))
            log["states"].append(steps)
            log["round_seconds"].append(round(time.perf_counter() - tick, 1))
            print(f"member {m} round {r}: {steps} states, loss {log['loss'][-1]}, {log['round_seconds'][-1]} s")
            if validator is not None:
                validator.log(single, steps, time.perf_counter() - start, logdir, member=m)
        member.load_state_dict(single.members[0].state_dict())
    if validator is not None and config.members > 1:
        validator.log(net, steps, time.perf_counter() - start, logdir, member=-1)
    log["train_seconds"] = round(time.perf_counter() - start, 1)
    log["env_steps_per_s"] = round(steps / sum(log["round_seconds"]))
    return net.eval(), log
