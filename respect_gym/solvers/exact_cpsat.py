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
The targets (below) add the same cuts with transfers (:meth:`_StageTimeModel.add_flow_cuts`): the
cheapest ideal holding the node, its compute plus the tensors it sends on and the host tensors it
reads, one maximum flow per node and side (:func:`~respect_gym.solvers.bounds.closure_cut_costs`).
On nasnet_mobile layers, whose early tensors cost more than their compute, they halve the
refutation that proves K=6's optimum (median over CP-SAT seeds 0-4, deterministic seconds;
``benchmarks/exact_targets.py``, README).
Deterministic solves, solves with fixed nodes (the agents' expert labels keep their search path)
and solves whose flows would take more than :data:`FLOW_SHARE` of the targets' time
(:data:`FLOW_SECONDS_PER_UNIT`) go without.

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

Targets (the period under a time limit, single search). The minimisation's own bound stays at the
root's until its search space is exhausted (nasnet_mobile layers K=6 and K=8: 3.48 ms after 30 s,
gaps 22.5% / 14.8%), while the same search refutes "a schedule with period <= t" quickly for a
``t`` well below the optimum. So the minimisation takes :data:`MINIMISE_SHARE` of the limit (a proof
it completes within that share is the one it found before), and the rest goes to targets
(:func:`_targets`) halfway between the proven bound and the incumbent: each refuted target becomes
the bound, a schedule found within one improves the incumbent, and refuting a target just below
the incumbent proves it optimal. ``info["targets"]`` lists them.
The targets' model adds boundary cuts (:meth:`_StageTimeModel.add_boundary_cuts`: the transfers
across each stage boundary, stated whole) and the flow cuts above, which refute targets sooner.
Under a wall-clock limit on two cores or more, each target is searched twice at once (:func:`_race`):
without the LP relaxation and with CP-SAT's full one (``linearization_level`` 2) and presolve
probing, the first answer wins: only the LP refutes the higher targets on the hard layered DAGs,
the search without it is faster on nasnet_mobile K=8, and with probing the LP refutes
nasnet_mobile K=6's higher targets.

Restarts (the same setting: the period under a wall-clock limit, single search, two cores or more).
The minimisation is bounded above by the warm start's period, which on branchy layered graphs is
poor (nasnet_mobile layers K=8: 5.36 ms, optimum 3.99), and presolve fixes less the looser that
bound. So beside the minimisation, on the otherwise idle second core, :func:`_restart_race`
restarts it, bounded by and hinted with the best schedule found so far, each time the
minimisation's best lies :data:`RESTART_GAIN` below where it was at the last restart; the first to
prove stops the other. The
minimisation itself is never interrupted: restarting it outright lost K=4 and K=5's near-finished
proofs. K=8 is now proven within 30 s (``benchmarks/solvers.py``, below).

