"""``slicegraph``: optimal cuts of topological orders, searched by a biased random-key GA.

After Archer et al. (ICML 2024): every schedule is a contiguous cut of some topological order,
and the best cut of one order is a DP (:func:`~respect_gym.solvers.cuts.best_cut`). The search
over orders is a biased random-key genetic algorithm (Goncalves and Resende): a key vector
decodes to the topological order that always runs the ready node with the smallest key; each
generation keeps the elite, adds random mutants, and breeds the rest by taking each key from the
elite parent with probability ``bias``. The initial population holds the canonical and the
compiler's DFS orders, so the result is never worse than the best cut of either.

Options: ``generations`` (default 5), ``population`` (10), ``elite`` (0.25), ``mutants`` (0.2),
``bias`` (0.7), ``dp_max_nodes`` (see :mod:`cuts`). Graphs above ``dp_max_nodes`` get the initial
population only, each order cut by bisection.

A time limit is kept cut by cut: the first order is always cut (a schedule is always returned),
by the DP only if its estimate (:func:`~respect_gym.solvers.cuts.dp_cut_seconds`) fits in the time
left, else by the bisection heuristic; another order is cut only while the time left exceeds the
last cut's duration, by the same rule (hard-v1's 300-node graph at a 1 s limit took 5.4-6.7 s when
its first population was always cut). Deterministic under ``seed`` unless a time limit stops it early.
Each order is cut for the problem's objective (:meth:`respect_gym.problem.objectives.Objective.best_cut`:
the period with the host's per-stage work, one input's latency, or the paper cost).
"""

from __future__ import annotations

import time

import numpy as np

from respect_gym.solvers.base import Problem, SolverOutput
from respect_gym.solvers.compiler import dfs_topological_order
from respect_gym.solvers.cuts import DP_MAX_NODES, dp_cut_seconds, key_order


def solve_slicegraph(problem: Problem) -> SolverOutput:
    opts = problem.take_options("slicegraph", generations=5, population=10, elite=0.25, mutants=0.2, bias=0.7,
                                dp_max_nodes=DP_MAX_NODES)
    generations, size = int(opts["generations"]), int(opts["population"])
    n_elite = max(1, int(round(float(opts["elite"]) * size)))
    n_mutants = max(0, int(round(float(opts["mutants"]) * size)))
    bias, dp_max = float(opts["bias"]), int(opts["dp_max_nodes"])
    graph = problem.graph
    n = graph.num_nodes
    rng = np.random.default_rng(problem.seed)

    incumbent = [np.inf]
    seen: dict[bytes, tuple[float, np.ndarray]] = {}
    last_cut = [0.0]  # seconds the last cut took

    def evaluate(keys: np.ndarray) -> tuple[float, np.ndarray]:
        # many key vectors decode to the same order (all of them on a chain): cut each order once;
        # pruning by the incumbent makes non-improving orders cheap, they score inf
        order = key_order(graph, keys)
        key = order.tobytes()
        if key not in seen:
            left = problem.time_left()
            start = time.perf_counter()
            seen[key] = problem.best_cut(order, upper=incumbent[0],
                                         dp_max_nodes=dp_max if left is None or dp_cut_seconds(n) <= left else 0)
            last_cut[0] = time.perf_counter() - start
            incumbent[0] = min(incumbent[0], seen[key][0])
        return seen[key]

    def time_for_another() -> bool:
        left = problem.time_left()
        return left is None or left > last_cut[0]

    population = [_rank_keys(graph.topological_order), _rank_keys(dfs_topological_order(graph))]
    population += [rng.random(n) for _ in range(max(0, size - len(population)))]
    scored = [(evaluate(population[0]), population[0])]
    scored += [(evaluate(keys), keys) for keys in population[1:] if time_for_another()]
    evaluations = len(scored)
    if n <= dp_max:
        for _ in range(generations):
            if not time_for_another():
                break
            scored.sort(key=lambda item: item[0][0])
            elite = scored[:n_elite]
            children = [rng.random(n) for _ in range(n_mutants)]
            while len(children) + n_elite < size:
                a = elite[rng.integers(n_elite)][1]
                b = scored[rng.integers(n_elite, len(scored))][1] if len(scored) > n_elite else rng.random(n)
                children.append(np.where(rng.random(n) < bias, a, b))
            bred = [(evaluate(keys), keys) for keys in children if time_for_another()]
            scored = elite + bred
            evaluations += len(bred)
    (_, stages), _ = min(scored, key=lambda item: item[0][0])
    return SolverOutput(stages=stages, status="heuristic", info={"orders_decoded": evaluations, "orders_cut": len(seen)})


def _rank_keys(order: np.ndarray) -> np.ndarray:
    """Keys that decode back to ``order``."""
    keys = np.empty(order.shape[0], dtype=np.float64)
    keys[order] = np.arange(order.shape[0]) / max(1, order.shape[0])
    return keys
