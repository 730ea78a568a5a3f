"""Read a ``.tflite`` flatbuffer into a small, validated, plain-Python model description.

The ``tflite`` package only gives lazy accessors over the raw bytes, which return garbage or raise
low-level errors (``struct.error``, ``IndexError``) on a damaged file. :func:`read_tflite` walks the
whole main subgraph once, checks every index against the tables it points into, and raises one
:class:`~respect_gym.importers.errors.ModelFileError` naming the file and the problem; so the
importer (:mod:`respect_gym.importers.tflite_import`) and the segment writer
(:mod:`respect_gym.importers.tflite_export`) work on a model that is known to be consistent.

Only what the two need is kept: tensors (name, shape, element type, constant data, quantisation),
operator codes, and operators (inputs, outputs, builtin options). Builtin options stay encoded
(:class:`Options`) and are decoded only when a segment is written.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from respect_gym.graph.dag import MAX_DIM, MAX_ELEMENTS, MAX_RANK
from respect_gym.importers.common import read_model_bytes
from respect_gym.importers.errors import ModelFileError, require
from respect_gym.safe_io import MAX_NAME_CHARS, excerpt, text_problem

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3
CUSTOM = "CUSTOM"
# Bytes per element of each tflite.TensorType name (INT4 is packed two per byte); types without a
# size (STRING, RESOURCE, VARIANT) cannot be an Edge TPU activation.
ELEMENT_BYTES: dict[str, float] = {
    "FLOAT32": 4, "FLOAT16": 2, "BFLOAT16": 2, "FLOAT64": 8, "INT64": 8, "UINT64": 8, "INT32": 4,
    "UINT32": 4, "INT16": 2, "UINT16": 2, "INT8": 1, "UINT8": 1, "BOOL": 1, "INT4": 0.5,
    "COMPLEX64": 8, "COMPLEX128": 16,
}
# Low-level errors the generated accessors raise on bytes that are not a consistent flatbuffer.
_DECODE_ERRORS = (struct.error, IndexError, KeyError, ValueError, TypeError, UnicodeDecodeError, AttributeError,
                  OverflowError, RecursionError)


def tflite_module():
    """The ``tflite`` package (extra ``tflite``), imported on first use."""
    return require("tflite", "tflite")


@lru_cache(maxsize=None)
def enum_names(enum: str) -> dict[int, str]:
    """Value -> name of a generated ``tflite`` enum class (``"BuiltinOperator"``, ``"TensorType"``)."""
    cls = getattr(tflite_module(), enum)
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


@lru_cache(maxsize=None)
def enum_values(enum: str) -> dict[str, int]:
    return {name: value for value, name in enum_names(enum).items()}


@dataclass(frozen=True)
class Quantization:
    """Per-tensor or per-axis affine quantisation (tensor metadata, not a parameter buffer)."""

    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()
    quantized_dimension: int = 0
    min: tuple[float, ...] = ()
    max: tuple[float, ...] = ()


@dataclass(frozen=True)
class Tensor:
    """One tensor of the main subgraph; ``data`` holds its constant buffer (``None`` if computed)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    data: bytes | None = None
    quantization: Quantization | None = None
    shape_signature: tuple[int, ...] | None = None

    @property
    def num_bytes(self) -> int:
        """Size of the tensor's values, exact in Python ints (no int32 overflow)."""
        per = ELEMENT_BYTES.get(self.dtype)
        if per is None:
            raise ValueError(f"tensor {self.name!r} has element type {self.dtype}, which has no size")
        return math.ceil(math.prod(self.shape) * per)


@dataclass(frozen=True)
class Options:
    """An operator's builtin options: the union member's table name and either decoded ``values``
    (field name -> number, string or 1-D numpy array) or the encoded ``table`` of a parsed file."""

    kind: str
    union: str = "BuiltinOptions"
    values: Mapping[str, Any] | None = None
    table: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Operator:
    """One operator: its code, tensor indices (``-1`` = optional input left out) and options."""

    code: str  # builtin operator name, e.g. "CONV_2D", or "CUSTOM"
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: tuple[Options, ...] = ()
    custom_code: str = ""
    custom_options: bytes = b""
    version: int = 1

    @property
    def op_type(self) -> str:
        """``CONV_2D``-style name; custom ops read ``CUSTOM:<code>``."""
        return f"{CUSTOM}:{self.custom_code}" if self.code == CUSTOM else self.code


@dataclass(frozen=True)
class TfliteModel:
    """The main subgraph of a ``.tflite`` file, validated (see the module docstring)."""

    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    name: str = "model"
    description: str = ""


