"""MaskablePPO (sb3-contrib) with the shared graph policy, trained on synthetic graphs of mixed K.

The env is ``gym.make(env_id, ...)`` (``RespectPipeline-v1``, cost-model revision 3, by default;
the id is one field of :class:`PPOConfig`, so retraining for another env version, e.g.
``--env-id RespectPipeline-v0`` for revision 2, is one command) viewed through
:class:`~respect_gym.envs.GraphContextObservation`. Graphs come from the imitation agent's
training distribution (:data:`respect_gym_agents.labels.DISTRIBUTION`: the ``respect`` and ``dnn``
generators at several sizes) plus ``dnn`` graphs of 150-400 nodes (:data:`PPO_DISTRIBUTION`),
never a zoo graph, with K drawn per episode from 2..8.

- :class:`~respect_gym.envs.pipeline.mixed.MixedStagesEnv` (in the core package) holds one env
  per K and pads the action space and ``stage_context`` to the largest K (padded stages are
  masked), so one SB3 model trains on every K. The policy
  scores each stage with the same MLP, so the padding changes no logit; only the critic's mean
  over stages sees it (and ``num_stages`` in the global context tells it K).
- :class:`DedupGraphExtractor` is :class:`~respect_gym_agents.policies.GraphFeaturesExtractor`
  (the same :class:`~respect_gym_agents.policies.GraphPolicyNet`, same weights) that embeds each
  distinct graph of a batch once and trims the padding: every state of an episode shares its
  graph, so a PPO minibatch holds a few dozen graphs, not hundreds. Same values and gradients.
- :class:`ValidationCallback` scores the greedy policy on held-out synthetic graphs (another
  generator seed) every ``eval_every`` steps, writes ``validation.csv`` (and SB3's
  ``progress.csv``) under the log folder, keeps the best weights and shows a rich progress bar.
- The reference lines of the learning curve (``references.json``): the compiler (score 0), the
  ``random`` solver and the proven optimum (``exact``) on the same validation graphs.

Seeding: ``seed`` fixes python, numpy, torch, the envs (SB3 seeds env i with ``seed + i``) and
the validation graphs. On one machine with one torch thread a run repeats bit for bit (tested
on a tiny run); torch does not promise identical floats across CPUs, builds or thread counts,
and SB3 documents the same, so runs elsewhere may drift.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import time
from dataclasses import asdict, dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

import respect_gym
from respect_gym.envs.pipeline.mixed import MixedStagesEnv
from respect_gym.problem.features import NUM_GLOBAL_CONTEXT, STAGE_CONTEXT
from respect_gym.generators import make_generator
from respect_gym.graph import Graph

from respect_gym_agents import checkpoints
from respect_gym_agents.labels import DISTRIBUTION
from respect_gym_agents.policies import GraphFeaturesExtractor, GraphMaskablePolicy, GraphPolicyNet, NetConfig
from respect_gym_agents.rollout import GreedyChooser, follow, play

# the imitation agent's distribution plus larger CNN-like graphs (the zoo's fused graphs have 22-487 nodes)
PPO_DISTRIBUTION = (*DISTRIBUTION, ("dnn", {"num_nodes": (150, 400)}))
TRAIN_SEED = 0  # generator seed of the training graphs (episode indices come from the env's rng)
VALIDATION_SEED = 9_001  # another stream: no validation graph is a training graph
KS = (2, 3, 4, 5, 6, 7, 8)
MAX_NODES = 400  # the largest graph of PPO_DISTRIBUTION
MAX_EDGES = 640  # dnn graphs have <= 1.31 edges per node, respect graphs <= 6 per node at 60 nodes
REFERENCE_TIME_LIMIT_S = 20.0  # exact's limit per validation graph (unproven ones are flagged)


@dataclass(frozen=True)
class PPOConfig:
    """Everything a PPO run depends on (recorded in the checkpoint)."""

    env_id: str = "RespectPipeline-v1"  # gym id (v1: cost-model revision 3; v0: revision 2): retrain = change this
    objective: str = ""  # "" = the env's default objective
    reward_mode: str = "dense"  # "dense" or "terminal"
    steps: int = 200_000  # environment steps
    warm_start: str = ""  # "" (from scratch), "imitation" (the shipped checkpoint) or a checkpoint path
    stay_prior: float = 4.0  # from scratch: initial logit bonus of staying on the current stage (0 = none)
    envs: int = 2  # parallel envs
    vec: str = "subproc"  # "subproc" (SubprocVecEnv) or "dummy" (in-process)
    n_steps: int = 1024  # rollout steps per env and update
    batch: int = 1024  # minibatch size
    epochs: int = 4  # passes over each rollout
    lr: float = 3e-4
    gamma: float = 1.0
    gae_lambda: float = 0.95
    clip: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    target_kl: float = 0.0  # 0 = no early stop of the epochs
    hidden: int = 64
    rounds: int = 3
    seed: int = 0
    eval_every: int = 10_000  # environment steps between validations
    val_graphs: int = 56  # held-out synthetic (graph, K) pairs; the best mean gap on them is kept


# ------------------------------------------------------------------------------- environments
def training_sources(seed: int = TRAIN_SEED) -> list:
    """The generators of the training graphs (both families, several sizes)."""
    return [make_generator(name, seed=seed, **kwargs) for name, kwargs in PPO_DISTRIBUTION]


def make_training_env(config: PPOConfig) -> MixedStagesEnv:
    """One training env of ``config`` (a top-level function, so ``SubprocVecEnv`` can pickle it)."""
    torch.set_num_threads(1)
    kwargs: dict[str, Any] = {"reward_mode": config.reward_mode}
    if config.objective:
        kwargs["objective"] = config.objective
    return MixedStagesEnv(config.env_id, training_sources(), ks=KS, max_nodes=MAX_NODES, max_edges=MAX_EDGES, **kwargs)


# ------------------------------------------------------------------------------- policy
class DedupGraphExtractor(GraphFeaturesExtractor):
    """:class:`GraphFeaturesExtractor` that embeds each distinct graph of a batch once (see the
    module docstring); graphs are told apart by a fixed random projection of their node context
    and edges (float64). With gradients the distinct graphs are embedded together as one
    disjoint union (no padding); without (rollouts) each graph's embedding is cached until the
    weights change."""

    def __init__(self, observation_space: spaces.Dict, hidden: int = 64, rounds: int = 3) -> None:
        super().__init__(observation_space, hidden, rounds)
        n, c = observation_space["node_context"].shape
        e = observation_space["edge_index"].shape[1]
        gen = torch.Generator().manual_seed(12345)  # not the global rng: seeding stays untouched
        self.register_buffer("_node_key", torch.rand(n * c, generator=gen, dtype=torch.float64), persistent=False)
        self.register_buffer("_edge_key", torch.rand(2 * e, generator=gen, dtype=torch.float64), persistent=False)
        self._cache: dict[float, tuple[torch.Tensor, torch.Tensor]] = {}
        self._cache_version: tuple[int, ...] = ()

    def _keys(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        b = observations["node_context"].shape[0]
        return (observations["node_context"].reshape(b, -1).double() @ self._node_key
                + observations["edge_index"].reshape(b, -1).double() @ self._edge_key)

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        keys = self._keys(observations)
        current = observations["current_node"].long().reshape(-1)
        if torch.is_grad_enabled():
            rows, pooled = self._embed_batch(observations, keys, current)
        else:
            rows, pooled = self._embed_cached(observations, keys, current)
        logits, values = self.net.step(rows, pooled, observations["global_context"], observations["stage_context"])
        return torch.cat([logits, values], 1)

    def _embed_batch(self, observations: dict[str, torch.Tensor], keys: torch.Tensor,
                     current: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each distinct graph embedded once, all of them as one disjoint union without padding."""
        b = keys.shape[0]
        _, inverse = torch.unique(keys, return_inverse=True)
        first = torch.full((int(inverse.max()) + 1,), b, dtype=torch.long, device=keys.device)
        first = first.scatter_reduce(0, inverse, torch.arange(b, device=keys.device), reduce="amin")
        node_mask = observations["node_mask"][first] > 0  # real nodes come first in every graph
        edge_mask = observations["edge_mask"][first] > 0
        counts = node_mask.sum(1)
        offsets = torch.cumsum(counts, 0) - counts
        nodes_in = observations["node_context"][first][node_mask]  # (T, C), graph after graph
        edges = (observations["edge_index"][first].long() + offsets[:, None, None]).transpose(1, 2)[edge_mask]
        t, e = nodes_in.shape[0], edges.shape[0]
        nodes, _ = self.net.embed(nodes_in[None], torch.ones(1, t), edges.T[None], torch.ones(1, e))
        nodes = nodes[0]
        graph_of = torch.repeat_interleave(torch.arange(first.shape[0], device=keys.device), counts)
        pooled = torch.zeros(first.shape[0], nodes.shape[1]).index_add_(0, graph_of, nodes)
        pooled = pooled / counts.clamp(min=1).unsqueeze(1).to(pooled.dtype)
        return nodes[offsets[inverse] + current], pooled[inverse]

    def _embed_cached(self, observations: dict[str, torch.Tensor], keys: torch.Tensor,
                      current: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Without gradients (rollouts): embeddings cached per graph until the weights change."""
        version = tuple(p._version for p in self.net.parameters())  # bumped by every in-place update
        if version != self._cache_version or len(self._cache) > 64:
            self._cache, self._cache_version = {}, version
        rows, pooled = [], []
        for i, key in enumerate(keys.tolist()):
            if key not in self._cache:
                n = max(int(observations["node_mask"][i].sum()), 1)
                e = max(int(observations["edge_mask"][i].sum()), 1)
                self._cache[key] = self.net.embed(observations["node_context"][i : i + 1, :n],
                                                  observations["node_mask"][i : i + 1, :n],
                                                  observations["edge_index"][i : i + 1, :, :e],
                                                  observations["edge_mask"][i : i + 1, :e])
            nodes, graph = self._cache[key]
            rows.append(nodes[0, current[i]])
            pooled.append(graph[0])
        return torch.stack(rows), torch.stack(pooled)


def add_stay_prior(net: GraphPolicyNet, bonus: float) -> None:
    """Bake ``bonus`` on the logit of the smallest legal stage (``frontier``) into fresh weights.

    One hidden unit of each layer of the stage scorer is set to carry the ``frontier`` input
    through (the other units stay random), so the net's logits become its random logits plus
    ``bonus`` on the current stage. A uniform start opens a new stage at most steps and fills
    the last one with nearly every node; with the bonus the first episodes stay on a stage for
    a while, as good schedules do. The result is an ordinary :class:`GraphPolicyNet`.
    """
    first, second, last = net.stage_score[0], net.stage_score[2], net.stage_score[4]
    frontier = 2 * net.config.hidden + NUM_GLOBAL_CONTEXT + STAGE_CONTEXT.index("frontier")
    with torch.no_grad():
        first.weight[0].zero_()
        first.weight[0, frontier] = 1.0
        first.bias[0] = 0.0
        second.weight[0].zero_()
        second.weight[0, 0] = 1.0
        second.bias[0] = 0.0
        last.weight[0, 0] = bonus


# ------------------------------------------------------------------------------- validation
def validation_instances(count: int, seed: int = VALIDATION_SEED) -> list[tuple[Graph, int]]:
    """``count`` held-out ``(graph, K)`` pairs: the training distribution from another seed, K cycling 2..8."""
    sources = training_sources(seed)
    return [(sources[i % len(sources)](i), KS[i % len(KS)]) for i in range(count)]


def _objective_name(env: gym.Env) -> str:
    return env.unwrapped.objective.name


class Validator:
    """Greedy score of a policy net on fixed validation instances, through ``gym.make(env_id)``."""

    def __init__(self, env_id: str, instances: list[tuple[Graph, int]], objective: str = "") -> None:
        extra = {"objective": objective} if objective else {}
        self.instances = instances
        self.envs = [gym.make(env_id, model=g, num_tpus=k, max_nodes=None, observation="context",
                              **extra).unwrapped for g, k in instances]
        self.objective = _objective_name(self.envs[0]) if self.envs else ""
        self.revision = getattr(self.envs[0], "revision", None) if self.envs else None

    def scores(self, net: GraphPolicyNet) -> np.ndarray:
        """The env's final score (speed-up over the compiler minus one) of the greedy policy per instance."""
        was_training = net.training
        net.eval()
        try:
            return np.array([play(env, g, GreedyChooser(net, g, env)).score
                             for env, (g, _) in zip(self.envs, self.instances)])
        finally:
            net.train(was_training)

    def references(self, seed: int = 0) -> dict[str, list[float]]:
        """Scores of the ``random`` and ``exact`` solvers' schedules replayed in the same envs."""
        out: dict[str, list[float]] = {"compiler": [], "random": [], "exact": [], "exact_proven": []}
        for env, (g, k) in zip(self.envs, self.instances):
            order = g.topological_order
            for name in ("random", "exact"):
                limit = REFERENCE_TIME_LIMIT_S if name == "exact" else None
                result = respect_gym.solve(g, k, name, seed=seed, objective=self.objective, time_limit=limit,
                                           **({"revision": self.revision} if self.revision is not None else {}))
                out[name].append(play(env, g, follow(result.stages, order)).score)
                if name == "exact":
                    out["exact_proven"].append(bool(result.optimal))
            out["compiler"].append(0.0)
        return out


def summarise(scores: np.ndarray, exact: Sequence[float]) -> dict[str, float]:
    """Mean score, share beating the compiler, mean gap to the optimum (latency-like objectives)."""
    exact_arr = np.asarray(exact, dtype=np.float64)
    gap = 100.0 * ((1.0 + exact_arr) / (1.0 + scores) - 1.0)  # agent value / optimum - 1
    return {"score_mean": float(scores.mean()), "better_pct": float(100.0 * np.mean(scores > 1e-9)),
            "gap_mean_pct": float(gap.mean())}


# ------------------------------------------------------------------------------- training
def _callback_class():
    from stable_baselines3.common.callbacks import BaseCallback

    class ValidationCallback(BaseCallback):
        """Validation every ``eval_every`` steps, CSV log, best weights, rich progress bar."""

        def __init__(self, validator: Validator, references: dict, eval_every: int, total: int,
                     logdir: Path) -> None:
            super().__init__()
            self.validator, self.references = validator, references
            self.eval_every, self.total = eval_every, total
            self.logdir = logdir
            self.rows: list[dict[str, float]] = []
            self.best_score = -np.inf
            self.best_state: dict[str, torch.Tensor] | None = None
            self._next = 0
            self._start = time.perf_counter()
            self._progress = None

        def net(self) -> GraphPolicyNet:
            return self.model.policy.features_extractor.net

        def _on_training_start(self) -> None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
                TimeRemainingColumn

            self._progress = Progress(TextColumn("[bold]PPO"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                                      TimeRemainingColumn())
            self._progress.start()
            self._task = self._progress.add_task("ppo", total=self.total, status="")
            self._start = time.perf_counter()
            self._validate()

        def _validate(self) -> None:
            scores = self.validator.scores(self.net())
            row = {"steps": int(self.num_timesteps), "seconds": round(time.perf_counter() - self._start, 1),
                   **summarise(scores, self.references["exact"])}
            buffer = self.model.ep_info_buffer
            row["train_return_mean"] = float(np.mean([ep["r"] for ep in buffer])) if buffer else float("nan")
            self.rows.append(row)
            if -row["gap_mean_pct"] > self.best_score:  # best = smallest mean gap to the optimum
                self.best_score = -row["gap_mean_pct"]
                self.best_state = {k: v.detach().clone() for k, v in self.net().state_dict().items()}
                row["best"] = 1
            else:
                row["best"] = 0
            self._write()
            self._next = self.num_timesteps + self.eval_every
            if self._progress is not None:
                self._progress.update(self._task, status=f"val score {row['score_mean']:+.3f} gap "
                                                         f"{row['gap_mean_pct']:.1f}% (best {-self.best_score:.1f}%)")

        def _write(self) -> None:
            with open(self.logdir / "validation.csv", "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(self.rows[0]))
                writer.writeheader()
                writer.writerows(self.rows)

        def _on_step(self) -> bool:
            self._progress.update(self._task, completed=min(self.num_timesteps, self.total))
            if self.num_timesteps >= self._next:
                self._validate()
            return True

        def _on_training_end(self) -> None:
            if self.rows[-1]["steps"] != self.num_timesteps:
                self._validate()
            self._progress.stop()

    return ValidationCallback


def load_weights(spec: str) -> tuple[GraphPolicyNet, dict[str, Any]]:
    """A warm start's net and metadata: ``"imitation"`` (the shipped checkpoint) or a checkpoint path.

    Unlike :func:`checkpoints.load` it accepts a checkpoint of another cost-model revision: the
    weights only initialise PPO, which then trains on the run's own env (the source revision is
    recorded in the run's log).
    """
    path = checkpoints.shipped("imitation") if spec == "imitation" else Path(spec)
    data = checkpoints.read(path)  # the checked reader: bounded, metadata validated, any cost-model version
    return checkpoints.build_net(path, data), data["meta"]


def train(config: PPOConfig, logdir: str | os.PathLike, quiet: bool = False) -> tuple[GraphPolicyNet, dict[str, Any]]:
    """Train MaskablePPO as ``config`` says; returns the net of the smallest validation gap and a log.

    :param logdir: folder for ``progress.csv`` (SB3), ``validation.csv`` and ``references.json``.
    :param quiet: no progress bar (tests).
    """
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecMonitor

    torch.set_num_threads(1)
    set_random_seed(config.seed)
    logdir = Path(logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    validator = Validator(config.env_id, validation_instances(config.val_graphs), config.objective)
    references = validator.references(config.seed)
    (logdir / "references.json").write_text(json.dumps(
        {"env_id": config.env_id, "objective": validator.objective, "graphs": config.val_graphs,
         **{f"{k}_mean": float(np.mean(v)) for k, v in references.items()}, "per_graph": references}, indent=1))
    thunks = [partial(make_training_env, config) for _ in range(config.envs)]
    vec = SubprocVecEnv(thunks) if config.vec == "subproc" and config.envs > 1 else DummyVecEnv(thunks)
    vec = VecMonitor(vec)
    model = MaskablePPO(
        GraphMaskablePolicy, vec, learning_rate=config.lr, n_steps=config.n_steps, batch_size=config.batch,
        n_epochs=config.epochs, gamma=config.gamma, gae_lambda=config.gae_lambda, clip_range=config.clip,
        ent_coef=config.ent_coef, vf_coef=config.vf_coef, target_kl=config.target_kl or None, seed=config.seed,
        policy_kwargs={"features_extractor_class": DedupGraphExtractor,
                       "features_extractor_kwargs": {"hidden": config.hidden, "rounds": config.rounds}},
        device="cpu", verbose=0)
    warm_from = None
    if config.warm_start:
        warm, warm_meta = load_weights(config.warm_start)
        warm_from = {key: warm_meta.get(key) for key in ("env_id", "cost_model_version", "command")}
        if warm.config != NetConfig(config.hidden, config.rounds):
            raise ValueError(f"warm start {config.warm_start} has net {warm.config}, the run asks for "
                             f"hidden={config.hidden} rounds={config.rounds}")
        model.policy.features_extractor.net.load_state_dict(warm.state_dict())
    elif config.stay_prior:
        add_stay_prior(model.policy.features_extractor.net, config.stay_prior)
    model.set_logger(configure(str(logdir), ["csv"]))
    callback = _callback_class()(validator, references, config.eval_every, config.steps, logdir)
    if quiet:
        callback._on_training_start = partial(_quiet_start, callback)
    start = time.perf_counter()
    try:
        model.learn(config.steps, callback=callback)
    finally:
        vec.close()
    seconds = time.perf_counter() - start
    net = GraphPolicyNet(NetConfig(config.hidden, config.rounds))
    net.load_state_dict(callback.best_state)
    net.eval()
    best = min(callback.rows, key=lambda r: r["gap_mean_pct"])
    log = {"config": asdict(config), "train_seconds": round(seconds, 1), "warm_start_from": warm_from,
           "validation": callback.rows, "best": best, "references": {k: float(np.mean(v)) for k, v in references.items()},
           "objective": validator.objective}
    return net, log


def _quiet_start(callback) -> None:
    class _Silent:
        def update(self, *args: Any, **kwargs: Any) -> None:
            pass

        def stop(self) -> None:
            pass

    callback._progress, callback._task = _Silent(), 0
    callback._start = time.perf_counter()
    callback._validate()


# ------------------------------------------------------------------------------- command line
def add_train_parser(subparsers) -> None:
    """``respect-gym-agents train ppo`` (one flag per :class:`PPOConfig` field)."""
    p = subparsers.add_parser("ppo", help="MaskablePPO with the graph policy on synthetic graphs")
    for f in fields(PPOConfig):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    p.add_argument("--logdir", default=None, help="CSV logs (default: runs/ppo-<reward-mode>)")
    p.add_argument("--out", default=None, help="checkpoint path (default: <logdir>/ppo.pt)")
    p.set_defaults(run=run_train)


def run_train(args) -> None:
    config = PPOConfig(**{f.name: getattr(args, f.name) for f in fields(PPOConfig)})
    logdir = Path(args.logdir or f"runs/ppo-{config.reward_mode}")
    out = Path(args.out) if args.out else logdir / "ppo.pt"
    command = train_command(config, args.logdir, args.out)
    net, log = train(config, logdir)
    save(net, out, command=command, log=log)
    best = log["best"]
    print(f"wrote {out} after {log['train_seconds']:.0f} s; best validation score {best['score_mean']:+.3f} at "
          f"{best['steps']} steps ({best['better_pct']:.0f}% beat the compiler, mean gap {best['gap_mean_pct']:.1f}%)")


def train_command(config: PPOConfig, logdir: str | None = None, out: str | None = None) -> str:
    """The command line that reruns ``config`` (flags that differ from the defaults)."""
    parts = ["respect-gym-agents", "train", "ppo"]
    for f in fields(PPOConfig):
        value = getattr(config, f.name)
        if value != f.default:
            parts += [f"--{f.name.replace('_', '-')}", str(value)]
    for flag, value in (("--logdir", logdir), ("--out", out)):
        if value:
            parts += [flag, str(value)]
    return " ".join(shlex.quote(p) for p in parts)


def save(net: GraphPolicyNet, path: str | os.PathLike, *, command: str, log: dict[str, Any]) -> None:
    """A :mod:`~respect_gym_agents.checkpoints` checkpoint of a PPO net, with its env id and run log."""
    config = log["config"]
    checkpoints.save(net, path, command=command, env_id=config["env_id"], objective=log["objective"],
                     extra={"algorithm": "MaskablePPO (sb3-contrib)",
                            "train_seconds": log["train_seconds"], "log": log})
    Path(path).with_suffix(".json").write_text(json.dumps(
        {"env_id": config["env_id"], "cost_model_version": checkpoints.env_cost_model_version(config["env_id"]),
         "command": command,
         "train_seconds": log["train_seconds"], "best": log["best"], "references": log["references"],
         "config": config}, indent=1))