Size. Memory grows with the number of (node, stage) cells (:data:`MAX_MODEL_CELLS`, about 1 GB
at the limit in a 30 s solve) plus, up to :data:`CLOSURE_MAX_NODES` nodes, the closure of the prefix / suffix cuts;
a larger problem, or one whose model would take more than half the time limit to build
(:data:`BUILD_SECONDS_PER_CELL`), gets the warm start and the combinatorial bound,
``info["method"] = "warm start only"`` with the reason: never a proof, always a schedule, within
the limit (a 100,000-node ``DnnGraphGenerator(seed=0, num_nodes=100_000)(0)`` graph at
``--time-limit 5``: solved in 1.1 s, the whole ``respect-gym schedule`` run 5.0 s and 1.0 GB peak
here). The warm start's slicegraph search runs only when its estimate (:func:`warm_start_plan`:
``O(n^3)`` DP cuts up to 500 nodes) fits in :data:`WARM_START_SHARE` of the limit (else the best
cut of the compiler's order, if that fits), and without
``deterministic`` it also stops at that deadline (the hard-v1 300-node graph at a 1 s budget took
~6 s in it before); the model's build must then fit in half of the rest. These decisions depend on
the limit, not on the time left, so the same inputs take the same path on any machine; the
searches themselves stop at the deadline, and a target runs only with the model's estimated build
time left (CP-SAT's presolve of it does not stop at the limit).

Determinism. A proven optimum's value never varies. The single search is deterministic: the same
(graph, K, seed, options) give the same schedule, unless a wall-clock ``time_limit`` stops it,
where the incumbent depends on the machine's speed (and which of a target's two searches, or of the
minimisation and its restarts, answers first). The portfolio runs free: among tied optima,
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
import threading
import time
from typing import Callable

import numpy as np
from ortools.sat.python import cp_model, cp_model_helper

from respect_gym.cost.model import first_fit
from respect_gym.cost.paper import EDGE_WEIGHT, MEMORY_UNIT_BYTES, MEMORY_WEIGHT
from respect_gym.problem.objectives import Latency
from respect_gym.solvers.base import Problem, SolverOutput
from respect_gym.solvers.bounds import (closure_cut_costs, closure_sums, combinatorial_lower_bound_ms,
                                        tensor_readers)
from respect_gym.solvers.compiler import compiler_schedule, dfs_topological_order
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
# (node, stage) cell, ~10 KB each once built in Python, and a solve (its presolved copy, the
# restarts' and targets' second search) peaks at ~45 KB per cell (benchmarks/exact_memory.py: dnn
# graphs of 1,000 and 2,500 nodes at K=8, 30 s: 0.35 and 0.91 GB over the process; 2,500 nodes at
# 60 s, `--nodes 2500 --time-limit 60`: ~1.3 GB); above MAX_MODEL_CELLS (~1 GB) the search is skipped and the warm start returned with
# the combinatorial bound. The prefix / suffix cuts need every node's ancestor and descendant
# sums, n^2 bits of closure: only up to CLOSURE_MAX_NODES nodes (50 MB).
MAX_MODEL_CELLS = 20_000
CLOSURE_MAX_NODES = 20_000
# the period under a time limit (single search): the share of the limit the minimisation takes (a
# proof it finds within that share is the one it found before targets existed), then the targets
# (:func:`_targets`): the point between bound and incumbent each takes, and the last one's distance
# from the incumbent
MINIMISE_SHARE = 0.8
TARGET_POINT = 0.5
LAST_STEP = 0.01
# where the halfway target lies further than FAR_GAP below the incumbent (see _targets), a target gets
# FAR_TARGET_SHARE of the time left
FAR_GAP = 0.2
FAR_TARGET_SHARE = 0.5
FAR_POINT = 0.25  # and lies this part of the way from the bound (TARGET_POINT nearer the incumbent)
RESTART_GAIN = 0.05  # a restart of the minimisation starts from a schedule this much below its last bound
# the targets' two searches (_race), as (CP-SAT linearization_level, cp_model_probing_level): without the LP
# relaxation and without probing (exact's own search), and with the full LP and probing in presolve
# (probing cut the LP's refutations on nasnet_mobile layers K=6 from over 60 s to 17 s in single runs; over CP-SAT
# seeds 0-3, T <= 4.4 took a median 18.0 deterministic s without it, 13.8 with it: benchmarks/exact_targets.py)
RACE_SEARCHES = ((0, 0), (2, 2))
BUILD_SECONDS_PER_CELL = 3.5e-4  # building the model in Python, measured here (120k cells: ~40 s)
# the prefix / suffix cuts' maximum flows (bounds.closure_cut_costs), per op x (nodes + edges), measured here
# (nasnet_mobile layers 0.37 s, hard-v3's 1,000-node DAG 2.2 s, a 2,500-node dnn graph 2.5 s)
FLOW_SECONDS_PER_UNIT = 5e-7
FLOW_SHARE = 0.25  # of the targets' time, the most the flow cuts may take
WARM_START_SECONDS_PER_NODE = 6e-5  # the warm start's slicegraph pass on a large graph (100k nodes: ~6 s)
# the warm start's slicegraph search: its options and its cost in full DP cuts (it cuts 6 + 2 x 4
# orders, all but the first pruned by the incumbent: 6.8 s on the hard-v1 300-node graph)
QUICK_SLICEGRAPH = {"generations": 2, "population": 6}
QUICK_SLICEGRAPH_CUTS = 6
# of a time limit, the most the warm start's search may take: its hint is worth most of the limit
# where CP-SAT alone finds worse (hard-v1's 300-node graph at 10 s: 482 ms from the compiler's
# split, 344 from the slicegraph hint); the model is built only if it fits in half of what is left
WARM_START_SHARE = 0.75


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

    def stage_expr(self, weights: np.ndarray, s: int):
        nz = np.flatnonzero(weights)
        return sum(int(weights[v]) * self.x[v][s] for v in nz.tolist())

    def decode(self, value: Callable) -> np.ndarray:
        """The schedule (stage per node) of a solution, given its ``value`` of a variable (a solver's
        or a solution callback's)."""
        return np.asarray([[value(x) for x in row] for row in self.x]).argmax(axis=1).astype(np.int64)

    def hints(self, stages: np.ndarray) -> dict:
        """The value of each model variable in the schedule ``stages``, for ``add_hint``."""
        h = {}
        for v, s in enumerate(stages.tolist()):
            for t in range(self.problem.num_stages - 1):
                h[self.y[v][t]] = int(s <= t)
            for t in range(self.problem.num_stages):
                h[self.x[v][t]] = int(s == t)
        return h

    def add_hints(self, stages: np.ndarray, model: cp_model.CpModel | None = None) -> None:
        """Hint ``stages`` to the built model, or to ``model``, a clone of it (same variable indices)."""
        for var, hinted in self.hints(stages).items():
            if model is None:
                self.model.add_hint(var, hinted)
            else:
                model.add_hint(model.get_int_var_from_proto_index(var.index), hinted)


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
        self.scale = scale = UNITS_PER_MS
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
        self._cut_terms = (compute, tensor, invoke)  # the stage latencies' integers, for the added cuts
        # prefix/suffix cuts: v on a stage <= s puts v and its ancestors (their compute and at least
        # one invoke) on the first s + 1 stages, v on a stage > s its descendants on the last k-1-s
        # (add_flow_cuts: the same with transfers, for the targets)
        if graph.num_nodes <= CLOSURE_MAX_NODES:  # the cuts are optional; their closure sums cost n^2 bits
            self._add_prefix_suffix_cuts(*closure_sums(graph, compute))
        self.objective = self.T
        m.minimize(self.T)

    def _add_prefix_suffix_cuts(self, first: np.ndarray, last: np.ndarray) -> None:
        """For each op v and boundary s: ``(s + 1) T >= first[v] + invoke`` when v is on a stage
        ``<= s``, else ``(k - 1 - s) T >= last[v] + invoke`` (integers of the stage latencies)."""
        invoke, k = self._cut_terms[2], self.problem.num_stages
        for v in np.flatnonzero(self.problem.cost_model.is_op).tolist():
            for s in range(k - 1):
                self.model.add((s + 1) * self.T >= int(first[v]) + invoke).only_enforce_if(self.y[v][s])
                self.model.add((k - 1 - s) * self.T >= int(last[v]) + invoke).only_enforce_if(~self.y[v][s])

    def add_flow_cuts(self) -> None:
        """Redundant prefix / suffix cuts that price transfers: v on a stage ``<= s`` puts an ideal
        holding v on the first ``s + 1`` stages, which pay at least the cheapest such ideal's
        compute, the tensors it sends on and the host tensors it reads
        (:func:`~respect_gym.solvers.bounds.closure_cut_costs`, maximum flows over the stage
        latencies' own integers), plus an invoke; v on a later stage, a filter on the last
        ``k - 1 - s``. They dominate the closure cuts, and halve the targets' refutations on
        nasnet_mobile layers (module docstring). Added for the targets only: the minimisation with
        them took another search path and proved K=8 later, and its restarts with them left K=8
        unproven more often (throw-away variants; restarts start from whichever incumbent the
        first search holds, so their wall-clock runs vary)."""
        compute, tensor, _ = self._cut_terms
        self._add_prefix_suffix_cuts(*closure_cut_costs(self.problem.graph, self.problem.cost_model.is_op,
                                                        compute, tensor))

    def add_boundary_cuts(self) -> None:
        """Redundant cuts that price the transfers across each stage boundary ``s``.

        A tensor produced on a stage ``<= s`` and read on a later one (``cross{s}_{u}``) is sent
        by a stage ``<= s`` and received by a later one, so the first ``s + 1`` stages cost at least
        their compute, the graph inputs they read and every crossing tensor, and the last
        ``k - 1 - s`` their compute and every crossing tensor; plus an invoke (a used stage pays
        one, and ``T`` is at least one used stage), ``(s + 1) T`` and ``(k - 1 - s) T`` bound
        these sums. The terms are the stage latencies' own integers, so the cuts hold exactly for
        every schedule (tested on every schedule of small graphs). The per-stage constraints
        imply them only once every node is placed; stated whole, they refute a target early.
        Added for the targets only (:func:`_targets`): in the minimisation they change CP-SAT's
        search path, which on nasnet_mobile layers at 30 s proved K=8 but lost K=4 and K=5
        (``benchmarks/solvers.py``); ``benchmarks/exact_long.py`` times them on the open instances."""
        compute, tensor, invoke = self._cut_terms
        m, k = self.model, self.problem.num_stages
        host = ~np.asarray(self.problem.cost_model.is_op)
        ops = np.flatnonzero(~host)
        readers = tensor_readers(self.problem.graph, ~host, tensor)
        total = int(compute[ops].sum())
        for s in range(k - 1):
            done = sum(int(compute[v]) * self.y[v][s] for v in ops.tolist() if compute[v])
            crossing = []
            for u, ws in readers.items():
                lit = m.new_bool_var(f"cross{s}_{u}")  # host tensors: read by the first s + 1 stages
                for w in ws:
                    m.add(lit >= self.y[w][s] if host[u] else lit >= self.y[u][s] - self.y[w][s])
                crossing.append((u, lit))
            sent = sum(int(tensor[u]) * lit for u, lit in crossing if not host[u])
            read = sum(int(tensor[u]) * lit for u, lit in crossing if host[u])
            m.add((s + 1) * self.T >= done + invoke + sent + read)
            m.add((k - 1 - s) * self.T >= total - done + invoke + sent)

    def bound_above(self, value: float) -> None:
        """Constrain the scaled objective to at most ``value`` (ms) plus the rounding slack: valid
        for any schedule as good as ``value``, and with the prefix/suffix cuts it lets presolve fix
        many ``y`` before the search starts (nasnet_mobile K=6: proof 34 s -> 16 s)."""
        self.model.add(self.objective <= math.ceil(value * UNITS_PER_MS + self.slack))

    def hints(self, stages: np.ndarray) -> dict:
        h = super().hints(stages)
        cm, k = self.problem.cost_model, self.problem.num_stages
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
        return h


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
                warm_start: str | np.ndarray | None = None, seconds: float | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, float]:
    """The best of the compiler split, a short slicegraph search and the ``warm_start`` solver's
    schedule (or the schedule itself), with its objective value. With ``fixed`` nodes only the
    feasible completion of the partial schedule is a candidate (the others may violate it).

    :param seconds: the time the search may take (``None``: unlimited), by :func:`warm_start_plan`:
        the slicegraph search (which, unless ``deterministic``, also stops its generations at that
        deadline; its first population always completes), else the best cut of the compiler's
        order, else neither.
    """
    if fixed is not None:
        stages = feasible_completion(problem.graph, fixed)
        return stages, problem.objective_value(stages)
    graph = problem.graph
    candidates = [compiler_schedule(graph, problem.num_stages)]
    plan, _ = warm_start_plan(graph.num_nodes, seconds) if problem.objective.separable else ("none", 0.0)
    if plan == "slicegraph":
        from respect_gym.solvers.slicegraph import solve_slicegraph

        # exact's options stay out; the deadline only under a wall-clock limit
        deadline = None if deterministic or seconds is None else time.perf_counter() + seconds
        quick = dataclasses.replace(problem, options=dict(QUICK_SLICEGRAPH), deadline=deadline)
        candidates.append(solve_slicegraph(quick).stages)
    elif plan == "cut":
        _, stages = problem.best_cut(dfs_topological_order(graph))
        candidates.append(stages)
    if isinstance(warm_start, str):
        from respect_gym.solvers.registry import get_solver

        candidates.append(get_solver(warm_start)(dataclasses.replace(problem, options={}, deadline=None)).stages)
    elif warm_start is not None:
        from respect_gym.cost.schedule import validate_schedule

        candidates.append(validate_schedule(graph, warm_start, problem.num_stages))
    return min(((c, problem.objective_value(c)) for c in candidates), key=lambda pair: pair[1])


