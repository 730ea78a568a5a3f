"""Exact schedules for large ideal lattices: an order-encoded CP-SAT model of the cost model.

Variables (the order or "prefix" encoding of pipeline partitioning MILPs, e.g. Tarnawski et al.,
NeurIPS 2020): ``y[v, k]`` = stage of v <= k, monotone in k and closed under
predecessors; ``x[v, k] = y[v, k] - y[v, k-1]``. The latency objective encodes the cost model of
:mod:`respect_gym.cost.model` term by term, exactly:

* ``used[k]``: the stage holds an op (pays the invoke overhead); stages are non-empty first
  (symmetry breaking, dropped when nodes are fixed: relabelling removes an empty stage without changing any stage's node set;
  host-side ``Input`` nodes cost nothing anywhere and are fixed to stage 0);
* cache capacity ``cache - min(cache, floor(reserve * max act))`` through ``z[k, j]`` = "the stage
  holds an op whose working set is >= the j-th distinct value";
* first-fit caching in execution order: ``fill[i, k]`` bytes cached before the i-th weighted
  layer; ``c[i, k]`` (cached) implies the layer fits, and a present layer that is not cached
  implies it does not fit;
* transfers: one per (producer tensor, consumer stage) in, one per producer read later out, and
  graph outputs (one-sided indicators suffice: they only add cost); layers above the cost
  model's ``max_layer_bytes`` are never cached;
* period: ``T >= L[k]``, ``T >= host_stage_ms * sum_k used[k]``, ``T >=`` the combinatorial
  bound, ``K T >= sum_k L[k]``; minimise ``T``. Latency (one input): minimise
  ``sum_k L[k] + handoff_ms * sum_k used[k]``.

Latencies are integers in picoseconds (:data:`UNITS_PER_MS`); each term is rounded, so a stage's
scaled latency is within ``slack`` units (half a unit per term) of the true one. The bound
reported is ``(CP-SAT best bound - slack) / UNITS_PER_MS``, and ``optimal`` means CP-SAT proved
its optimum AND the true bottleneck of the returned schedule is within
:data:`OPTIMALITY_RTOL` (one part per million) of that bound. The ``paper`` objective (memory in
bytes, crossings as integers) has no rounding when its weights scale to integers.

The solver is warm-started (``AddHint``) with the better of the compiler replica and a short
``slicegraph`` search, whose value also bounds the objective from above (plus the rounding
slack, so the hint stays feasible), and adds prefix/suffix cuts: a node on a stage <= s drags its ancestors'
compute (and an invoke) onto the first s + 1 stages, so ``(s + 1) T`` bounds it; likewise for
descendants and the last stages. With that upper bound on ``T`` these fix many ``y`` in presolve.

Search (option ``search``). ``"single"`` (default): one CP-SAT worker without the LP relaxation
and without presolve probing. The objectives are a max or a sum of indicator-weighted terms, whose
LP relaxation bounds them weakly: in the parallel portfolio's logs the proof came from the no-LP
worker's clause learning, while the LP workers and probing (three rounds of ~1.4 s on
nasnet_mobile fused K=8) took most of the 2 cores. Measured here with ``benchmarks/solvers.py``
(revision 3, 30 s per solve, one search after the other on an idle machine): fused zoo 126/126
proven, the slowest (nasnet_mobile K=8) in 6 s, where the portfolio proved 125 (K=8 takes it
15-40 s); on the 18 layers instances that reach CP-SAT (inception_v3, inception_resnet_v2,
nasnet_mobile), 16 proven by both, median 4.4 s against 4.8 s, the hardest faster (inception_resnet_v2
K=8 13 s against 29 s) and some slower (nasnet_mobile K=4 21 s against 13 s; records in
``benchmarks/results/solvers_layers_cpsat_*.json``). ``"portfolio"``: CP-SAT's parallel portfolio,
``max(4, os.cpu_count())`` workers with its default LP and probing, e.g. for many-core machines.

Size. Memory grows with the number of (node, stage) cells (:data:`MAX_MODEL_CELLS`, about 0.5 GB
at the limit) plus, up to :data:`CLOSURE_MAX_NODES` nodes, the closure of the prefix / suffix cuts;
a larger problem, or one whose model would take more than half the time limit to build
(:data:`BUILD_SECONDS_PER_CELL`), gets the warm start (the compiler split, and a slicegraph pass
unless that too would take half the limit, :data:`WARM_START_SECONDS_PER_NODE`) and the
combinatorial bound, ``info["method"] = "warm start only"`` with the reason: never a proof, always
a schedule, within the limit (a 100,000-node ``DnnGraphGenerator(seed=0, num_nodes=100_000)(0)`` graph at
``--time-limit 5``: solved in 1.1 s, the whole ``respect-gym schedule`` run 5.0 s and 1.0 GB peak here). Both decisions
depend on the limit, not on the time left, so the same inputs take the same path on any machine.

Determinism. A proven optimum's value never varies. The single search is deterministic: the same
(graph, K, seed, options) give the same schedule, unless a wall-clock ``time_limit`` stops it,
where the incumbent depends on the machine's speed. The portfolio runs free: among tied optima,
and under a time limit, the schedule may differ between runs. Option ``deterministic=True`` makes
either reproducible on a given machine: the limit is counted in CP-SAT's deterministic time
(option ``deterministic_time``, else the problem's ``time_limit`` times the search's ratio of
deterministic to wall seconds in :data:`DTIME_PER_SECOND`, measured here), the wall clock is only a
safety net at :data:`WALL_BACKSTOP` times the time left (if it fires, ``info["deterministic"]`` is
``False``), and the portfolio's workers are interleaved in deterministic batches
(``interleave_search``), which on 2 cores proved nasnet_mobile fused K=3 in 16 s instead of 9 s and
K=8 in 101 s instead of 34-68 s. Expert labels for the agents use the deterministic
portfolio, so label files and the shipped checkpoints still reproduce.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
from ortools.sat.python import cp_model, cp_model_helper

from respect_gym.cost.model import first_fit
from respect_gym.cost.paper import EDGE_WEIGHT, MEMORY_UNIT_BYTES, MEMORY_WEIGHT
from respect_gym.problem.objectives import Latency
from respect_gym.solvers.base import Problem, SolverOutput
from respect_gym.solvers.bounds import closure_sums, combinatorial_lower_bound_ms
from respect_gym.solvers.compiler import compiler_schedule
from respect_gym.solvers.fixed import feasible_completion

UNITS_PER_MS = 10**9
OPTIMALITY_RTOL = 1e-6
PAPER_UNITS = 10**6
# CP-SAT deterministic s per wall s on 2 cores: single search (measured 0.35 to 0.92),
# interleaved portfolio (0.5 to 0.86)
DTIME_PER_SECOND = {"single": 0.65, "portfolio": 0.7}
WALL_BACKSTOP = 2.0
# the portfolio gains its bound-proving subsolvers from 4 workers on (2 cores, nasnet_mobile fused,
# 30 s: 2 workers left K=4 and K=8 at 4-6% gaps, 4 workers proved K = 2..8)
PORTFOLIO_MIN_WORKERS = 4
# Size limits that keep memory bounded: the model holds ~10 CP-SAT variables and constraints per
# (node, stage) cell (about 1 KiB each); above MAX_MODEL_CELLS the search is skipped and the warm
# start returned with the combinatorial bound. The prefix / suffix cuts need every node's ancestor
# and descendant sums, n^2 bits of closure: only up to CLOSURE_MAX_NODES nodes (50 MB).
MAX_MODEL_CELLS = 400_000
CLOSURE_MAX_NODES = 20_000
BUILD_SECONDS_PER_CELL = 3.5e-4  # building the model in Python, measured here (120k cells: ~40 s)
WARM_START_SECONDS_PER_NODE = 6e-5  # the warm start's slicegraph pass on a large graph (100k nodes: ~6 s)


class _Core:
    """Stage-assignment variables shared by both objectives."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        graph, k = problem.graph, problem.num_stages
        self.model = m = cp_model.CpModel()
        n = graph.num_nodes
        self.y = [[m.new_bool_var(f"y{v}_{s}") for s in range(k - 1)] for v in range(n)]
        self.x = [[m.new_bool_var(f"x{v}_{s}") for s in range(k)] for v in range(n)]
        for v in range(n):
            ys = [0] + self.y[v] + [1]
            for s in range(k):
                m.add(self.x[v][s] == ys[s + 1] - ys[s])
            for s in range(k - 2):
                m.add_implication(self.y[v][s], self.y[v][s + 1])
        for u, v in graph.edges.tolist():
            for s in range(k - 1):
                m.add_implication(self.y[v][s], self.y[u][s])
        self.hint_values: dict = {}

    def stage_expr(self, weights: np.ndarray, s: int):
        nz = np.flatnonzero(weights)
        return sum(int(weights[v]) * self.x[v][s] for v in nz.tolist())

    def hint_schedule(self, stages: np.ndarray) -> None:
        for v, s in enumerate(stages.tolist()):
            for t in range(self.problem.num_stages - 1):
                self.hint_values[self.y[v][t]] = int(s <= t)
            for t in range(self.problem.num_stages):
                self.hint_values[self.x[v][t]] = int(s == t)