def read_tflite(path: str | os.PathLike) -> TfliteModel:
    """Parse and validate a ``.tflite`` file; every failure is a :class:`ModelFileError` naming it."""
    path = Path(path)
    raw = read_model_bytes(path, "TensorFlow Lite")
    if len(raw) < 8 or raw[4:8] != FILE_IDENTIFIER:
        raise ModelFileError(f"{path}: not a TensorFlow Lite flatbuffer (no {FILE_IDENTIFIER.decode()!r} file identifier)")
    tfl = tflite_module()
    try:
        model = _decode(tfl.Model.GetRootAs(raw, 0), raw, path.stem)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    except _DECODE_ERRORS as exc:
        raise ModelFileError(f"{path}: malformed or truncated flatbuffer ({type(exc).__name__}: {exc})") from None
    return model


def _vector(n: int, raw: bytes, what: str) -> range:
    """``range(n)`` for a flatbuffer vector, refusing lengths no file of this size can hold."""
    if n > len(raw):
        raise ModelFileError(f"malformed flatbuffer: {what} claims {n} entries in a {len(raw)}-byte file")
    return range(n)


def _ints(table, field_name: str, raw: bytes, what: str) -> tuple[int, ...]:
    """An integer vector field as Python ints, read in one numpy view (not element by element)."""
    n = getattr(table, f"{field_name}Length")()
    if n == 0:
        return ()
    _vector(n, raw, what)
    return tuple(getattr(table, f"{field_name}AsNumpy")().tolist())


def _decode(root, raw: bytes, name: str) -> TfliteModel:
    if root.Version() != SCHEMA_VERSION:
        raise ModelFileError(f"unsupported TFLite schema version {root.Version()} (this reader knows {SCHEMA_VERSION})")
    num_subgraphs = root.SubgraphsLength()
    if num_subgraphs == 0:
        raise ModelFileError("the model has no subgraph")
    if num_subgraphs > 1:
        raise ModelFileError(f"the model has {num_subgraphs} subgraphs (control flow); the Edge TPU runs one graph")
    buffers, total = [], 0
    for j in _vector(root.BuffersLength(), raw, "buffers"):
        data = _buffer_data(root.Buffers(j), raw, j)
        total += len(data) if data is not None else 0
        if total > len(raw):  # buffers sharing bytes: copies would multiply the memory a small file takes
            raise ModelFileError(f"malformed flatbuffer: buffers claim more bytes than the {len(raw)}-byte file holds")
        buffers.append(data)
    graph = root.Subgraphs(0)
    tensors = tuple(_tensor(graph.Tensors(j), buffers, j, raw) for j in _vector(graph.TensorsLength(), raw, "tensors"))
    codes = [_op_code(root.OperatorCodes(j)) for j in _vector(root.OperatorCodesLength(), raw, "operator codes")]
    operators = tuple(_operator(graph.Operators(i), codes, len(tensors), i, raw)
                      for i in _vector(graph.OperatorsLength(), raw, "operators"))
    if not operators:
        raise ModelFileError("the model has no operators")
    inputs = _ints(graph, "Inputs", raw, "subgraph inputs")
    outputs = _ints(graph, "Outputs", raw, "subgraph outputs")
    for label, indices in (("input", inputs), ("output", outputs)):
        bad = [t for t in indices if not 0 <= t < len(tensors)]
        if bad:
            raise ModelFileError(f"model {label} tensor index {bad[0]} is outside 0..{len(tensors) - 1}")
    description = root.Description()
    return TfliteModel(tensors, operators, inputs, outputs, name=name,
                       description=description.decode("utf-8", "replace") if description else "")


def _buffer_data(buffer, raw: bytes, index: int) -> bytes | None:
    """A buffer's bytes: inline data, or (models over 2 GiB) an offset/size range after the flatbuffer."""
    if buffer is None:
        return None
    offset, size = int(buffer.Offset()), int(buffer.Size())
    if offset > 1:  # 1 is the schema's "no data" marker for offset buffers
        if offset + size > len(raw):
            raise ModelFileError(f"buffer {index} points past the end of the file (truncated?)")
        return raw[offset:offset + size]
    if buffer.DataIsNone() or buffer.DataLength() == 0:
        return None
    if buffer.DataLength() > len(raw):
        raise ModelFileError(f"malformed flatbuffer: buffer {index} claims {buffer.DataLength()} bytes in a {len(raw)}-byte file")
    return buffer.DataAsNumpy().tobytes()


