"""Test helpers: tiny random graphs and brute force over every valid schedule.

The brute force scores stages with ``CostModel.stage_latency_ms`` (one call per node subset) and
the paper objective with ``paper_cost``: nothing from ``respect_gym.solvers`` is used.
"""

from __future__ import annotations

import itertools

import numpy as np

from respect_gym.cost.model import CostModel
from respect_gym.cost.paper import paper_cost
from respect_gym.graph import Graph

MiB = 1024 * 1024
OPS = ("Conv2D", "DepthwiseConv2D", "Dense", "Add")


def tiny_graph(seed: int, max_nodes: int = 8) -> Graph:
    """A random DAG with an Input node, mixed op types, and weights/activations sized so that
    caching, streaming and transfers all matter."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, max_nodes + 1))
    edges = []
    for v in range(1, n):
        preds = rng.choice(v, size=int(rng.integers(1, min(v, 3) + 1)), replace=False)
        edges += [(int(u), v) for u in preds]
    op_types = ["Input"] + [OPS[int(i)] for i in rng.integers(0, len(OPS), n - 1)]
    params = [0] + [int(x) for x in rng.integers(0, 6 * MiB, n - 1)]
    macs = [0] + [int(x) for x in rng.integers(0, 3e9, n - 1)]
    out = [int(x) for x in rng.integers(1_000, 3 * MiB, n)]
    return Graph([f"n{i}" for i in range(n)], op_types, macs, params, out, edges)


def valid_schedules(graph: Graph, num_stages: int) -> np.ndarray:
    """Every schedule with ``s(u) <= s(v)`` on each edge, as a ``(S, n)`` int array."""
    allsched = np.asarray(list(itertools.product(range(num_stages), repeat=graph.num_nodes)), dtype=np.int64)
    ok = np.all(allsched[:, graph.edges[:, 0]] <= allsched[:, graph.edges[:, 1]], axis=1)
    return allsched[ok]


def brute_force(graph: Graph, num_stages: int, hardware: str = "usb3", objective: str = "period",
                revision: int | None = None) -> tuple[float, np.ndarray]:
    """Optimal objective over all valid schedules, and one schedule achieving it. The pipeline
    formulas are written out here (period = max(slowest stage, host_stage_ms * used stages),
    latency = sum of stages + handoff_ms * used stages), not taken from the report."""
    cm = CostModel(graph, hardware, revision)
    n = graph.num_nodes
    subset_ms = np.array([cm.stage_latency_ms(((bits >> np.arange(n)) & 1).astype(bool)) for bits in range(1 << n)])
    scheds = valid_schedules(graph, num_stages)
    weights = 1 << np.arange(n)
    per_stage = np.stack([subset_ms[((scheds == k) * weights).sum(axis=1)] for k in range(num_stages)], axis=1)
    used = np.stack([((scheds == k) & cm.is_op).any(axis=1) for k in range(num_stages)], axis=1).sum(axis=1)
    if objective == "period":
        value = np.maximum(per_stage.max(axis=1), cm.host_stage_ms * used)
    else:
        value = per_stage.sum(axis=1) + cm.handoff_ms * used
    best = int(np.argmin(value))
    return float(value[best]), scheds[best]


def brute_force_paper(graph: Graph, num_stages: int) -> float:
    return min(paper_cost(graph, s, num_stages) for s in valid_schedules(graph, num_stages))
