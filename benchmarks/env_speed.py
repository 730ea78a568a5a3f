"""Steps per second of RespectPipeline-v1 and -v0 beside CartPole-v1, measured in the same run.

Usage: ``python benchmarks/env_speed.py [--steps 100000] [--seed 0] [--env-ids RespectPipeline-v1 ...]``

Each env runs a random policy for ``--steps`` timed steps (after 5% untimed), resets included; the pipeline env's policy
picks uniformly among legal stages (reading ``info["action_mask"]``), so the figure is what a
masked rollout costs. The process is pinned to one core where the OS allows it. Graphs: ResNet50
fused and layers from the zoo, and a 1000-node ``DnnGraphGenerator`` graph. Target: >= 20,000
steps/s on ResNet50 fused.
"""

from __future__ import annotations

import argparse
import os
import time

import gymnasium as gym
import numpy as np

import respect_gym  # noqa: F401  (registers the RespectPipeline ids)
from respect_gym.generators import DnnGraphGenerator


def pipeline_steps_per_s(env_id: str, model, steps: int, seed: int, **kwargs) -> tuple[float, int]:
    env = gym.make(env_id, model=model, **kwargs)
    draws = np.random.default_rng(seed).integers(0, env.action_space.n, size=steps)
    obs, info = env.reset(seed=seed)
    n = env.unwrapped.state.instance.graph.num_nodes
    for i in range(-warmup(steps), steps):
        if i == 0:
            start = time.perf_counter()
        action = max(int(draws[i]), int(info["action_mask"].argmax()))
        obs, reward, terminated, truncated, info = env.step(action)
        if terminated:
            obs, info = env.reset()
    return steps / (time.perf_counter() - start), n


def warmup(steps: int) -> int:
    """Untimed steps first (caches, lazy imports): the first env timed ran up to 1.5x slower."""
    return steps // 20


def cartpole_steps_per_s(steps: int, seed: int) -> float:
    env = gym.make("CartPole-v1")
    draws = np.random.default_rng(seed).integers(0, 2, size=steps)
    env.reset(seed=seed)
    for i in range(-warmup(steps), steps):
        if i == 0:
            start = time.perf_counter()
        obs, reward, terminated, truncated, info = env.step(int(draws[i]))
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000, help="steps per env (default 100000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env-ids", nargs="+", default=["RespectPipeline-v1", "RespectPipeline-v0"],
                        help="pipeline env versions to time (default: v1 and v0)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    synthetic = DnnGraphGenerator(seed=args.seed, num_nodes=1000)(0)
    graphs = (("resnet50 fused", "resnet50", {}), ("resnet50 layers", "resnet50", {"granularity": "layers"}),
              ("synthetic dnn", synthetic, {"max_nodes": 1024, "max_edges": 4096}))
    rows = [(f"{env_id} {label}", *pipeline_steps_per_s(env_id, model, args.steps, args.seed, **kwargs))
            for env_id in args.env_ids for label, model, kwargs in graphs]
    rows.append(("CartPole-v1", cartpole_steps_per_s(args.steps, args.seed), None))
    print(f"{'env':<36} {'nodes':>6} {'steps/s':>10}")
    for name, rate, nodes in rows:
        print(f"{name:<36} {'' if nodes is None else nodes:>6} {rate:>10,.0f}")


if __name__ == "__main__":
    main()
