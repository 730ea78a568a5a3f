"""Decode and re-encode TFLite builtin options tables through the generated ``tflite`` code.

The ``tflite`` package has readers and builder functions but no object API, and there are over a
hundred options tables. Each generated module ``tflite.<Kind>`` defines ``<Kind>Add<Field>`` for
every field and a reader method ``<Field>()`` (``<Field>AsNumpy()`` for vectors of numbers), so
one generic pair of functions handles them all: :func:`options_values` reads a table into
``{field: value}`` and :func:`write_options` writes such a mapping with a flatbuffers builder.
Fields holding tables or vectors of tables/strings (none in the ops the Edge TPU runs) are refused.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from types import ModuleType
from typing import Any, Mapping

import numpy as np

from respect_gym.importers.errors import ModelFileError
from respect_gym.importers.tflite_model import _DECODE_ERRORS, Options, enum_values, tflite_module


@lru_cache(maxsize=None)
def _module(kind: str) -> ModuleType:
    tflite_module()
    try:
        return importlib.import_module(f"tflite.{kind}")
    except ImportError:
        raise ModelFileError(f"unknown flatbuffer table {kind!r}") from None


@lru_cache(maxsize=None)
def option_fields(kind: str) -> tuple[str, ...]:
    """Field names of options table ``kind``, in schema order."""
    prefix = f"{kind}Add"
    return tuple(name[len(prefix):] for name in vars(_module(kind)) if name.startswith(prefix))


def options_values(options: Options) -> dict[str, Any]:
    """``{field: number, str or 1-D numpy array}`` of an options table (absent vectors left out)."""
    if options.values is not None:
        return dict(options.values)
    try:
        return _decode(options)
    except ModelFileError:
        raise
    except _DECODE_ERRORS as exc:  # a damaged table: the generated readers index raw bytes
        raise ModelFileError(f"malformed {options.kind} table ({type(exc).__name__}: {str(exc)[:120]})") from None


def _decode(options: Options) -> dict[str, Any]:
    kind = options.kind
    cls = getattr(_module(kind), kind)
    reader = cls()
    reader.Init(options.table.Bytes, options.table.Pos)
    values: dict[str, Any] = {}
    for name in option_fields(kind):
        if hasattr(cls, f"{name}AsNumpy"):
            if not getattr(reader, f"{name}IsNone")():
                values[name] = np.array(getattr(reader, f"{name}AsNumpy")())
            continue
        if hasattr(cls, f"{name}Length"):
            raise ModelFileError(f"{kind}.{name} is a vector of tables or strings, which cannot be copied")
        value = getattr(reader, name)()
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        elif value is not None and not isinstance(value, (bool, int, float)):
            raise ModelFileError(f"{kind}.{name} is a nested table, which cannot be copied")
        if value is not None:
            values[name] = value
    return values


def write_table(builder, kind: str, fields: Mapping[str, Any]) -> int:
    """Write table ``kind`` (``"Tensor"``, ``"Conv2DOptions"``, ...) with the generated
    ``tflite.<kind>`` builder functions; ``None`` fields are left out (schema default)."""
    module = _module(kind)
    getattr(module, f"{kind}Start")(builder)
    for name, value in fields.items():
        if value is not None:
            getattr(module, f"{kind}Add{name}")(builder, value)
    return getattr(module, f"{kind}End")(builder)


def write_options(builder, options: Options) -> tuple[int, int]:
    """Write an options table; returns ``(union type value, table offset)``."""
    kind = options.kind
    values = options_values(options)
    unknown = set(values) - set(option_fields(kind))
    if unknown:
        raise ValueError(f"{kind} has no field(s) {', '.join(sorted(unknown))}")
    offsets = {}  # vectors and strings must be written before the table starts
    for name, value in values.items():
        if isinstance(value, np.ndarray):
            offsets[name] = builder.CreateNumpyVector(value)
        elif isinstance(value, str):
            offsets[name] = builder.CreateString(value)
    table = write_table(builder, kind, {name: offsets.get(name, value) for name, value in values.items()})
    return enum_values(options.union)[kind], table
