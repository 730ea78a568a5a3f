"""Fold a ``layers`` graph into the ``fused`` graph the Edge TPU actually executes.

The TFLite converter folds cheap per-element layers into the op that produces their input, so the
int8 model the Edge TPU compiler sees has far fewer ops than Keras has layers (ResNet50: 177 layers
-> 74 ops). :func:`fuse` applies the same folds to a :class:`~respect_gym.graph.Graph`:

1. ``BatchNormalization`` folds into a producing ``Conv2D`` / ``DepthwiseConv2D`` /
   ``SeparableConv2D`` / ``Dense`` (its scale and shift become the conv's weights and int32 bias).
   Its parameter bytes disappear: the layers graph already counts the int32 bias TFLite gives every
   conv. A BatchNorm elsewhere (ResNetV2 and DenseNet pre-activations) stays an op of its own.
2. ReLU-type activations (``ReLU``, ``Activation(relu)``, ``Activation(relu6)``) fold into a producing
   conv/dense, ``Add``, ``Multiply``, ``BatchNormalization`` or ``CustomScaleLayer``, as TFLite's fused
   activation functions. Other activations (swish, sigmoid, softmax, ...) stay separate ops.
3. No-ops (``Dropout``, ``SpatialDropout*``, ``Activation(linear)``) and layout-only ops (``Flatten``,
   ``Reshape``) fold into their producer.
4. ``ZeroPadding2D`` folds into the conv that consumes it (the conv pads itself). Padding before a
   pooling layer stays a PAD op.

A node folds into its producer only when it has exactly one input and the producer has exactly one
consumer (the producer's own output is then no longer needed by anyone else), and a producer takes
at most one BatchNorm (before any activation) and one activation. A padding folds only when the conv
is its only consumer. The fused node keeps the producer's (for padding: the conv's) name and op
type, sums the MACs and the remaining parameter bytes, and takes the output size and shape of the
last node folded into it. Edges are remapped to fused nodes without duplicates; node order follows
the layers graph.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from respect_gym.graph import Graph, GraphError

CONV_LIKE = frozenset({"Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense"})
FUSABLE_ACTIVATIONS = frozenset({"ReLU", "Activation(relu)", "Activation(relu6)"})
ACTIVATION_HOSTS = CONV_LIKE | {"Add", "Multiply", "BatchNormalization", "CustomScaleLayer"}
NO_OPS = frozenset(
    {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "Activation(linear)",
     "Flatten", "Reshape"}
)


def _absorbs(host_type: str, folded: set[str], kind: str) -> bool:
    """Whether a group whose head has ``host_type`` and that already folded ``folded`` takes ``kind``."""
    if kind == "BatchNormalization":
        return host_type in CONV_LIKE and not folded & {"bn", "act"}
    if kind in FUSABLE_ACTIVATIONS:
        return host_type in ACTIVATION_HOSTS and "act" not in folded
    return kind in NO_OPS


def fuse(graph: Graph) -> Graph:
    """The ``fused`` granularity of a ``layers`` graph (rules in the module docstring)."""
    if graph.meta.granularity != "layers":
        raise GraphError(f"fuse needs a 'layers' graph, got granularity {graph.meta.granularity!r}")
    n = graph.num_nodes
    types = graph.op_types
    preds, succs = graph.predecessors, graph.successors
    head = list(range(n))  # node -> head node of its fused group
    tail = list(range(n))  # head -> last node folded into it (its output is the group's output)
    folded: list[set[str]] = [set() for _ in range(n)]
    param_bytes = graph.param_bytes.copy()
    for v in graph.topological_order.tolist():
        kind = types[v]
        if len(preds[v]) == 1:
            p = int(preds[v][0])
            h = head[p]
            if tail[h] == p and len(succs[p]) == 1 and _absorbs(types[h], folded[h], kind):
                head[v], tail[h] = h, v
                if kind == "BatchNormalization":
                    folded[h].add("bn")
                    param_bytes[v] = 0
                elif kind in FUSABLE_ACTIVATIONS:
                    folded[h].add("act")
                continue
        if kind in CONV_LIKE:
            for p in preds[v].tolist():
                if types[p] == "ZeroPadding2D" and len(succs[p]) == 1 and head[p] == p:
                    head[p] = v
    heads = sorted({head[v] for v in range(n)})
    index = {h: i for i, h in enumerate(heads)}
    group = np.asarray([index[head[v]] for v in range(n)], dtype=np.int64)
    edges = group[graph.edges]
    edges = np.unique(edges[edges[:, 0] != edges[:, 1]], axis=0).reshape(-1, 2)
    return Graph(
        names=[graph.names[h] for h in heads],
        op_types=[types[h] for h in heads],
        macs=np.bincount(group, weights=graph.macs, minlength=len(heads)),
        param_bytes=np.bincount(group, weights=param_bytes, minlength=len(heads)),
        out_bytes=[graph.out_bytes[tail[h]] for h in heads],
        out_shapes=[graph.out_shapes[tail[h]] for h in heads],
        edges=edges,
        meta=replace(graph.meta, granularity="fused"),
    )
