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
from pathlib import Path

import numpy as np

from respect_gym.importers.errors import require
from respect_gym.importers.options import write_options
from respect_gym.importers.tflite_model import (
    FILE_IDENTIFIER, SCHEMA_VERSION, Operator, Quantization, Tensor, TfliteModel, enum_values, tflite_module,
)

BUFFER_ALIGNMENT = 16
_DEPRECATED_CODE_LIMIT = 127  # PLACEHOLDER_FOR_GREATER_OP_CODES: larger codes live in builtin_code only


def write_tflite(model: TfliteModel, path: str | os.PathLike) -> int:
    """Write ``model`` to ``path``; returns the file size in bytes."""
    data = encode_tflite(model)
    Path(path).write_bytes(data)
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
    buffers = [_buffer(b, tfl, None)] + [_buffer(b, tfl, data) for data in payloads]
    tensors = [_tensor(b, tfl, t, buffer_of.get(id(t.data), 0)) for t in model.tensors]
    codes: dict[tuple[str, str, int], int] = {}
    for op in model.operators:
        codes.setdefault((op.code, op.custom_code, op.version), len(codes))
    code_tables = [_op_code(b, tfl, *key) for key in codes]
    operators = [_operator(b, tfl, op, codes[(op.code, op.custom_code, op.version)]) for op in model.operators]

    tensor_vec = _tables(b, tfl.SubGraphStartTensorsVector, tensors)
    inputs, outputs = _int32s(b, model.inputs), _int32s(b, model.outputs)
    operator_vec = _tables(b, tfl.SubGraphStartOperatorsVector, operators)
    name = b.CreateString(model.name)
    tfl.SubGraphStart(b)
    tfl.SubGraphAddTensors(b, tensor_vec)
    tfl.SubGraphAddInputs(b, inputs)
    tfl.SubGraphAddOutputs(b, outputs)
    tfl.SubGraphAddOperators(b, operator_vec)
    tfl.SubGraphAddName(b, name)
    subgraph = tfl.SubGraphEnd(b)

    code_vec = _tables(b, tfl.ModelStartOperatorCodesVector, code_tables)
    subgraph_vec = _tables(b, tfl.ModelStartSubgraphsVector, [subgraph])
    description = b.CreateString(model.description)
    buffer_vec = _tables(b, tfl.ModelStartBuffersVector, buffers)
    tfl.ModelStart(b)
    tfl.ModelAddVersion(b, SCHEMA_VERSION)
    tfl.ModelAddOperatorCodes(b, code_vec)
    tfl.ModelAddSubgraphs(b, subgraph_vec)
    tfl.ModelAddDescription(b, description)
    tfl.ModelAddBuffers(b, buffer_vec)
    b.Finish(tfl.ModelEnd(b), file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


def _tables(b, start_vector, offsets: list[int]) -> int:
    """A vector of table offsets (flatbuffers builds back to front)."""
    start_vector(b, len(offsets))
    for offset in reversed(offsets):
        b.PrependUOffsetTRelative(offset)
    return b.EndVector()


def _int32s(b, values) -> int:
    return b.CreateNumpyVector(np.asarray(values, dtype=np.int32))


def _buffer(b, tfl, data: bytes | None) -> int:
    vector = None
    if data is not None:
        # CreateNumpyVector aligns to the element size only; constants want 16-byte alignment.
        b.StartVector(1, len(data), BUFFER_ALIGNMENT)
        b.head -= len(data)
        b.Bytes[b.head:b.head + len(data)] = data
        b.vectorNumElems = len(data)
        vector = b.EndVector()
    tfl.BufferStart(b)
    if vector is not None:
        tfl.BufferAddData(b, vector)
    return tfl.BufferEnd(b)


def _quantization(b, tfl, q: Quantization) -> int:
    vectors = {
        tfl.QuantizationParametersAddScale: (q.scale, np.float32),
        tfl.QuantizationParametersAddZeroPoint: (q.zero_point, np.int64),
        tfl.QuantizationParametersAddMin: (q.min, np.float32),
        tfl.QuantizationParametersAddMax: (q.max, np.float32),
    }
    written = {add: b.CreateNumpyVector(np.asarray(v, dtype=dt)) for add, (v, dt) in vectors.items() if v}
    tfl.QuantizationParametersStart(b)
    for add, offset in written.items():
        add(b, offset)
    tfl.QuantizationParametersAddQuantizedDimension(b, q.quantized_dimension)
    return tfl.QuantizationParametersEnd(b)


def _tensor(b, tfl, t: Tensor, buffer: int) -> int:
    name = b.CreateString(t.name)
    shape = _int32s(b, t.shape)
    signature = None if t.shape_signature is None else _int32s(b, t.shape_signature)
    quant = None if t.quantization is None else _quantization(b, tfl, t.quantization)
    tfl.TensorStart(b)
    tfl.TensorAddShape(b, shape)
    tfl.TensorAddType(b, enum_values("TensorType")[t.dtype])
    tfl.TensorAddBuffer(b, buffer)
    tfl.TensorAddName(b, name)
    if quant is not None:
        tfl.TensorAddQuantization(b, quant)
    if signature is not None:
        tfl.TensorAddShapeSignature(b, signature)
    return tfl.TensorEnd(b)


def _op_code(b, tfl, code: str, custom_code: str, version: int) -> int:
    value = enum_values("BuiltinOperator")[code]
    custom = b.CreateString(custom_code) if custom_code else None
    tfl.OperatorCodeStart(b)
    tfl.OperatorCodeAddDeprecatedBuiltinCode(b, min(value, _DEPRECATED_CODE_LIMIT))
    tfl.OperatorCodeAddBuiltinCode(b, value)
    if custom is not None:
        tfl.OperatorCodeAddCustomCode(b, custom)
    tfl.OperatorCodeAddVersion(b, version)
    return tfl.OperatorCodeEnd(b)


def _operator(b, tfl, op: Operator, code_index: int) -> int:
    inputs, outputs = _int32s(b, op.inputs), _int32s(b, op.outputs)
    options = {o.union: write_options(b, o) for o in op.options}
    custom = b.CreateNumpyVector(np.frombuffer(op.custom_options, dtype=np.uint8)) if op.custom_options else None
    tfl.OperatorStart(b)
    tfl.OperatorAddOpcodeIndex(b, code_index)
    tfl.OperatorAddInputs(b, inputs)
    tfl.OperatorAddOutputs(b, outputs)
    if "BuiltinOptions" in options:
        kind, offset = options["BuiltinOptions"]
        tfl.OperatorAddBuiltinOptionsType(b, kind)
        tfl.OperatorAddBuiltinOptions(b, offset)
    if "BuiltinOptions2" in options:
        kind, offset = options["BuiltinOptions2"]
        tfl.OperatorAddBuiltinOptions2Type(b, kind)
        tfl.OperatorAddBuiltinOptions2(b, offset)
    if custom is not None:
        tfl.OperatorAddCustomOptions(b, custom)
    return tfl.OperatorEnd(b)