def warm_start_plan(num_nodes: int, seconds: float | None) -> tuple[str, float]:
    """The warm start's search within ``seconds`` (``None``: unlimited) and its estimated seconds:
    ``"slicegraph"`` (:data:`QUICK_SLICEGRAPH`), else ``"cut"`` (one order's best cut), else
    ``"none"``. Orders are cut by the ``O(n^3)`` prefix DP up to ``DP_MAX_NODES`` nodes, where the
    search costs :data:`QUICK_SLICEGRAPH_CUTS` full cuts, and by bisection above, where it cuts its
    first population only."""
    from respect_gym.solvers.cuts import DP_MAX_NODES, dp_cut_seconds

    if num_nodes <= DP_MAX_NODES:
        cut = dp_cut_seconds(num_nodes)
        search = QUICK_SLICEGRAPH_CUTS * cut
    else:
        search = WARM_START_SECONDS_PER_NODE * num_nodes
        cut = search / QUICK_SLICEGRAPH["population"]
    if seconds is None or search <= seconds:
        return "slicegraph", search
    return ("cut", cut) if cut <= seconds else ("none", 0.0)


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
    limit = problem.time_limit  # not the time left: the same inputs take the same path on any machine
    allowed = None if limit is None else WARM_START_SHARE * limit
    hint, hint_value = _warm_start(problem, fixed, warm_start, allowed, deterministic)
    room = None  # the limit less the warm start's estimate
    if limit is not None:
        room = limit - (warm_start_plan(problem.graph.num_nodes, allowed)[1]
                        if problem.objective.separable and fixed is None else 0.0)
    cells = problem.graph.num_nodes * problem.num_stages
    if cells > MAX_MODEL_CELLS or (room is not None and cells * BUILD_SECONDS_PER_CELL > room / 2):
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
    built.add_hints(hint)
    if timed:
        built.bound_above(hint_value)
    left = problem.time_left()
    dtime = deterministic_time
    if deterministic and dtime is None and problem.time_limit is not None:
        dtime = problem.time_limit * DTIME_PER_SECOND[search]
    # the period with a limit and the single search: the minimisation takes most of the limit, then
    # targets raise the proven bound with the rest (see the module docstring)
    targeted = timed and not isinstance(problem.objective, Latency) and search == "single" and left is not None
    share = MINIMISE_SHARE if targeted else 1.0
    if targeted and not deterministic and (os.cpu_count() or 1) >= 2:
        runs = _restart_race(problem, built, share * left, hint, hint_value, cells * BUILD_SECONDS_PER_CELL)
    else:
        runs = [_Run(problem, built, search, deterministic, seconds=None if left is None else share * left,
                     dtime=None if dtime is None else share * dtime)]
    run = runs[0]
    stages, value = hint, hint_value
    for r in runs:
        if r.stages is not None and r.value <= value:
            stages, value = r.stages, r.value
    bound = max(r.bound for r in runs)
    proven = any(r.status == cp_model.OPTIMAL for r in runs) and value - bound <= OPTIMALITY_RTOL * value
    queries: list[_Run] = []
    if targeted and not proven:
        if fixed is None:  # DAgger's expert labels keep their search path
            built.add_boundary_cuts()
        # the flow cuts where their maximum flows take at most FLOW_SHARE of the targets' time; not in
        # deterministic solves (the old path) or with fixed nodes
        flow_s = FLOW_SECONDS_PER_UNIT * int(np.count_nonzero(problem.cost_model.is_op)) * (
            problem.graph.num_nodes + problem.graph.num_edges)
        targets_s = problem.time_left()
        if not deterministic and fixed is None and (targets_s is None or flow_s <= FLOW_SHARE * targets_s):
            built.add_flow_cuts()
        stages, value, bound, queries = _targets(problem, built, deterministic, stages, value, bound,
                                                 None if dtime is None else dtime - sum(r.dtime_used for r in runs),
                                                 cells * BUILD_SECONDS_PER_CELL)
        proven = value - bound <= OPTIMALITY_RTOL * value
    bound = min(bound, value)
    every = runs + queries
    info = {"method": "cpsat", "cpsat_status": run.status_name, "cpsat_bound": run.raw_bound,
            "wall_seconds": run.wall_time + sum(r.wall_time for r in queries),
            "deterministic_time": sum(r.dtime_used for r in every), "search": search,
            "deterministic": (deterministic or search == "single") and not any(r.wall_stopped or r.raced for r in every)}
    if targeted:
        info["restarts"] = [{"bound_ms": r.target, "status": r.status_name, "seconds": r.wall_time} for r in runs[1:]]
        info["targets"] = [{"target_ms": r.target, "status": r.status_name, "seconds": r.wall_time,
                            "deterministic_time": r.dtime_used, "linearization": r.linearization,
                            "probing": r.probing} for r in queries]
    return SolverOutput(
        stages=stages,
        optimal=bool(proven),
        objective_bound=bound,
        status="optimal" if proven else "feasible",
        info=info,
    )


