"""MaskablePPO (sb3-contrib) in exactly the setting of :mod:`respect_gym_agents.rllib_train`, for
the side-by-side learning curve of agents/RESULTS.md.

Same env (``gym.make(env_id, model, num_tpus, reward_mode)`` through ``CompactObservation``),
same hyper-parameters (the :class:`~respect_gym_agents.rllib_train.RLlibConfig` defaults are
SB3's PPO defaults with ``gamma=1`` and ``ent_coef=0.01``: 1,024 steps per update, 10 epochs of
256-step minibatches, lr 3e-4, 64x64 tanh MLP), one env in this process, and the same validation
after every update (greedy policy with the mask on each ``validation`` graph, the env's final
score), written to the same ``curve.csv`` columns.

    python -m respect_gym_agents.rllib_baseline --iterations 98 --out agents/results/maskable_ppo_resnet50
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3.common.callbacks import BaseCallback

import respect_gym  # noqa: F401  (registers the env ids)
from respect_gym.envs import CompactObservation

from respect_gym_agents.rllib_train import RLlibConfig

COLUMNS = ("iteration", "env_steps", "wall_s", "validation_score_mean", "validation_scores",
           "validation_illegal_actions")


def make_env(config: RLlibConfig, model: str) -> gym.Env:
    env = gym.make(config.env_id, model=model, num_tpus=config.num_tpus, reward_mode=config.reward_mode)
    return CompactObservation(env, config.lookahead)


def greedy_info(model: MaskablePPO, env: gym.Env, seed: int) -> dict[str, Any]:
    obs, _ = env.reset(seed=seed)
    terminated = False
    while not terminated:
        action, _ = model.predict(obs, action_masks=env.action_masks(), deterministic=True)
        obs, _, terminated, _, info = env.step(int(action))
    return info


class Validate(BaseCallback):
    """After every rollout + update: the greedy score on each validation graph, one CSV row."""

    def __init__(self, config: RLlibConfig, writer: csv.DictWriter, fh: Any) -> None:
        super().__init__()
        self.config, self.writer, self.fh = config, writer, fh
        self.envs = [make_env(config, name) for name in config.validation.split(",") if name]
        self.start = time.perf_counter()
        self.iteration = 0

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:  # the previous rollout's update has just finished
        if self.model.num_timesteps == 0:
            return
        self.iteration += 1
        finals = [greedy_info(self.model, env, self.config.seed) for env in self.envs]
        scores = [float(info["score"]) for info in finals]
        self.writer.writerow({"iteration": self.iteration, "env_steps": self.model.num_timesteps,
                              "wall_s": round(time.perf_counter() - self.start, 1),
                              "validation_score_mean": round(float(np.mean(scores)), 4),
                              "validation_scores": " ".join(f"{s:.4f}" for s in scores),
                              "validation_illegal_actions": sum(int(i["illegal_actions"]) for i in finals)})
        self.fh.flush()


def train(config: RLlibConfig, out: str | Path, command: str = "") -> None:
    """``config.iterations`` updates of ``config.train_batch`` steps; ``curve.csv`` and ``run.json`` in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    (out / "run.json").write_text(json.dumps({"config": asdict(config), "command": command,
                                              "library": "sb3-contrib MaskablePPO", "torch": torch.__version__},
                                             indent=1))
    model = MaskablePPO("MlpPolicy", make_env(config, config.model), n_steps=config.train_batch,
                        batch_size=config.minibatch, n_epochs=config.epochs, learning_rate=config.lr,
                        gamma=config.gamma, gae_lambda=config.gae_lambda, clip_range=config.clip,
                        ent_coef=config.entropy, policy_kwargs={"net_arch": [config.hidden, config.hidden]},
                        seed=config.seed, verbose=0)
    with open(out / "curve.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS)
        writer.writeheader()
        # one more rollout than updates: the callback validates at the start of each rollout
        model.learn(config.train_batch * (config.iterations + 1), callback=Validate(config, writer, fh))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m respect_gym_agents.rllib_baseline",
                                     description=__doc__.splitlines()[0])
    for f in fields(RLlibConfig):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    command = "python -m respect_gym_agents.rllib_baseline " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    train(RLlibConfig(**{f.name: getattr(args, f.name) for f in fields(RLlibConfig)}), args.out, command)


if __name__ == "__main__":
    main()
