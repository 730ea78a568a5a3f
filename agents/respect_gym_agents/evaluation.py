"""The evaluation table: an agent against the proven optimum and the baselines on the zoo.

Every Keras zoo model (fused) x K in {2, 4, 6, 8}, and the ``layers`` graphs at K = 4: the
agent's objective value (the period in ms, the quantity ``exact`` minimises and the env rewards;
the ``*_ms`` columns), the ``exact`` value (proven, or best with its proven bound under the time
limit), the gap on that objective, the speed-up over ``compiler`` on it, the agent's wall time per graph on one CPU thread, and the
same for ``slicegraph`` and ``profiling``. ``cut_imitation`` and ``cut_ppo`` are the cut policies'
greedy schedules (always the policy alone, :mod:`respect_gym_agents.cut_solver`), and
``probe_rule`` the same features read by a fixed rule (no learning); ``order_pointer`` is the order
policy alone in RESPECT's formulation (its greedy order, cut optimally as ``RespectOrder-v1`` cuts,
:mod:`respect_gym_agents.order_solver`) and ``order_plain_cut`` its no-learning control (the same cut
of the plain topological order, the env's ``topological_value``); ``*_raw``
columns are the graph policies' greedy schedules alone; ``ppo_sampled`` is the best of the greedy
and :data:`SAMPLES` episodes drawn from the PPO policy (no re-cut, no solver: what the learned
policy finds by itself). None of these graphs is ever used in training.
Times are per solve in a process whose solvers are loaded (each process first plays one discarded
row on a small synthetic graph). Instances run one per task (:mod:`respect_gym.parallel`): one at a time by default, in
``workers`` processes or as Ray tasks; rows come back in instance order whatever runs them.
"""

from __future__ import annotations

import functools
import os
import statistics
import time
from typing import Any

import respect_gym
from respect_gym.parallel import map_tasks
from respect_gym_agents import checkpoints, cut_solver, order_solver
from respect_gym_agents import solver as agent_solver

BASELINES = ("slicegraph", "profiling")
CONTROL = "visit_order_recut"  # no learning: the exact cut of the env's own visit order
# what the policies do alone first, then the policies plus the exact re-cut beside the control
CUT_POLICIES = ("cut_imitation", "cut_ppo")  # solvers that are the policy alone
PROBE_RULE = "probe_rule"  # no learning: the cut policies' own features read by a fixed rule
ORDER_POLICY = order_solver.NAME  # RespectOrder-v1: the pointer policy's greedy order, cut optimally
ORDER_CONTROL = "order_plain_cut"  # no learning: the same optimal cut of the plain topological order
AGENTS = (*CUT_POLICIES, PROBE_RULE, ORDER_POLICY, ORDER_CONTROL, "imitation_raw", "ppo_raw", "ppo_sampled",
          "imitation", "ppo", CONTROL, *BASELINES)
SAMPLES = 16  # episodes drawn from the policy for ppo_sampled
FUSED_KS = (2, 4, 6, 8)
LAYERS_K = 4


def instances() -> list[tuple[str, str, int]]:
    """``(model, granularity, K)`` of the table."""
    models = [m for m in respect_gym.list_models() if not m.startswith("respect/")]
    return [(m, "fused", k) for m in models for k in FUSED_KS] + [(m, "layers", LAYERS_K) for m in models]


def evaluate_instance(model: str, granularity: str, k: int, checkpoint: str, time_limit: float,
                      ppo_checkpoint: str | None = None, agents: tuple[str, ...] = AGENTS) -> dict[str, Any]:
    """One row: values, gaps and speed-ups of the agent and the baselines on one zoo instance."""
    graph = respect_gym.load_graph(model, granularity)
    return {"model": model, "granularity": granularity,
            **evaluate_graph(graph, k, checkpoint, time_limit, ppo_checkpoint, agents)}


def evaluate_graph(graph, k: int, checkpoint: str, time_limit: float, ppo_checkpoint: str | None = None,
                   agents: tuple[str, ...] = AGENTS) -> dict[str, Any]:
    """One row of any graph (:func:`evaluate_instance` without the zoo name)."""
    exact = respect_gym.solve(graph, k, "exact", time_limit=time_limit)
    compiler = respect_gym.solve(graph, k, "compiler").objective_value
    row: dict[str, Any] = {"k": k, "nodes": graph.num_nodes, "objective": exact.objective, "exact_ms": exact.objective_value,
                           "exact_bound_ms": exact.objective_bound, "exact_proven": exact.optimal,
                           "compiler_ms": compiler}
    ppo = ppo_checkpoint or str(checkpoints.shipped("ppo"))
    runs = {"imitation": ("imitation", {"checkpoint": checkpoint}),
            "imitation_raw": ("imitation", {"checkpoint": checkpoint, "refine": False}),
            "ppo": ("ppo", {"checkpoint": ppo}),
            "ppo_raw": ("ppo", {"checkpoint": ppo, "refine": False}),
            "ppo_sampled": ("ppo", {"checkpoint": ppo, "refine": False, "samples": SAMPLES}),
            **{name: (name, {}) for name in (*CUT_POLICIES, ORDER_POLICY, *BASELINES)}}
    for name in (a for a in AGENTS if a in agents):
        if name == CONTROL:
            value, seconds = visit_order_recut(graph, k)
        elif name == PROBE_RULE:
            value, seconds = probe_rule(graph, k)
        elif name == ORDER_CONTROL:
            value, seconds = plain_order_cut(graph, k)
        else:
            solver, options = runs[name]
            result = respect_gym.solve(graph, k, solver, **options)
            value, seconds = result.objective_value, result.seconds
            if "order_seconds" in result.info:  # order_pointer: the policy's own share (encoder + decoding)
                row[f"{name}_policy_seconds"] = result.info["order_seconds"]
        row[f"{name}_ms"] = value
        row[f"{name}_gap_pct"] = 100.0 * (value / exact.objective_value - 1.0)
        row[f"{name}_speedup"] = compiler / value
        row[f"{name}_seconds"] = seconds
    return row


