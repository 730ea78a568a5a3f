"""The exact bottleneck DP over the ideals of a waist-segmented graph, in near-linear memory.

The ideal DP (:mod:`exact_dp`) holds an ``(M, M)`` stage-cost matrix and costs each stage from an
``n``-wide mask: 4.7 GB and 80 s on a 2,000-node ``dnn`` graph. Here the ideals come segment by
segment (:mod:`reductions`) and a stage between boundaries in different segments is costed from
per-ideal terms, exactly: compute and op counts are prefix differences, transfers are a term of the
start plus a term of the end (:mod:`reductions`), and the first-fit cache is simulated in
execution order, incrementally from the start (one pass serves every end with the same cache
capacity). Stages inside one segment are costed by the batched cost model.

Only boundaries that a schedule with period ``<= target`` can use are visited: a stage's
latency is at least its compute plus streaming minus what one cache can hold
(``omega - sigma``, ``sigma`` = cache bytes x the highest streaming ms per byte), so after ``k``
stages a boundary's ``omega`` lies in ``[omega(V) - (K - k)(target + sigma), k (target + sigma)]``;
with a target near the optimum these bands are narrow and the DP touches a few percent of the
pairs. For a target ``T`` the DP returns the best period among schedules whose stages all cost
``<= T`` (or none), so a run proves either the optimum (when its value is ``<= T``) or that the
optimum exceeds ``T``: :func:`solve_segments` raises ``T`` from the proven bound until a run
returns the optimum, which makes it anytime. Work (first-fit steps and pair evaluations) is
counted and capped, so a run stops at the same point on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from respect_gym.cost.model import CostModel
from respect_gym.solvers.base import Problem, SolverOutput
from respect_gym.solvers.reductions import Segments
from respect_gym.solvers.stagecost import BatchStageCost

_MAX_TRACKED = 16  # cache capacities followed at once from one start (more: recomputed from scratch)
_HUGE = 1e30  # the target of an unbounded run
_CHUNK_CELLS = 20_000_000  # bool cells of one temporary in segment_tables
# work units (first-fit steps, pair evaluations) per second of a time limit: the kernel ran ~45
# million a second on one idle core here, so this leaves room for the Python around it
WORK_PER_SECOND = 20_000_000
FIRST_MARGIN = 0.01  # the first target: 1% above the combinatorial bound


@dataclass(frozen=True)
class SegmentTables:
    """Per-ideal and per-segment terms of the stage cost (see the module docstring)."""

    segments: Segments
    compute: np.ndarray  # ms of the ideal's ops
    omega: np.ndarray  # compute + streaming of every layer in the ideal (the band weight)
    ops: np.ndarray  # number of TPU ops in the ideal
    sink_bytes: np.ndarray  # graph-output bytes of the ideal's sink ops
    in_bytes: np.ndarray  # bytes entering a stage that starts at the ideal
    out_bytes: np.ndarray  # bytes leaving a stage that ends at the ideal
    act_rest: np.ndarray  # largest op working set in the ideal's segment outside it
    act_local: np.ndarray  # largest op working set in the ideal's part of its segment
    rest_layers: tuple[np.ndarray, np.ndarray]  # (offsets, flat) layer indices of the segment's rest
    local_layers: tuple[np.ndarray, np.ndarray]  # (offsets, flat) layer indices of the local part
    segment_layers: np.ndarray  # layers of segment s are param_order[segment_layers[s]:segment_layers[s+1]]
    segment_act: np.ndarray  # largest op working set of each whole segment
    sigma: float  # cache bytes x the highest streaming ms per byte


def segment_tables(cost_model: CostModel, segments: Segments) -> SegmentTables:
    """Compute every ideal's terms at once over the ``(ideals, segment width)`` local masks.

    A boundary in segment ``s`` can cut the tensors of segment ``s``'s nodes and of the waist
    before it (slot 0 below): a tensor enters a stage that starts at the ideal if it is produced
    inside the ideal (or on the host) and read after it, and leaves a stage that ends there if an
    op inside produces it and something after reads it (a segment's own waist is read in the next).
    """
    cm, graph = cost_model, cost_model.graph
    order = graph.topological_order
    n = graph.num_nodes
    is_op = np.asarray(cm.is_op)
    compute = np.asarray(cm.compute_ms, dtype=np.float64)
    extra = np.asarray(cm.extra_ms, dtype=np.float64)
    act = np.where(is_op, np.asarray(cm.act_bytes, dtype=np.int64), 0)
    out = np.asarray(cm.out_bytes, dtype=np.float64)
    sink_out = np.where(is_op & (graph.out_degree == 0), out, 0.0)
    params = np.asarray(cm.param_bytes, dtype=np.int64)
    layer_index = np.full(n + 1, -1, dtype=np.int64)  # index n: padding
    layer_index[np.asarray(cm.param_order)] = np.arange(len(cm.param_order))
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    bounds, seg = segments.bounds, segments.ideal_segment
    m1 = segments.num_segments
    width = segments.local.shape[1]
    seg_of_node = np.searchsorted(bounds, pos, side="right") - 1
    slot_of_node = pos - bounds[seg_of_node]
    # padded node table: nodes[s, t] = segment s's t-th node (n: padding)
    nodes = np.full((m1, width), n, dtype=np.int64)
    nodes[seg_of_node, slot_of_node] = np.arange(n)

    def pad(values: np.ndarray, fill=0) -> np.ndarray:
        return np.concatenate([values, np.asarray([fill], dtype=values.dtype)])

    def prefix(values: np.ndarray) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(values[order])])[bounds[:-1]][seg]

    local = segments.local
    mine = nodes[seg]  # (G, width) node ids of each ideal's segment
    inside = local.astype(np.float64)
    comp = prefix(compute) + (inside * pad(compute)[mine]).sum(axis=1)
    omega = prefix(compute + extra) + (inside * pad(compute + extra)[mine]).sum(axis=1)
    sink = prefix(sink_out) + (inside * pad(sink_out)[mine]).sum(axis=1)
    ops = prefix(is_op.astype(np.int64)) + (local & pad(is_op, False)[mine]).sum(axis=1)
    node_act = pad(act)[mine]
    act_local = np.where(local, node_act, 0).max(axis=1, initial=0)
    act_rest = np.where(~local, node_act, 0).max(axis=1, initial=0)
    segment_act = np.where(nodes < n, pad(act)[nodes], 0).max(axis=1, initial=0)

    # transfers: producer slot 0 = the waist before the segment, slot t + 1 = the segment's t-th node
    edges = graph.edges[is_op[graph.edges[:, 1]]]  # host-side nodes read nothing
    u, r = edges[:, 0], edges[:, 1]
    s_r = seg_of_node[r]
    from_waist = (seg_of_node[u] < s_r)  # only a segment's own waist is read in the next one
    slot_u = np.where(from_waist, 0, slot_of_node[u] + 1)
    readers = np.zeros((m1, width + 1, width), dtype=bool)  # readers[s, producer slot, reader slot]
    readers[s_r, slot_u, slot_of_node[r]] = True
    beyond = np.zeros((m1, width + 1), dtype=bool)  # the segment's waist, read in the next segment
    beyond[seg_of_node[u[from_waist]], slot_of_node[u[from_waist]] + 1] = True
    producer = np.concatenate([np.full((m1, 1), n, dtype=np.int64), nodes], axis=1)
    producer[1:, 0] = order[bounds[1:-1] - 1]
    read_after = beyond[seg]
    rows = max(1, _CHUNK_CELLS // max(1, (width + 1) * width))  # bounds the (rows, slots, slots) temporary
    for lo in range(0, seg.shape[0], rows):
        part = slice(lo, lo + rows)
        read_after[part] |= (readers[seg[part]] & ~local[part, None, :]).any(axis=2)
    held = np.concatenate([np.ones((seg.shape[0], 1), dtype=bool), local], axis=1)
    held[seg == 0, 0] = False  # segment 0 has no waist before it
    prod = producer[seg]
    size = pad(out)[prod]
    in_b = (size * ((held | pad(~is_op, False)[prod]) & read_after)).sum(axis=1)
    out_b = (size * (held & pad(is_op, False)[prod] & read_after)).sum(axis=1)

    node_layers = layer_index[mine]
    rest = ~local & (node_layers >= 0)
    loc = local & (node_layers >= 0)
    seg_layers = np.searchsorted(pos[np.asarray(cm.param_order, dtype=np.int64)], bounds)
    rates = extra[params > 0] / params[params > 0]
    sigma = float(cm.hardware.cache_bytes) * float(rates.max(initial=0.0))

    def flat(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        offsets = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.int64)
        return offsets, node_layers[mask].astype(np.int64)

    return SegmentTables(segments, comp, omega, ops.astype(np.int64), sink, in_b, out_b, act_rest, act_local,
                         flat(rest), flat(loc), seg_layers.astype(np.int64), segment_act, sigma)


@numba.njit(cache=True)
def _capacity(act: np.int64, cache: np.int64, reserve: float) -> np.int64:
    return max(np.int64(0), cache - np.int64(np.floor(reserve * np.float64(act))))


@numba.njit(cache=True)
def _first_fit(layers, lo, hi, flat, remaining, streamed, lay_p, lay_e, max_layer):
    """Continue first fit over ``lay[...]`` (``flat[lo:hi]`` if ``flat`` has entries, else the
    range ``lo:hi`` itself); returns (remaining, streamed, steps)."""
    for q in range(lo, hi):
        v = flat[q] if layers else q
        p = lay_p[v]
        if p <= max_layer and p <= remaining:
            remaining -= p
        else:
            streamed += lay_e[v]
    return remaining, streamed, hi - lo


@numba.njit(cache=True)
def _segment_dp(K, target, sigma, budget, seg_of, seg_start, comp, omega, ops, sink, inb, outb, act_rest,
                act_local, rest_off, rest_flat, loc_off, loc_flat, seg_layers, seg_act, lay_p, lay_e, cache,
                reserve, max_layer, invoke, link, same_off, same_to, same_cost):
    G = seg_of.shape[0]
    m = seg_start.shape[0] - 2
    INF = np.inf
    tol = 1e-9 * max(1.0, target)
    U = target + sigma
    total = omega[G - 1]
    dp = np.full((K + 1, G), INF)
    par = np.full((K + 1, G), -1, dtype=np.int64)
    dp[0, 0] = 0.0
    work = 0
    tcap = np.empty(_MAX_TRACKED, dtype=np.int64)
    trem = np.empty(_MAX_TRACKED, dtype=np.int64)
    tstr = np.empty(_MAX_TRACKED, dtype=np.float64)
    lo_band = np.empty(G, dtype=np.int64)  # the stage counts after which ideal g can be a boundary
    hi_band = np.empty(G, dtype=np.int64)
    for g in range(G):  # omega(g) <= k U and omega(V) - omega(g) <= (K - k) U
        lo_band[g] = max(0, np.int64(np.ceil((omega[g] - tol) / U)))
        hi_band[g] = min(K, K - np.int64(np.ceil((total - omega[g] - tol) / U)))
    for j in range(G):
        for k in range(1, K + 1):
            if dp[k - 1, j] < dp[k, j]:
                dp[k, j] = dp[k - 1, j]
                par[k, j] = j
        live = False
        for k in range(K):
            if dp[k, j] < INF:
                live = True
                break
        if not live:
            continue
        for q in range(same_off[j], same_off[j + 1]):
            cost = same_cost[q]
            if cost <= target + tol:
                _relax(dp, par, K, j, same_to[q], cost, lo_band, hi_band)
        a = seg_of[j]
        if a == m:
            continue
        a_run = act_rest[j]
        cap0 = _capacity(a_run, cache, reserve)
        rem, st, steps = _first_fit(True, rest_off[j], rest_off[j + 1], rest_flat, cap0, 0.0, lay_p, lay_e, max_layer)
        work += steps
        ntr = 1
        tcap[0], trem[0], tstr[0] = cap0, rem, st
        for b in range(a + 1, m + 1):
            if omega[seg_start[b]] - omega[j] > U + tol:
                break
            for i in range(seg_start[b], seg_start[b + 1]):
                if omega[i] - omega[j] > U + tol or lo_band[i] > K or hi_band[i] < 1:
                    continue
                work += 1
                if ops[i] == ops[j]:
                    cost = 0.0
                else:
                    c = _capacity(max(a_run, act_local[i]), cache, reserve)
                    t = -1
                    for x in range(ntr):
                        if tcap[x] == c:
                            t = x
                            break
                    if t >= 0:
                        rem, st = trem[t], tstr[t]
                    else:  # a capacity not seen from this start: first fit from the start
                        rem, st, steps = _first_fit(True, rest_off[j], rest_off[j + 1], rest_flat, c, 0.0, lay_p,
                                                    lay_e, max_layer)
                        work += steps
                        rem, st, steps = _first_fit(False, seg_layers[a + 1], seg_layers[b], rest_flat, rem, st,
                                                    lay_p, lay_e, max_layer)
                        work += steps
                        if ntr < _MAX_TRACKED:
                            tcap[ntr], trem[ntr], tstr[ntr] = c, rem, st
                            ntr += 1
                    rem, st, steps = _first_fit(True, loc_off[i], loc_off[i + 1], loc_flat, rem, st, lay_p, lay_e,
                                                max_layer)
                    work += steps
                    cost = (invoke + comp[i] - comp[j] + st
                            + (inb[j] + outb[i] + sink[i] - sink[j]) * link)
                if cost <= target + tol:
                    _relax(dp, par, K, j, i, cost, lo_band, hi_band)
            if b == m:
                break
            a_run = max(a_run, seg_act[b])
            c_run = _capacity(a_run, cache, reserve)
            keep = 0
            for x in range(ntr):  # capacities above the running one never come back
                if tcap[x] <= c_run:
                    rem, st, steps = _first_fit(False, seg_layers[b], seg_layers[b + 1], rest_flat, trem[x], tstr[x],
                                                lay_p, lay_e, max_layer)
                    work += steps
                    tcap[keep], trem[keep], tstr[keep] = tcap[x], rem, st
                    keep += 1
            ntr = keep
            if work > budget:
                return dp, par, work, True
        if work > budget:
            return dp, par, work, True
    return dp, par, work, False


@numba.njit(cache=True)
def _relax(dp, par, K, j, i, cost, lo_band, hi_band):
    for k in range(K):
        if dp[k, j] == np.inf or k + 1 < lo_band[i] or k + 1 > hi_band[i]:
            continue
        v = max(dp[k, j], cost)
        if v < dp[k + 1, i]:
            dp[k + 1, i] = v
            par[k + 1, i] = j


@dataclass
class SegmentRun:
    """One DP run at a target: the best period among schedules whose stages all cost ``<= target``."""

    target: float
    value: float  # inf when no such schedule exists
    stages: np.ndarray | None
    work: int
    complete: bool  # False: the work budget stopped it, nothing is proven


def segment_dp(cost_model: CostModel, batch: BatchStageCost, tables: SegmentTables, num_stages: int,
               target: float, budget: int = 2**62, same_cache: dict | None = None) -> SegmentRun:
    """The bottleneck DP over ``tables``' ideals, keeping only stages that cost ``<= target``.

    :param budget: work units (first-fit steps and pair evaluations) after which it stops.
    :param same_cache: costs of stages inside one segment already computed (filled in).
    """
    cm, hw, seg = cost_model, cost_model.hardware, tables.segments
    k = int(num_stages)
    target = min(float(target), _HUGE)  # no target: every stage allowed (the bands stay well defined)
    u = target + tables.sigma
    same = _same_segment_stages(batch, tables, k, u, {} if same_cache is None else same_cache, budget)
    if same is None:
        return SegmentRun(target, np.inf, None, int(budget) + 1, False)
    (same_off, same_to, same_cost), costed = same
    budget -= costed
    lay = np.asarray(cm.param_order, dtype=np.int64)
    seg_start = np.searchsorted(seg.ideal_segment, np.arange(seg.num_segments + 1)).astype(np.int64)
    dp, par, work, stopped = _segment_dp(
        k, float(target), tables.sigma, int(budget), seg.ideal_segment, seg_start, tables.compute, tables.omega,
        tables.ops, tables.sink_bytes, tables.in_bytes, tables.out_bytes, tables.act_rest, tables.act_local,
        *tables.rest_layers, *tables.local_layers, tables.segment_layers, tables.segment_act,
        np.asarray(cm.param_bytes, dtype=np.int64)[lay], np.asarray(cm.extra_ms, dtype=np.float64)[lay],
        np.int64(hw.cache_bytes), float(cm.constants.activation_reserve), np.int64(cm.max_layer_bytes),
        float(hw.invoke_overhead_ms), float(cm.ms_per_link_byte), same_off, same_to, same_cost)
    if stopped:
        return SegmentRun(target, np.inf, None, int(work) + costed, False)
    work += costed
    full = seg.num_ideals - 1
    periods = [max(float(dp[c, full]), cm.host_stage_ms * c) for c in range(1, k + 1)]
    count = 1 + int(np.argmin(periods))
    if not np.isfinite(dp[count, full]):
        return SegmentRun(target, np.inf, None, int(work), True)
    stages = np.zeros(cm.graph.num_nodes, dtype=np.int64)
    i = full
    for s in range(count, 0, -1):
        j = int(par[s, i])
        stages[seg.ideal_mask(i) & ~seg.ideal_mask(j)] = s - 1
        i = j
    return SegmentRun(target, periods[count - 1], stages, int(work), True)


def _same_segment_stages(batch: BatchStageCost, tables: SegmentTables, k: int, u: float, cache: dict,
                         budget: int) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], int] | None:
    """Stages between two ideals of one segment that a boundary band allows, as CSR by start,
    costed exactly by :class:`BatchStageCost` (each pair once per ``cache``), with the work spent
    (a pair costs an ``n``-wide mask: ``n / 4`` units); ``None`` when they would exceed ``budget``."""
    seg, omega = tables.segments, tables.omega
    tol = 1e-9 * max(1.0, u)
    lo = np.maximum(0, np.ceil((omega - tol) / u))
    hi = np.minimum(k, k - np.ceil((omega[-1] - omega - tol) / u))
    live = np.flatnonzero((lo <= hi) & (hi >= 0))  # ideals some band allows
    segs, first, count = np.unique(seg.ideal_segment[live], return_index=True, return_counts=True)
    per_pair = max(1, seg.graph.num_nodes // 4)
    if int((count.astype(np.int64) ** 2).sum()) * per_pair // 2 > budget:  # at most this many pairs
        return None
    pairs = []
    for f, c in zip(first[count > 1].tolist(), count[count > 1].tolist()):
        ids = live[f : f + c]
        local = seg.local[ids].astype(np.float32)
        sizes = local.sum(axis=1)
        j, i = np.nonzero((local @ local.T == sizes[:, None]) & (sizes[:, None] < sizes[None, :]))
        a, b = ids[j], ids[i]
        # a stage from a (after some count c of stages, lo[a] <= c <= hi[a]) to b (c + 1 in b's band)
        ok = (lo[b] <= hi[a] + 1) & (hi[b] >= lo[a] + 1) & (omega[b] - omega[a] <= u + tol)
        pairs.append(np.stack([a[ok], b[ok]], axis=1))
    pairs = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
    todo = [tuple(p) for p in pairs.tolist() if tuple(p) not in cache]
    if todo:
        n = seg.graph.num_nodes
        rows = max(1, 4_000_000 // max(n, 1))
        for lo_row in range(0, len(todo), rows):
            chunk = todo[lo_row : lo_row + rows]
            masks = np.stack([seg.ideal_mask(b) & ~seg.ideal_mask(a) for a, b in chunk])
            for pair, cost in zip(chunk, batch(masks).tolist()):
                cache[pair] = cost
    order = np.argsort(pairs[:, 0], kind="stable")
    pairs = pairs[order]
    costs = np.asarray([cache[tuple(p)] for p in pairs.tolist()], dtype=np.float64)
    offsets = np.searchsorted(pairs[:, 0], np.arange(seg.num_ideals + 1)).astype(np.int64)
    return (offsets, pairs[:, 1].astype(np.int64), costs), len(todo) * per_pair


def solve_segments(problem: Problem, segments: Segments, budget: int | None = None) -> SolverOutput:
    """The period optimum over ``segments``' ideals, anytime: a schedule and a proven bound always.

    Targets rise from the combinatorial bound ``lo`` (``lo (1 + 1%)``, then doubling the margin,
    never above the best schedule's value): a run below the optimum finds no schedule within its
    target and proves ``lo = target``; the first run at or above the optimum returns it, proven.
    Low targets are cheap (narrow bands), so the proof costs little more than one run near the
    optimum. The compiler split is the first schedule; if the work budget stops the runs before a
    proof, ``exact``'s warm start (a slicegraph pass) improves it.

    :param budget: work units for all runs (``None``: unlimited; see :data:`WORK_PER_SECOND`).
    """
    from respect_gym.solvers.compiler import compiler_schedule
    from respect_gym.solvers.exact_cpsat import _warm_start

    cm, k = problem.cost_model, problem.num_stages
    tables = segment_tables(cm, segments)
    best = compiler_schedule(problem.graph, k)
    hi = problem.objective_value(best)
    lo = min(problem.objective.lower_bound(cm, k), hi)
    left = 2**62 if budget is None else int(budget)
    cache: dict = {}
    runs, proven, margin = [], False, FIRST_MARGIN
    while left > 0 and not proven:
        target = min(hi, lo * (1 + margin)) if lo > 0 else hi
        run = segment_dp(cm, problem.batch_cost, tables, k, target, left, cache)
        left -= run.work
        runs.append({"target": target, "complete": run.complete, "work": run.work})
        if not run.complete:
            break
        if run.stages is not None:
            value = problem.objective_value(run.stages)
            if value < hi:
                best, hi = run.stages, value
        proven = run.value <= target * (1 + 1e-9) or target >= hi
        lo = max(lo, min(target, run.value))
        margin *= 2
    if not proven:  # the slicegraph search only if it fits in the time left
        hint, value = _warm_start(problem, seconds=problem.time_left(), deterministic=False)
        if value < hi:
            best, hi = hint, value
    info = {"method": "segment dp", "num_segments": segments.num_segments, "num_ideals": segments.num_ideals,
            "runs": runs}
    return SolverOutput(stages=best, optimal=proven, objective_bound=hi if proven else lo,
                        status="optimal" if proven else "feasible", info=info)
