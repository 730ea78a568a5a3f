"""Replica of libcoral's profiling-based partitioner, with the cost model as the "profiler".

libcoral's ``partition_with_profiling`` (google-coral/libcoral, ``coral/tools/partitioner``) starts from the compiler's split
and bisects a target latency between its fastest and slowest segment. A probe walks the fixed
(compiler DFS) topological order: each segment starts as long as possible and shrinks one op at a
time until its latency is within the target; when the remaining segments cannot be made feasible
the probe backtracks and shrinks the previous segment further. A feasible probe lowers the upper
end to its actual bottleneck, an infeasible one raises the lower end; the search stops when
``upper - lower <= delta_ms`` (libcoral's default: 1 ms).

The latencies of all segments starting at a position are computed in one batch and cached, and
failed (position, segment) probes are memoised, so a probe costs at most O(K n) cached lookups.
Under a time limit the clock is read before each batch of segment latencies (one start position,
``O(n^2)`` mask cells: a few ms at 1,000 nodes), so a probe cut short by the deadline returns the
best split found so far (at first the compiler's) within about one batch of the limit; a probe
on a 1,000-node layered graph computes hundreds of batches, and without the check a "1 s" solve
ran 14-21 s. Option: ``delta_ms`` (default 1.0). Deterministic without a time limit; ignores the seed.
"""

from __future__ import annotations

import numpy as np

from respect_gym.problem.objectives import Latency, Period
from respect_gym.solvers.base import Problem, SolverOutput
from respect_gym.solvers.compiler import compiler_schedule, dfs_topological_order
from respect_gym.solvers.cuts import stages_from_cuts


class _OutOfTime(Exception):
    """The deadline passed inside a probe: the search keeps its best split so far."""


def solve_profiling(problem: Problem) -> SolverOutput:
    problem.refuse_unless("profiling", Period, Latency)  # it balances stage times
    delta = float(problem.take_options("profiling", delta_ms=1.0)["delta_ms"])
    graph, k = problem.graph, problem.num_stages
    order = dfs_topological_order(graph)
    n = order.shape[0]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    positions = np.arange(n + 1)
    rows: dict[int, np.ndarray] = {}

    def seg_costs(start: int) -> np.ndarray:
        """Latency of segment order[start:end] for every end in 0..n (inf before start)."""
        if start not in rows:
            if problem.out_of_time():
                raise _OutOfTime
            ends = positions[start + 1 :]
            masks = (rank[None, :] >= start) & (rank[None, :] < ends[:, None])
            rows[start] = np.concatenate([np.full(start + 1, np.inf), problem.batch_cost(masks)])
            rows[start][start] = 0.0
        return rows[start]

    def probe(target: float) -> list[int] | None:
        failed: set[tuple[int, int]] = set()

        def place(start: int, segment: int) -> list[int] | None:
            if segment == k - 1:
                return [n] if seg_costs(start)[n] <= target else None
            if (start, segment) in failed:
                return None
            costs = seg_costs(start)
            for end in range(n, start, -1):  # longest first, shrinking one op at a time
                if costs[end] <= target:
                    rest = place(end, segment + 1)
                    if rest is not None:
                        return [end] + rest
            failed.add((start, segment))
            return None

        return place(0, 0)

    stages = compiler_schedule(graph, k)
    report = problem.cost_model.evaluate(stages, k)
    upper = float(report.bottleneck_ms)
    lower = float(np.min(report.stage_ms))
    while upper - lower > delta and not problem.out_of_time():  # probe recursion depth is K
        target = (upper + lower) / 2
        try:
            ends = probe(target)
        except _OutOfTime:
            break
        if ends is None:
            lower = target
            continue
        stages = stages_from_cuts(order, np.asarray(ends[:-1]))
        upper = float(problem.cost_model.evaluate(stages, k).bottleneck_ms)
    return SolverOutput(stages=stages, status="heuristic")
