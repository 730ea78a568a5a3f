"""The Edge TPU pipeline cost model: the one place where every cost formula lives.

Two formula revisions are kept (``revision=2`` or ``3``, default :data:`LATEST_REVISION`); a
revision never changes once published, so numbers reported on it stay reproducible.

Revision 3 (calibrated on 1,177 thesis pipeline timings + the six Coral rows, docs/cost_model.md).
With ``c(x, a) = ceil(x / a) * a``, a stage costs, in milliseconds::

    stage    = invoke_overhead + sum over ops v of t_v + (input + output bytes) / link_bytes_per_s
    t_v      = padded_MACs_v / (peak * efficiency[class_v]) + act_v * activation_ms_per_mb
                                                            (conv / depthwise; dense without act)
             = out_bytes_v / elementwise_bytes_per_s        (other ops)
             + stored_v * passes_v / stream_rate[class_v]   if v's weights are streamed (passes_v:
                                                            ceil(out_bytes_v / stream_tile_bytes)
                                                            for conv / depthwise, 1 for dense)
    stored_v = taps * c(Cin, 4) * c(Cout, 64) + 8 * c(Cout, 64)   conv  (padded MACs: P * taps *
                                                                  c(Cin, 4) * c(Cout, 64))
             = taps * c(C, 64) + 8 * c(C, 64)                     depthwise (assumed by analogy)
             = Cin * c(Cout, 64)                                  dense

Caching is first-fit in execution order into ``cache_bytes``, skipping layers larger than
``max_layer_bytes`` (never cached). Transfers are counted as in revision 2 (below): a tensor
crossing stages leaves one TPU and enters the next through the host, paying both. The pipeline figures are ``period = max(max_k stage_k, host_stage_ms * used)``
(steady-state time between outputs; one host serves every TPU) and ``latency = sum_k stage_k +
handoff_ms * used`` (one input through an idle pipeline), ``used`` = the non-empty stages.

Revision 2 (the initial model; ``RespectPipeline-v0``): a stage costs, in milliseconds::

    latency = invoke_overhead                                  (once per non-empty stage)
            + sum over ops v of  t_v                           (cached or streamed, see below)
            + (input bytes + output bytes) / link_bandwidth    (host <-> TPU activations)

    compute_v  = op_overhead + MACs_v / (peak * efficiency[class_v] * util_v)  conv, depthwise, dense
               = op_overhead + out_bytes_v / elementwise_bandwidth       other ops (add, pool, ...)
    util_v     = row fill * column fill * P / (P + side)     conv / depthwise (1 for dense, or
                                                            when shapes are unknown)

``util_v`` is the busy fraction of the ``side`` x ``side`` weight-stationary MAC array
(:func:`array_utilisation`): each pass holds one weight tile (input channels, or a depthwise
conv's kernel taps, on the rows; output channels on the columns), loads it in ``side`` cycles,
then streams the layer's P output pixels through it.
    t_v        = compute_v                             if v's weights are cached
               = max(compute_v, param_v / conv_stream) streamed conv/depthwise/other: the next
                                                       layer's weights are prefetched during compute
               = compute_v + param_v / link            streamed dense: batch-1 matrix-vector work
                                                       is too short to hide a synchronous fetch

Revision 2 caches first-fit by whole layer in ``graph.topological_order`` restricted to the stage, into
``cache_bytes - floor(activation_reserve * max_v act_v)`` where ``act_v`` is op v's working set
(its input + output activation bytes): activations share the on-chip SRAM with parameters.
Input tensors are those produced outside the stage (or by host-side ``Input`` nodes) and read
inside it, each once; output tensors are produced inside and read outside it, or graph outputs.
Its period is the slowest stage and its latency the sum of the stages.

Every evaluator (:meth:`CostModel.stage_cost`, :meth:`CostModel.evaluate`, the batched
:class:`~respect_gym.solvers.stagecost.BatchStageCost` and the problem kernel's incremental
state, :mod:`respect_gym.problem.state`) uses the per-node arrays precomputed
here plus :func:`first_fit` and :meth:`CostModel.capacity` / :meth:`CostModel.combine`, so they
cannot drift apart. All byte quantities are exact integers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numba
import numpy as np

from respect_gym.cost.hardware import (
    HARDWARE_BY_REVISION, LATEST_REVISION, EdgeTPU, EdgeTPU3, HardwareError, check_revision, get_hardware,
)
from respect_gym.cost.report import PipelineReport, pipeline_figures
from respect_gym.cost.schedule import ScheduleError, validate_schedule
from respect_gym.graph import Graph

# A formula change is a new revision (hardware.REVISIONS); constants are hashed into the version.
FORMULA_REVISION = LATEST_REVISION


def _fingerprint(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:10]


# revision -> "revision.hash of its presets"; results carry the version they were computed with
COST_MODEL_VERSIONS: dict[int, str] = {
    rev: f"{rev}.{_fingerprint([hw.to_dict() for hw in presets.values()])}"
    for rev, presets in HARDWARE_BY_REVISION.items()
}
COST_MODEL_VERSION = COST_MODEL_VERSIONS[LATEST_REVISION]


def cost_model_version(hardware: EdgeTPU, revision: int | None = None) -> str:
    """Version string of a result: presets share their revision's :data:`COST_MODEL_VERSIONS`
    entry, custom hardware appends a fingerprint of its constants so results on different
    hardware never compare equal."""
    revision = check_revision(revision)
    base = COST_MODEL_VERSIONS[revision]
    if HARDWARE_BY_REVISION[revision].get(hardware.name) == hardware:
        return base
    return f"{base}+{_fingerprint(hardware.to_dict())}"


def op_class(op_type: str) -> str:
    """Map a Keras or TFLite op type to the class that sets its compute cost."""
    key = op_type.lower().replace("_", "")
    if key in ("input", "inputlayer"):
        return "input"
    if "depthwise" in key:
        return "depthwise"
    if "conv" in key:
        return "conv"
    if "dense" in key or "fullyconnected" in key or "matmul" in key:
        return "dense"
    return "other"


def _fill(size: np.ndarray, side: int) -> np.ndarray:
    """Occupied fraction of ``ceil(size / side)`` array tiles along one axis."""
    size = np.maximum(size, 1.0)
    return size / (side * np.ceil(size / side))


def array_utilisation(graph: Graph, classes: np.ndarray, side: int) -> np.ndarray:
    """Busy fraction of the ``side`` x ``side`` MAC array for each node (1 where it does not apply).

    Weight-stationary mapping: a regular conv puts input channels on the rows (kernel taps are
    accumulated over successive passes) and output channels on the columns; a depthwise conv has
    no channel sum, so its kernel taps take the rows and each channel one column. Every pass loads
    a weight tile in ``side`` cycles and then streams the P output pixels, hence
    ``row fill * column fill * P / (P + side)``. Nodes without shapes (or with a shape-less
    input) keep 1, i.e. the class efficiency alone.
    """
    shapes = graph.out_shapes
    channels = np.array([s[-1] if len(s) else 0 for s in shapes], dtype=np.float64)
    pixels = np.array([np.prod(s[:-1]) if len(s) >= 2 else 0 for s in shapes], dtype=np.float64)
    u, v = graph.edges[:, 0], graph.edges[:, 1]
    in_channels = np.zeros(graph.num_nodes)
    np.add.at(in_channels, v, channels[u])
    unknown_input = np.zeros(graph.num_nodes, dtype=bool)
    unknown_input[v[channels[u] == 0]] = True
    depthwise = classes == "depthwise"
    per_tap = pixels * channels
    taps = np.divide(graph.macs.astype(np.float64), per_tap, out=np.ones(graph.num_nodes), where=per_tap > 0)
    rows = np.where(depthwise, taps, in_channels)
    mapped = (((classes == "conv") & ~unknown_input & (graph.in_degree > 0)) | depthwise) & (pixels > 0) & (channels > 0)
    util = _fill(rows, side) * _fill(channels, side) * pixels / (pixels + side)
    return np.where(mapped, util, 1.0)


def first_fit(param_bytes: np.ndarray, capacity: int, max_layer: float = np.inf) -> np.ndarray:
    """Cached mask of layers (in execution order) under first-fit: a layer is cached iff its
    whole weights fit in what earlier cached layers left (and it is at most ``max_layer`` bytes),
    as the Edge TPU compiler allocates."""
    cached = np.ones(param_bytes.shape[0], dtype=bool)
    if int(param_bytes.sum()) <= capacity and int(param_bytes.max(initial=0)) <= max_layer:
        return cached
    remaining = int(capacity)
    for i, p in enumerate(param_bytes.tolist()):
        if p <= remaining and p <= max_layer:
            remaining -= p
        else:
            cached[i] = False
    return cached


def _rev2_node_costs(graph: Graph, hw: EdgeTPU, classes: np.ndarray,
                     is_op: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Revision 2's per-node compute ms, time when streamed, and raw parameter bytes."""
    efficiency = {"conv": hw.conv_efficiency, "depthwise": hw.depthwise_efficiency, "dense": hw.dense_efficiency}
    macs = graph.macs.astype(np.float64)
    out = graph.out_bytes.astype(np.float64)
    compute = np.full(graph.num_nodes, hw.op_overhead_ms)
    util = array_utilisation(graph, classes, hw.array_side)
    for cls, eff in efficiency.items():
        sel = classes == cls
        compute[sel] += 1e3 * macs[sel] / (hw.peak_macs_per_s * eff * util[sel])
    sel = classes == "other"
    compute[sel] += 1e3 * out[sel] / hw.elementwise_bytes_per_s
    params = np.where(is_op, graph.param_bytes, 0).astype(np.int64)
    dense = classes == "dense"
    stream = 1e3 * params / np.where(dense, hw.link_bytes_per_s, hw.conv_stream_bytes_per_s)
    streamed = np.where(dense, compute + stream, np.maximum(compute, stream))
    return compute, streamed, params


