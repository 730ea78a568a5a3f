"""The immutable DNN graph every other part of respect-gym works on.

A :class:`Graph` is a DAG with one node per operation. Nodes live in a fixed index order and carry
the sizes the Edge TPU cost model needs (int8, as deployed): multiply-accumulates, parameter bytes,
and output-activation bytes. Edges ``u -> v`` mean ``v`` reads ``u``'s output tensor.

Arrays are read-only numpy views, so a graph can be shared by solvers, envs and caches without
defensive copies. Structural helpers (topological order, levels, neighbour arrays) are computed once
on first use.

Every number is checked before it is cast (a silent int64 wrap-around would price a schedule at
a negative latency): sizes are whole, finite, non-negative and physically bounded, per node by
:data:`MAX_NODE_BYTES` (parameter and output bytes: 64 GiB, more than any Edge TPU host streams
from) and :data:`MAX_NODE_MACS` (2**50, ~10 minutes of an Edge TPU's 4 TOPS for one op), and in
total by :data:`MAX_TOTAL` (2**62, so int64 sums never overflow); shapes have at most
:data:`MAX_RANK` dimensions, each below :data:`MAX_DIM` (2**31), and at most :data:`MAX_ELEMENTS`
elements. Names, op types and metadata are strings without control or bidi characters, at most
:data:`~respect_gym.safe_io.MAX_NAME_CHARS` characters (:mod:`respect_gym.safe_io`).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Sequence

import numpy as np

from respect_gym.safe_io import MAX_NAME_CHARS, excerpt, text_problem

MAX_NODE_BYTES = 2**36
MAX_NODE_MACS = 2**50
MAX_TOTAL = 2**62
MAX_DIM = 2**31
MAX_RANK = 16
MAX_ELEMENTS = 2**40
_BOUNDS = {"macs": MAX_NODE_MACS, "param_bytes": MAX_NODE_BYTES, "out_bytes": MAX_NODE_BYTES}


class GraphError(ValueError):
    """A graph is malformed: the message names the offending node or edge."""


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array



# The file formats of :class:`Graph`, registered by :mod:`respect_gym.graph.io` (which the package
# imports with this module), so that the data structure does not depend on its formats.
FORMATS: dict[str, Callable] = {}


@dataclass(frozen=True)
class GraphMeta:
    """Graph-level metadata: where the graph comes from and at which granularity."""

    model: str = "unnamed"
    input_shape: tuple[int, ...] = ()
    granularity: str = "layers"
    source: str = ""


class Graph:
    """An immutable, validated DNN graph.

    :param names: unique node names, in node index order.
    :param op_types: operation type per node (Keras class name, TFLite op or ``"Input"``).
        Nodes of type ``"Input"`` hold the graph input, which lives on the host.
    :param macs: multiply-accumulate operations per node.
    :param param_bytes: int8 parameter bytes per node (weights as deployed on the Edge TPU).
    :param out_bytes: int8 bytes of the node's output tensor.
    :param out_shapes: output shape per node (without the batch dimension).
    :param edges: ``(E, 2)`` integer array of ``u -> v`` edges.
    :param meta: model name, input shape, granularity and source.
    """

    names: tuple[str, ...]
    op_types: tuple[str, ...]
    macs: np.ndarray
    param_bytes: np.ndarray
    out_bytes: np.ndarray
    out_shapes: tuple[tuple[int, ...], ...]
    edges: np.ndarray
    meta: GraphMeta

    def __init__(
        self,
        names: Sequence[str],
        op_types: Sequence[str],
        macs: Sequence[float] | np.ndarray,
        param_bytes: Sequence[float] | np.ndarray,
        out_bytes: Sequence[float] | np.ndarray,
        edges: Sequence[Sequence[int]] | np.ndarray,
        out_shapes: Sequence[Sequence[int]] | None = None,
        meta: GraphMeta | None = None,
    ) -> None:
        n = len(names)
        if n == 0:
            raise GraphError("a graph needs at least one node")
        set_ = object.__setattr__  # the graph is immutable once built; see __setattr__
        set_(self, "names", tuple(str(x) for x in names))
        set_(self, "op_types", tuple(str(x) for x in op_types))
        set_(self, "meta", meta if meta is not None else GraphMeta())
        for label, seq in (("op_types", self.op_types),):
            if len(seq) != n:
                raise GraphError(f"{label} has {len(seq)} entries, expected {n} (one per node)")
        _check_texts(self.names, self.op_types, self.meta)
        set_(self, "macs", _frozen(_node_array("macs", macs, self.names)))
        set_(self, "param_bytes", _frozen(_node_array("param_bytes", param_bytes, self.names)))
        set_(self, "out_bytes", _frozen(_node_array("out_bytes", out_bytes, self.names)))
        if out_shapes is None:
            out_shapes = [()] * n
        if len(out_shapes) != n:
            raise GraphError(f"out_shapes has {len(out_shapes)} entries, expected {n}")
        shapes = [_shape(f"node {i} ({excerpt(self.names[i])}): out_shape", shape) for i, shape in enumerate(out_shapes)]
        set_(self, "out_shapes", tuple(shapes))
        _shape("meta.input_shape", self.meta.input_shape)
        set_(self, "edges", _frozen(_edge_array(edges, self.names)))
        if len(set(self.names)) != n:
            seen: set[str] = set()
            dup = next(x for x in self.names if x in seen or seen.add(x))
            raise GraphError(f"node name {excerpt(dup)} is used by more than one node")
        self.topological_order  # raises GraphError on a cycle

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"Graph is immutable; cannot set {name!r}")

    # ------------------------------------------------------------------ sizes
    @property
    def num_nodes(self) -> int:
        return len(self.names)

    @property
    def num_edges(self) -> int:
        return int(self.edges.shape[0])

    def __len__(self) -> int:
        return self.num_nodes

    def __repr__(self) -> str:
        return (
            f"Graph({self.meta.model!r}, granularity={self.meta.granularity!r}, "
            f"nodes={self.num_nodes}, edges={self.num_edges})"
        )

    # -------------------------------------------------------------- structure
    @cached_property
    def predecessors(self) -> tuple[np.ndarray, ...]:
        """``predecessors[v]``: sorted int array of the nodes ``v`` reads from."""
        return self._adjacency(column=1)

    @cached_property
    def successors(self) -> tuple[np.ndarray, ...]:
        """``successors[u]``: sorted int array of the nodes reading ``u``'s output."""
        return self._adjacency(column=0)

    def _adjacency(self, column: int) -> tuple[np.ndarray, ...]:
        other = 1 - column
        order = np.lexsort((self.edges[:, other], self.edges[:, column]))
        sorted_edges = self.edges[order]
        bounds = np.searchsorted(sorted_edges[:, column], np.arange(self.num_nodes + 1))
        return tuple(
            _frozen(sorted_edges[bounds[v] : bounds[v + 1], other].copy()) for v in range(self.num_nodes)
        )

    @cached_property
    def in_degree(self) -> np.ndarray:
        return _frozen(np.bincount(self.edges[:, 1], minlength=self.num_nodes).astype(np.int64))

    @cached_property
    def out_degree(self) -> np.ndarray:
        return _frozen(np.bincount(self.edges[:, 0], minlength=self.num_nodes).astype(np.int64))

    @cached_property
    def topological_order(self) -> np.ndarray:
        """Deterministic topological order: Kahn's algorithm, smallest ready index first."""
        indeg = np.bincount(self.edges[:, 1], minlength=self.num_nodes).tolist()
        succs = self.successors
        ready = [v for v in range(self.num_nodes) if indeg[v] == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            u = heapq.heappop(ready)
            order.append(u)
            for v in succs[u].tolist():
                indeg[v] -= 1
                if indeg[v] == 0:
                    heapq.heappush(ready, v)
        if len(order) != self.num_nodes:
            stuck = [v for v in range(self.num_nodes) if indeg[v] > 0]
            cycle = _find_cycle(stuck, succs, set(stuck))
            names = " -> ".join(f"{v} ({excerpt(self.names[v])})" for v in cycle[:8]) + (" -> ..." if len(cycle) > 8 else "")
            raise GraphError(f"graph has a cycle: {names}")
        return _frozen(np.asarray(order, dtype=np.int64))

    @cached_property
    def levels(self) -> np.ndarray:
        """Topological level: 0 for sources, else 1 + the largest level of a predecessor."""
        level = np.zeros(self.num_nodes, dtype=np.int64)
        preds = self.predecessors
        for v in self.topological_order.tolist():
            if preds[v].size:
                level[v] = level[preds[v]].max() + 1
        return _frozen(level)

    @cached_property
    def _reach_counts(self) -> tuple[np.ndarray, np.ndarray]:
        # Python ints as bitsets: exact and fast enough for graphs of tens of thousands of nodes.
        n = self.num_nodes
        order = self.topological_order.tolist()
        anc = [0] * n
        for v in order:
            bits = 0
            for u in self.predecessors[v].tolist():
                bits |= anc[u] | (1 << u)
            anc[v] = bits
        desc = [0] * n
        for u in reversed(order):
            bits = 0
            for v in self.successors[u].tolist():
                bits |= desc[v] | (1 << v)
            desc[u] = bits
        count = np.asarray([b.bit_count() for b in anc], dtype=np.int64)
        dcount = np.asarray([b.bit_count() for b in desc], dtype=np.int64)
        return _frozen(count), _frozen(dcount)

    @property
    def num_ancestors(self) -> np.ndarray:
        """Number of (transitive) ancestors of each node."""
        return self._reach_counts[0]

    @property
    def num_descendants(self) -> np.ndarray:
        """Number of (transitive) descendants of each node."""
        return self._reach_counts[1]

    @cached_property
    def sources(self) -> np.ndarray:
        return _frozen(np.flatnonzero(self.in_degree == 0))

    @cached_property
    def sinks(self) -> np.ndarray:
        """Nodes without consumers: their outputs are graph outputs, returned to the host."""
        return _frozen(np.flatnonzero(self.out_degree == 0))

    @cached_property
    def is_input(self) -> np.ndarray:
        """Boolean mask of ``"Input"`` nodes (the graph input tensor, held by the host)."""
        return _frozen(np.asarray([t == "Input" for t in self.op_types], dtype=bool))

    # ----------------------------------------------------------- conversions
    def sha256(self) -> str:
        """Canonical SHA-256 of the graph content, stable across runs and machines."""
        return self._sha256

    @cached_property
    def _sha256(self) -> str:
        # the graph is immutable, so the hash (a full JSON dump) is computed once
        return FORMATS["sha256"](self)

    def to_dict(self) -> dict:
        return FORMATS["to_dict"](self)

    @classmethod
    def from_dict(cls, data: dict) -> "Graph":
        return FORMATS["from_dict"](data)

    def to_json(self, path: str | None = None) -> str:
        """Serialise to the versioned JSON format; also write it to ``path`` when given."""
        return FORMATS["to_json"](self, path)

    @classmethod
    def from_json(cls, text_or_path: str) -> "Graph":
        """Parse JSON text, or read a ``.json`` / ``.json.gz`` file."""
        return FORMATS["from_json"](text_or_path)

    def to_networkx(self):
        return FORMATS["to_networkx"](self)

    @classmethod
    def from_networkx(cls, nx_graph) -> "Graph":
        return FORMATS["from_networkx"](nx_graph)

    # --------------------------------------------------------------- totals
    @property
    def total_macs(self) -> int:
        return int(self.macs.sum())

    @property
    def total_param_bytes(self) -> int:
        return int(self.param_bytes.sum())


def _check_texts(names: tuple[str, ...], op_types: tuple[str, ...], meta: GraphMeta) -> None:
    """Names, op types and metadata: bounded strings without control or bidi characters."""
    for label, seq in (("name", names), ("op_type", op_types)):
        for i, text in enumerate(seq):
            problem = text_problem(text, MAX_NAME_CHARS)
            if problem:
                raise GraphError(f"node {i}: {label} {excerpt(text)} {problem}")
    for label in ("model", "granularity", "source"):
        text = getattr(meta, label)
        problem = text_problem(str(text), MAX_NAME_CHARS if label != "source" else 4 * MAX_NAME_CHARS)
        if problem:
            raise GraphError(f"graph {label} {excerpt(text)} {problem}")


def _shape(where: str, shape) -> tuple[int, ...]:
    """A shape as a tuple of ints, each in ``0..MAX_DIM-1``, at most ``MAX_RANK`` of them."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__"):
        raise GraphError(f"{where} {excerpt(shape)} is not a list of ints")
    if len(shape) > MAX_RANK:
        raise GraphError(f"{where} has {len(shape)} dimensions, above the bound of {MAX_RANK}")
    dims = []
    for d in shape:
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer, float, np.floating)):
            raise GraphError(f"{where} {excerpt(shape)} is not a list of ints")
        if isinstance(d, (float, np.floating)) and not (math.isfinite(d) and d == int(d)):
            raise GraphError(f"{where} {excerpt(shape)} is not a list of ints")
        d = int(d)
        if d < 0:
            raise GraphError(f"{where} {excerpt(shape)} has a negative dimension")
        if d >= MAX_DIM:
            raise GraphError(f"{where} {excerpt(shape)} has a dimension of 2**31 or more")
        dims.append(d)
    if math.prod(dims) > MAX_ELEMENTS:
        raise GraphError(f"{where} {excerpt(shape)} has more than 2**40 elements")
    return tuple(dims)


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def _check_numbers(label: str, values, names: tuple[str, ...]) -> None:
    """Refuse booleans, strings and ``None`` in a list of sizes (numpy would cast them silently)."""
    try:
        bad = next((i for i, x in enumerate(values) if not _is_number(x)), None)
    except TypeError:
        raise GraphError(f"{label} must be a list of numbers") from None
    if bad is not None:
        where = f"node {bad} ({excerpt(names[bad])})" if bad < len(names) else f"entry {bad}"
        raise GraphError(f"{where}: {label} = {excerpt(values[bad])} is not a number; {label} must be a list of numbers")


def _node_array(label: str, values, names: tuple[str, ...]) -> np.ndarray:
    """Per-node sizes as int64, checked before the cast: numbers (not strings or booleans), whole,
    finite, in ``0..bound`` (``_BOUNDS``) and summing below ``MAX_TOTAL``."""
    bound = _BOUNDS.get(label, MAX_NODE_BYTES)
    if not isinstance(values, np.ndarray):
        _check_numbers(label, values, names)
    try:
        raw = values if isinstance(values, np.ndarray) else np.asarray(values)
    except (TypeError, ValueError, OverflowError):
        raise GraphError(f"{label} must be a list of numbers") from None
    if raw.shape != (len(names),):
        raise GraphError(f"{label} has shape {raw.shape}, expected ({len(names)},) (one per node)")
    if raw.dtype.kind == "O":  # Python ints beyond 64 bits, or mixed types
        for i, x in enumerate(raw.tolist()):
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise GraphError(f"node {i} ({excerpt(names[i])}): {label} = {excerpt(x)} is not a number")
            if not (math.isfinite(x) and 0 <= x <= bound):
                raise GraphError(f"node {i} ({excerpt(names[i])}): {label} = {excerpt(x)} is outside 0..{bound:,}")
        raise GraphError(f"{label} must be a list of numbers")
    if raw.dtype.kind not in "iuf":
        kind = "booleans" if raw.dtype.kind == "b" else f"values of type {raw.dtype}"
        raise GraphError(f"{label} must be a list of numbers, got {kind}")
    array = raw.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(array) | (array < 0))
    if bad.size:
        i = int(bad[0])
        raise GraphError(f"node {i} ({excerpt(names[i])}): {label} = {float(array[i])} must be finite and >= 0")
    if np.any(array != np.round(array)):
        i = int(np.flatnonzero(array != np.round(array))[0])
        raise GraphError(f"node {i} ({excerpt(names[i])}): {label} = {float(array[i])} must be a whole number")
    big = np.flatnonzero(array > bound)
    if big.size:
        i = int(big[0])
        raise GraphError(f"node {i} ({excerpt(names[i])}): {label} = {float(array[i]):.4g} is above the bound of "
                         f"{bound:,} (2**{bound.bit_length() - 1})")
    if float(array.sum()) > MAX_TOTAL:
        raise GraphError(f"{label} sum to {float(array.sum()):.4g}, above the bound of 2**62")
    return array.astype(np.int64) if raw.dtype.kind == "f" else raw.astype(np.int64)


def _edge_array(edges, names: tuple[str, ...]) -> np.ndarray:
    n = len(names)
    if not isinstance(edges, np.ndarray):
        try:
            ok = all(_is_number(u) and _is_number(v) for u, v in edges)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise GraphError("edges must be a list of [u, v] integer pairs")
    try:
        raw = edges if isinstance(edges, np.ndarray) else np.asarray(edges)
        if raw.size and raw.dtype.kind not in "iuf":
            raise TypeError
        array = raw.astype(np.float64)
    except (TypeError, ValueError, OverflowError):
        raise GraphError("edges must be a list of [u, v] integer pairs") from None
    if array.size == 0:
        array = array.reshape(0, 2)
    if array.ndim != 2 or array.shape[1] != 2:
        raise GraphError(f"edges must have shape (E, 2), got {array.shape}")
    outside = np.flatnonzero(~np.all((array >= 0) & (array < n), axis=1))
    if outside.size:
        u, v = array[outside[0]].tolist()
        raise GraphError(f"edge {u:g} -> {v:g} has an endpoint outside 0..{n - 1}")
    if np.any(array != np.round(array)):
        raise GraphError("edges must hold integer node indices")
    array = array.astype(np.int64)
    loops = np.flatnonzero(array[:, 0] == array[:, 1])
    if loops.size:
        u = int(array[loops[0], 0])
        raise GraphError(f"edge {u} -> {u} is a self loop on node {excerpt(names[u])}")
    array = array[np.lexsort((array[:, 1], array[:, 0]))]
    dup = np.flatnonzero(np.all(array[1:] == array[:-1], axis=1))
    if dup.size:
        u, v = array[dup[0]].tolist()
        raise GraphError(f"edge {u} -> {v} ({excerpt(names[u])} -> {excerpt(names[v])}) appears more than once")
    return array


def _find_cycle(stuck: list[int], succs: tuple[np.ndarray, ...], alive: set[int]) -> list[int]:
    """Walk successors inside the non-sortable remainder until a node repeats."""
    path: list[int] = []
    seen: dict[int, int] = {}
    v = stuck[0]
    while v not in seen:
        seen[v] = len(path)
        path.append(v)
        v = next(w for w in succs[v].tolist() if w in alive)
    return path[seen[v] :] + [v]
