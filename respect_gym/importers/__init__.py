"""Bring your own model: ``.tflite`` and ONNX files as respect-gym graphs, and per-stage ``.tflite``
segments of a schedule to deploy with the Edge TPU pipelining runtime.

The ``tflite`` and ``onnx`` packages are optional (extras ``tflite`` / ``onnx``) and imported only
when a file of their kind is read. Ops the Edge TPU cannot run follow the ``cpu_ops`` policy of
:mod:`respect_gym.importers.common`.
"""

from __future__ import annotations

import os
from pathlib import Path

from respect_gym.graph import Graph
from respect_gym.importers.common import CPU_OPS
from respect_gym.importers.errors import MissingExtraError, ModelFileError, UnsupportedOpsError
from respect_gym.importers.segments import export_segments

MODEL_SUFFIXES = (".tflite", ".onnx")

__all__ = ["CPU_OPS", "MODEL_SUFFIXES", "MissingExtraError", "ModelFileError", "UnsupportedOpsError",
           "export_segments", "is_model_file", "load_model"]


def is_model_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a model file an importer reads (by suffix, case-insensitive)."""
    return os.fspath(path).lower().endswith(MODEL_SUFFIXES)


def load_model(path: str | os.PathLike, cpu_ops: str = "error") -> Graph:
    """Import a ``.tflite`` (``fused`` graph) or ``.onnx`` (``layers`` graph) file."""
    if Path(path).suffix.lower() == ".onnx":
        from respect_gym.importers.onnx_import import load_onnx

        return load_onnx(path, cpu_ops)
    if Path(path).suffix.lower() == ".tflite":
        from respect_gym.importers.tflite_import import load_tflite

        return load_tflite(path, cpu_ops)
    raise ModelFileError(f"{path}: unknown model file type; expected one of {', '.join(MODEL_SUFFIXES)}")
