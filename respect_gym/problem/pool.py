"""The node tables of many instances concatenated into one pool, so a batch of episodes on
different graphs is stepped with flat gathers instead of a Python loop over episodes.

This is the layout graph libraries use for batching graphs without padding: instance ``g``'s
nodes occupy ``offset[g] : offset[g] + num_nodes[g]`` of every per-node array (its layers, the
first-fit order, ``layer_offset[g] : layer_offset[g] + num_layers[g]`` of :attr:`layers`).
Instances are appended as episodes draw new graphs; when the pool holds more dead nodes (of
instances no episode uses any more) than live ones it is compacted, and the caller remaps its
instance ids with the returned table.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from respect_gym.problem.instance import Instance

_NODE_FIELDS = {  # per-node arrays, the NodeTable field each is copied from
    "is_op": np.bool_, "is_sink": np.bool_, "compute_ms": np.float64, "extra_ms": np.float64,
    "param_bytes": np.int64, "act_bytes": np.int64, "out_bytes": np.int64, "num_preds": np.int64,
}
_MIN_COMPACT_NODES = 1 << 16  # below this many pool nodes, never compact


class PoolError(ValueError):
    """An instance that cannot share a batch with the others (different K, hardware or objective)."""


class Pool:
    """Concatenated node tables of the instances a batch of episodes is scheduling.

    Besides the kernel's per-node arrays, views may :meth:`attach` tables of their own (rows per
    node, e.g. normalised features), kept beside them in :attr:`extra`.
    """

    def __init__(self) -> None:
        self._attached: dict[str, tuple[Callable[[Instance], np.ndarray], int, np.dtype]] = {}
        self.extra: dict[str, np.ndarray] = {}
        self._reset_arrays()

    def attach(self, name: str, table: Callable[[Instance], np.ndarray], width: int, dtype=np.float32) -> None:
        """Keep ``table(instance)`` (``(n, width)``, per node in graph index order, or per visit
        position) for every
        instance, now and when added, in ``extra[name]`` (no-op when attached already)."""
        if name in self._attached:
            return
        self._attached[name] = (table, width, np.dtype(dtype))
        array = np.zeros((self.order.shape[0], width), dtype=dtype)
        for g, instance in enumerate(self.instances):
            lo = int(self.offset[g])
            array[lo : lo + int(self.num_nodes[g])] = table(instance)
        self.extra[name] = array

    def _reset_arrays(self) -> None:
        self.instances: list[Instance] = []
        self._ids: dict[int, int] = {}  # id(instance) -> index in self.instances
        self.size = 0  # nodes used in the per-node arrays
        self.layer_size = 0
        self.width = 1  # predecessor columns
        self.offset = np.zeros(0, dtype=np.int64)
        self.num_nodes = np.zeros(0, dtype=np.int64)
        self.layer_offset = np.zeros(0, dtype=np.int64)
        self.num_layers = np.zeros(0, dtype=np.int64)
        self.reference = np.zeros(0, dtype=np.float64)
        self.nodes: dict[str, np.ndarray] = {name: np.zeros(0, dtype=dt) for name, dt in _NODE_FIELDS.items()}
        self.order = np.zeros(0, dtype=np.int64)  # local node visited at each step
        self.layers_done = np.zeros(0, dtype=np.int64)  # layers among the first t + 1 visited nodes
        self.preds = np.zeros((0, 1), dtype=np.int64)
        self.layers = np.zeros(0, dtype=np.int64)
        self.remaining = np.zeros((0, 2))  # work from visit position t on (NodeTable.remaining)
        self.extra = {name: np.zeros((0, width), dtype=dtype) for name, (_, width, dtype) in self._attached.items()}

    # ------------------------------------------------------------------ access
    def index(self, instance: Instance) -> int:
        """The pool id of ``instance``, appending its tables on first use."""
        found = self._ids.get(id(instance))
        if found is not None and self.instances[found] is instance:
            return found
        if self.instances:
            first = self.instances[0]
            if (instance.num_stages, instance.cost_model.version, instance.revision, instance.objective) != (
                    first.num_stages, first.cost_model.version, first.revision, first.objective):
                raise PoolError("every episode of a batch must share K, the hardware, the cost-model revision "
                                f"and the objective; {instance.graph.meta.model!r} does not")
        return self._append(instance)

    def compact(self, live: np.ndarray) -> np.ndarray | None:
        """Drop instances not in ``live`` when dead nodes outnumber live ones; returns the old id ->
        new id table (``-1`` for dropped), or ``None`` when nothing was done."""
        keep = np.unique(live)
        live_nodes = int(self.num_nodes[keep].sum())
        if self.size < _MIN_COMPACT_NODES or self.size - live_nodes <= live_nodes:
            return None
        remap = np.full(len(self.instances), -1, dtype=np.int64)
        kept = [self.instances[i] for i in keep.tolist()]
        self._reset_arrays()
        for i, instance in zip(keep.tolist(), kept):
            remap[i] = self._append(instance)
        return remap

    # ------------------------------------------------------------------ growth
    def _append(self, instance: Instance) -> int:
        table = instance.table
        n, num_layers = table.order.shape[0], table.layers.shape[0]
        width = table.preds.shape[1]
        g = len(self.instances)
        self._reserve(self.size + n, self.layer_size + num_layers, max(self.width, width))
        lo, hi = self.size, self.size + n
        for name in _NODE_FIELDS:
            self.nodes[name][lo:hi] = getattr(table, name)
        self.order[lo:hi] = table.order
        has_layer = np.zeros(n, dtype=np.int64)
        has_layer[table.layers] = 1
        self.layers_done[lo:hi] = np.cumsum(has_layer[table.order])
        self.preds[lo:hi] = -1
        self.preds[lo:hi, :width] = table.preds
        self.layers[self.layer_size : self.layer_size + num_layers] = table.layers
        self.remaining[lo:hi] = table.remaining[:n]
        for name, (make, _, _) in self._attached.items():
            self.extra[name][lo:hi] = make(instance)
        self.offset = np.append(self.offset, lo)
        self.num_nodes = np.append(self.num_nodes, n)
        self.layer_offset = np.append(self.layer_offset, self.layer_size)
        self.num_layers = np.append(self.num_layers, num_layers)
        self.reference = np.append(self.reference, instance.reference)
        self.size, self.layer_size = hi, self.layer_size + num_layers
        self.instances.append(instance)
        self._ids[id(instance)] = g
        return g

    def _reserve(self, nodes: int, layers: int, width: int) -> None:
        """Grow the arrays (doubling) so ``nodes`` / ``layers`` / ``width`` fit."""
        capacity = self.order.shape[0]
        if nodes > capacity or width > self.preds.shape[1]:
            new = max(nodes, 2 * capacity, 64)
            for name, array in self.nodes.items():
                self.nodes[name] = _grown(array, new)
            self.order = _grown(self.order, new)
            self.remaining = _grown(self.remaining, new)
            for name, array in self.extra.items():
                self.extra[name] = _grown(array, new)
            self.layers_done = _grown(self.layers_done, new)
            preds = np.full((new, width), -1, dtype=np.int64)
            preds[: self.size, : self.preds.shape[1]] = self.preds[: self.size]
            self.preds, self.width = preds, width
        if layers > self.layers.shape[0]:
            self.layers = _grown(self.layers, max(layers, 2 * self.layers.shape[0], 64))


def _grown(array: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros((size, *array.shape[1:]), dtype=array.dtype)
    out[: array.shape[0]] = array
    return out