def visit_order_recut(graph, k: int) -> tuple[float, float]:
    """The re-cut rows' control that learns nothing: the graph policies' post-processing (the
    objective's cut, exact up to ``DP_MAX_NODES`` = 500 nodes and the bisection heuristic above) of
    ``graph.topological_order``, the order the env visits, into ``k`` stages, and its seconds. Up
    to 500 nodes it is :func:`plain_order_cut`, the ceiling of every cut policy."""
    from respect_gym.cost.model import CostModel
    from respect_gym.problem.objectives import Period
    from respect_gym.solvers.stagecost import BatchStageCost

    start = time.perf_counter()
    cost_model = CostModel(graph)
    value, _ = Period().best_cut(cost_model, BatchStageCost(cost_model), graph.topological_order, k)
    return value, time.perf_counter() - start


def plain_order_cut(graph, k: int) -> tuple[float, float]:
    """The order policy's control that learns nothing: the value of ``RespectOrder-v1``'s cut (exact
    at every size) of the plain topological order, what the env's repair plays, and its seconds."""
    from respect_gym.problem.instance import Instance
    from respect_gym_agents.order_policy import order_cut

    start = time.perf_counter()
    value, _ = order_cut(Instance.build(graph, k), graph.topological_order)
    return value, time.perf_counter() - start


def probe_rule(graph, k: int) -> tuple[float, float]:
    """The control for the cut policies' features: their episode when a fixed rule reads the
    decision view (open the next stage when ``cut_probe_ms < stay_probe_ms``), and its seconds."""
    from respect_gym.problem.features import DECISION_FEATURES
    from respect_gym.problem.instance import Instance
    from respect_gym_agents.cut_policy import cut_schedules

    start = time.perf_counter()
    instance = Instance.build(graph, k)
    stay, cut = DECISION_FEATURES.index("stay_probe_ms"), DECISION_FEATURES.index("cut_probe_ms")
    stages = cut_schedules(lambda x, mask: mask[:, 1] & (x[:, cut] < x[:, stay]), [instance])[0]
    return instance.evaluate(stages)[0], time.perf_counter() - start


def summary(rows: list[dict[str, Any]], name: str) -> dict[str, float]:
    """Mean / max gap %, share better than the compiler, median time per graph (ms)."""
    gaps = [r[f"{name}_gap_pct"] for r in rows]
    better = [r[f"{name}_ms"] < r["compiler_ms"] * (1 - 1e-9) for r in rows]
    return {"mean_gap_pct": statistics.fmean(gaps), "max_gap_pct": max(gaps),
            "better_than_compiler_pct": 100.0 * sum(better) / len(rows),
            "median_ms_per_graph": 1e3 * statistics.median(r[f"{name}_seconds"] for r in rows),
            "max_ms_per_graph": 1e3 * max(r[f"{name}_seconds"] for r in rows)}


def _row(task: tuple[str, str, int, str, float, str, tuple[str, ...]]) -> dict[str, Any]:
    agent_solver.register()  # a Ray worker has not imported the agents' solvers yet
    cut_solver.register()
    order_solver.register()
    _, _, _, checkpoint, _, ppo_checkpoint, agents = task
    warm_up(checkpoint, ppo_checkpoint, agents)
    return evaluate_instance(*task)


@functools.cache
def warm_up(checkpoint: str, ppo_checkpoint: str, agents: tuple[str, ...]) -> None:
    """Play one row on a 30-node synthetic graph (discarded) once per process, so that loading the
    checkpoints and the compiled kernels (30-70 ms, once per process) is not charged to whichever
    zoo instance a worker happens to draw first: the times are those of a solver already loaded."""
    from respect_gym.generators import DnnGraphGenerator

    evaluate_graph(DnnGraphGenerator(seed=0, num_nodes=30)(0), 2, checkpoint, 1.0, ppo_checkpoint, agents)


def evaluate_zoo(checkpoint: str | os.PathLike, time_limit: float = 30.0,
                 ppo_checkpoint: str | os.PathLike | None = None, workers: int | None = 1,
                 ray_address: str | None = None, agents: tuple[str, ...] = AGENTS) -> list[dict[str, Any]]:
    """All rows of the table (see the module docstring), printing the summaries; ``agents``: the columns."""
    ppo_path = str(ppo_checkpoint or checkpoints.shipped("ppo"))
    todo = instances()
    rows = map_tasks(_row, [(m, g, k, str(checkpoint), time_limit, ppo_path, agents) for m, g, k in todo],
                     names=[f"{m}/{g}/K={k}" for m, g, k in todo], workers=workers, ray_address=ray_address,
                     description="evaluating")
    for granularity in ("fused", "layers"):
        part = [r for r in rows if r["granularity"] == granularity]
        for name in agents:
            print(granularity, name, {k: round(v, 2) for k, v in summary(part, name).items()})
    return rows
