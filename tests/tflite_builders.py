"""Small hand-built .tflite models for the importer and exporter tests (written with the project's
own flatbuffers writer, read back through the ``tflite`` package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from respect_gym.importers.tflite_model import Operator, Options, Quantization, Tensor, TfliteModel
from respect_gym.importers.tflite_writer import write_tflite

QUANT = Quantization(scale=(0.05,), zero_point=(0,))
FIXTURES = Path(__file__).parent / "fixtures" / "tflite"
SPLIT_DEMO_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_split_demo_tflite.py"


def write_split_demo(folder: Path) -> Path:
    """The README's split demo (``scripts/make_split_demo_tflite.py``, seed 0) written to ``folder``."""
    spec = importlib.util.spec_from_file_location("make_split_demo_tflite", SPLIT_DEMO_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    path = folder / "split_demo.tflite"
    write_tflite(module.build(0), path)
    return path


def act(name: str, shape, dtype: str = "INT8") -> Tensor:
    """A computed (activation) tensor."""
    return Tensor(name, tuple(shape), dtype, quantization=QUANT if dtype == "INT8" else None)


def const(name: str, shape, dtype: str = "INT8", fill: int = 1) -> Tensor:
    """A constant tensor whose buffer holds exactly ``|shape| * element size`` bytes."""
    size = {"INT8": 1, "INT32": 4, "FLOAT32": 4}[dtype] * int(np.prod(shape, dtype=np.int64))
    return Tensor(name, tuple(shape), dtype, data=bytes([fill % 256]) * size, quantization=QUANT)


def op(code: str, inputs, outputs, **options) -> Operator:
    kinds = {"CONV_2D": "Conv2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
             "FULLY_CONNECTED": "FullyConnectedOptions", "BATCH_MATMUL": "BatchMatMulOptions",
             "TRANSPOSE_CONV": "TransposeConvOptions", "ADD": "AddOptions", "SPLIT": "SplitOptions"}
    opts = (Options(kinds[code], values=options),) if code in kinds else ()
    return Operator(code, tuple(inputs), tuple(outputs), opts)


def write(path: Path, tensors, operators, inputs, outputs, name: str = "hand") -> Path:
    write_tflite(TfliteModel(tuple(tensors), tuple(operators), tuple(inputs), tuple(outputs), name=name), path)
    return path
