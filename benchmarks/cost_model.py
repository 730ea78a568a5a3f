"""Speed of the cost model: full evaluation and incremental steps on real and synthetic graphs.

Usage: ``python benchmarks/cost_model.py [--repeat N]``. Prints, per graph, the time of one
``CostModel.evaluate`` of a random valid 4-stage schedule and the mean time of one incremental
step of the problem kernel (``respect_gym.problem.step`` on a one-episode state, the env's
transition; plus a full episode), and checks that the kernel's report equals the full evaluation.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from respect_gym.cost import CostModel
from respect_gym.generators import DnnGraphGenerator
from respect_gym.graph import Graph
from respect_gym.problem import Instance, State, reset, step
from respect_gym.zoo import load_graph

NUM_STAGES = 4


def order_cut_schedule(graph: Graph, rng: np.random.Generator, k: int) -> np.ndarray:
    """A random valid schedule: random cuts of the topological order."""
    cuts = np.sort(rng.choice(np.arange(1, graph.num_nodes), size=k - 1, replace=False))
    st = np.zeros(graph.num_nodes, dtype=np.int64)
    st[graph.topological_order] = np.searchsorted(cuts, np.arange(graph.num_nodes), side="right")
    return st


def bench(name: str, graph: Graph, repeat: int) -> None:
    rng = np.random.default_rng(0)
    model = CostModel(graph)
    schedules = [order_cut_schedule(graph, rng, NUM_STAGES) for _ in range(repeat)]
    start = time.perf_counter()
    reports = [model.evaluate(st, NUM_STAGES) for st in schedules]
    full_ms = 1e3 * (time.perf_counter() - start) / repeat
    instance = Instance.build(graph, NUM_STAGES, cost_model=model)
    state = State.for_instance(instance, 1, graph.num_nodes)
    row = np.zeros(1, dtype=np.int64)
    actions = [[np.array([s]) for s in st[graph.topological_order].tolist()] for st in schedules]
    reset(state, row, [instance])
    step(state, row, actions[0][0])  # untimed: loads the compiled kernel
    start = time.perf_counter()
    for episode in actions:
        reset(state, row, [instance])
        for action in episode:
            step(state, row, action)
    episode_ms = 1e3 * (time.perf_counter() - start) / repeat
    assert np.array_equal(state.report(0).stage_ms, reports[-1].stage_ms)
    print(f"| {name} | {graph.num_nodes} | {full_ms:.3f} | {1e3 * episode_ms / graph.num_nodes:.2f} | {episode_ms:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print("| graph | nodes | full evaluate ms | incremental step us | incremental episode ms |")
    print("|---|---|---|---|---|")
    for name in ("resnet50", "densenet201"):
        bench(name, load_graph(name), args.repeat)
    bench("dnn-10k (DnnGraphGenerator seed 0)", DnnGraphGenerator(seed=0, num_nodes=10_000)(0), max(1, args.repeat // 4))


if __name__ == "__main__":
    main()
