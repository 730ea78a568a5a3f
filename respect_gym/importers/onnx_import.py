"""An ONNX model as a respect-gym ``layers`` :class:`~respect_gym.graph.Graph` (one node per ONNX
op), which :func:`respect_gym.zoo.fuse` folds into the ``fused`` graph like a Keras one.

The file is parsed with the ``onnx`` package (extra ``onnx``; protobuf, nothing is unpickled;
external weight files are not read: only shapes are needed) and shapes come from ONNX shape
inference, after fixing a symbolic batch dimension of the inputs to 1. Sizes are those of the int8
model the Edge TPU would run after conversion to TFLite, whatever the ONNX element types:

- **Constants are parameters, not ops.** Initializers, ``Constant`` nodes and every node whose
  inputs are all constant (``ConstantOfShape`` placeholders, ``DequantizeLinear`` of int8 weights,
  reshapes of constants) are folded into the ops that read them, as the converter folds them.
- ``param_bytes`` of an op, per constant input: weights of Conv / ConvTranspose / Gemm / MatMul
  (and their QLinear / Integer forms) 1 byte per element (int8); biases 4 bytes per element (int32),
  and a Conv / ConvTranspose / Gemm without a bias gets the ``4 * Cout`` bytes of the int32 bias
  TFLite gives it; scales and zero points of quantised ops 0 (tensor metadata in TFLite); any other
  constant 1 byte per element if int8/uint8/bool, else 4 (int32 vectors; a float model's
  BatchNorm and per-channel vectors become int32, the zoo's convention).
- Quantize/DequantizeLinear on activations (QDQ models) vanish: the int8 graph has no such op.
- ``macs``: ``|out| * prod(W.shape[1:])`` for Conv (``|in| * prod(W.shape[1:])`` for
  ConvTranspose); ``|out| * K`` for Gemm / MatMul with K the contracted dimension; 0 otherwise.
- ``out_bytes``: 1 byte per element (int8 activations; 4 for int32/int64 index tensors), summed
  over the outputs some op or the graph reads. ``out_shape`` is channels-last without the batch
  (NCHW ``[1, C, H, W]`` -> ``(H, W, C)``), the layout of the TPU graph.
- ``op_type``: the Keras name where the fusion rules of :mod:`respect_gym.zoo.fuse` apply (Conv ->
  ``Conv2D`` or, with one input channel per group, ``DepthwiseConv2D``; Gemm and MatMul with a
  constant operand -> ``Dense``; BatchNormalization; Relu -> ``ReLU``; Add / Sum -> ``Add``; Mul ->
  ``Multiply``; Dropout; Identity -> ``Activation(linear)``; Flatten; Reshape; Pad ->
  ``ZeroPadding2D``), else the ONNX name. Ops with no Edge TPU counterpart (:data:`EDGETPU_ONNX_OPS`)
  follow the ``cpu_ops`` policy of :mod:`respect_gym.importers.common`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from respect_gym.graph import Graph, GraphMeta
from respect_gym.graph.dag import MAX_DIM, MAX_ELEMENTS, MAX_RANK
from respect_gym.importers.common import GraphBuilder, check_cpu_ops, read_model_bytes
from respect_gym.importers.errors import ModelFileError, require
from respect_gym.safe_io import MAX_NAME_CHARS, excerpt, text_problem

# ONNX ops the TFLite converter turns into Edge TPU ops (see tflite_import.EDGETPU_OPS).
EDGETPU_ONNX_OPS = frozenset({
    "Conv", "ConvTranspose", "Gemm", "MatMul", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger",
    "Add", "Sum", "Sub", "Mul", "QLinearAdd", "QLinearMul", "Relu", "Clip", "PRelu", "Sigmoid", "Tanh", "Softmax",
    "MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "Concat",
    "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Slice", "Split", "Pad", "Resize", "Upsample",
    "SpaceToDepth", "BatchNormalization", "Dropout", "Identity", "Max", "Min", "QuantizeLinear", "DequantizeLinear",
})
_KERAS_NAMES = {
    "Gemm": "Dense", "BatchNormalization": "BatchNormalization", "Relu": "ReLU", "Add": "Add", "Sum": "Add",
    "Mul": "Multiply", "Dropout": "Dropout", "Identity": "Activation(linear)", "Flatten": "Flatten",
    "Reshape": "Reshape", "Pad": "ZeroPadding2D",
}
_CONVS = ("Conv", "QLinearConv", "ConvInteger")
_MATMULS = ("MatMul", "QLinearMatMul", "MatMulInteger")
# input position of (weight, bias) per MAC op; QLinear ops interleave scales and zero points
_WEIGHT_BIAS = {"Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (1, 2), "QLinearConv": (3, 8),
                "ConvInteger": (1, None), "MatMul": (1, None), "MatMulInteger": (1, None), "QLinearMatMul": (3, None)}
_QUANT_DATA = {"QuantizeLinear": {0}, "DequantizeLinear": {0}, "ConvInteger": {0, 1}, "MatMulInteger": {0, 1}}
_QLINEAR_DATA = {0, 3, 8}  # QLinearConv / QLinearMatMul / QLinearAdd ...: inputs that carry data
_BYTE_TYPES = frozenset({"INT8", "UINT8", "BOOL"})
_INT8_ACTIVATIONS = _BYTE_TYPES | {"FLOAT", "FLOAT16", "DOUBLE", "BFLOAT16"}  # float activations deploy as int8
# low-level errors of a structure the checks did not foresee (reported as one line naming the file)
_MALFORMED = (IndexError, TypeError, KeyError, ValueError, OverflowError, AttributeError, RecursionError,
              UnicodeDecodeError)


def load_onnx(path: str | os.PathLike, cpu_ops: str = "error") -> Graph:
    """Import an ONNX file (rules in the module docstring).

    :raises ModelFileError: for a file that is not a readable ONNX model or whose shapes cannot be
        inferred.
    :raises UnsupportedOpsError: for ops the Edge TPU cannot run, with ``cpu_ops="error"``.
    """
    check_cpu_ops(cpu_ops)
    path = Path(path)
    model = _parse(path)
    try:
        return _OnnxGraph(model, path).build(cpu_ops)
    except ModelFileError:
        raise
    except _MALFORMED as exc:  # a structure the checks above did not foresee: still one named line
        raise ModelFileError(f"{path}: malformed ONNX model ({type(exc).__name__}: {str(exc)[:120]})") from None


def _parse(path: Path):
    onnx = require("onnx", "onnx")
    from google.protobuf.message import DecodeError

    raw = read_model_bytes(path, "ONNX")
    try:
        model = onnx.load_model_from_string(raw)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: not a valid ONNX protobuf ({exc})") from None
    if model.ir_version <= 0 or not model.graph.node:
        raise ModelFileError(f"{path}: not an ONNX model (no IR version or no graph nodes)")
    _check_structure(model, path)
    initializers = {t.name for t in model.graph.initializer}
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        if value.name not in initializers and dims and not dims[0].dim_value:
            dims[0].dim_value = 1  # a symbolic batch: the Edge TPU runs batch 1
    try:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError, *_MALFORMED) as exc:
        raise ModelFileError(f"{path}: ONNX shape inference failed ({type(exc).__name__}: {str(exc)[:160]})") from None
    for value in (*model.graph.input, *model.graph.value_info, *model.graph.output):
        tensor_type = value.type.tensor_type
        if tensor_type.HasField("shape"):
            _check_dims([d.dim_value for d in tensor_type.shape.dim if d.HasField("dim_value")],
                        f"tensor {excerpt(value.name)}", path)
    return model


def _check_structure(model, path: Path) -> None:
    """Every name and op type a clean string (protobuf hands non-UTF-8 text back as bytes), every
    node with an output, initializer and constant shapes within :mod:`respect_gym.graph.dag`'s bounds."""
    graph = model.graph

    def text(value, what: str) -> None:
        if not isinstance(value, str):
            raise ModelFileError(f"{path}: {what} is not UTF-8 text ({excerpt(value)})")
        problem = text_problem(value, MAX_NAME_CHARS)
        if problem:
            raise ModelFileError(f"{path}: {what} {excerpt(value)} {problem}")

    for value in (*graph.input, *graph.output, *graph.value_info):
        text(value.name, "a graph input / output / value name")
    for t in graph.initializer:
        text(t.name, "an initializer name")
        _check_dims(list(t.dims), f"initializer {excerpt(t.name)}", path)
    for i, node in enumerate(graph.node):
        text(node.op_type, f"node {i}'s op type")
        text(node.name, f"node {i}'s name")
        text(node.domain, f"node {i}'s domain")
        for x in (*node.input, *node.output):
            text(x, f"a tensor name of node {i} ({excerpt(node.name)})")
        if not any(node.output):
            raise ModelFileError(f"{path}: node {i} ({node.op_type} {excerpt(node.name)}) has no output")
        for attribute in node.attribute:
            text(attribute.name, f"an attribute name of node {i}")
            if attribute.HasField("t"):
                _check_dims(list(attribute.t.dims), f"constant of node {i} ({excerpt(node.name)})", path)


