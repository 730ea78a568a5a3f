"""Steps per second of RespectPipeline single and native vector envs beside CartPole, in one run.

Usage: ``python benchmarks/env_speed.py [--steps 100000] [--num-envs 4096] [--batches 300] [--seed 0]``

Every env runs a uniformly random legal policy (the stage drawn uniformly among those the mask
allows, read from ``info["action_mask"]``), resets included, after untimed warm-up steps. Single
envs: ``--steps`` timed steps each on ResNet50 fused and layers and a 1000-node synthetic graph
(v1 and v0, the default graph observation, and v1 with ``observation="compact"``). Vector envs:
``gym.make_vec("RespectPipeline-v1", num_envs=N)`` (the native vector env) on ResNet50 fused for
``--batches`` timed batched steps, with the compact view and the terminal and dense rewards and
with the graph view; CartPole-v1 (single, and its own native vector env) in the same run. The
process is pinned to one core where the OS allows it. ``memory`` is what the vector env's arrays
hold (kernel state, pooled instance tables, observation buffers), and the process's peak RSS is
printed at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import gymnasium as gym
import numpy as np
from rich.console import Console
from rich.table import Table

import respect_gym  # noqa: F401  (registers the RespectPipeline ids)
from respect_gym.generators import DnnGraphGenerator


def legal_random(mask: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A uniformly random legal stage per row of a ``(N, K)`` mask (legal stages are a suffix)."""
    low = mask.argmax(axis=-1)
    return low + (u * (mask.shape[-1] - low)).astype(np.int64)


def single_steps_per_s(env_id: str, model, steps: int, seed: int, **kwargs) -> tuple[float, int]:
    env = gym.make(env_id, model=model, **kwargs)
    draws = np.random.default_rng(seed).random(steps + warmup(steps))
    obs, info = env.reset(seed=seed)
    n = env.unwrapped.state.instance.graph.num_nodes
    for i in range(-warmup(steps), steps):
        if i == 0:
            start = time.perf_counter()
        obs, reward, terminated, truncated, info = env.step(int(legal_random(info["action_mask"], draws[i])))
        if terminated:
            obs, info = env.reset()
    return steps / (time.perf_counter() - start), n


def warmup(steps: int) -> int:
    """Untimed steps first (caches, compiled kernels, lazy imports)."""
    return max(steps // 20, 1)


def vector_steps_per_s(num_envs: int, batches: int, seed: int, **kwargs) -> tuple[float, int]:
    envs = gym.make_vec("RespectPipeline-v1", num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    rng = np.random.default_rng(seed)
    obs, info = envs.reset(seed=seed)
    for i in range(-warmup(batches), batches):
        if i == 0:
            start = time.perf_counter()
        obs, reward, terminated, truncated, info = envs.step(legal_random(info["action_mask"], rng.random(num_envs)))
    rate = num_envs * batches / (time.perf_counter() - start)
    return rate, vector_env_bytes(envs.unwrapped)


def vector_env_bytes(env) -> int:
    """Bytes held by the vector env's arrays: kernel state, pooled instance tables, view buffers."""
    def arrays(obj) -> list[np.ndarray]:
        found = [v for v in vars(obj).values() if isinstance(v, np.ndarray)]
        for v in vars(obj).values():
            if isinstance(v, dict):
                found += [a for a in v.values() if isinstance(a, np.ndarray)]
        return found

    state = env.kernel
    parts = arrays(state) + arrays(state.pool) + arrays(env._view)
    inner = getattr(env._view, "graph", None)
    if inner is not None:
        parts += arrays(inner)
    return sum(a.nbytes for a in parts)


def cartpole_steps_per_s(steps: int, seed: int) -> float:
    env = gym.make("CartPole-v1")
    draws = np.random.default_rng(seed).integers(0, 2, size=steps + warmup(steps))
    env.reset(seed=seed)
    for i in range(-warmup(steps), steps):
        if i == 0:
            start = time.perf_counter()
        obs, reward, terminated, truncated, info = env.step(int(draws[i]))
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def cartpole_vector_steps_per_s(num_envs: int, batches: int, seed: int) -> float:
    envs = gym.make_vec("CartPole-v1", num_envs=num_envs, vectorization_mode="vector_entry_point")
    rng = np.random.default_rng(seed)
    envs.reset(seed=seed)
    for i in range(-warmup(batches), batches):
        if i == 0:
            start = time.perf_counter()
        envs.step(rng.integers(0, 2, size=num_envs))
    return num_envs * batches / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000, help="timed steps per single env (default 100000)")
    parser.add_argument("--num-envs", type=int, default=4096, help="episodes per vector env (default 4096)")
    parser.add_argument("--batches", type=int, default=300, help="timed batched steps per vector env (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    console = Console()
    synthetic = DnnGraphGenerator(seed=args.seed, num_nodes=1000)(0)
    single_steps_per_s("RespectPipeline-v1", "resnet50", 5000, args.seed)  # untimed: imports, compiled kernels
    single = Table(title="single envs (one core)")
    for column in ("env", "graph", "nodes", "steps/s"):
        single.add_column(column, justify="left" if column in ("env", "graph") else "right")
    compact_single = 0.0
    for env_id, extra, label in (("RespectPipeline-v1", {}, "v1"), ("RespectPipeline-v1", {"observation": "compact"},
                                 "v1 compact"), ("RespectPipeline-v0", {}, "v0")):
        for graph, model, kwargs in (("resnet50 fused", "resnet50", {}),
                                     ("resnet50 layers", "resnet50", {"granularity": "layers"}),
                                     ("synthetic dnn", synthetic, {"max_nodes": 1024, "max_edges": 4096})):
            rate, nodes = single_steps_per_s(env_id, model, args.steps, args.seed, **kwargs, **extra)
            if label == "v1 compact" and graph == "resnet50 fused":
                compact_single = rate
            single.add_row(label, graph, str(nodes), f"{rate:,.0f}")
    single.add_row("CartPole-v1", "", "", f"{cartpole_steps_per_s(args.steps, args.seed):,.0f}")
    console.print(single)

    n = args.num_envs
    vector = Table(title=f"native vector envs, {n} episodes (one core), resnet50 fused (74 nodes)")
    for column in ("env", "observation", "reward", "steps/s", "x single compact", "memory MiB"):
        vector.add_column(column, justify="left" if column in ("env", "observation", "reward") else "right")
    for observation, reward in (("compact", "terminal"), ("compact", "dense"), ("graph", "terminal")):
        rate, nbytes = vector_steps_per_s(n, args.batches, args.seed, model="resnet50", observation=observation,
                                          reward_mode=reward)
        vector.add_row("v1 native vector", observation, reward, f"{rate:,.0f}", f"{rate / compact_single:,.0f}",
                       f"{nbytes / 2**20:,.1f}")
    rate = cartpole_vector_steps_per_s(n, args.batches, args.seed)
    vector.add_row("CartPole-v1 vector", "", "", f"{rate:,.0f}", "", "")
    console.print(vector)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    console.print(f"process peak RSS: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
