"""Observations of a batch of episodes, as functions of the kernel's :class:`~respect_gym.problem.state.State`.

Three views, named by the env's ``observation`` argument:

- ``"graph"`` (:class:`GraphView`, the default): the padded graph, a ``Dict`` of bounded ``Box`` es
  for SB3's ``MultiInputPolicy`` (fields in :mod:`respect_gym.problem.features`);
- ``"compact"`` (:class:`CompactView`): one flat ``Box``, the step context of
  :mod:`respect_gym.problem.features` (current and upcoming nodes, per-stage running totals,
  a few graph-level numbers), for MLPs on any graph size;
- ``"context"`` (:class:`ContextView`): the padded graph with static per-node context plus the
  per-stage and global context, for message-passing policies;
- ``"decision-v2"`` (:class:`DecisionView`): one flat ``Box`` of what "stay on the open stage or
  open the next one" depends on (the env's ``action="cut"``), for MLPs on any graph size and K;
  ``"decision"`` is its first version, kept so its numbers reproduce (its probes leave out three
  terms of the stage formula, see :class:`DecisionView`).

A view keeps per-episode buffers of what changes only at reset (the padded graph arrays) and
writes only what a step changes; :meth:`View.observe` returns copies, so an observation handed
out is never altered by later steps. Per-instance tables (normalised node features, context
rows, suffix sums of the remaining work) are built once per instance and cached on it.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np
from gymnasium import spaces

from respect_gym.problem.features import (
    CONTEXT_CLIP, CURRENT_COL, DECISION_LOOKAHEAD, LATENCY_CLIP, PROBE_ROUNDS, NUM_DECISION_FEATURES, NUM_GLOBAL_CONTEXT,
    NUM_NODE_CONTEXT, NUM_STAGE_CONTEXT, NUM_STATIC_FEATURES, STAGE_COL, observation_space, static_node_features,
)
from respect_gym.problem.instance import Instance
from respect_gym.problem.state import State, Transition

OBSERVATIONS = ("graph", "compact", "context", "decision", "decision-v2")
DECISION_VERSIONS = {"decision": 1, "decision-v2": 2}  # the decision view's versions, by observation name


@dataclass(frozen=True)
class StaticTables:
    """Per-instance observation tables (normalisations of :mod:`respect_gym.problem.features`)."""

    features: np.ndarray  # (n, NUM_STATIC_FEATURES) float32, graph index order
    context: np.ndarray  # (n, NUM_NODE_CONTEXT) float32, graph index order
    bound_ms: float  # combinatorial lower bound on the bottleneck (1 if 0)
    compiler_ms: float  # the compiler split's bottleneck (1 if 0)
    inv_reference: float  # 1 / compiler bottleneck (0 if 0)
    inv_params: float  # 1 / the cost model's total parameter bytes
    cache_bytes: float


def tables(instance: Instance) -> StaticTables:
    """The observation tables of ``instance``, built once (O(n + e)) and kept on it."""
    found = instance.__dict__.get("_observation_tables")
    if found is None:
        found = _build_tables(instance)
        object.__setattr__(instance, "_observation_tables", found)
    return found


def context_rows(instance: Instance) -> np.ndarray:
    """``(n, NUM_NODE_CONTEXT)`` static node context of ``instance`` (a module-level function, so an
    env holding the pool pickles)."""
    return tables(instance).context


def _build_tables(instance: Instance) -> StaticTables:
    from respect_gym.solvers.bounds import combinatorial_lower_bound_ms

    cm, graph = instance.cost_model, instance.graph
    bound = combinatorial_lower_bound_ms(cm, instance.num_stages) or 1.0
    cache = float(cm.hardware.cache_bytes)
    features = static_node_features(graph)
    context = np.zeros((graph.num_nodes, NUM_NODE_CONTEXT), dtype=np.float64)
    context[:, :NUM_STATIC_FEATURES] = features
    context[:, NUM_STATIC_FEATURES] = np.asarray(cm.compute_ms) / bound
    context[:, NUM_STATIC_FEATURES + 1] = np.asarray(cm.param_bytes) / cache
    context[:, NUM_STATIC_FEATURES + 2] = 1.0
    bottleneck = instance.compiler_report.bottleneck_ms
    return StaticTables(
        features=features,
        context=np.clip(context, -1.0, CONTEXT_CLIP).astype(np.float32),
        bound_ms=bound,
        compiler_ms=bottleneck or 1.0,
        inv_reference=1.0 / bottleneck if bottleneck > 0 else 0.0,
        inv_params=1.0 / max(int(np.asarray(cm.param_bytes).sum()), 1),
        cache_bytes=cache,
    )


@lru_cache(maxsize=64)
def _stage_values(num_stages: int) -> np.ndarray:
    """The graph view's ``stage`` column of a node on each stage (float32, as the env wrote it)."""
    scale = np.float32(1.0 / max(num_stages - 1, 1))
    return np.array([s * scale for s in range(num_stages)], dtype=np.float32)