def _check_dims(dims: list[int], what: str, path: Path) -> None:
    if len(dims) > MAX_RANK:
        raise ModelFileError(f"{path}: {what} has {len(dims)} dimensions, above the bound of {MAX_RANK}")
    for d in dims:
        if not 0 <= d < MAX_DIM:
            raise ModelFileError(f"{path}: {what} has shape {excerpt(dims)}: dimension {d} is outside 0..2**31-1")
    if math.prod(dims) > MAX_ELEMENTS:
        raise ModelFileError(f"{path}: {what} has shape {excerpt(dims)}: more than 2**40 elements")


class _OnnxGraph:
    """One import: tensor types and shapes, the constant set, then one node per remaining op."""

    def __init__(self, model, path: Path) -> None:
        onnx = require("onnx", "onnx")
        self.path = path
        self.model = model
        self.type_names = {v: k for k, v in onnx.TensorProto.DataType.items()}
        graph = model.graph
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.types: dict[str, str] = {}
        for value in (*graph.input, *graph.value_info, *graph.output):
            tensor_type = value.type.tensor_type
            self.types[value.name] = self.type_names.get(tensor_type.elem_type, "UNDEFINED")
            if tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in tensor_type.shape.dim):
                self.shapes[value.name] = tuple(int(d.dim_value) for d in tensor_type.shape.dim)
        self.constants = set()
        for t in graph.initializer:
            self.constants.add(t.name)
            self.shapes[t.name] = tuple(int(d) for d in t.dims)
            self.types[t.name] = self.type_names.get(t.data_type, "UNDEFINED")
        self.ops = []
        for node in graph.node:
            inputs = [x for x in node.input if x]
            if all(x in self.constants for x in inputs):  # Constant, ConstantOfShape, DQ(weights), ...
                self.constants.update(o for o in node.output if o)
            else:
                self.ops.append(node)
        for node in graph.node:
            if node.op_type == "Constant":
                self._constant_attribute(node)

    def _constant_attribute(self, node) -> None:
        for attribute in node.attribute:
            if attribute.name == "value" and node.output[0] not in self.shapes:
                self.shapes[node.output[0]] = tuple(int(d) for d in attribute.t.dims)
                self.types[node.output[0]] = self.type_names.get(attribute.t.data_type, "UNDEFINED")

    def shape(self, name: str, node) -> tuple[int, ...]:
        if name not in self.shapes:
            raise ModelFileError(f"{self.path}: the shape of tensor {excerpt(name)} ({node.op_type} "
                                 f"{excerpt(node.name or node.output[0])}) is unknown after shape inference")
        return self.shapes[name]

    def build(self, cpu_ops: str) -> Graph:
        graph = self.model.graph
        builder = GraphBuilder(self.path)
        consumed = {x for node in self.ops for x in node.input} | {o.name for o in graph.output}
        producer: dict[str, int] = {}
        for value in graph.input:
            if value.name not in self.constants:
                producer[value.name] = builder.add_node(
                    value.name, "Input", out_bytes=self._bytes(value.name), out_shape=channels_last(self.shapes.get(value.name, ())))
        first_input = next((builder.out_shapes[v] for v in producer.values()), ())
        for i, node in enumerate(self.ops):
            data = [x for x in node.input if x and x not in self.constants]
            if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
                producer.update((o, producer[data[0]]) for o in node.output if data and data[0] in producer)
                continue
            outputs = [o for o in node.output if o and o in consumed]
            v = builder.add_node(
                node.name or node.output[0],
                self.op_type(node),
                macs=self.macs(node),
                param_bytes=self.param_bytes(node),
                out_bytes=sum(self._bytes(o, node) for o in outputs),
                out_shape=channels_last(self.shape(outputs[0], node)) if outputs else (),
            )
            for x in data:
                if x not in producer:
                    raise ModelFileError(f"{self.path}: {node.op_type} {excerpt(node.name or node.output[0])} reads {excerpt(x)}, "
                                         "which no node writes and which is not a graph input or initializer")
                builder.add_edge(producer[x], v)
            producer.update((o, v) for o in node.output if o)
            if node.op_type not in EDGETPU_ONNX_OPS:
                builder.flag(v, i, "no Edge TPU op")
        opset = max((o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")), default=0)
        meta = GraphMeta(model=self.path.stem, input_shape=first_input, granularity="layers",
                         source=f"onnx import of {self.path.name} ({len(graph.node)} nodes, opset {opset})")
        return builder.build(meta, cpu_ops)

    def _bytes(self, name: str, node=None) -> int:
        shape = self.shape(name, node) if node is not None else self.shapes.get(name, ())
        per = 1 if self.types.get(name) in _INT8_ACTIVATIONS else 4
        return per * math.prod(shape)

    def op_type(self, node) -> str:
        kind = node.op_type
        if kind in _CONVS:
            w = self.shape(node.input[_WEIGHT_BIAS[kind][0]], node)
            groups = _attribute(node, "group", 1)
            return "DepthwiseConv2D" if groups > 1 and len(w) > 1 and w[1] == 1 else "Conv2D"
        if kind in _MATMULS:
            return "Dense" if node.input[_WEIGHT_BIAS[kind][0]] in self.constants else "MatMul"
        return _KERAS_NAMES.get(kind, kind)

    def macs(self, node) -> int:
        """Exact multiply-accumulates of the MAC-array ops (module docstring); 0 for the others."""
        kind = node.op_type
        if kind not in _WEIGHT_BIAS:
            return 0
        w = self.shape(node.input[_WEIGHT_BIAS[kind][0]], node)
        out = math.prod(self.shape(node.output[0], node))
        a = self.shape(node.input[0], node)
        if not w or not a:
            raise ModelFileError(f"{self.path}: {kind} {excerpt(node.name or node.output[0])} has a scalar operand "
                                 f"(shapes {list(a)} and {list(w)}); it needs at least one dimension")
        if kind in _CONVS:
            return out * math.prod(w[1:])
        if kind == "ConvTranspose":
            return math.prod(a) * math.prod(w[1:])
        if kind == "Gemm":
            return out * (a[0] if _attribute(node, "transA", 0) else a[-1])
        return out * a[-1]

    def param_bytes(self, node) -> int:
        """int8 deployed bytes of the constants the op reads (module docstring)."""
        kind = node.op_type
        weight, bias = _WEIGHT_BIAS.get(kind, (None, None))
        data_positions = _QUANT_DATA.get(kind, _QLINEAR_DATA if kind.startswith("QLinear") else None)
        total, seen = 0, set()
        for position, name in enumerate(node.input):
            if not name or name not in self.constants or name in seen:
                continue
            seen.add(name)
            if data_positions is not None and position not in data_positions:
                continue  # a scale or zero point: quantisation metadata
            count = math.prod(self.shape(name, node))
            if position == weight:
                total += count
            elif position == bias or self.types.get(name) not in _BYTE_TYPES:
                total += 4 * count
            else:
                total += count
        if bias is not None and kind != "QLinearMatMul" and (len(node.input) <= bias or not node.input[bias]):
            total += 4 * self._out_channels(node)  # TFLite gives the op an int32 bias
        return total

    def _out_channels(self, node) -> int:
        if node.op_type == "ConvTranspose":
            return self.shape(node.input[1], node)[1] * _attribute(node, "group", 1)
        out = self.shape(node.output[0], node)
        return out[1] if node.op_type in _CONVS and len(out) > 1 else out[-1]


def _attribute(node, name: str, default: Any) -> Any:
    for attribute in node.attribute:
        if attribute.name == name:
            return attribute.i
    return default


def channels_last(shape: tuple[int, ...]) -> tuple[int, ...]:
    """An ONNX (NC...) shape as the TPU graph's channels-last shape without the batch."""
    if len(shape) >= 3:
        return (*shape[2:], shape[1])
    return tuple(shape[1:]) if len(shape) == 2 else tuple(shape)
