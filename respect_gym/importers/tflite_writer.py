"""Write a :class:`~respect_gym.importers.tflite_model.TfliteModel` as a ``.tflite`` flatbuffer.

Used for the per-stage segments of a schedule (:mod:`respect_gym.importers.segments`) and for
synthetic models (tests, ``benchmarks/import_speed.py``), with the flatbuffers ``Builder`` and the
builder functions the ``tflite`` package generates. The file holds one subgraph, the operator
codes it uses, one buffer per distinct constant (buffer 0 is the schema's empty sentinel; data
aligned to 16 bytes as the TFLite converter does) and no metadata or signatures: the Edge TPU
pipeline runner finds segment tensors by name.
"""

from __future__ import annotations

import os

import numpy as np

from respect_gym.importers.errors import require
from respect_gym.safe_io import atomic_write
from respect_gym.importers.options import write_options, write_table
from respect_gym.importers.tflite_model import (
    FILE_IDENTIFIER, SCHEMA_VERSION, Operator, Quantization, Tensor, TfliteModel, enum_values, tflite_module,
)

BUFFER_ALIGNMENT = 16
_DEPRECATED_CODE_LIMIT = 127  # PLACEHOLDER_FOR_GREATER_OP_CODES: larger codes live in builtin_code only


def write_tflite(model: TfliteModel, path: str | os.PathLike) -> int:
    """Write ``model`` to ``path``; returns the file size in bytes."""
    data = encode_tflite(model)
    atomic_write(path, data)
    return len(data)


def encode_tflite(model: TfliteModel) -> bytes:
    """The flatbuffer bytes of ``model`` (see the module docstring)."""
    tfl = tflite_module()
    b = require("flatbuffers", "tflite").Builder(1024)
    buffer_of: dict[int, int] = {}  # id of a tensor's data object -> buffer index (shared data stays shared)
    payloads: list[bytes] = []
    for t in model.tensors:
        if t.data is not None and id(t.data) not in buffer_of:
            buffer_of[id(t.data)] = len(payloads) + 1
            payloads.append(t.data)
    buffers = [write_table(b, "Buffer", {})] + [_buffer(b, data) for data in payloads]
    tensors = [_tensor(b, t, buffer_of.get(id(t.data), 0)) for t in model.tensors]
    codes: dict[tuple[str, str, int], int] = {}
    for op in model.operators:
        codes.setdefault((op.code, op.custom_code, op.version), len(codes))
    code_tables = [_op_code(b, *key) for key in codes]
    operators = [_operator(b, op, codes[(op.code, op.custom_code, op.version)]) for op in model.operators]
    subgraph = write_table(b, "SubGraph", {
        "Tensors": _tables(b, tfl.SubGraphStartTensorsVector, tensors),
        "Inputs": _int32s(b, model.inputs),
        "Outputs": _int32s(b, model.outputs),
        "Operators": _tables(b, tfl.SubGraphStartOperatorsVector, operators),
        "Name": b.CreateString(model.name),
    })
    root = write_table(b, "Model", {
        "Version": SCHEMA_VERSION,
        "OperatorCodes": _tables(b, tfl.ModelStartOperatorCodesVector, code_tables),
        "Subgraphs": _tables(b, tfl.ModelStartSubgraphsVector, [subgraph]),
        "Description": b.CreateString(model.description),
        "Buffers": _tables(b, tfl.ModelStartBuffersVector, buffers),
    })
    b.Finish(root, file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


def _tables(b, start_vector, offsets: list[int]) -> int:
    """A vector of table offsets (flatbuffers builds back to front)."""
    start_vector(b, len(offsets))
    for offset in reversed(offsets):
        b.PrependUOffsetTRelative(offset)
    return b.EndVector()


def _int32s(b, values) -> int:
    return b.CreateNumpyVector(np.asarray(values, dtype=np.int32))


def _buffer(b, data: bytes) -> int:
    # CreateNumpyVector aligns to the element size only; constants want 16-byte alignment.
    b.StartVector(1, len(data), BUFFER_ALIGNMENT)
    b.head -= len(data)
    b.Bytes[b.head:b.head + len(data)] = data
    b.vectorNumElems = len(data)
    return write_table(b, "Buffer", {"Data": b.EndVector()})


def _quantization(b, q: Quantization) -> int:
    vectors = {"Scale": (q.scale, np.float32), "ZeroPoint": (q.zero_point, np.int64),
               "Min": (q.min, np.float32), "Max": (q.max, np.float32)}
    fields = {name: b.CreateNumpyVector(np.asarray(v, dtype=dt)) for name, (v, dt) in vectors.items() if v}
    return write_table(b, "QuantizationParameters", {**fields, "QuantizedDimension": q.quantized_dimension})


def _tensor(b, t: Tensor, buffer: int) -> int:
    return write_table(b, "Tensor", {
        "Name": b.CreateString(t.name),
        "Shape": _int32s(b, t.shape),
        "ShapeSignature": None if t.shape_signature is None else _int32s(b, t.shape_signature),
        "Quantization": None if t.quantization is None else _quantization(b, t.quantization),
        "Type": enum_values("TensorType")[t.dtype],
        "Buffer": buffer,
    })


def _op_code(b, code: str, custom_code: str, version: int) -> int:
    value = enum_values("BuiltinOperator")[code]
    return write_table(b, "OperatorCode", {
        "CustomCode": b.CreateString(custom_code) if custom_code else None,
        "DeprecatedBuiltinCode": min(value, _DEPRECATED_CODE_LIMIT),
        "BuiltinCode": value,
        "Version": version,
    })


def _operator(b, op: Operator, code_index: int) -> int:
    fields: dict[str, int | None] = {"Inputs": _int32s(b, op.inputs), "Outputs": _int32s(b, op.outputs)}
    for options in op.options:  # union "BuiltinOptions" or "BuiltinOptions2": a type and a table
        fields[f"{options.union}Type"], fields[options.union] = write_options(b, options)
    if op.custom_options:
        fields["CustomOptions"] = b.CreateNumpyVector(np.frombuffer(op.custom_options, dtype=np.uint8))
    return write_table(b, "Operator", {"OpcodeIndex": code_index, **fields})