class _Run:
    """One CP-SAT solve of ``model`` (the built model, or a clone with a target) and what it found."""

    def __init__(self, problem: Problem, built: _Core, search: str, deterministic: bool, seconds: float | None,
                 dtime: float | None, model: cp_model.CpModel | None = None, target: float | None = None,
                 linearization: int = 0, started: Callable[[cp_model.CpSolver], None] | None = None,
                 on_solution: cp_model.CpSolverSolutionCallback | None = None, probing: int = 0) -> None:
        self.linearization, self.probing, self.raced = linearization, probing, False
        solver = cp_model.CpSolver()
        params = solver.parameters
        params.random_seed = problem.seed % 2**31
        if search == "single":
            params.num_workers = 1
            params.linearization_level = linearization  # 0 in exact (module docstring); benchmarks try 2
            params.cp_model_probing_level = probing  # 0 in exact's minimisation (module docstring)
        else:
            params.num_workers = max(PORTFOLIO_MIN_WORKERS, os.cpu_count() or 1)
            params.interleave_search = deterministic
        if deterministic and dtime is not None:
            params.max_deterministic_time = float(dtime)
        if seconds is not None:
            params.max_time_in_seconds = max(0.01, (WALL_BACKSTOP if deterministic else 1.0) * seconds)
        if started is not None:  # a race holds the solver to stop it (_race)
            started(solver)
        status = solver.solve(built.model if model is None else model, on_solution)
        self.status, self.status_name, self.target = status, solver.status_name(status), target
        self.wall_time, self.dtime_used = solver.wall_time, solver.deterministic_time
        self.wall_stopped = seconds is not None and solver.wall_time >= params.max_time_in_seconds * 0.99
        self.stages, self.value = None, math.inf
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            self.stages = built.decode(solver.value)
            self.value = problem.objective_value(self.stages)
        self.definite = status in (cp_model.INFEASIBLE, cp_model.OPTIMAL)  # refuted, or its optimum proven
        self.raw_bound = float(solver.best_objective_bound) / built.scale
        # CP-SAT's bound on the scaled objective, less the rounding slack (see the module docstring)
        self.bound = (max(0.0, (solver.best_objective_bound - built.slack) / built.scale)
                      if status not in (cp_model.MODEL_INVALID, cp_model.INFEASIBLE) else 0.0)


