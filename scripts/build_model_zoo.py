"""Build the shipped model zoo: one ``layers``-granularity graph per Keras ImageNet architecture.

Maintainers run this; users never need it (the gzip JSON files it writes are committed inside the
package). It needs Keras 3 with a backend, e.g.::

    python -m venv /tmp/kerasvenv && /tmp/kerasvenv/bin/pip install keras jax jaxlib
    KERAS_BACKEND=numpy /tmp/kerasvenv/bin/python scripts/build_model_zoo.py

Models are built without weights. The graph is read from ``model.operations`` (one node per Keras
operation, in Keras' own topological order) and each operation's inbound node (edges).

Node attributes, all int8 as deployed on the Edge TPU:

- ``macs``: multiply-accumulates of the MAC-array ops, exact from the shapes: Conv2D
  ``kh*kw*Cin/groups*Cout*Hout*Wout``; DepthwiseConv2D ``kh*kw*Cout*Hout*Wout``; SeparableConv2D its
  depthwise plus its pointwise part; Dense ``Cin*Cout`` per output position. Every other op
  (BatchNorm, activations, pooling, add, concat, ...) counts 0 MACs: it does no matrix work, and its
  cost scales with ``out_bytes`` instead. Totals then match the published "GMACs" figures.
- ``param_bytes``: 1 byte per element of a kernel (int8 weights) and 4 bytes per element of every
  other variable (biases and BatchNorm vectors: TFLite int8 keeps biases as int32). TFLite gives every
  int8 conv/depthwise/fully-connected op an int32 bias, even where the Keras layer has none, so such
  layers always carry ``4*C`` bias bytes (SeparableConv2D: one bias for each of its two parts).
- ``op_type``: the Keras class name, ``"Input"`` for the input and ``"Activation(<fn>)"`` for
  ``Activation`` layers. Activations built into a conv/dense layer (VGG's ReLUs, softmax heads)
  have no node of their own.
- ``out_bytes``: product of the output shape (without batch), as a Python int (no int32 overflow).
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "numpy")

import keras  # noqa: E402

from respect_gym.graph import Graph, GraphMeta  # noqa: E402

DATA_DIR = Path(__file__).resolve().parents[1] / "respect_gym" / "zoo" / "data"

# zoo name -> (keras.applications constructor, input size or None for the Keras default)
MODELS: dict[str, tuple[str, int | None]] = {
    "resnet50": ("ResNet50", None),
    "resnet101": ("ResNet101", None),
    "resnet152": ("ResNet152", None),
    "resnet50v2": ("ResNet50V2", None),
    "resnet101v2": ("ResNet101V2", None),
    "resnet152v2": ("ResNet152V2", None),
    "densenet121": ("DenseNet121", None),
    "densenet169": ("DenseNet169", None),
    "densenet201": ("DenseNet201", None),
    "inception_v3": ("InceptionV3", None),
    "inception_resnet_v2": ("InceptionResNetV2", None),
    "xception": ("Xception", None),
    "mobilenet": ("MobileNet", None),
    "mobilenet_v2": ("MobileNetV2", None),
    "mobilenet_v3_small": ("MobileNetV3Small", 224),
    "mobilenet_v3_large": ("MobileNetV3Large", 224),
    "efficientnet_b0": ("EfficientNetB0", None),
    "vgg16": ("VGG16", None),
    "vgg19": ("VGG19", None),
    "nasnet_mobile": ("NASNetMobile", 224),
    "resnet50_299": ("ResNet50", 299),
}

_CONV_LIKE = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense")


def _shape(tensor) -> tuple[int, ...]:
    return tuple(int(d) for d in tensor.shape[1:])


def _weights(op) -> dict[str, tuple[int, ...]]:
    """Variable name (last path component) -> shape."""
    return {w.path.rsplit("/", 1)[-1]: tuple(int(d) for d in w.shape) for w in getattr(op, "weights", ())}


def layer_macs(op, out_shape: tuple[int, ...]) -> int:
    """Exact multiply-accumulates of one layer; 0 for ops without matrix work (see module doc)."""
    kind = type(op).__name__
    w = _weights(op)
    positions = math.prod(out_shape[:-1])
    if kind == "Conv2D":
        kh, kw, cin_per_group, cout = w["kernel"]
        return kh * kw * cin_per_group * cout * positions
    if kind == "DepthwiseConv2D":
        kh, kw, _, _ = w["kernel"]
        return kh * kw * out_shape[-1] * positions
    if kind == "SeparableConv2D":
        kh, kw, cin, mult = w["depthwise_kernel"]
        return (kh * kw + out_shape[-1]) * cin * mult * positions
    if kind == "Dense":
        cin, cout = w["kernel"]
        return cin * cout * positions
    if kind in ("Conv1D", "Conv3D", "Conv2DTranspose"):
        raise ValueError(f"layer {op.name!r}: no MAC formula for {kind}")
    return 0


def layer_param_bytes(op, out_shape: tuple[int, ...]) -> int:
    """int8 kernels at 1 byte per weight, other vectors as int32 (see module doc)."""
    kind = type(op).__name__
    w = _weights(op)
    total = 0
    for name, shape in w.items():
        per = 1 if name.endswith("kernel") else 4
        total += per * math.prod(shape)
    if kind in _CONV_LIKE and "bias" not in w:
        total += 4 * out_shape[-1]  # TFLite adds an int32 bias
    if kind == "SeparableConv2D":
        _, _, cin, mult = w["depthwise_kernel"]
        total += 4 * cin * mult  # the depthwise half's own int32 bias
    return total


def op_type(op) -> str:
    """Keras class name; ``"Input"`` for the input, ``"Activation(<fn>)"`` for Activation layers
    (the function decides whether TFLite can fuse it)."""
    kind = type(op).__name__
    if kind == "InputLayer":
        return "Input"
    if kind == "Activation":
        return f"Activation({op.activation.__name__})"
    return kind


def graph_from_keras(model, zoo_name: str, keras_name: str) -> Graph:
    """Walk ``model.operations`` into a ``layers``-granularity :class:`Graph`."""
    ops = list(model.operations)
    index = {id(op): i for i, op in enumerate(ops)}
    names, types, macs, params, out_bytes, out_shapes, edges = [], [], [], [], [], [], set()
    for v, op in enumerate(ops):
        nodes = [n for n in op._inbound_nodes if all(id(t._keras_history.operation) in index for t in n.input_tensors)]
        if len(nodes) != 1:
            raise ValueError(f"{keras_name}: operation {op.name!r} is called {len(nodes)} times; expected once")
        node = nodes[0]
        if len(node.output_tensors) != 1:
            raise ValueError(f"{keras_name}: operation {op.name!r} has {len(node.output_tensors)} outputs")
        out_shape = _shape(node.output_tensors[0])
        for t in node.input_tensors:
            edges.add((index[id(t._keras_history.operation)], v))
        names.append(op.name)
        types.append(op_type(op))
        macs.append(layer_macs(op, out_shape))
        params.append(layer_param_bytes(op, out_shape))
        out_bytes.append(math.prod(out_shape))
        out_shapes.append(out_shape)
    input_shape = _shape(model.inputs[0])
    size = "" if zoo_name in MODELS and MODELS[zoo_name][1] is None else f", input {'x'.join(map(str, input_shape))}"
    meta = GraphMeta(
        model=zoo_name,
        input_shape=input_shape,
        granularity="layers",
        source=f"keras.applications {keras.__version__} ({keras_name}{size})",
    )
    return Graph(names, types, macs, params, out_bytes, sorted(edges), out_shapes, meta)


def build(zoo_name: str, input_size: int | None = None) -> Graph:
    """The zoo model's graph; ``input_size``: at that input resolution instead, named
    ``<zoo_name>_<input_size>`` (graphs the zoo does not ship, e.g. for generalisation tests)."""
    keras_name, size = MODELS[zoo_name]
    size = input_size or size
    kwargs = {"weights": None}
    if size is not None:
        kwargs["input_shape"] = (size, size, 3)
    model = getattr(keras.applications, keras_name)(**kwargs)
    return graph_from_keras(model, f"{zoo_name}_{input_size}" if input_size else zoo_name, keras_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", default=list(MODELS), help="zoo names (default: all)")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder")
    parser.add_argument("--input-size", type=int, default=None,
                        help="build at this input resolution (files named <model>_<size>; not the shipped zoo)")
    args = parser.parse_args()
    if args.input_size and args.out.resolve() == DATA_DIR.resolve():
        parser.error("--input-size builds graphs the zoo does not ship: pass --out")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        graph = build(name, args.input_size)
        graph.to_json(args.out / f"{graph.meta.model}.json.gz")
        print(f"{name:22s} nodes={graph.num_nodes:4d} edges={graph.num_edges:4d} "
              f"params={graph.total_param_bytes / 1e6:7.2f}MB macs={graph.total_macs / 1e9:6.2f}G")
        keras.backend.clear_session()


if __name__ == "__main__":
    main()
