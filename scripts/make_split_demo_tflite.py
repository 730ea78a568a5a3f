"""Write ``split_demo.tflite``: a full-int8 model whose optimal pipeline uses several Edge TPUs.

The shipped ``.tflite`` test fixtures are small (at most 0.6 MB of weights): on one Edge TPU all
their weights stay in its ~8 MB parameter cache, so splitting them only adds host transfers and
their optimum uses one TPU. This model holds 15.0 MiB of int8 weights in six FULLY_CONNECTED
layers (a 512-wide input, four 2048-wide hidden layers with one residual ADD, 10 outputs), about
twice one TPU's cache: on one TPU most of it is streamed over USB on every inference, on three or
four each stage's weights fit its TPU's cache and only 2-8 KiB activations cross the cuts.

Weights and biases are seeded random int8 / int32 with per-tensor quantisation chosen so every
layer's int8 output spans about +-32 codes for a uniform random int8 input: the outputs depend on
the input (a real interpreter gives different logits for different inputs), which is what the
segment round-trip test (``tests/test_litert_roundtrip.py``) needs. Written with the project's
own flatbuffers writer (:mod:`respect_gym.importers.tflite_writer`); no TensorFlow needed::

    python scripts/make_split_demo_tflite.py split_demo.tflite
    respect-gym schedule split_demo.tflite --tpus 4 --export-segments segments/
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from respect_gym.importers.tflite_model import Operator, Options, Quantization, Tensor, TfliteModel
from respect_gym.importers.tflite_writer import write_tflite

INPUT_WIDTH = 512
LAYERS = (("fc1", 2048), ("fc2", 2048), ("fc3", 2048), ("fc4", 2048), ("fc5", 1024), ("logits", 10))
RESIDUAL = ("fc1", "fc3")  # fc3's output + fc1's output feeds fc4
INPUT_SCALE = 1 / 32
WEIGHT_SCALE = 0.01
OUTPUT_CODE_STD = 32.0  # int8 codes: spread of each layer's output for a uniform random input
UNIFORM_INT8_STD = 255 / math.sqrt(12)


def build(seed: int = 0) -> TfliteModel:
    """The model as a :class:`TfliteModel` (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    tensors: list[Tensor] = []
    operators: list[Operator] = []

    def add(tensor: Tensor) -> int:
        tensors.append(tensor)
        return len(tensors) - 1

    def quant(scale: float) -> Quantization:
        return Quantization(scale=(scale,), zero_point=(0,))

    x = add(Tensor("input", (1, INPUT_WIDTH), "INT8", quantization=quant(INPUT_SCALE)))
    model_input, scale, code_std, width = x, INPUT_SCALE, UNIFORM_INT8_STD, INPUT_WIDTH
    outputs: dict[str, tuple[int, float]] = {}
    for name, units in LAYERS:
        w = rng.integers(-127, 128, (units, width), dtype=np.int8)
        acc_scale = scale * WEIGHT_SCALE
        b = rng.integers(-2**12, 2**12, units).astype("<i4")
        acc_std = math.sqrt(width) * code_std * float(np.std(w.astype(np.float64)))
        out_scale = acc_scale * acc_std / OUTPUT_CODE_STD
        weights = add(Tensor(f"{name}/kernel", (units, width), "INT8", data=w.tobytes(), quantization=quant(WEIGHT_SCALE)))
        bias = add(Tensor(f"{name}/bias", (units,), "INT32", data=b.tobytes(), quantization=quant(acc_scale)))
        y = add(Tensor(f"{name}/out", (1, units), "INT8", quantization=quant(out_scale)))
        operators.append(Operator("FULLY_CONNECTED", (x, weights, bias), (y,),
                                  (Options("FullyConnectedOptions", values={}),)))
        x, scale, code_std, width = y, out_scale, OUTPUT_CODE_STD, units
        outputs[name] = (y, out_scale)
        if name == RESIDUAL[1]:
            skip, skip_scale = outputs[RESIDUAL[0]]
            sum_scale = math.hypot(scale, skip_scale)  # two independent ~N(0, 32 codes) summands
            y = add(Tensor(f"{name}/residual", (1, units), "INT8", quantization=quant(sum_scale)))
            operators.append(Operator("ADD", (x, skip), (y,), (Options("AddOptions", values={}),)))
            x, scale = y, sum_scale
    return TfliteModel(tuple(tensors), tuple(operators), (model_input,), (x,), name="split_demo",
                       description="respect-gym split demo: 15 MiB of int8 FULLY_CONNECTED weights")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, nargs="?", default=Path("split_demo.tflite"),
                        help="where to write the model (default split_demo.tflite)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    args = parser.parse_args()
    size = write_tflite(build(args.seed), args.out)
    print(f"{args.out}: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
