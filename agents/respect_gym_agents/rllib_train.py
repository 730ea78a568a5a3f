"""RLlib PPO with action masking on the pipeline env (Ray's new API stack; env runners are Ray actors).

RLlib splits training into env runners, Ray actors that step copies of ``gym.make(env_id, ...)``
on any machine of a cluster, and a learner that updates the policy; ``--ray ADDRESS`` puts the env
runners on a cluster, without it a local Ray with ``env_runners`` CPUs is started.

- Observation: :class:`~respect_gym.envs.CompactObservation` (the step context an MLP can use)
  with the legal stages beside it, ``{"observations": Box, "action_mask": Box}``
  (:class:`MaskedCompactObservation`; the mask is the env's ``action_masks()``).
- :class:`MaskedPPOTorchRLModule`: RLlib's default PPO module (MLP encoder, policy and value
  heads) whose logits of illegal stages are set to the lowest float before RLlib builds the
  action distribution, in exploration, inference and training alike: an illegal stage is never
  sampled, and PPO's ratios and entropy are those of the masked distribution.
- Every iteration: ``train_batch`` env steps from the env runners, ``epochs`` passes of minibatch
  SGD, then the greedy policy (argmax of the masked logits) on each ``validation`` graph: the
  env's final score (speed-up over the compiler minus one) is appended to ``curve.csv`` with the
  env steps so far, the episodes finished and the illegal actions counted in training (by the
  env itself: it repairs and counts any illegal action). A checkpoint (``Algorithm.save_to_path``;
  :func:`load_policy` reads back the policy alone, ``Algorithm.from_checkpoint`` the whole run)
  every ``checkpoint_every`` iterations and at the end, beside ``run.json`` (config, command,
  versions). RLlib checkpoints are pickles: load only your own.

Defaults mirror the settings the quick start (``agents/examples/quickstart_maskable_ppo.py``) had
on v0 (ResNet50 on 4 TPUs, dense reward, gamma 1, 64x64 tanh MLP, lr 3e-4, 10 epochs of 256-step
minibatches per 1,024 steps, entropy 0.01), so the recorded RLlib and SB3 curves of that time are
comparable; the quick start itself now uses a stay-or-next action wrapper on v1:

    python -m respect_gym_agents.rllib_train --out agents/results/rllib_resnet50
    python -m respect_gym_agents.rllib_train --ray auto --env-runners 32 --train-batch 32768 --out runs/big
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

try:
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
    from ray.rllib.callbacks.callbacks import RLlibCallback
    from ray.rllib.core.columns import Columns
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.tune.registry import register_env
except ImportError as exc:  # Ray is the optional ``distributed`` extra
    raise ImportError("RLlib training needs Ray: pip install -e '.[distributed]'") from exc

ENV_NAME = "respect_gym_masked"  # the RLlib registration of make_env
CURVE_COLUMNS = ("iteration", "env_steps", "wall_s", "train_episodes", "train_score_mean", "validation_score_mean",
                 "validation_scores", "train_illegal_actions", "validation_illegal_actions")
POLICY_PATH = Path("learner_group", "learner", "rl_module", "default_policy")  # inside a checkpoint


@dataclass(frozen=True)
class RLlibConfig:
    """Everything a run depends on (written to ``run.json``)."""

    env_id: str = "RespectPipeline-v1"  # any id with the pipeline env's spaces (RespectPipeline-v0: cost model rev 2)
    model: str = "resnet50"  # the env's graph source: zoo model, generator name ("dnn", "respect") or file
    num_tpus: int = 4
    reward_mode: str = "dense"
    lookahead: int = 4  # CompactObservation's upcoming nodes
    validation: str = "resnet50"  # comma-separated zoo models / graph files scored greedily after each iteration
    iterations: int = 100
    env_runners: int = 2  # Ray actors stepping envs
    envs_per_runner: int = 1
    train_batch: int = 1024  # env steps per iteration
    minibatch: int = 256
    epochs: int = 10
    lr: float = 3e-4
    gamma: float = 1.0
    gae_lambda: float = 0.95
    clip: float = 0.2
    entropy: float = 0.01
    hidden: int = 64  # two tanh layers of this width
    seed: int = 0
    checkpoint_every: int = 25  # iterations (0: only at the end)


class MaskedCompactObservation(gym.ObservationWrapper):
    """``{"observations": CompactObservation's vector, "action_mask": 1.0 per legal stage}``."""

    def __init__(self, env: gym.Env, lookahead: int = 4) -> None:
        from respect_gym.envs import CompactObservation

        super().__init__(CompactObservation(env, lookahead))
        k = int(env.action_space.n)
        self.observation_space = spaces.Dict({"observations": self.env.observation_space,
                                              "action_mask": spaces.Box(0.0, 1.0, (k,), np.float32)})

    def observation(self, observation: np.ndarray) -> dict[str, np.ndarray]:
        return {"observations": observation, "action_mask": self.env.unwrapped.action_masks().astype(np.float32)}


def env_config(config: RLlibConfig, model: str | None = None) -> dict[str, Any]:
    """What :func:`make_env` needs, as RLlib ships it to each env runner."""
    return {"env_id": config.env_id, "model": model or config.model, "num_tpus": config.num_tpus,
            "reward_mode": config.reward_mode, "lookahead": config.lookahead}


def make_env(env_config: dict[str, Any]) -> gym.Env:
    """The env of one env runner (imports respect_gym there, which registers its ids)."""
    import respect_gym  # noqa: F401

    env = gym.make(env_config["env_id"], model=env_config["model"], num_tpus=env_config["num_tpus"],
                   reward_mode=env_config["reward_mode"])
    return MaskedCompactObservation(env, env_config["lookahead"])


class MaskedPPOTorchRLModule(DefaultPPOTorchRLModule):
    """RLlib's default PPO module on ``observations``, with ``action_mask`` applied to its logits.

    RLlib builds the encoder from the module's observation space, so the module is built on the
    ``observations`` Box and keeps the Dict (which the env runners check) as its public space.
    """

    def __init__(self, *, observation_space: spaces.Dict | None = None, **kwargs: Any) -> None:
        self._masked_space = observation_space
        inner = observation_space["observations"] if observation_space is not None else None
        super().__init__(observation_space=inner, **kwargs)

    def setup(self) -> None:
        super().setup()
        self.observation_space = self._masked_space

    @staticmethod
    def _split(batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        obs = batch[Columns.OBS]
        return obs["action_mask"], {**batch, Columns.OBS: obs["observations"]}

    @staticmethod
    def _masked(out: dict[str, Any], mask: torch.Tensor) -> dict[str, Any]:
        logits = out[Columns.ACTION_DIST_INPUTS]
        out[Columns.ACTION_DIST_INPUTS] = torch.where(mask > 0, logits, torch.finfo(logits.dtype).min)
        return out

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        mask, batch = self._split(batch)
        return self._masked(super()._forward(batch, **kwargs), mask)

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        mask, batch = self._split(batch)
        return self._masked(super()._forward_train(batch, **kwargs), mask)

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        if embeddings is None:
            _, batch = self._split(batch)
        return super().compute_values(batch, embeddings)


class EpisodeMetrics(RLlibCallback):
    """Logs each finished episode's score and illegal actions (counted by the env) from the env runners."""

    def on_episode_end(self, *, episode: Any, metrics_logger: Any, **kwargs: Any) -> None:
        info = episode.get_infos(-1)
        metrics_logger.log_value("score", float(info["score"]), reduce="mean", window=100)
        metrics_logger.log_value("illegal_actions", int(info["illegal_actions"]), reduce="lifetime_sum")
        metrics_logger.log_value("episodes", 1, reduce="lifetime_sum")


def algorithm_config(config: RLlibConfig) -> Any:
    """The RLlib ``PPOConfig`` of a run (new API stack: RLModule, Learner, EnvRunner actors)."""
    register_env(ENV_NAME, make_env)
    model = DefaultModelConfig(fcnet_hiddens=[config.hidden, config.hidden], fcnet_activation="tanh")
    return (
        PPOConfig()
        .environment(ENV_NAME, env_config=env_config(config))
        .env_runners(num_env_runners=config.env_runners, num_envs_per_env_runner=config.envs_per_runner,
                     rollout_fragment_length="auto")
        .training(train_batch_size_per_learner=config.train_batch, minibatch_size=config.minibatch,
                  num_epochs=config.epochs, lr=config.lr, gamma=config.gamma, lambda_=config.gae_lambda,
                  clip_param=config.clip, entropy_coeff=config.entropy)
        .rl_module(rl_module_spec=RLModuleSpec(module_class=MaskedPPOTorchRLModule, model_config=model))
        .callbacks(EpisodeMetrics)
        .debugging(seed=config.seed)
    )


def greedy_episode(module: Any, env: gym.Env, seed: int) -> dict[str, Any]:
    """One episode of the argmax of the module's masked logits; the env's final info."""
    obs, _ = env.reset(seed=seed)
    terminated = False
    while not terminated:
        batch = {Columns.OBS: {key: torch.from_numpy(value[None]) for key, value in obs.items()}}
        with torch.no_grad():
            logits = module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]
        obs, _, terminated, _, info = env.step(int(logits.argmax(-1)))
    return info


def load_policy(checkpoint: str | Path) -> Any:
    """The trained :class:`MaskedPPOTorchRLModule` of a checkpoint, without building an algorithm."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    return RLModule.from_checkpoint(str(Path(checkpoint).resolve() / POLICY_PATH))


def train(config: RLlibConfig, out: str | Path, ray_address: str | None = None,
          command: str = "") -> list[dict[str, Any]]:
    """Train, validate after every iteration, checkpoint; returns the curve's rows (also ``curve.csv``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # the learner shares the machine with the env runners
    owned = not ray.is_initialized()
    if owned and ray_address:
        ray.init(address=ray_address)
    elif owned:
        ray.init(num_cpus=max(config.env_runners, 1), include_dashboard=False)
    (out / "run.json").write_text(json.dumps({"config": asdict(config), "command": command,
                                              "ray": ray.__version__, "torch": torch.__version__}, indent=1))
    validation = [make_env(env_config(config, name)) for name in config.validation.split(",") if name]
    algo = algorithm_config(config).build_algo()
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    try:
        with open(out / "curve.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, CURVE_COLUMNS)
            writer.writeheader()
            for iteration in range(1, config.iterations + 1):
                result = algo.train()
                runners = result["env_runners"]
                finals = [greedy_episode(algo.get_module(), env, config.seed) for env in validation]
                scores = [float(info["score"]) for info in finals]
                rows.append({
                    "iteration": iteration, "env_steps": int(result["num_env_steps_sampled_lifetime"]),
                    "wall_s": round(time.perf_counter() - start, 1),
                    "train_episodes": int(runners.get("episodes", 0)),
                    "train_score_mean": round(float(runners.get("score", float("nan"))), 4),
                    "validation_score_mean": round(float(np.mean(scores)), 4) if scores else "",
                    "validation_scores": " ".join(f"{s:.4f}" for s in scores),
                    "train_illegal_actions": int(runners.get("illegal_actions", 0)),
                    "validation_illegal_actions": sum(int(info["illegal_actions"]) for info in finals),
                })
                writer.writerow(rows[-1])
                fh.flush()
                print(", ".join(f"{k} {v}" for k, v in rows[-1].items() if k != "validation_scores"), flush=True)
                if (config.checkpoint_every and iteration % config.checkpoint_every == 0) or iteration == config.iterations:
                    algo.save_to_path(str((out / "checkpoint").resolve()))
    finally:
        algo.stop()
        if owned:
            ray.shutdown()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m respect_gym_agents.rllib_train",
                                     description=__doc__.splitlines()[0])
    for f in fields(RLlibConfig):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    parser.add_argument("--out", required=True, help="run folder: curve.csv, run.json, checkpoint/")
    parser.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                        help="run the env runners on a Ray cluster ('auto' or HOST:PORT; default: a local Ray)")
    args = parser.parse_args(argv)
    config = RLlibConfig(**{f.name: getattr(args, f.name) for f in fields(RLlibConfig)})
    command = "python -m respect_gym_agents.rllib_train " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    train(config, args.out, args.ray, command)


if __name__ == "__main__":
    main()
