"""What the ``.tflite`` and ONNX importers share: reading the file, assembling the graph, and the
policy for ops the Edge TPU cannot run.

Ops the Edge TPU cannot run (float ops of a partly quantised model, ops it does not implement)
would run on the host CPU, which the cost model does not price. They are never scheduled silently:

- ``cpu_ops="error"`` (default): the import fails with an :class:`UnsupportedOpsError` listing them.
- ``cpu_ops="keep"``: they stay in the graph with op type ``"cpu:<op>"`` (visible in every table
  and JSON file) and are priced as if they ran on the TPU; ``graph.meta.source`` counts them.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from respect_gym.graph import Graph, GraphError, GraphMeta
from respect_gym.importers.errors import ModelFileError, UnsupportedOpsError
from respect_gym.safe_io import excerpt, read_bytes

CPU_OPS = ("error", "keep")
CPU_PREFIX = "cpu:"
MAX_FILE_BYTES = 4 * 2**30
_LISTED = 5  # unsupported ops named in the error message


def read_model_bytes(path: Path, kind: str) -> bytes:
    """The file's bytes, refusing missing, empty, oversized and non-regular files (folders,
    devices, pipes) with a message naming them (:func:`respect_gym.safe_io.read_bytes`)."""
    raw = read_bytes(path, MAX_FILE_BYTES, ModelFileError, decompress=False, kind=f"{kind} model")
    if not raw:
        raise ModelFileError(f"{path}: empty file, not a {kind} model")
    return raw


def check_cpu_ops(cpu_ops: str) -> None:
    if cpu_ops not in CPU_OPS:
        raise ValueError(f"cpu_ops must be one of {CPU_OPS}, got {cpu_ops!r}")


def batchless(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A tensor shape without its leading batch dimension (the graph's convention); rank <= 1 kept."""
    return tuple(shape[1:]) if len(shape) >= 2 else tuple(shape)


class GraphBuilder:
    """Collects nodes and edges, then builds the validated :class:`Graph` in one step, so a
    failure never leaves a half-built graph behind. Duplicate node names get a ``#k`` suffix."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.names: list[str] = []
        self.op_types: list[str] = []
        self.macs: list[int] = []
        self.param_bytes: list[int] = []
        self.out_bytes: list[int] = []
        self.out_shapes: list[tuple[int, ...]] = []
        self.edges: set[tuple[int, int]] = set()
        self.unsupported: list[tuple[int, int, str, str]] = []  # (node, op index in file, op type, reason)
        self._used: set[str] = set()
        self._next_suffix: dict[str, int] = {}

    def add_node(self, name: str, op_type: str, *, macs: int = 0, param_bytes: int = 0, out_bytes: int = 0,
                 out_shape: tuple[int, ...] = ()) -> int:
        """Append a node and return its index."""
        unique, k = name, self._next_suffix.get(name, 1)
        while unique in self._used:  # the counter per name keeps n equal names linear, not quadratic
            unique, k = f"{name}#{k}", k + 1
        self._next_suffix[name] = k
        self._used.add(unique)
        self.names.append(unique)
        self.op_types.append(op_type)
        self.macs.append(int(macs))
        self.param_bytes.append(int(param_bytes))
        self.out_bytes.append(int(out_bytes))
        self.out_shapes.append(tuple(out_shape))
        return len(self.names) - 1

    def add_edge(self, u: int, v: int) -> None:
        if u != v:
            self.edges.add((u, v))

    def flag(self, node: int, op_index: int, reason: str) -> None:
        """Record that node ``node`` (op ``op_index`` of the file) cannot run on the Edge TPU."""
        self.unsupported.append((node, op_index, self.op_types[node], reason))

    def build(self, meta: GraphMeta, cpu_ops: str) -> Graph:
        """The graph, after applying the ``cpu_ops`` policy (module docstring)."""
        op_types = list(self.op_types)
        if self.unsupported:
            listed = ", ".join(f"op {i} {t if len(t) <= 64 else excerpt(t)} ({why})"
                               for _, i, t, why in self.unsupported[:_LISTED])
            more = len(self.unsupported) - _LISTED
            if cpu_ops == "error":
                raise UnsupportedOpsError(
                    f"{self.path}: {len(self.unsupported)} op(s) the Edge TPU cannot run: {listed}"
                    f"{f' and {more} more' if more > 0 else ''}. Convert the model to full int8 with Edge TPU "
                    f"ops, or import with cpu_ops='keep' (CLI: --cpu-ops keep) to price them as TPU ops",
                    [(i, t, why) for _, i, t, why in self.unsupported],
                )
            for node, *_ in self.unsupported:
                op_types[node] = CPU_PREFIX + op_types[node]
            meta = replace(meta, source=f"{meta.source}; {len(self.unsupported)} op(s) the Edge TPU cannot "
                                        f"run kept as TPU ops (op type {CPU_PREFIX}*)")
        try:
            return Graph(self.names, op_types, self.macs, self.param_bytes, self.out_bytes,
                         sorted(self.edges), self.out_shapes, meta)
        except GraphError as exc:
            raise ModelFileError(f"{self.path}: {exc}") from None