def _targets(problem: Problem, built: _StageTimeModel, deterministic: bool, stages: np.ndarray, value: float,
             lo: float, dtime: float | None, presolve_s: float, linearization: int | None = None
             ) -> tuple[np.ndarray, float, float, list[_Run]]:
    """Raise the proven bound ``lo`` on the period towards the incumbent ``value`` by targets, until
    the time left (or ``dtime``, deterministic seconds) is spent or the first target runs out of it.

    Each target ``t`` asks CP-SAT for the best schedule with period ``<= t`` (scaled: ``T <= t`` plus
    the rounding slack, so no such schedule is cut off). INFEASIBLE proves the optimum exceeds ``t``;
    a schedule found improves the incumbent, and OPTIMAL proves it (the optimum among schedules
    within the target is the optimum). The single search refutes a target well below the optimum
    far faster than it raises its own bound while minimising, where the bound stays at the root's
    until the search space is exhausted (nasnet_mobile layers K=6: ``T <= 3.92`` refuted in 1.6 s,
    where 30 s of minimisation left the bound at 3.48); targets near the optimum cost about as
    much as the proof. Each target lies :data:`TARGET_POINT` of the way from the bound to the
    incumbent; the last one just below the incumbent, so refuting it proves the incumbent optimal.
    Where the halfway target lies more than :data:`FAR_GAP` below the incumbent, the gap is mostly
    the bound's, and a target far from both is hard to settle either way (refute it, or find a
    schedule within it): under a wall-clock limit the target then lies only :data:`FAR_POINT` of
    the way up and gets :data:`FAR_TARGET_SHARE` of the time left, and if it runs out, the next one
    lies that part of the way from the bound to it
    (hard-v3's 1,000-node DAG at K=6: the halfway target, about 725 ms, is not refuted in 30 s,
    ``T <= 500`` in 0.3 deterministic s; at 60 s the bound rose from the combinatorial 287 ms to
    507). Nearer the incumbent a target gets all the time left: its refutation is the proof.
    Deterministic solves keep the old rule: the first target that runs out ends them.

    Under a wall-clock limit a target needs at least ``presolve_s`` seconds left: CP-SAT presolves
    each one's model anew and does not stop inside that (hard-v1's 1,000-node graph, K=8: a target
    given 1.9 s took 3.4 s); the model's build time is the estimate.

    Each target is a :func:`_race` of the search without and with CP-SAT's LP relaxation, unless
    ``deterministic``, on one core, or ``linearization`` names one level (the benchmarks' runs).

    :returns: the best schedule, its period, the proven bound and the runs.
    """
    runs: list[_Run] = []
    hi = value  # the next target lies between the bound and hi: the incumbent, or a far target that ran out
    while value - lo > OPTIMALITY_RTOL * value:
        budget_s = problem.time_left()
        budget_d = None if dtime is None else dtime - sum(r.dtime_used for r in runs)
        # deterministic: the budget in deterministic time alone (the wall clock would make the path vary)
        out = budget_d <= 0 if budget_d is not None else budget_s is None or budget_s < presolve_s
        if out:
            break
        target = lo + TARGET_POINT * (hi - lo)
        if value - target < LAST_STEP * value:
            target = value * (1 - OPTIMALITY_RTOL / 2)
        capped = not deterministic and budget_s is not None and value - target > FAR_GAP * value
        if capped:
            target = lo + FAR_POINT * (hi - lo)
        seconds = max(FAR_TARGET_SHARE * budget_s, presolve_s) if capped else budget_s
        model = _target_model(built, target)
        if deterministic or linearization is not None or (os.cpu_count() or 1) < 2:
            query = _Run(problem, built, "single", deterministic, seconds, budget_d, model, target, linearization or 0)
        else:
            query = _race(problem, built, seconds, model, target)
        runs.append(query)
        if query.stages is not None and query.value < value:
            stages, value = query.stages, query.value
            hi = min(hi, value)
        if query.status == cp_model.INFEASIBLE:
            lo = max(lo, target)
        elif query.status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            lo = max(lo, query.bound)  # a schedule within the target exists: its optimum is the optimum
        elif capped:
            hi = target  # ran out of its share: try lower
        else:
            break
    return stages, value, min(lo, value), runs


