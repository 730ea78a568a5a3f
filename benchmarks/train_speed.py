"""End-to-end MaskablePPO training throughput: SB3's DummyVecEnv of single envs against the native
vector env behind an SB3 VecEnv (``respect_gym_agents.vecenv.KernelVecEnv``), in one run.

Usage: ``python benchmarks/train_speed.py [--steps 40000] [--num-envs 16 64] [--model dnn]``

Each row trains a fresh MaskablePPO (``MlpPolicy``, ``observation="compact"``, dense reward, one
torch thread, seed 0) for ``--steps`` env steps and reports env steps per wall second of
``learn()``: rollouts (env steps, mask queries, policy forward passes) and PPO updates together,
what a user waits for. ``rollout share`` is the time spent collecting rollouts, from SB3's own
timing of ``collect_rollouts``.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch
from rich.console import Console
from rich.table import Table
from sb3_contrib import MaskablePPO
from stable_baselines3.common.vec_env import DummyVecEnv

import respect_gym  # noqa: F401  (registers the env ids)
from respect_gym_agents.vecenv import KernelVecEnv


class TimedPPO(MaskablePPO):
    """MaskablePPO that adds up the wall time of its rollout collection."""

    rollout_seconds = 0.0

    def collect_rollouts(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return super().collect_rollouts(*args, **kwargs)
        finally:
            self.rollout_seconds += time.perf_counter() - start


def train(venv, num_envs: int, steps: int) -> tuple[float, float]:
    model = TimedPPO("MlpPolicy", venv, n_steps=max(8, 2048 // num_envs), batch_size=256, n_epochs=2, seed=0,
                     device="cpu", verbose=0)
    start = time.perf_counter()
    model.learn(steps)
    seconds = time.perf_counter() - start
    return model.num_timesteps / seconds, model.rollout_seconds / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40_000, help="env steps per run (default 40000)")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[16, 64], help="episodes per batch")
    parser.add_argument("--model", default="dnn", help="the env's graph source (default: synthetic DNN graphs)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    kwargs = dict(model=args.model, observation="compact", reward_mode="dense", max_nodes=1024)
    table = Table(title=f"MaskablePPO training, {args.steps:,} env steps per row, one torch thread")
    for column in ("vec env", "envs", "env steps/s", "rollout share"):
        table.add_column(column, justify="left" if column == "vec env" else "right")
    for n in args.num_envs:
        dummy = DummyVecEnv([lambda: gym.make("RespectPipeline-v1", **kwargs) for _ in range(n)])
        for name, venv in (("DummyVecEnv of single envs", dummy), ("KernelVecEnv (native)", KernelVecEnv(n, **kwargs))):
            rate, share = train(venv, n, args.steps)
            table.add_row(name, str(n), f"{rate:,.0f}", f"{100 * share:.0f}%")
    Console().print(table)


if __name__ == "__main__":
    main()