class _StageTimeModel(_Core):
    """Minimise the cost model's period or one-input latency (integer picoseconds)."""

    def __init__(self, problem: Problem, fixed: np.ndarray | None = None) -> None:
        super().__init__(problem)
        m, graph, cm, k = self.model, problem.graph, problem.cost_model, problem.num_stages
        hw = cm.hardware
        n = graph.num_nodes
        is_op = np.asarray(cm.is_op)
        for v in np.flatnonzero(~is_op & (graph.in_degree == 0)).tolist():
            if fixed is None or fixed[v] < 0:
                m.add(self.x[v][0] == 1)  # host-side inputs cost nothing anywhere
        scale = UNITS_PER_MS
        compute = np.rint(np.asarray(cm.compute_ms) * scale).astype(np.int64)
        extra = np.rint(np.asarray(cm.extra_ms) * scale).astype(np.int64)
        out_b = np.asarray(cm.out_bytes, dtype=np.int64)
        tensor = np.rint(out_b * cm.ms_per_link_byte * scale).astype(np.int64)
        invoke = int(round(hw.invoke_overhead_ms * scale))
        edges = graph.edges[is_op[graph.edges[:, 1]]]
        host = ~is_op
        ops = np.flatnonzero(is_op)
        sinks = np.flatnonzero(is_op & (graph.out_degree == 0))
        # activation levels and capacity
        act = np.asarray(cm.act_bytes, dtype=np.int64)
        levels = np.unique(act[ops])
        levels = levels[levels > 0]
        reserve = np.minimum(np.asarray(cm.capacity(0)) - np.asarray(cm.capacity(levels)), hw.cache_bytes)
        cache = int(cm.capacity(0))
        order = np.asarray(cm.param_order)
        params = np.asarray(cm.param_bytes, dtype=np.int64)
        # a layer whose weights plus all earlier layers' fit the smallest capacity is always cached
        smallest_cap = int(cm.capacity(int(act[ops].max()))) if ops.size else cache
        cacheable = params[order] <= cm.max_layer_bytes
        always = cacheable & (np.cumsum(params[order] * cacheable) <= smallest_cap)
        if always.all():
            levels = levels[:0]  # capacity never matters

        self.used, self.z, self.c, self.fill, self.tin, self.tout, self.lat = [], [], [], [], [], [], []
        self.lat_expr: list = []
        latency = isinstance(problem.objective, Latency)
        self.host_units = 0 if latency else int(round(cm.host_stage_ms * UNITS_PER_MS))
        terms = 1 + len(ops) + len(order) + 2 * len(np.unique(edges[:, 0])) + len(sinks)
        self.slack = 0.5 * terms
        horizon = int(compute.sum() + extra.sum() + 2 * tensor.sum() + invoke) + 1
        self.T = m.new_int_var(0, horizon, "T")
        for s in range(k):
            used = m.new_bool_var(f"used{s}")
            for v in ops.tolist():
                m.add_implication(self.x[v][s], used)
            m.add(used <= sum(self.x[v][s] for v in ops.tolist()))
            self.used.append(used)
            # z[j]: the stage holds an op with working set >= levels[j]
            z = [m.new_bool_var(f"z{s}_{j}") for j in range(len(levels))]
            for j in range(len(levels)):
                members = [self.x[v][s] for v in ops[act[ops] == levels[j]].tolist()]
                for lit in members:
                    m.add_implication(lit, z[j])
                if j + 1 < len(levels):
                    m.add_implication(z[j + 1], z[j])
                    m.add(z[j] <= z[j + 1] + sum(members))
                else:
                    m.add(z[j] <= sum(members))
            self.z.append(z)
            steps = np.diff(np.concatenate([[0], reserve])).astype(np.int64)
            cap = cache - sum(int(steps[j]) * z[j] for j in range(len(levels)) if steps[j])
            # first fit in execution order; layers in the always-fitting prefix are cached wherever
            # they land (c = x), and a fill variable exists only where a fit test needs it
            fill, cs, fills = 0, [], []
            for i, v in enumerate(order.tolist()):
                p = int(params[v])
                if always[i]:
                    c = self.x[v][s]
                else:
                    if not isinstance(fill, cp_model.IntVar):
                        var = m.new_int_var(0, cache, f"fill{s}_{i}")
                        m.add(var == fill)
                        fill = var
                        fills.append((i, var))
                    c = m.new_bool_var(f"c{s}_{i}")
                    m.add_implication(c, self.x[v][s])
                    if p > cache or not cacheable[i]:
                        m.add(c == 0)
                    else:
                        m.add(fill + p <= cap).only_enforce_if(c)
                        m.add(fill + p >= cap + 1).only_enforce_if([self.x[v][s], ~c])
                cs.append(c)
                fill = fill + p * c
            self.c.append(cs)
            self.fill.append(fills)
            # transfers: host->TPU per (tensor, stage), TPU->host per tensor read later
            tin, tout = {}, {}
            for u, v in edges.tolist():
                if u not in tin:
                    tin[u] = m.new_bool_var(f"in{s}_{u}")
                if host[u]:
                    m.add_implication(self.x[v][s], tin[u])
                else:
                    m.add(tin[u] >= self.x[v][s] - self.x[u][s])
                    if u not in tout:
                        tout[u] = m.new_bool_var(f"out{s}_{u}")
                    m.add(tout[u] >= self.x[u][s] - self.x[v][s])
            self.tin.append(tin)
            self.tout.append(tout)
            latency = (invoke * used + self.stage_expr(compute, s)
                       + sum(int(extra[v]) * (self.x[v][s] - c) for v, c in zip(order.tolist(), cs) if extra[v])
                       + sum(int(tensor[u]) * b for u, b in tin.items() if tensor[u])
                       + sum(int(tensor[u]) * b for u, b in tout.items() if tensor[u])
                       + self.stage_expr(np.where(np.isin(np.arange(n), sinks), tensor, 0), s))
            lat = m.new_int_var(0, horizon, f"L{s}")
            m.add(lat == latency)
            m.add(self.T >= lat)
            self.lat.append(lat)
            self.lat_expr.append(latency)
        for s in range(k - 1):
            if fixed is None:  # fixed nodes pin stage labels: relabelling is no longer free
                m.add_implication(self.used[s + 1], self.used[s])  # empty stages last
        self._levels, self._act, self._order, self._params, self._edges = levels, act, order, params, edges
        if isinstance(problem.objective, Latency):
            handoff = int(round(cm.handoff_ms * scale))
            self.slack = 0.5 * (terms + 2 * k)  # every term once over all stages, invoke + hand-off per stage
            self.objective = sum(self.lat) + handoff * sum(self.used)
            m.minimize(self.objective)
            return
        m.add(self.T >= self.host_units * sum(self.used))
        lower = combinatorial_lower_bound_ms(cm, k)
        m.add(self.T >= max(0, math.floor(lower * scale - self.slack)))
        m.add(k * self.T >= sum(self.lat))
        # prefix/suffix cuts: v on a stage <= s puts v and its ancestors (their compute and at least
        # one invoke) on the first s + 1 stages, v on a stage > s its descendants on the last k-1-s
        if graph.num_nodes > CLOSURE_MAX_NODES:  # the cuts are optional; their closure sums cost n^2 bits
            self.objective = self.T
            m.minimize(self.T)
            return
        before, after = closure_sums(graph, compute)
        for v in ops.tolist():
            for s in range(k - 1):
                m.add((s + 1) * self.T >= int(before[v]) + invoke).only_enforce_if(self.y[v][s])
                m.add((k - 1 - s) * self.T >= int(after[v]) + invoke).only_enforce_if(~self.y[v][s])
        self.objective = self.T
        m.minimize(self.T)

    def bound_above(self, value: float) -> None:
        """Constrain the scaled objective to at most ``value`` (ms) plus the rounding slack: valid
        for any schedule as good as ``value``, and with the prefix/suffix cuts it lets presolve fix
        many ``y`` before the search starts (nasnet_mobile K=6: proof 34 s -> 16 s)."""
        self.model.add(self.objective <= math.ceil(value * UNITS_PER_MS + self.slack))

    def hint_schedule(self, stages: np.ndarray) -> None:
        super().hint_schedule(stages)
        cm, k, h = self.problem.cost_model, self.problem.num_stages, self.hint_values
        is_op = np.asarray(cm.is_op)
        for s in range(k):
            inside = stages == s
            ops_in = inside & is_op
            h[self.used[s]] = int(ops_in.any())
            max_act = int(self._act[ops_in].max()) if ops_in.any() else 0
            for j, level in enumerate(self._levels.tolist()):
                h[self.z[s][j]] = int(max_act >= level)
            sel = inside[self._order]
            cached = np.zeros(len(self._order), dtype=bool)
            cached[sel] = first_fit(self._params[self._order[sel]], cm.capacity(max_act), cm.max_layer_bytes)
            before = np.concatenate([[0], np.cumsum(self._params[self._order] * cached)])
            for i, c in enumerate(self.c[s]):
                h[c] = int(cached[i])
            for i, var in self.fill[s]:
                h[var] = int(before[i])
            for u, b in self.tin[s].items():
                consumers = self._edges[self._edges[:, 0] == u, 1]
                h[b] = int(inside[consumers].any() and (not is_op[u] or not inside[u]))
            for u, b in self.tout[s].items():
                consumers = self._edges[self._edges[:, 0] == u, 1]
                h[b] = int(inside[u] and (~inside[consumers]).any())
        # the integer stage latencies and T too: a complete hint is taken as the first solution at
        # once, where CP-SAT spent seconds completing a partial one (nasnet_mobile K=8: ~5 s)
        for lat, expr in zip(self.lat, self.lat_expr):
            flat = cp_model_helper.FlatIntExpr(expr)
            h[lat] = int(flat.offset + sum(c * h[v] for v, c in zip(flat.vars, flat.coeffs)))
        h[self.T] = max(max(h[lat] for lat in self.lat), self.host_units * sum(h[u] for u in self.used))