def _target_model(built: _StageTimeModel, target: float, base: cp_model.CpModel | None = None) -> cp_model.CpModel:
    """A copy of the built model (or of ``base``, a clone of it) asking for a period ``<= target`` ms
    (scaled, plus the rounding slack, so no such schedule is cut off), without its hints (the
    incumbent lies above)."""
    model = (built.model if base is None else base).clone()
    model.clear_hints()
    model.add(model.get_int_var_from_proto_index(built.T.index) <= math.ceil(target * UNITS_PER_MS + built.slack))
    return model


def _race(problem: Problem, built: _StageTimeModel, seconds: float | None, model: cp_model.CpModel,
          target: float) -> _Run:
    """One target searched twice at once, one thread each (CP-SAT releases the GIL): the single search
    without the LP relaxation and with it and probing (:data:`RACE_SEARCHES`); the first to refute the
    target or prove its optimum stops the other. Neither level wins everywhere
    (``benchmarks/exact_targets.py``, beside another job): on the 300-node layered DAG at K=6 only
    the LP refutes ``T <= 210`` (27 s; without it not in 40 s), on nasnet_mobile layers K=8 the
    search without it refutes ``T <= 3.778`` in 5.0 s, the LP in 18 s. Without a definite answer
    within ``seconds``, the better schedule and the larger bound of the two."""
    searches = _Searches()

    def search(level: int, probing: int) -> Callable[[], None]:
        return lambda: searches.runs.append(_Run(problem, built, "single", False, seconds, None, model, target,
                                                 level, searches.started, probing=probing))

    runs = searches.wait(searches.start(*(search(*pair) for pair in RACE_SEARCHES)))
    definite = [r for r in runs if r.definite]
    if definite:
        return definite[0]
    best = min(runs, key=lambda r: r.value)
    best.bound = max(r.bound for r in runs)
    return best