class View(abc.ABC):
    """An observation of every episode of a :class:`State`; ``space`` is one episode's space."""

    space: spaces.Space

    def __init__(self, state: State) -> None:
        self.state = state

    def reset(self, rows: np.ndarray) -> None:
        """Episodes ``rows`` were just reset."""

    def after_step(self, rows: np.ndarray, transition: Transition) -> None:
        """Episodes ``rows`` just made ``transition``."""

    @abc.abstractmethod
    def observe(self, rows: np.ndarray | slice = slice(None)):
        """The observations of episodes ``rows`` stacked on a leading axis (fresh arrays)."""


def _groups(state: State, rows: np.ndarray):
    """``(instance, its StaticTables, rows on it)`` for each instance among ``rows``."""
    ids = state.instance_id[rows]
    for g in np.unique(ids).tolist():
        instance = state.pool.instances[g]
        yield instance, tables(instance), rows[ids == g]


class StepContext:
    """The per-stage and global step context (columns in :mod:`respect_gym.problem.features`) of
    the episodes of a state, computed by one compiled loop."""

    def __init__(self, state: State) -> None:
        b = state.num_envs
        self.state = state
        self.bound = np.ones(b)
        self.compiler = np.ones(b)
        self.cache = np.ones(b)
        self.scale = 1.0 / max(state.num_stages - 1, 1)

    def reset(self, rows: np.ndarray) -> None:
        for _, t, sel in _groups(self.state, rows):
            self.bound[sel], self.compiler[sel], self.cache[sel] = t.bound_ms, t.compiler_ms, t.cache_bytes

    def stages_and_globals(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(len(rows), K, NUM_STAGE_CONTEXT)`` and ``(len(rows), NUM_GLOBAL_CONTEXT)`` float32."""
        rows = np.asarray(rows, dtype=np.int64)
        stages = np.empty((rows.shape[0], self.state.num_stages, NUM_STAGE_CONTEXT), dtype=np.float32)
        glob = np.empty((rows.shape[0], NUM_GLOBAL_CONTEXT), dtype=np.float32)
        self.fill(rows, stages, glob)
        return stages, glob

    def fill(self, rows: np.ndarray, stages: np.ndarray, glob: np.ndarray) -> None:
        """Write the context of ``rows`` into ``stages`` / ``glob`` (arrays or views of the right shape)."""
        s = self.state
        _step_context(rows, stages, glob, s.stage_ms, s.stage_param_bytes, s.stage_nodes, s.min_stage, s.step,
                      s.instance_id, s.pool.num_nodes, s.pool.offset, s.pool.remaining, self.bound, self.compiler,
                      self.cache, self.scale, CONTEXT_CLIP)


@numba.njit(cache=True)
def _clip(x, high):
    return np.float32(min(max(x, -1.0), high))


@numba.njit(cache=True)
def _step_context(rows, out_stages, out_glob, stage_ms, stage_param_bytes, stage_nodes, min_stage, step, instance_id,
                  num_nodes, offset, remaining, bound, compiler, cache, scale, high):
    num_stages = stage_ms.shape[1]
    for i in range(rows.shape[0]):
        b = rows[i]
        g = instance_id[b]
        n = num_nodes[g]
        low = min_stage[b]
        for k in range(num_stages):
            rel = k - low
            out_stages[i, k, 0] = _clip(stage_ms[b, k] / bound[b], high)
            out_stages[i, k, 1] = _clip(stage_ms[b, k] / compiler[b], high)
            out_stages[i, k, 2] = _clip(stage_param_bytes[b, k] / cache[b], high)
            out_stages[i, k, 3] = _clip(stage_nodes[b, k] / n, high)
            out_stages[i, k, 4] = 1.0 if rel >= 0 else 0.0
            out_stages[i, k, 5] = 1.0 if rel == 0 else 0.0
            out_stages[i, k, 6] = _clip(rel * scale, high)
        t = step[b]
        left_ms, left_params = 0.0, 0.0
        if t < n:
            left_ms, left_params = remaining[offset[g] + t, 0], remaining[offset[g] + t, 1]
        out_glob[i, 0] = _clip(t / n, high)
        out_glob[i, 1] = _clip(left_ms / bound[b], high)
        out_glob[i, 2] = _clip(left_params / cache[b], high)
        out_glob[i, 3] = _clip(bound[b] / compiler[b], high)
        out_glob[i, 4] = _clip((num_stages - 1 - low) * scale, high)
        out_glob[i, 5] = _clip(num_stages / 8.0, high)


class CompactView(View):
    """One flat ``Box`` per episode: the context of the current and ``lookahead`` upcoming nodes,
    then the K stage rows, then the global row (:class:`respect_gym.envs.pipeline.wrappers.CompactObservation`)."""

    def __init__(self, state: State, lookahead: int = 4) -> None:
        super().__init__(state)
        self.lookahead = int(lookahead)
        k = state.num_stages
        self.node_width = (1 + self.lookahead) * NUM_NODE_CONTEXT
        size = self.node_width + k * NUM_STAGE_CONTEXT + NUM_GLOBAL_CONTEXT
        self.space = spaces.Box(-1.0, CONTEXT_CLIP, (size,), np.float32)
        self.context = StepContext(state)
        state.pool.attach("context", context_rows, NUM_NODE_CONTEXT)

    def reset(self, rows: np.ndarray) -> None:
        self.context.reset(rows)

    def observe(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        s, k = self.state, self.state.num_stages
        rows = np.arange(s.num_envs)[rows]
        out = np.empty((rows.shape[0], self.space.shape[0]), dtype=np.float32)
        stage_end = self.node_width + k * NUM_STAGE_CONTEXT
        self.context.fill(rows, out[:, self.node_width : stage_end].reshape(-1, k, NUM_STAGE_CONTEXT),
                          out[:, stage_end:])
        _upcoming(rows, out, 1 + self.lookahead, s.step, s.instance_id, s.pool.num_nodes, s.pool.offset, s.pool.order,
                  s.pool.extra["context"])
        return out


@numba.njit(cache=True)
def _upcoming(rows, out, width, step, instance_id, num_nodes, offset, order, context):
    columns = context.shape[1]
    for i in range(rows.shape[0]):
        b = rows[i]
        g = instance_id[b]
        for j in range(width):
            t = step[b] + j
            if t < num_nodes[g]:
                node = offset[g] + order[offset[g] + t]
                for c in range(columns):
                    out[i, j * columns + c] = context[node, c]
            else:
                for c in range(columns):
                    out[i, j * columns + c] = 0.0


def position_rows(instance: Instance) -> np.ndarray:
    """``(n, 5)`` per visit position ``t`` (not per node): the transfer ms of a cut before position
    ``t`` (each op's tensor produced before ``t`` and read at or after it leaves one TPU and
    enters the next), the compute ms, streaming ms and parameter bytes of ``order[t]``, and the
    streaming ms of ``order[t:]`` (a suffix sum: what the layers from ``t`` on cost when streamed)."""
    cm, graph = instance.cost_model, instance.graph
    order = np.asarray(instance.order)
    n = order.shape[0]
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    live = np.zeros(n + 1)
    edges = graph.edges
    if edges.size:
        is_op = np.asarray(cm.is_op)
        last = np.full(n, -1)
        np.maximum.at(last, edges[:, 0], pos[edges[:, 1]])
        producers = np.flatnonzero(is_op & (last >= 0))
        out = np.asarray(cm.out_bytes, dtype=np.float64)[producers]
        np.add.at(live, pos[producers] + 1, out)  # live across cuts at positions pos+1 .. last
        np.add.at(live, last[producers] + 1, -out)
    rows = np.empty((n, 5))
    rows[:, 0] = np.cumsum(live)[:n] * 2.0 * cm.constants.ms_per_link_byte
    rows[:, 1] = np.asarray(cm.compute_ms)[order]
    rows[:, 2] = np.asarray(cm.extra_ms)[order]
    rows[:, 3] = np.asarray(cm.param_bytes, dtype=np.float64)[order]
    rows[:, 4] = np.cumsum(rows[::-1, 2])[::-1]
    return rows


class DecisionView(View):
    """One flat ``Box`` per episode: :data:`~respect_gym.problem.features.DECISION_FEATURES`.

    ``version`` 2 (``"decision-v2"``) prices the probes' stages as the cost model does in three
    places where version 1 (``"decision"``, respect-gym's stop 27, kept as it was) left terms out:
    each stage the probe opens pays the invoke overhead, the first stage after a cut pays its
    share of that cut's transfers, and the period is at least the host's work for the stages
    used (``host_stage_ms`` per stage). On the zoo the rule "cut when the cut probe is lower"
    (no learning) goes from 28.5% to 1.5% above the optimum with version 2.
    """

    def __init__(self, state: State, version: int = 2) -> None:
        super().__init__(state)
        if version not in DECISION_VERSIONS.values():
            raise ValueError(f"unknown decision view version {version!r}; choose one of {sorted(DECISION_VERSIONS.values())}")
        self.version = version
        self.space = spaces.Box(-1.0, CONTEXT_CLIP, (NUM_DECISION_FEATURES,), np.float32)
        b = state.num_envs
        self.bound, self.compiler, self.stream_rate, self.lower = np.ones(b), np.ones(b), np.zeros(b), np.ones(b)
        state.pool.attach("positions", position_rows, 5, np.float64)

    def reset(self, rows: np.ndarray) -> None:
        s, c = self.state, self.state.constants
        for instance, t, sel in _groups(self.state, rows):
            params = float(np.asarray(instance.cost_model.param_bytes, dtype=np.float64).sum())
            rate = float(np.asarray(instance.cost_model.extra_ms).sum()) / params if params else 0.0
            g = int(s.instance_id[sel[0]])
            # the scale of every latency: the probe's estimate of the whole instance's best period
            # (transfers included, unlike the combinatorial bound, so transfer-heavy graphs read alike)
            overhead = self._overhead()
            scale = _probe(s.pool.remaining, s.pool.extra["positions"], int(s.pool.offset[g]), 0,
                           int(s.pool.num_nodes[g]), overhead, 0.0, s.num_stages, float(c.cache_bytes), t.bound_ms,
                           PROBE_ROUNDS, overhead)
            self.bound[sel], self.compiler[sel], self.stream_rate[sel] = scale, t.compiler_ms, rate
            self.lower[sel] = t.bound_ms

    def observe(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        rows = np.arange(self.state.num_envs)[rows]
        out = np.zeros((rows.shape[0], NUM_DECISION_FEATURES), dtype=np.float32)
        compiled_decision(rows, out, *self.arrays())
        return out

    def arrays(self) -> tuple:
        """What the compiled view reads besides its per-call arguments, in its order:
        ``compiled_decision(rows, out, *view.arrays())`` writes :meth:`observe` of ``rows`` (int64)
        into ``out``, for episode loops compiled with numba."""
        s, c = self.state, self.state.constants
        return (s.stage_ms, s.stage_nodes, s.remaining, s.stage_param_bytes, s.step, s.instance_id,
                s.pool.num_nodes, s.pool.offset, s.pool.remaining, s.pool.extra["positions"], self.bound,
                self.compiler, self.lower, self.stream_rate, float(c.cache_bytes), float(c.host_stage_ms),
                int(c.max_layer_bytes), DECISION_LOOKAHEAD, PROBE_ROUNDS, CONTEXT_CLIP, self.version, self._overhead())

    def _overhead(self) -> float:
        """What each stage a probe opens pays before its work: the invoke overhead (0 in version 1)."""
        return float(self.state.constants.invoke_overhead_ms) if self.version >= 2 else 0.0


@numba.njit(cache=True)
def compiled_decision(rows, out, stage_ms, stage_nodes, cache_left, stage_params, step, instance_id, num_nodes, offset,
              remaining, positions, bound, compiler, lower, stream_rate, cache, host_ms, max_layer, lookahead, rounds,
              high, version, overhead):
    num_stages = stage_ms.shape[1]
    scale = 1.0 / max(num_stages - 1, 1)
    for i in range(rows.shape[0]):
        b = rows[i]
        g = instance_id[b]
        n, off, t = num_nodes[g], offset[g], step[b]
        if t >= n:
            continue  # a finished episode observes zeros
        f = 0
        for k in range(num_stages):
            if stage_nodes[b, k] > 0:
                f = k
        closed = 0.0
        for k in range(f):
            closed = max(closed, stage_ms[b, k])
        row = off + t
        node_ms, node_extra, node_params = positions[row, 1], positions[row, 2], positions[row, 3]
        stream = node_extra if node_params > 0 and (node_params > cache_left[b, f] or node_params > max_layer) else 0.0
        open_ms = stage_ms[b, f]
        with_node = open_ms + node_ms + stream
        rest_ms = remaining[row, 0] - node_ms
        rest_params = remaining[row, 1] - node_params
        left = num_stages - 1 - f
        per = max(left, 1)
        rest_share = (rest_ms + max(rest_params - left * cache, 0.0) * stream_rate[b]) / per
        rest_with = (remaining[row, 0] + max(remaining[row, 1] - left * cache, 0.0) * stream_rate[b]) / per
        cut_here = positions[row, 0]
        cut_next = positions[row + 1, 0] if t + 1 < n else 0.0
        cut_min = cut_next
        for d in range(2, lookahead + 1):
            if t + d < n:
                cut_min = min(cut_min, positions[row + d, 0])
        next_ms = positions[row + 1, 1] if t + 1 < n else 0.0
        can_cut = stage_nodes[b, f] > 0 and f < num_stages - 1
        # the probes: the open stage (cost so far, its parameters) continues from t with the node (stay),
        # or closes before it and the rest starts fresh on the stages left (cut)
        # (version 1: no overhead on a fresh stage, no share of the cut's transfers after a cut, no host floor)
        v2 = version >= 2
        stay_pre = open_ms if stage_nodes[b, f] > 0 or not v2 else overhead
        stay_probe = _probe(remaining, positions, off, t, n, stay_pre, stage_params[b, f], left + 1, cache,
                            max(closed, host_ms * (f + 1)) if v2 else closed, rounds, overhead)
        cut_probe = np.inf
        if can_cut:
            cut_pre = cut_here / 2 + overhead if v2 else 0.0
            cut_probe = max(_probe(remaining, positions, off, t, n, cut_pre, 0.0, left, cache,
                                   max(closed, host_ms * (f + 2)) if v2 else closed, rounds, overhead),
                            open_ms + cut_here / 2)
        stay_estimate = max(with_node, rest_share, closed)
        cut_estimate = max(open_ms + cut_here, rest_with, closed)
        inv = 1.0 / bound[b]
        values = (open_ms * inv, with_node * inv, closed * inv, host_ms * (f + 1) * inv, node_ms * inv,
                  stream * inv, node_params / cache, cache_left[b, f] / cache, rest_ms * inv, rest_share * inv,
                  rest_with * inv, left * scale, cut_here * inv, cut_next * inv, cut_min * inv, next_ms * inv,
                  t / n, 1.0 if stage_nodes[b, f] == 0 else 0.0, 1.0 if can_cut else 0.0, compiler[b] * inv,
                  num_stages / 8.0, stay_estimate * inv,
                  cut_estimate * inv, f * scale, stay_probe * inv, cut_probe * inv if can_cut else high,
                  10.0 * (stay_probe - cut_probe) / stay_probe if can_cut and stay_probe > 0 else -1.0,
                  10.0 * (stay_estimate - cut_estimate) / stay_estimate if can_cut and stay_estimate > 0 else -1.0,
                  lower[b] * inv)
        for j in range(len(values)):
            out[i, j] = _clip(values[j], high)


@numba.njit(cache=True)
def _segment(remaining, positions, off, a, e, n, pre_ms, pre_params, cache):
    """Estimate of a stage holding positions ``a..e-1`` after ``pre_ms`` / ``pre_params`` already
    on it: compute, the streaming time of its layers from the first whose weights no longer fit the
    cache on (first fit in execution order, which the visit order approximates: each layer at its
    own streaming cost, found by binary search on the suffix sums), and half the transfers of the
    cut that ends it (the cut that starts it is in ``pre_ms`` or added by the caller)."""
    head_ms = remaining[off + a, 0] if a < n else 0.0
    head_p = remaining[off + a, 1] if a < n else 0.0
    tail_ms = remaining[off + e, 0] if e < n else 0.0
    tail_p = remaining[off + e, 1] if e < n else 0.0
    extra = 0.0
    if pre_params + head_p - tail_p > cache:  # some layer streams: the first x whose prefix overflows
        lo, hi = a, e - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if pre_params + head_p - (remaining[off + mid + 1, 1] if mid + 1 < n else 0.0) > cache:
                hi = mid
            else:
                lo = mid + 1
        extra = positions[off + lo, 4] - (positions[off + e, 4] if e < n else 0.0)
    return pre_ms + head_ms - tail_ms + extra + _closing(positions, off, e, n)


@numba.njit(cache=True)
def _covers(remaining, positions, off, t, n, pre_ms, pre_params, stages, cache, target, overhead):
    """Whether a greedy cut covers positions ``t..n-1`` with ``stages`` segments of estimated
    latency <= ``target``, the first one starting with ``pre_ms`` / ``pre_params`` on it, each
    later one with half its opening cut's transfers and ``overhead``."""
    a = t
    for s in range(stages):
        p_ms = pre_ms if s == 0 else (positions[off + a, 0] / 2 if a < n else 0.0) + overhead
        p_params = pre_params if s == 0 else 0.0
        # compute and streaming only grow with the end e: binary search for the last end whose
        # estimate without the closing transfer fits, then step back to the last one that fits with it
        if _segment(remaining, positions, off, a, a + 1, n, p_ms, p_params, cache) - \
                _closing(positions, off, a + 1, n) > target:
            return False
        lo, hi = a + 1, n
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if _segment(remaining, positions, off, a, mid, n, p_ms, p_params, cache) - \
                    _closing(positions, off, mid, n) <= target:
                lo = mid
            else:
                hi = mid - 1
        e = lo
        while e > a and _segment(remaining, positions, off, a, e, n, p_ms, p_params, cache) > target:
            e -= 1
        if e == a:
            return False
        a = e
        if a >= n:
            return True
    return a >= n


@numba.njit(cache=True)
def _closing(positions, off, e, n):
    """Half the transfers of a cut before position ``e`` (none at the end of the order)."""
    return positions[off + e, 0] / 2 if e < n else 0.0


@numba.njit(cache=True)
def _probe(remaining, positions, off, t, n, pre_ms, pre_params, stages, cache, floor, rounds, overhead):
    """The smallest target (>= ``floor``) :func:`_covers` accepts, by bisection (``inf`` with no stage)."""
    if stages <= 0:
        return np.inf
    high = _segment(remaining, positions, off, t, n, n, pre_ms, pre_params, cache)
    high = max(high, floor)
    low = floor
    for _ in range(rounds):
        if high - low <= 1e-4 * high:
            break
        mid = (low + high) / 2
        if _covers(remaining, positions, off, t, n, pre_ms, pre_params, stages, cache, mid, overhead):
            high = mid
        else:
            low = mid
    return high


class StaticArrays:
    """What a view hands out of arrays that change only at reset (the padded graph). With ``share``
    (the vector env): one copy per episode, made on first use after a reset, then the same array on
    every step; the env never writes into an array it handed out, so an observation stays as it was,
    and a step copies only what it changed. Without (the single env, Gymnasium's convention that
    every call returns new data): a fresh copy every time."""

    def __init__(self, share: bool = False) -> None:
        self.share = share
        self._copies: dict[tuple, np.ndarray] = {}

    def clear(self) -> None:
        """Some episode was reset: its static arrays changed."""
        self._copies.clear()

    def get(self, name: str, array: np.ndarray, rows: np.ndarray | slice) -> np.ndarray:
        if not self.share:
            return _take(array, rows)
        key = (name, (rows.start, rows.stop, rows.step) if isinstance(rows, slice) else rows.tobytes())
        found = self._copies.get(key)
        if found is None:
            found = self._copies[key] = _take(array, rows)
        return found


STATIC_KEYS = ("node_mask", "edge_index", "edge_mask")  # the graph view's arrays that change only at reset


class GraphView(View):
    """The padded graph ``Dict`` (:func:`respect_gym.problem.features.observation_space`)."""

    def __init__(self, state: State, max_edges: int, share_static: bool = False) -> None:
        super().__init__(state)
        k, b, n = state.num_stages, state.num_envs, state.max_nodes
        self.max_edges = int(max_edges)
        self.space = observation_space(n, self.max_edges, k)
        self.buffers = {name: np.zeros((b, *sp.shape), dtype=sp.dtype) for name, sp in self.space.spaces.items()}
        self.inv_params = np.ones(b)
        self.inv_nodes = np.ones(b)
        self.inv_reference = np.ones(b)
        self.stage_values = _stage_values(k)
        self.static = StaticArrays(share_static)

    def reset(self, rows: np.ndarray) -> None:
        self.static.clear()
        a = self.buffers
        for name in a:
            a[name][rows] = 0
        features = a["node_features"]
        for instance, t, sel in _groups(self.state, rows):
            graph = instance.graph
            n, e = graph.num_nodes, graph.num_edges
            if e > self.max_edges:
                raise ValueError(f"graph {graph.meta.model!r} has {e} edges but max_edges={self.max_edges}; "
                                 f"pass max_edges>={e} to the env")
            block = np.zeros((n, features.shape[2]), dtype=np.float32)
            block[:, :NUM_STATIC_FEATURES] = t.features
            block[:, STAGE_COL] = -1.0
            features[sel, :n] = block
            a["node_mask"][sel, :n] = 1
            a["edge_index"][sel, :, :e] = graph.edges.T
            a["edge_mask"][sel, :e] = 1
            self.inv_params[sel] = t.inv_params
            self.inv_nodes[sel] = 1.0 / n
            self.inv_reference[sel] = t.inv_reference
        node = self.state.node[rows]
        features[rows, node, CURRENT_COL] = 1.0
        a["current_node"][rows, 0] = node

    def after_step(self, rows: np.ndarray, transition: Transition) -> None:
        s, a = self.state, self.buffers
        _graph_step(rows, transition.node, transition.stage, transition.done, a["node_features"], a["stage_features"],
                    a["current_node"], s.node, s.stage_param_bytes, s.stage_ms, s.stage_nodes, self.stage_values,
                    self.inv_params, self.inv_reference, self.inv_nodes, LATENCY_CLIP)

    def observe(self, rows: np.ndarray | slice = slice(None)) -> dict[str, np.ndarray]:
        return {name: self.static.get(name, array, rows) if name in STATIC_KEYS else _take(array, rows)
                for name, array in self.buffers.items()}


@numba.njit(cache=True)
def _graph_step(rows, placed, placed_stage, done, features, stage_features, current, node, stage_param_bytes, stage_ms,
                stage_nodes, stage_values, inv_params, inv_reference, inv_nodes, clip):
    """The graph view's changes after a step: the placed node's stage, the stage rows, the current node."""
    for i in range(rows.shape[0]):
        b = rows[i]
        features[b, placed[i], STAGE_COL] = stage_values[placed_stage[i]]
        for k in range(stage_ms.shape[1]):
            stage_features[b, k, 0] = np.float32(stage_param_bytes[b, k] * inv_params[b])
            stage_features[b, k, 1] = min(np.float32(stage_ms[b, k] * inv_reference[b]), np.float32(clip))
            stage_features[b, k, 2] = np.float32(stage_nodes[b, k] * inv_nodes[b])
        if not done[i]:
            features[b, current[b, 0], CURRENT_COL] = 0.0
            features[b, node[b], CURRENT_COL] = 1.0
            current[b, 0] = node[b]


class ContextView(View):
    """The padded graph with static node context and the step context (:class:`GraphContextObservation`)."""

    def __init__(self, state: State, max_edges: int, share_static: bool = False) -> None:
        super().__init__(state)
        self.graph = GraphView(state, max_edges, share_static)
        self.context = StepContext(state)
        k, n = state.num_stages, state.max_nodes
        base = self.graph.space.spaces
        box = lambda shape: spaces.Box(-1.0, CONTEXT_CLIP, shape, np.float32)  # noqa: E731
        self.space = spaces.Dict({
            "node_context": box((n, NUM_NODE_CONTEXT)),
            **{key: base[key] for key in ("node_mask", "edge_index", "edge_mask", "current_node")},
            "stage_context": box((k, NUM_STAGE_CONTEXT)),
            "global_context": box((NUM_GLOBAL_CONTEXT,)),
        })
        self.node_context = np.zeros((state.num_envs, n, NUM_NODE_CONTEXT), dtype=np.float32)

    def reset(self, rows: np.ndarray) -> None:
        self.graph.reset(rows)
        self.context.reset(rows)
        self.node_context[rows] = 0.0
        for instance, t, sel in _groups(self.state, rows):
            self.node_context[sel, : instance.graph.num_nodes] = t.context

    def after_step(self, rows: np.ndarray, transition: Transition) -> None:
        self.graph.after_step(rows, transition)

    def observe(self, rows: np.ndarray | slice = slice(None)) -> dict[str, np.ndarray]:
        rows = np.arange(self.state.num_envs)[rows]
        stages, glob = self.context.stages_and_globals(rows)
        g = self.graph.buffers
        static = self.graph.static  # cleared by the graph view's reset, which ours calls
        return {
            "node_context": static.get("node_context", self.node_context, rows),
            **{key: static.get(key, g[key], rows) for key in STATIC_KEYS},
            "current_node": g["current_node"][rows],
            "stage_context": stages,
            "global_context": glob,
        }


def _take(array: np.ndarray, rows: np.ndarray | slice) -> np.ndarray:
    """``array[rows]`` as a fresh array (fancy indexing copies already; a slice is a view)."""
    return array[rows].copy() if isinstance(rows, slice) else array[rows]


def make_view(name: str, state: State, max_edges: int, lookahead: int = 4, share_static: bool = False) -> View:
    """The view named ``name`` (one of :data:`OBSERVATIONS`) over ``state``; ``share_static``: hand out
    the padded graph's arrays once per episode (:class:`StaticArrays`)."""
    if name == "graph":
        return GraphView(state, max_edges, share_static)
    if name == "compact":
        return CompactView(state, lookahead)
    if name == "context":
        return ContextView(state, max_edges, share_static)
    if name in DECISION_VERSIONS:
        return DecisionView(state, DECISION_VERSIONS[name])
    raise ValueError(f"unknown observation {name!r}; choose one of {OBSERVATIONS}")
