"""A ``.tflite`` model as a respect-gym :class:`~respect_gym.graph.Graph` (``fused`` granularity:
TFLite ops are what the Edge TPU executes).

- One ``"Input"`` node per model input (held by the host), then one node per operator in the file's
  (execution) order, named after its first output tensor, op type the builtin name (``CONV_2D``;
  custom ops ``CUSTOM:<code>``).
- Edges from the producer of each computed tensor an operator reads to that operator.
- ``param_bytes``: the exact sizes of the constant buffers the operator reads (weights, int32
  biases, shape and axis constants). A buffer read by several operators counts for each of them:
  each stage holding one of them needs the data. Quantisation scales and zero points are tensor
  metadata, not buffers, and count nothing.
- ``macs`` (:func:`op_macs`): exact from the shapes for CONV_2D, DEPTHWISE_CONV_2D,
  FULLY_CONNECTED, BATCH_MATMUL and TRANSPOSE_CONV; 0 for every other op, as in the zoo.
- ``out_bytes``: the sizes of the operator's output tensors from shape and element type (summed
  when it has several); ``out_shape``: its first output without the batch dimension. All products
  are Python ints.
- An op is an Edge TPU op when its builtin is in :data:`EDGETPU_OPS` and every computed tensor it
  reads or writes is int8/uint8; others follow the ``cpu_ops`` policy of
  :mod:`respect_gym.importers.common`. A model already compiled by ``edgetpu_compiler`` is refused.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from respect_gym.graph import Graph, GraphMeta
from respect_gym.importers.common import GraphBuilder, batchless, check_cpu_ops
from respect_gym.importers.errors import ModelFileError
from respect_gym.importers.tflite_model import Operator, Tensor, TfliteModel, read_tflite
from respect_gym.safe_io import excerpt

# The Edge TPU's supported operations (Coral, "TensorFlow models on the Edge TPU", supported
# operations table), as TFLite builtin names.
EDGETPU_OPS = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS",
    "FULLY_CONNECTED", "L2_NORMALIZATION", "LOGISTIC", "UNIDIRECTIONAL_SEQUENCE_LSTM", "MAXIMUM",
    "MAX_POOL_2D", "MEAN", "MINIMUM", "MUL", "PACK", "PAD", "PRELU", "QUANTIZE", "REDUCE_MAX",
    "REDUCE_MIN", "RELU", "RELU6", "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR",
    "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT",
    "SQUARED_DIFFERENCE", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "SQUARE", "TANH", "TRANSPOSE",
    "TRANSPOSE_CONV",
})
QUANTISED_TYPES = frozenset({"INT8", "UINT8"})
EDGETPU_CUSTOM_OP = "edgetpu-custom-op"


def load_tflite(path: str | os.PathLike, cpu_ops: str = "error") -> Graph:
    """Import a ``.tflite`` file (rules in the module docstring).

    :param cpu_ops: ``"error"`` or ``"keep"``: what to do with ops the Edge TPU cannot run.
    :raises ModelFileError: for a file that is not a readable, consistent TFLite model.
    :raises UnsupportedOpsError: for ops the Edge TPU cannot run, with ``cpu_ops="error"``.
    """
    check_cpu_ops(cpu_ops)
    return tflite_graph(read_tflite(path), path, cpu_ops)


def tflite_graph(model: TfliteModel, path: str | os.PathLike, cpu_ops: str = "error") -> Graph:
    """The graph of an already parsed model (:func:`load_tflite` without the file reading)."""
    tensors = model.tensors
    builder = GraphBuilder(path)
    producer: dict[int, int] = {}  # tensor index -> node index
    for t in model.inputs:
        producer[t] = builder.add_node(tensors[t].name, "Input", out_bytes=_bytes(tensors[t], path),
                                       out_shape=batchless(tensors[t].shape))
    for i, op in enumerate(model.operators):
        if op.custom_code == EDGETPU_CUSTOM_OP:
            raise ModelFileError(f"{path}: already compiled by edgetpu_compiler (op {i} is {EDGETPU_CUSTOM_OP!r}); "
                                 "import the model before compiling it")
        computed = [t for t in dict.fromkeys(op.inputs) if t >= 0 and tensors[t].data is None]
        for t in op.outputs:
            if t in producer:
                raise ModelFileError(f"{path}: tensor {t} ({excerpt(tensors[t].name)}) is written by more than one op")
        first = tensors[op.outputs[0]]
        v = builder.add_node(
            first.name or f"op{i}",
            op.op_type,
            macs=op_macs(op, tensors, path),
            param_bytes=sum(len(tensors[t].data) for t in dict.fromkeys(op.inputs) if t >= 0 and tensors[t].data is not None),
            out_bytes=sum(_bytes(tensors[t], path) for t in op.outputs),
            out_shape=batchless(first.shape),
        )
        for t in op.outputs:
            producer[t] = v
        for t in computed:
            if t not in producer:
                raise ModelFileError(f"{path}: op {i} ({op.op_type}) reads tensor {t} ({excerpt(tensors[t].name)}), which is "
                                     "neither a model input, nor constant, nor written by an earlier op")
            builder.add_edge(producer[t], v)
        reason = unsupported_reason(op, [tensors[t] for t in (*computed, *op.outputs)])
        if reason:
            builder.flag(v, i, reason)
    for t in model.outputs:
        if t not in producer:
            raise ModelFileError(f"{path}: model output tensor {t} ({excerpt(tensors[t].name)}) is written by no op")
    first_input = tensors[model.inputs[0]].shape if model.inputs else ()
    meta = GraphMeta(model=model.name, input_shape=batchless(first_input), granularity="fused",
                     source=f"tflite import of {Path(path).name} ({len(model.operators)} ops)")
    return builder.build(meta, cpu_ops)


def unsupported_reason(op: Operator, activations: list[Tensor]) -> str:
    """Why the Edge TPU cannot run ``op`` (reading/writing ``activations``), or ``""`` if it can."""
    if op.code not in EDGETPU_OPS:
        return "not an Edge TPU op"
    kinds = sorted({t.dtype for t in activations} - QUANTISED_TYPES)
    if kinds and not (op.code == "QUANTIZE" and activations[-1].dtype in QUANTISED_TYPES):
        return f"{'/'.join(kinds).lower()} tensors; the Edge TPU computes in int8/uint8"
    return ""


def _bytes(tensor: Tensor, path) -> int:
    try:
        return tensor.num_bytes
    except ValueError as exc:
        raise ModelFileError(f"{path}: {exc}") from None


def op_macs(op: Operator, tensors: tuple[Tensor, ...], path: str | os.PathLike = "") -> int:
    """Exact multiply-accumulates of the MAC-array ops from their TFLite shapes; 0 for other ops.

    CONV_2D filter ``[Cout, kh, kw, Cin/groups]``: ``|out| * kh*kw*Cin/groups``; DEPTHWISE_CONV_2D
    filter ``[1, kh, kw, Cout]``: ``|out| * kh*kw``; FULLY_CONNECTED weights ``[Cout, Cin]``:
    ``|out| * Cin``; BATCH_MATMUL: ``|out| * K`` with K the contracted dimension of the first input
    (``adj_x`` transposes it); TRANSPOSE_CONV (inputs output_shape, weights ``[Cout, kh, kw, Cin]``,
    input): every input element is scattered through the kernel, ``|in| * kh*kw*Cout``.
    ``|t|`` is the element count of tensor t.
    """
    def shape(position: int) -> tuple[int, ...]:
        if position >= len(op.inputs) or op.inputs[position] < 0:
            raise ModelFileError(f"{path}: {op.code} has no input {position}")
        return tensors[op.inputs[position]].shape

    out = math.prod(tensors[op.outputs[0]].shape)
    try:
        if op.code == "CONV_2D":
            return out * math.prod(shape(1)[1:])
        if op.code == "DEPTHWISE_CONV_2D":
            return out * math.prod(shape(1)[1:3])
        if op.code == "FULLY_CONNECTED":
            return out * shape(1)[-1]
        if op.code == "BATCH_MATMUL":
            x = shape(0)
            adj_x = bool(_option(op, "AdjX"))
            return out * x[-2 if adj_x else -1]
        if op.code == "TRANSPOSE_CONV":
            return math.prod(shape(2)) * math.prod(shape(1)[:3])
    except IndexError:
        raise ModelFileError(f"{path}: {op.code} has inputs of unexpected rank") from None
    except ModelFileError as exc:
        message = str(exc)
        raise ModelFileError(message if message.startswith(str(path)) else f"{path}: {op.code}: {message}") from None
    return 0


def _option(op: Operator, name: str):
    """One field of the operator's builtin options (the schema default 0 when absent)."""
    from respect_gym.importers.options import options_values

    for options in op.options:
        values = options_values(options)
        if name in values:
            return values[name]
    return 0