def _restart_race(problem: Problem, built: _StageTimeModel, seconds: float, hint: np.ndarray, hint_value: float,
                  presolve_s: float) -> list[_Run]:
    """The minimisation beside restarts of it on the second core, for ``seconds``.

    The minimisation's model is bounded above by the warm start's period (:meth:`bound_above`),
    and the tighter that bound, the more presolve fixes. Where the warm start is poor (nasnet_mobile
    layers K=8: 5.36 ms, the optimum 3.99) the search finds far better schedules, but its model keeps
    the loose bound; a minimisation restarted from its incumbent, bounded by it, can prove the
    optimum sooner than the search that found it (K=8 proven at ~21 s this way, not within 30 s
    otherwise). Restarting the only search loses its progress where it was about to prove (K=4 and
    K=5 took about twice as long), so the first search runs on, and the restart runs beside it: it
    starts, and starts again, whenever the first search's best schedule lies :data:`RESTART_GAIN`
    below the first search's best when the running restart started (restarting on the restart's own
    schedules too lost K=8: a restart close to its proof was thrown away), from the best schedule
    either has found. The first search or restart to prove its optimum
    stops the other; without a proof both stop at the time limit. A restart starts only with
    ``presolve_s`` left (CP-SAT presolves each model anew and does not stop inside that).

    :returns: the runs, the first search first, then the restarts (each one's ``target``: the bound
        it was built with); their best schedule and largest bound hold (a restart's optimum among
        schedules within its bound is the optimum, as the incumbent is one).
    """
    deadline = time.perf_counter() + seconds
    base = built.model.clone()  # restarts clone this copy; the first search's model is being solved
    searches = _Searches()
    lock, runs = searches.lock, searches.runs
    best = {"value": hint_value, "stages": hint}
    current: dict = {"solver": None, "bound": hint_value}  # the running restart and the bound it was built with
    finished = threading.Event()  # the first search has ended

    class Offer(cp_model.CpSolverSolutionCallback):
        """Reports each of the first search's solutions that would start a restart (the others are
        not decoded)."""

        def on_solution_callback(self) -> None:
            if self.objective_value > (1 - RESTART_GAIN) * current["bound"] * UNITS_PER_MS + built.slack:
                return
            stages = built.decode(self.value)
            value = problem.objective_value(stages)
            with lock:
                if value < best["value"]:
                    best["value"], best["stages"] = value, stages

    def wanted() -> bool:  # the first search's best lies RESTART_GAIN below the running restart's bound
        return best["value"] <= (1 - RESTART_GAIN) * current["bound"]

    def run(model: cp_model.CpModel | None, bound: float | None) -> _Run:  # a restart has a bound
        def started(solver: cp_model.CpSolver) -> None:
            searches.started(solver)
            if bound is not None:
                with lock:
                    current["solver"] = solver
        return _Run(problem, built, "single", False, deadline - time.perf_counter(), None, model, bound, 0,
                    started, None if bound is not None else Offer())

    def first() -> None:
        try:
            runs.insert(0, run(None, None))
        finally:
            finished.set()

    def restarts() -> None:
        while not finished.is_set() and not searches.over:
            with lock:
                go = wanted() and deadline - time.perf_counter() > presolve_s
                if go:  # from the best schedule known, a stopped restart's included
                    value, stages = min([(best["value"], best["stages"])]
                                        + [(r.value, r.stages) for r in runs if r.stages is not None],
                                        key=lambda pair: pair[0])
                    current["bound"], current["solver"] = best["value"], None
            if not go:
                finished.wait(0.01)
                continue
            model = _target_model(built, value, base)
            built.add_hints(stages, model)
            runs.append(run(model, value))

    def restart_if_wanted() -> None:
        with lock:
            if current["solver"] is not None and wanted():
                current["solver"].stop_search()  # a better bound: restart

    return searches.wait(searches.start(first, restarts), restart_if_wanted)