def _ceil(x: np.ndarray, a: int) -> np.ndarray:
    return np.ceil(x / a) * a


def _rev3_node_costs(graph: Graph, hw: EdgeTPU3, classes: np.ndarray, is_op: np.ndarray,
                     in_act: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Revision 3's per-node compute ms, streaming ms (when not cached) and stored bytes.

    Channel counts come from ``out_shapes`` (input channels: the predecessors' summed channels);
    nodes without shapes keep their raw MACs and parameter bytes.
    """
    shapes = graph.out_shapes
    cout = np.array([s[-1] if len(s) else 0 for s in shapes], dtype=np.float64)
    pixels = np.array([np.prod(s[:-1]) if len(s) >= 2 else (1 if len(s) else 0) for s in shapes], dtype=np.float64)
    u, v = graph.edges[:, 0], graph.edges[:, 1]
    cin = np.zeros(graph.num_nodes)
    np.add.at(cin, v, cout[u])
    macs = graph.macs.astype(np.float64)
    raw = graph.param_bytes.astype(np.float64)
    conv, dw, dense = classes == "conv", classes == "depthwise", classes == "dense"
    known = (cout > 0) & (cin > 0) & (pixels > 0)
    denom = pixels * np.where(dw, 1.0, cin) * cout
    taps = np.divide(macs, denom, out=np.zeros(graph.num_nodes), where=denom > 0)
    stored, padded = raw.copy(), macs.copy()
    sel = conv & known & (taps > 0)
    stored[sel] = taps[sel] * _ceil(cin[sel], 4) * _ceil(cout[sel], 64) + 8 * _ceil(cout[sel], 64)
    padded[sel] = pixels[sel] * taps[sel] * _ceil(cin[sel], 4) * _ceil(cout[sel], 64)
    sel = dw & known & (taps > 0)
    stored[sel] = taps[sel] * _ceil(cout[sel], 64) + 8 * _ceil(cout[sel], 64)
    padded[sel] = pixels[sel] * taps[sel] * _ceil(cout[sel], 64)
    sel = dense & known
    stored[sel] = cin[sel] * _ceil(cout[sel], 64)
    padded[sel] = _ceil(cin[sel], 4) * _ceil(cout[sel], 64)
    stored = np.where(raw > 0, np.rint(stored), 0)  # parameter-free ops store nothing

    act_mb = (graph.out_bytes + in_act) / 1e6
    compute = np.full(graph.num_nodes, hw.op_overhead_ms)
    for cls, eff in (("conv", hw.conv_efficiency), ("depthwise", hw.depthwise_efficiency)):
        sel = classes == cls
        compute[sel] += 1e3 * padded[sel] / (hw.peak_macs_per_s * eff) + act_mb[sel] * hw.activation_ms_per_mb
    compute[dense] += 1e3 * padded[dense] / (hw.peak_macs_per_s * hw.dense_efficiency)
    other = classes == "other"
    compute[other] += 1e3 * graph.out_bytes[other] / hw.elementwise_bytes_per_s
    # a streamed conv's weights are fetched once per output tile that fits beside them on chip
    passes = np.where(dense, 1.0, np.maximum(1.0, np.ceil(graph.out_bytes / hw.stream_tile_bytes)))
    stream = 1e3 * stored * passes / np.where(dense, hw.dense_stream_bytes_per_s, hw.conv_stream_bytes_per_s)
    return compute, stream, stored.astype(np.int64)


@dataclass(frozen=True)
class PipelineConstants:
    """The hardware constants of a revision's stage and pipeline formulas: what every evaluator
    (one stage, a whole schedule, the batched kernel) combines its per-node sums with."""

    invoke_overhead_ms: float
    ms_per_link_byte: float
    cache_bytes: int
    activation_reserve: float
    max_layer_bytes: int  # layers above it are never cached
    host_stage_ms: float  # the host's serial work per used stage (revision 3; 0 in revision 2)
    handoff_ms: float  # a queue hand-off per used stage in one input's latency (revision 3)

    @classmethod
    def of(cls, hw: EdgeTPU, revision: int) -> "PipelineConstants":
        rev3 = revision != 2
        return cls(
            invoke_overhead_ms=float(hw.invoke_overhead_ms),
            ms_per_link_byte=1e3 / hw.link_bytes_per_s,
            cache_bytes=int(hw.cache_bytes),
            activation_reserve=float(hw.activation_reserve),
            # revision 2: implied, no capacity exceeds the cache
            max_layer_bytes=int(hw.max_layer_bytes) if rev3 else int(hw.cache_bytes),
            host_stage_ms=float(hw.host_stage_ms) if rev3 else 0.0,
            handoff_ms=float(hw.handoff_ms) if rev3 else 0.0,
        )

    def capacity(self, max_act_bytes: np.ndarray | int) -> np.ndarray | int:
        """Parameter cache left once the stage's largest op working set is reserved (:func:`cache_left`)."""
        cap = cache_left(max_act_bytes, self.cache_bytes, self.activation_reserve)
        return cap if np.ndim(cap) else int(cap)

    def combine(self, num_ops: np.ndarray | int, busy_ms: np.ndarray | float,
                transfer_bytes: np.ndarray | float) -> np.ndarray | float:
        """Stage time from its op count, op time (compute + streaming) and transferred bytes (:func:`stage_time`)."""
        latency = stage_time(num_ops, busy_ms, transfer_bytes, self.invoke_overhead_ms, self.ms_per_link_byte)
        return latency if np.ndim(latency) else float(latency)


# The stage formula and the cache rule as numba ufuncs: one definition that numpy callers apply to
# arrays and the problem kernel's compiled loop (respect_gym/problem/state.py) calls per stage.
@numba.vectorize(["float64(int64, float64, float64, float64, float64)"], cache=True)
def stage_time(num_ops, busy_ms, transfer_bytes, invoke_overhead_ms, ms_per_link_byte):
    """A stage's latency: the invoke overhead, its ops' time (compute + streaming) and its host
    transfers; 0 for a stage without TPU ops."""
    if num_ops > 0:
        return invoke_overhead_ms + busy_ms + transfer_bytes * ms_per_link_byte
    return 0.0


@numba.vectorize(["int64(int64, int64, float64)"], cache=True)
def cache_left(max_act_bytes, cache_bytes, activation_reserve):
    """Parameter cache left once ``activation_reserve`` of the stage's largest op working set is reserved."""
    return max(0, cache_bytes - np.int64(np.floor(activation_reserve * np.float64(max_act_bytes))))


@dataclass(frozen=True)
class StageCost:
    """Cost breakdown of one stage; ``latency_ms`` = invoke overhead (if ``num_ops`` > 0) +
    ``compute_ms`` + ``stream_ms`` (time streaming adds beyond compute) + ``transfer_ms``."""

    latency_ms: float
    compute_ms: float
    stream_ms: float
    transfer_ms: float
    param_bytes: int
    cached_bytes: int
    streamed_bytes: int
    in_bytes: int
    out_bytes: int
    num_ops: int


class CostModel:
    """Cost model of one graph on one Edge TPU type; precomputes all per-node costs once.

    :param graph: the DNN graph.
    :param hardware: a preset name (``"usb3"``, ``"pcie"``) or an :class:`EdgeTPU`
        (:class:`EdgeTPU3` for revision 3).
    :param revision: formula revision, 2 or 3 (``None``: :data:`LATEST_REVISION`).
    """

    def __init__(self, graph: Graph, hardware: str | EdgeTPU = "usb3", revision: int | None = None) -> None:
        self.graph = graph
        self.revision = check_revision(revision)
        self.hardware = hw = get_hardware(hardware, self.revision)
        if self.revision == 2 and isinstance(hw, EdgeTPU3):
            raise HardwareError(f"EdgeTPU {hw.name!r} has revision-3 constants; revision 2 needs an EdgeTPU")
        self.version = cost_model_version(hw, self.revision)
        classes = np.asarray([op_class(t) for t in graph.op_types])
        is_op = ~graph.is_input & (classes != "input")
        in_act = np.zeros(graph.num_nodes, dtype=np.int64)
        np.add.at(in_act, graph.edges[:, 1], graph.out_bytes[graph.edges[:, 0]])
        if self.revision == 2:
            compute, streamed, params = _rev2_node_costs(graph, hw, classes, is_op)
        else:
            compute, stream, stored = _rev3_node_costs(graph, hw, classes, is_op, in_act)
            streamed, params = compute + stream, np.where(is_op, stored, 0).astype(np.int64)
        self.constants = constants = PipelineConstants.of(hw, self.revision)
        self.max_layer_bytes = constants.max_layer_bytes
        self.host_stage_ms, self.handoff_ms = constants.host_stage_ms, constants.handoff_ms

        self.is_op = _ro(is_op)
        self.op_classes = tuple(classes.tolist())
        self.compute_ms = _ro(np.where(is_op, compute, 0.0))
        self.extra_ms = _ro(np.where(is_op, streamed - compute, 0.0))  # cost of streaming a layer
        self.param_bytes = _ro(params)
        self.act_bytes = _ro(np.where(is_op, graph.out_bytes + in_act, 0).astype(np.int64))
        self.out_bytes = _ro(graph.out_bytes.astype(np.int64))
        self.topo_rank = _ro(np.argsort(graph.topological_order).astype(np.int64))
        order = graph.topological_order
        self.param_order = _ro(order[params[order] > 0])  # layers that can be cached, in execution order
        self.ms_per_link_byte = constants.ms_per_link_byte
        consumed_by_op = is_op[graph.edges[:, 1]]  # host-side nodes read nothing from a TPU
        self._edge_u = graph.edges[consumed_by_op, 0]
        self._edge_v = graph.edges[consumed_by_op, 1]
        self._is_sink_op = _ro(is_op & (graph.out_degree == 0))
        self._on_host = _ro(~is_op)  # Input nodes: their tensor always comes from the host

    # ------------------------------------------------------------- shared pieces
    def capacity(self, max_act_bytes: np.ndarray | int) -> np.ndarray | int:
        """Parameter cache left once the stage's largest op working set is reserved."""
        return self.constants.capacity(max_act_bytes)

    def combine(self, num_ops: np.ndarray | int, busy_ms: np.ndarray | float,
                transfer_bytes: np.ndarray | float) -> np.ndarray | float:
        """Stage time from its op count, op time (compute + streaming) and transferred bytes."""
        return self.constants.combine(num_ops, busy_ms, transfer_bytes)

    # ------------------------------------------------------------- one stage
    def _check_mask(self, mask: np.ndarray) -> np.ndarray:
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (self.graph.num_nodes,):
            raise ScheduleError(f"a stage mask must be a bool array of shape ({self.graph.num_nodes},), "
                                f"got {mask.dtype} {mask.shape}")
        return mask

    def stage_cost(self, mask: np.ndarray) -> StageCost:
        """Full cost breakdown of one stage given as a node mask (any convex node set)."""
        mask = self._check_mask(mask)
        ops = mask & self.is_op
        num_ops = int(ops.sum())
        if num_ops == 0:
            return StageCost(0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0, 0, 0)
        order = self.param_order[mask[self.param_order]]
        params = self.param_bytes[order]
        cached = first_fit(params, self.capacity(int(self.act_bytes[ops].max())), self.max_layer_bytes)
        compute = float(self.compute_ms[ops].sum())
        stream = float(self.extra_ms[order[~cached]].sum())
        in_b, out_b = self._stage_io(mask)
        cached_b = int(params[cached].sum())
        return StageCost(
            latency_ms=self.combine(num_ops, compute + stream, in_b + out_b),
            compute_ms=compute,
            stream_ms=stream,
            transfer_ms=(in_b + out_b) * self.ms_per_link_byte,
            param_bytes=int(params.sum()),
            cached_bytes=cached_b,
            streamed_bytes=int(params.sum()) - cached_b,
            in_bytes=in_b,
            out_bytes=out_b,
            num_ops=num_ops,
        )

    def stage_latency_ms(self, mask: np.ndarray) -> float:
        """Latency of one stage (the fast path of :meth:`stage_cost`, for DP and search)."""
        mask = self._check_mask(mask)
        ops = mask & self.is_op
        if not ops.any():
            return 0.0
        order = self.param_order[mask[self.param_order]]
        cached = first_fit(self.param_bytes[order], self.capacity(int(self.act_bytes[ops].max())), self.max_layer_bytes)
        busy = float(self.compute_ms[ops].sum()) + float(self.extra_ms[order[~cached]].sum())
        in_b, out_b = self._stage_io(mask)
        return self.combine(1, busy, in_b + out_b)

    def _stage_io(self, mask: np.ndarray) -> tuple[int, int]:
        u, v = self._edge_u, self._edge_v
        incoming = np.unique(u[mask[v] & (~mask[u] | self._on_host[u])])
        outgoing = np.unique(np.concatenate([u[mask[u] & ~mask[v] & self.is_op[u]],
                                             np.flatnonzero(mask & self._is_sink_op)]))
        return int(self.out_bytes[incoming].sum()), int(self.out_bytes[outgoing].sum())

    # ------------------------------------------------------------- whole schedule
    def evaluate(self, stages, num_stages: int) -> PipelineReport:
        """Evaluate a schedule (stage per node) over ``num_stages`` TPUs, vectorised over stages."""
        st = validate_schedule(self.graph, stages, num_stages)
        k = int(num_stages)
        ops = self.is_op
        num_ops = np.bincount(st[ops], minlength=k).astype(np.int64)
        compute = np.bincount(st, weights=self.compute_ms, minlength=k)
        max_act = np.zeros(k, dtype=np.int64)
        np.maximum.at(max_act, st[ops], self.act_bytes[ops])
        cap = self.capacity(max_act)
        order = self.param_order
        so, po = st[order], self.param_bytes[order]
        total = np.bincount(so, weights=po, minlength=k).astype(np.int64)
        cached = np.ones(order.shape[0], dtype=bool)
        overflow = total > cap
        np.logical_or.at(overflow, so[po > self.max_layer_bytes], True)
        for s in np.flatnonzero(overflow).tolist():  # only overflowing stages need first-fit
            sel = np.flatnonzero(so == s)
            cached[sel] = first_fit(po[sel], int(cap[s]), self.max_layer_bytes)
        streamed = ~cached
        stream = np.bincount(so[streamed], weights=self.extra_ms[order[streamed]], minlength=k)
        streamed_b = np.bincount(so[streamed], weights=po[streamed], minlength=k).astype(np.int64)
        in_b, out_b = self._schedule_io(st, k)
        stage_ms = self.combine(num_ops, compute + stream, in_b + out_b)
        return self.report(
            stage_ms=stage_ms,
            stage_compute_ms=compute,
            stage_stream_ms=stream,
            stage_transfer_ms=(in_b + out_b) * self.ms_per_link_byte,
            stage_param_bytes=total,
            stage_cached_bytes=total - streamed_b,
            stage_streamed_bytes=streamed_b,
            stage_in_bytes=in_b,
            stage_out_bytes=out_b,
            stage_num_ops=num_ops,
        )

    def report(self, **stage_arrays: np.ndarray) -> PipelineReport:
        """A :class:`PipelineReport` from per-stage arrays, with this revision's pipeline terms."""
        return PipelineReport.build(hardware=self.hardware.name, cost_model_version=self.version,
                                    revision=self.revision, host_stage_ms=self.host_stage_ms,
                                    handoff_ms=self.handoff_ms, **stage_arrays)

    def pipeline_ms(self, stage_ms: np.ndarray, used: int) -> tuple[float, float]:
        """``(period, latency)`` from stage times and the number of non-empty stages."""
        return pipeline_figures(stage_ms, used, self.host_stage_ms, self.handoff_ms)

    def _schedule_io(self, st: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        u, v = self._edge_u, self._edge_v
        cross = st[u] != st[v]
        # one host->TPU transfer per (tensor, consumer stage)
        keys = np.unique(u[cross | self._on_host[u]] * k + st[v[cross | self._on_host[u]]])
        in_b = np.bincount(keys % k, weights=self.out_bytes[keys // k], minlength=k)
        # one TPU->host transfer per tensor read in a later stage or returned as a graph output
        producers = np.unique(np.concatenate([u[cross & self.is_op[u]], np.flatnonzero(self._is_sink_op)]))
        out_b = np.bincount(st[producers], weights=self.out_bytes[producers], minlength=k)
        return in_b.astype(np.int64), out_b.astype(np.int64)


def _ro(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array