def _tensor(t, buffers: list[bytes | None], index: int, raw: bytes) -> Tensor:
    name = (t.Name() or b"").decode("utf-8")
    shape = _ints(t, "Shape", raw, f"tensor {index} shape")
    if any(d < 0 for d in shape):
        raise ModelFileError(f"tensor {index} ({excerpt(name)}) has a dynamic shape {excerpt(list(shape))}; give the "
                             "model static shapes")
    _check_shape(shape, index, name)
    dtype = enum_names("TensorType").get(t.Type())
    if dtype is None:
        raise ModelFileError(f"tensor {index} ({name!r}) has unknown element type {t.Type()}")
    b = t.Buffer()
    if not 0 <= b < max(len(buffers), 1):
        raise ModelFileError(f"tensor {index} ({name!r}) refers to buffer {b}, outside 0..{len(buffers) - 1}")
    data = buffers[b] if buffers else None
    if t.IsVariable():
        raise ModelFileError(f"tensor {index} ({name!r}) is a variable (stateful model); the Edge TPU runs stateless graphs")
    if t.Sparsity() is not None:
        raise ModelFileError(f"tensor {index} ({name!r}) is sparse; sparse weights are not supported")
    signature = None if t.ShapeSignatureIsNone() else _ints(t, "ShapeSignature", raw, "shape signature")
    return Tensor(name, shape, dtype, data, _quantization(t.Quantization()), signature)


def _check_shape(shape: tuple[int, ...], index: int, name: str) -> None:
    """The bounds of :mod:`respect_gym.graph.dag`: rank, each dimension, and the element count."""
    if len(shape) > MAX_RANK:
        raise ModelFileError(f"tensor {index} ({excerpt(name)}) has {len(shape)} dimensions, above the bound of {MAX_RANK}")
    if any(d >= MAX_DIM for d in shape) or math.prod(shape) > MAX_ELEMENTS:
        raise ModelFileError(f"tensor {index} ({excerpt(name)}) has shape {excerpt(list(shape))}, beyond the bounds "
                             "(dimensions below 2**31, at most 2**40 elements)")


def _floats(q, field_name: str) -> tuple[float, ...]:
    if getattr(q, f"{field_name}IsNone")():
        return ()
    return tuple(float(x) for x in getattr(q, f"{field_name}AsNumpy")())


def _quantization(q) -> Quantization | None:
    if q is None:
        return None
    if q.DetailsType() != 0:
        raise ModelFileError("custom quantisation details are not supported")
    zero = () if q.ZeroPointIsNone() else tuple(int(x) for x in q.ZeroPointAsNumpy())
    return Quantization(_floats(q, "Scale"), zero, int(q.QuantizedDimension()), _floats(q, "Min"), _floats(q, "Max"))


def _op_code(code) -> tuple[str, str, int]:
    value = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))  # schema 3a split the field
    builtin = enum_names("BuiltinOperator").get(value)
    if builtin is None:
        raise ModelFileError(f"unknown builtin operator code {value} (a newer TFLite schema?)")
    custom = code.CustomCode().decode("utf-8") if code.CustomCode() else ""
    problem = text_problem(custom, MAX_NAME_CHARS)
    if problem:
        raise ModelFileError(f"custom operator code {excerpt(custom)} {problem}")
    return builtin, custom, int(code.Version())


def _operator(op, codes: list[tuple[str, str, int]], num_tensors: int, index: int, raw: bytes) -> Operator:
    c = op.OpcodeIndex()
    if not 0 <= c < len(codes):
        raise ModelFileError(f"operator {index} uses operator code {c}, outside 0..{len(codes) - 1}")
    code, custom_code, version = codes[c]
    inputs = _ints(op, "Inputs", raw, f"operator {index} inputs")
    outputs = _ints(op, "Outputs", raw, f"operator {index} outputs")
    for label, indices, low in (("input", inputs, -1), ("output", outputs, 0)):
        bad = [t for t in indices if not low <= t < num_tensors]
        if bad:
            raise ModelFileError(f"operator {index} ({code}) {label} tensor index {bad[0]} is outside 0..{num_tensors - 1}")
    if not outputs:
        raise ModelFileError(f"operator {index} ({code}) has no output")
    if not op.IntermediatesIsNone() and op.IntermediatesLength():
        raise ModelFileError(f"operator {index} ({code}) has intermediate tensors, which are not supported")
    if op.LargeCustomOptionsSize():
        raise ModelFileError(f"operator {index} ({code}) has out-of-line custom options, which are not supported")
    options = tuple(
        Options(enum_names(union)[kind], union, table=getattr(op, union)())
        for union, kind in (("BuiltinOptions", op.BuiltinOptionsType()), ("BuiltinOptions2", op.BuiltinOptions2Type()))
        if kind
    )
    custom_options = b"" if op.CustomOptionsIsNone() else op.CustomOptionsAsNumpy().tobytes()
    return Operator(code, inputs, outputs, options, custom_code, custom_options, version)