class _Searches:
    """CP-SAT searches run at once, one thread each (CP-SAT releases the GIL), for :func:`_race` and
    :func:`_restart_race`: the first run that is definite (refuted, or its optimum proven), or the
    first search that fails, stops them all."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.solvers: list[cp_model.CpSolver] = []
        self.runs: list[_Run] = []
        self.failed: list[BaseException] = []

    def started(self, solver: cp_model.CpSolver) -> None:
        """Holds a search's solver (``_Run``'s ``started``), so that it can be stopped."""
        with self.lock:
            self.solvers.append(solver)

    def start(self, *searches: Callable[[], None]) -> list[threading.Thread]:
        def guarded(search: Callable[[], None]) -> None:
            try:
                search()
            except BaseException as exc:  # raised again in the caller's thread by wait
                self.failed.append(exc)

        threads = [threading.Thread(target=guarded, args=(search,), daemon=True) for search in searches]
        for t in threads:
            t.start()
        return threads

    @property
    def over(self) -> bool:
        return bool(self.failed) or any(r.definite for r in list(self.runs))

    def wait(self, threads: list[threading.Thread], poll: Callable[[], None] | None = None) -> list[_Run]:
        """Until every thread ends: stop every search once :attr:`over`, else call ``poll``; then the
        runs, each marked raced (which search answers first depends on the machine: the path is not
        reproducible), or the first failure raised."""
        while alive := [t for t in threads if t.is_alive()]:
            if self.over:
                with self.lock:
                    for solver in self.solvers:  # repeated until its thread ends: a solve that had not begun yet
                        solver.stop_search()
            elif poll is not None:
                poll()
            alive[0].join(0.01)
        if self.failed:
            raise self.failed[0]
        for r in self.runs:
            r.raced = True
        return self.runs