class _PaperModel(_Core):
    """Minimise the RESPECT authors' objective: largest stage memory + weighted crossings."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem)
        m, graph, k = self.model, problem.graph, problem.num_stages
        params = graph.param_bytes.astype(np.int64)
        mem_coef = MEMORY_WEIGHT * PAPER_UNITS / MEMORY_UNIT_BYTES
        edge_coef = EDGE_WEIGHT * PAPER_UNITS
        self.slack = 0.0 if (mem_coef == round(mem_coef) and edge_coef == round(edge_coef)) else math.inf
        self.scale = PAPER_UNITS
        memory = m.new_int_var(0, int(params.sum()), "memory")
        for s in range(k):
            m.add(memory >= self.stage_expr(params, s))
        crossings = sum(self.y[u][s] - self.y[v][s] for u, v in graph.edges.tolist() for s in range(k - 1))
        m.minimize(int(round(mem_coef)) * memory + int(round(edge_coef)) * crossings)


def _warm_start(problem: Problem, fixed: np.ndarray | None = None,
                warm_start: str | np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """The best of the compiler split, a short slicegraph search and the ``warm_start`` solver's
    schedule (or the schedule itself), with its objective value. With ``fixed`` nodes only the
    feasible completion of the partial schedule is a candidate (the others may violate it)."""
    if fixed is not None:
        stages = feasible_completion(problem.graph, fixed)
        return stages, problem.objective_value(stages)
    candidates = [compiler_schedule(problem.graph, problem.num_stages)]
    limit = problem.time_limit  # a pass that would take most of the limit is skipped (same inputs, same path)
    affordable = limit is None or problem.graph.num_nodes * WARM_START_SECONDS_PER_NODE <= limit / 2
    if problem.objective.separable and affordable:
        from respect_gym.solvers.slicegraph import solve_slicegraph

        # exact's options stay out; no deadline, so the hint does not depend on timing
        quick = dataclasses.replace(problem, options={"generations": 2, "population": 6}, deadline=None)
        candidates.append(solve_slicegraph(quick).stages)
    if isinstance(warm_start, str):
        from respect_gym.solvers.registry import get_solver

        candidates.append(get_solver(warm_start)(dataclasses.replace(problem, options={}, deadline=None)).stages)
    elif warm_start is not None:
        from respect_gym.cost.schedule import validate_schedule

        candidates.append(validate_schedule(problem.graph, warm_start, problem.num_stages))
    return min(((c, problem.objective_value(c)) for c in candidates), key=lambda pair: pair[1])


def solve_cpsat(problem: Problem, deterministic: bool = False, deterministic_time: float | None = None,
                fixed: np.ndarray | None = None, warm_start: str | np.ndarray | None = None,
                search: str = "single") -> SolverOutput:
    """Solve with CP-SAT; see the module docstring for what ``optimal`` certifies.

    :param deterministic: a limit in deterministic time (and, for the portfolio, interleaved workers).
    :param deterministic_time: with ``deterministic``, the limit in CP-SAT deterministic seconds
        (default: derived from the problem's time limit, none without one).
    :param fixed: stage per node (-1 = free) the schedule must extend.
    :param warm_start: a solver name or a schedule added to the hint candidates.
    :param search: ``"single"`` or ``"portfolio"`` (module docstring).
    """
    hint, hint_value = _warm_start(problem, fixed, warm_start)
    cells = problem.graph.num_nodes * problem.num_stages
    limit = problem.time_limit  # not the time left: the same inputs take the same path on any machine
    if cells > MAX_MODEL_CELLS or (limit is not None and cells * BUILD_SECONDS_PER_CELL > limit / 2):
        # too large to model in bounded memory, or too large to build and search in the time left:
        # the warm start and the combinatorial bound (the registry adds it), never a proof
        reason = (f"{problem.graph.num_nodes} nodes x {problem.num_stages} stages exceed the CP-SAT model's "
                  f"{MAX_MODEL_CELLS:,} node-stage cells" if cells > MAX_MODEL_CELLS else
                  f"building the CP-SAT model (~{cells * BUILD_SECONDS_PER_CELL:.0f} s) would take most of the time left")
        return SolverOutput(stages=hint, optimal=False, objective_bound=None, status="feasible",
                            info={"method": "warm start only", "reason": reason})
    timed = problem.objective.separable  # stage times in the model; the paper cost has its own
    built = _StageTimeModel(problem, fixed) if timed else _PaperModel(problem)
    if fixed is not None:
        for v in np.flatnonzero(fixed >= 0).tolist():
            built.model.add(built.x[v][int(fixed[v])] == 1)
    scale = UNITS_PER_MS if timed else built.scale
    built.hint_schedule(hint)
    if timed:
        built.bound_above(hint_value)
    for var, value in built.hint_values.items():
        built.model.add_hint(var, value)
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.random_seed = problem.seed % 2**31
    if search == "single":
        params.num_workers = 1
        params.linearization_level = 0
        params.cp_model_probing_level = 0
    else:
        params.num_workers = max(PORTFOLIO_MIN_WORKERS, os.cpu_count() or 1)
        params.interleave_search = deterministic
    left = problem.time_left()
    if deterministic:
        if deterministic_time is None and problem.time_limit is not None:
            deterministic_time = problem.time_limit * DTIME_PER_SECOND[search]
        if deterministic_time is not None:
            params.max_deterministic_time = float(deterministic_time)
    if left is not None:
        params.max_time_in_seconds = max(0.01, (WALL_BACKSTOP if deterministic else 1.0) * left)
    status = solver.solve(built.model)
    wall_stopped = left is not None and solver.wall_time >= params.max_time_in_seconds * 0.99
    stages, value = hint, hint_value
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        found = np.asarray([[solver.value(built.x[v][s]) for s in range(problem.num_stages)]
                            for v in range(problem.graph.num_nodes)]).argmax(axis=1).astype(np.int64)
        found_value = problem.objective_value(found)
        if found_value <= value:
            stages, value = found, found_value
    bound = max(0.0, (solver.best_objective_bound - built.slack) / scale) if status != cp_model.MODEL_INVALID else 0.0
    bound = min(bound, value)
    proven = status == cp_model.OPTIMAL and value - bound <= OPTIMALITY_RTOL * value
    return SolverOutput(
        stages=stages,
        optimal=bool(proven),
        objective_bound=bound,
        status="optimal" if proven else "feasible",
        info={"method": "cpsat", "cpsat_status": solver.status_name(status),
              "cpsat_bound": float(solver.best_objective_bound) / scale, "wall_seconds": solver.wall_time,
              "deterministic_time": solver.deterministic_time, "search": search,
              "deterministic": (deterministic or search == "single") and not wall_stopped},
    )
