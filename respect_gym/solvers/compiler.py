"""Replica of the vendor's segmentation: libcoral's ParameterCountBasedPartitioner.

This is the "commercial compiler" baseline (``edgetpu_compiler --num_segments=K``): it balances
parameter bytes only and ignores compute, activations and transfers (libcoral's
``ParameterCountBasedPartitioner``, google-coral/libcoral; Coral's docs: "each segment has roughly the
same amount of parameter data").

1. Order the ops by a stack-based DFS topological sort in which nodes without consumers (graph
   outputs) are set aside and run last.
2. ``target = total_params // K + 1``.
3. Fill segments 0..K-2 greedily in that order while ``size + next op <= target`` (a segment
   takes at least one op), never past the first output node: every output lands in the last
   segment, which takes the rest.

Segments are contiguous in a topological order, so the schedule is always valid. With fewer ops
than segments the trailing segments stay empty.
"""

from __future__ import annotations

import numpy as np

from respect_gym.graph import Graph
from respect_gym.solvers.base import Problem, SolverOutput


def dfs_topological_order(graph: Graph) -> np.ndarray:
    """Stack-based (LIFO) topological sort; nodes without consumers are appended last.

    Ready nodes are pushed in decreasing index order so the smallest index pops first, and a
    node's consumers become ready as its last producer is popped, so chains run depth-first.
    """
    indeg = graph.in_degree.tolist()
    succs = [s.tolist() for s in graph.successors]
    outputs = [v for v in range(graph.num_nodes) if not succs[v]]
    stack = [v for v in reversed(range(graph.num_nodes)) if indeg[v] == 0 and succs[v]]
    order: list[int] = []
    while stack:
        u = stack.pop()
        order.append(u)
        for v in reversed(succs[u]):
            indeg[v] -= 1
            if indeg[v] == 0 and succs[v]:
                stack.append(v)
    return np.asarray(order + outputs, dtype=np.int64)  # outputs' producers are all ordered by now


def parameter_count_split(params: np.ndarray, order: np.ndarray, num_stages: int, first_output: int) -> np.ndarray:
    """Stage per position of ``order`` under the greedy parameter-count rule.

    :param params: parameter bytes per node.
    :param first_output: position in ``order`` of the first output node (segments 0..K-2 end
        before it).
    """
    target = int(params.sum()) // num_stages + 1
    stage_of_pos = np.full(order.shape[0], num_stages - 1, dtype=np.int64)
    pos = 0
    for stage in range(num_stages - 1):
        size, count = 0, 0
        while pos < first_output:
            p = int(params[order[pos]])
            if count and size + p > target:
                break
            stage_of_pos[pos] = stage
            size, count, pos = size + p, count + 1, pos + 1
    return stage_of_pos


def compiler_schedule(graph: Graph, num_stages: int) -> np.ndarray:
    """The vendor-style split of ``graph`` into ``num_stages`` segments, as a stage per node."""
    order = dfs_topological_order(graph)
    is_output = graph.out_degree[order] == 0
    first_output = int(np.argmax(is_output)) if is_output.any() else order.shape[0]
    stage_of_pos = parameter_count_split(graph.param_bytes, order, num_stages, first_output)
    stages = np.empty(graph.num_nodes, dtype=np.int64)
    stages[order] = stage_of_pos
    return stages


def solve_compiler(problem: Problem) -> SolverOutput:
    """Registry entry: the vendor split (deterministic; ignores the objective and the seed)."""
    problem.take_options("compiler")
    return SolverOutput(stages=compiler_schedule(problem.graph, problem.num_stages), status="heuristic")
