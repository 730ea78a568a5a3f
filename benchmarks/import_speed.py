"""Import time of model files: the .tflite fixtures, the onnx wheel's light models and a synthetic
10,000-operator .tflite written with the project's exporter; plus the time to write the 4-stage
segments of the synthetic model.

Usage: ``python benchmarks/import_speed.py [--ops 10000] [--repeats 5]``

Times are the median of ``--repeats`` runs of :func:`respect_gym.load_graph` (file read, parse,
validation, graph build; ONNX: shape inference and fusion included). The synthetic model is a chain
of residual blocks (int8 1x1 CONV_2D 16 -> 16 channels at 16x16, then ADD with the block input).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

import respect_gym
from respect_gym.importers import export_segments
from respect_gym.importers.tflite_model import Operator, Options, Quantization, Tensor, TfliteModel
from respect_gym.importers.tflite_writer import write_tflite

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "tflite"
LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
QUANT = Quantization(scale=(0.05,), zero_point=(0,))


def synthetic_model(num_ops: int, seed: int = 0) -> TfliteModel:
    """Residual blocks of conv + add until ``num_ops`` operators (random int8 weights)."""
    rng = np.random.default_rng(seed)
    shape = (1, 16, 16, 16)
    tensors = [Tensor("input", shape, "INT8", quantization=QUANT)]
    operators = []
    block_input = 0
    while len(operators) < num_ops:
        k = len(operators)
        w = Tensor(f"w{k}", (16, 1, 1, 16), "INT8", rng.integers(-128, 128, 256, dtype=np.int8).tobytes(), QUANT)
        b = Tensor(f"b{k}", (16,), "INT32", rng.integers(-1000, 1000, 16, dtype=np.int32).tobytes(), QUANT)
        tensors += [w, b, Tensor(f"conv{k}", shape, "INT8", quantization=QUANT)]
        conv = len(tensors) - 1
        operators.append(Operator("CONV_2D", (block_input, conv - 2, conv - 1), (conv,),
                                  (Options("Conv2DOptions", values={"StrideW": 1, "StrideH": 1}),)))
        if len(operators) < num_ops:
            tensors.append(Tensor(f"add{k}", shape, "INT8", quantization=QUANT))
            operators.append(Operator("ADD", (block_input, conv), (len(tensors) - 1,), (Options("AddOptions", values={}),)))
            block_input = len(tensors) - 1
        else:
            block_input = conv
    return TfliteModel(tuple(tensors), tuple(operators), (0,), (block_input,), name=f"synthetic_{num_ops}")


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=10_000, help="operators of the synthetic model (default 10000)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        synthetic = Path(folder) / f"synthetic_{args.ops}.tflite"
        start = time.perf_counter()
        write_tflite(synthetic_model(args.ops), synthetic)
        write_s = time.perf_counter() - start
        files = [*sorted(FIXTURES.glob("*.tflite")), *sorted(LIGHT.glob("light_*.onnx")), synthetic]
        print(f"{'model file':32s} {'KB':>8s} {'nodes':>6s} {'import s':>9s}")
        for path in files:
            graph = respect_gym.load_graph(path, cpu_ops="keep")
            seconds = median_seconds(lambda: respect_gym.load_graph(path, cpu_ops="keep"), args.repeats)
            print(f"{path.name:32s} {path.stat().st_size / 1024:8.0f} {graph.num_nodes:6d} {seconds:9.4f}")
        graph = respect_gym.load_graph(synthetic)
        stages = respect_gym.solve(graph, 4, solver="compiler").stages
        export_s = median_seconds(lambda: export_segments(synthetic, stages, 4, Path(folder) / "segments"), args.repeats)
    print(f"\nwriting {synthetic.name}: {write_s:.2f} s; its 4 segments + manifest (compiler split): {export_s:.2f} s")


if __name__ == "__main__":
    main()
