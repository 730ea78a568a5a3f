"""Partial schedules that a solution must extend (``exact``'s ``fixed`` option, DAgger's expert)."""

from __future__ import annotations

import numpy as np

from respect_gym.graph import Graph
from respect_gym.solvers.base import Problem, SolverError


def check_fixed(problem: Problem, fixed) -> np.ndarray | None:
    """The ``fixed`` option as an int array (-1 = free), or ``None``; refuses a partial schedule
    that no complete one extends (wrong length, stage out of range, precedence violated)."""
    if fixed is None:
        return None
    graph, k = problem.graph, problem.num_stages
    try:
        arr = np.asarray(fixed)
        if arr.dtype.kind not in "iu":
            raise TypeError
        arr = arr.astype(np.int64)
    except (TypeError, ValueError):
        raise SolverError("exact: fixed must be a sequence of integer stages (-1 = free)") from None
    if arr.shape != (graph.num_nodes,):
        raise SolverError(f"exact: fixed has shape {arr.shape}, the graph has {graph.num_nodes} nodes")
    if arr.min(initial=-1) < -1 or arr.max(initial=-1) >= k:
        raise SolverError(f"exact: fixed stages must be -1 (free) or in 0..{k - 1}")
    reach = feasible_completion(graph, arr)
    bad = np.flatnonzero((arr >= 0) & (reach > arr))
    if bad.size:
        v = int(bad[0])
        raise SolverError(f"exact: fixed stages violate precedence: node {graph.names[v]!r} is fixed to stage "
                          f"{arr[v]} but an ancestor is fixed to stage {reach[v]}")
    return arr


def feasible_completion(graph: Graph, fixed: np.ndarray) -> np.ndarray:
    """Each node's smallest stage given the fixed ones: the largest fixed stage among it and its
    ancestors (0 if none). A valid schedule extending ``fixed`` whenever one exists."""
    stage = np.maximum(fixed, 0).astype(np.int64)
    for v in graph.topological_order.tolist():
        preds = graph.predecessors[v]
        if preds.size:
            stage[v] = max(stage[v], int(stage[preds].max()))
    return stage
