"""Versioned JSON format for graphs, canonical hashing and the networkx round trip.

Format (``schema`` = ``"respect-gym/graph"``, ``version`` = :data:`SCHEMA_VERSION`)::

    {
      "schema": "respect-gym/graph", "version": 1,
      "model": "resnet50", "granularity": "fused", "input_shape": [224, 224, 3], "source": "...",
      "nodes": {"name": [...], "op_type": [...], "macs": [...], "param_bytes": [...],
                "out_bytes": [...], "out_shape": [[...], ...]},
      "edges": [[u, v], ...]
    }

Reading goes through :mod:`respect_gym.safe_io`: at most :data:`MAX_FILE_BYTES` after gzip
decompression (counted while streaming), JSON nested at most 64 deep, finite numbers, strings
without control or bidi characters; the sizes and shapes themselves are bounded by
:class:`~respect_gym.graph.dag.Graph`. Writing is atomic (temporary file, then one rename).

Node attributes are stored column-wise (one list per attribute, in node index order), which keeps
the 20-model zoo small. Files ending in ``.gz`` are gzip-compressed. The SHA-256 is taken over the
canonical JSON (sorted keys, no whitespace) of the content, without ``source`` (a provenance note
that may change without changing the graph), so it is stable across runs, machines and file names.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from respect_gym.graph.dag import FORMATS, Graph, GraphError, GraphMeta
from respect_gym.safe_io import MAX_NAME_CHARS, atomic_write, excerpt, loads_json, read_json, text_problem

SCHEMA = "respect-gym/graph"
SCHEMA_VERSION = 1
_NODE_FIELDS = ("name", "op_type", "macs", "param_bytes", "out_bytes", "out_shape")
MAX_FILE_BYTES = 32 * 2**20  # after decompression (a 100,000-node graph is 7.8 MiB); safe_io also caps values
_META_FIELDS = {"model": "unnamed", "granularity": "layers", "source": ""}


def graph_to_dict(graph: Graph) -> dict[str, Any]:
    """The graph in the versioned format above, as plain JSON-ready Python objects."""
    meta = graph.meta
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "model": meta.model,
        "granularity": meta.granularity,
        "input_shape": list(meta.input_shape),
        "source": meta.source,
        "nodes": {
            "name": list(graph.names),
            "op_type": list(graph.op_types),
            "macs": graph.macs.tolist(),
            "param_bytes": graph.param_bytes.tolist(),
            "out_bytes": graph.out_bytes.tolist(),
            "out_shape": [list(s) for s in graph.out_shapes],
        },
        "edges": graph.edges.tolist(),
    }


def graph_from_dict(data: Any) -> Graph:
    """Check the schema and version of parsed JSON, then build the (validated) graph."""
    if not isinstance(data, dict):
        raise GraphError(f"a graph file must hold a JSON object, got {type(data).__name__}")
    if data.get("schema") != SCHEMA:
        raise GraphError(f"not a respect-gym graph: 'schema' is {excerpt(data.get('schema'))}, expected {SCHEMA!r}")
    version = data.get("version")
    if version != SCHEMA_VERSION:
        raise GraphError(f"unsupported graph schema version {excerpt(version)} (this release reads {SCHEMA_VERSION})")
    nodes = data.get("nodes")
    if not isinstance(nodes, dict):
        raise GraphError("'nodes' must be an object of per-node attribute lists")
    missing = [f for f in _NODE_FIELDS if f not in nodes]
    if missing:
        raise GraphError(f"'nodes' is missing attribute list(s): {', '.join(missing)}")
    for f in _NODE_FIELDS:
        if not isinstance(nodes[f], list):
            raise GraphError(f"'nodes.{f}' must be a list")
    if "edges" not in data or not isinstance(data["edges"], list):
        raise GraphError("'edges' must be a list of [u, v] pairs")
    shape = data.get("input_shape", [])
    if not isinstance(shape, list) or not all(type(d) is int for d in shape):
        raise GraphError(f"'input_shape' must be a list of ints, got {excerpt(shape)}")
    for label in ("name", "op_type"):
        bad = next((x for x in nodes[label] if not isinstance(x, str)), None)
        if bad is not None:
            raise GraphError(f"'nodes.{label}' must hold strings, got {type(bad).__name__} {excerpt(bad)}")
    texts = {}
    for field, default in _META_FIELDS.items():
        value = data.get(field, default)
        if not isinstance(value, str):
            raise GraphError(f"'{field}' must be a string, got {type(value).__name__} {excerpt(value)}")
        problem = text_problem(value, MAX_NAME_CHARS if field != "source" else 4 * MAX_NAME_CHARS)
        if problem:
            raise GraphError(f"'{field}' {excerpt(value)} {problem}")
        texts[field] = value
    meta = GraphMeta(input_shape=tuple(shape), **texts)
    return Graph(
        names=nodes["name"],
        op_types=nodes["op_type"],
        macs=nodes["macs"],
        param_bytes=nodes["param_bytes"],
        out_bytes=nodes["out_bytes"],
        out_shapes=nodes["out_shape"],
        edges=data["edges"],
        meta=meta,
    )


def graph_to_json(graph: Graph, path: str | os.PathLike | None = None) -> str:
    """Compact JSON text of the graph; also written atomically to ``path`` (gzip for ``.gz``)."""
    text = json.dumps(graph_to_dict(graph), separators=(",", ":"))
    if path is not None:
        path = Path(path)
        data = text.encode()
        # atomic: an interrupted save never leaves a truncated file
        atomic_write(path, gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return text


def read_json_file(path: str | os.PathLike, max_bytes: int = MAX_FILE_BYTES) -> Any:
    """Read a ``.json`` or ``.json.gz`` file under the bounds of :mod:`respect_gym.safe_io`, with
    errors (:class:`GraphError`) that name the file and the problem."""
    return read_json(path, max_bytes, GraphError)


def graph_from_json(text_or_path: str | os.PathLike) -> Graph:
    """Parse JSON text or read a graph file (``.json`` or ``.json.gz``)."""
    text = os.fspath(text_or_path) if isinstance(text_or_path, os.PathLike) else str(text_or_path)
    if isinstance(text_or_path, os.PathLike) or not text.lstrip().startswith(("{", "[")):
        try:
            return graph_from_dict(read_json_file(text_or_path))
        except GraphError as exc:
            msg = str(exc)
            raise GraphError(msg if msg.startswith(text) else f"{text}: {msg}") from None
    if len(text) > MAX_FILE_BYTES:
        raise GraphError(f"graph JSON text of {len(text):,} characters is above the {MAX_FILE_BYTES // 2**20} MiB bound")
    return graph_from_dict(loads_json(text, "graph JSON", GraphError))


def graph_sha256(graph: Graph) -> str:
    """SHA-256 of the canonical JSON without ``source``, so provenance notes do not change it."""
    content = graph_to_dict(graph)
    del content["source"]
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def graph_to_networkx(graph: Graph):
    """A ``networkx.DiGraph`` with integer nodes and the node attributes; metadata in ``.graph``."""
    import networkx as nx

    g = nx.DiGraph(model=graph.meta.model, input_shape=graph.meta.input_shape,
                   granularity=graph.meta.granularity, source=graph.meta.source)
    for v in range(graph.num_nodes):
        g.add_node(
            v,
            name=graph.names[v],
            op_type=graph.op_types[v],
            macs=int(graph.macs[v]),
            param_bytes=int(graph.param_bytes[v]),
            out_bytes=int(graph.out_bytes[v]),
            out_shape=graph.out_shapes[v],
        )
    g.add_edges_from(graph.edges.tolist())
    return g


def graph_from_networkx(g) -> Graph:
    """Build a graph from a ``networkx.DiGraph``; nodes are taken in sorted order.

    Missing size attributes default to 0 and missing names to ``str(node)``.
    """
    nodes = sorted(g.nodes)
    index = {v: i for i, v in enumerate(nodes)}
    attrs = [g.nodes[v] for v in nodes]
    meta = GraphMeta(
        model=str(g.graph.get("model", "unnamed")),
        input_shape=tuple(g.graph.get("input_shape", ())),
        granularity=str(g.graph.get("granularity", "layers")),
        source=str(g.graph.get("source", "networkx")),
    )
    return Graph(
        names=[a.get("name", str(v)) for v, a in zip(nodes, attrs)],
        op_types=[a.get("op_type", "Op") for a in attrs],
        macs=[a.get("macs", 0) for a in attrs],
        param_bytes=[a.get("param_bytes", 0) for a in attrs],
        out_bytes=[a.get("out_bytes", 0) for a in attrs],
        out_shapes=[a.get("out_shape", ()) for a in attrs],
        edges=np.asarray([(index[u], index[v]) for u, v in g.edges], dtype=np.int64).reshape(-1, 2),
        meta=meta,
    )


FORMATS.update(sha256=graph_sha256, to_dict=graph_to_dict, from_dict=graph_from_dict, to_json=graph_to_json,
               from_json=graph_from_json, to_networkx=graph_to_networkx, from_networkx=graph_from_networkx)
