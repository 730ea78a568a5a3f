"""Run exported segments in a TFLite interpreter and compare with the whole model.

A check of ``respect-gym schedule MODEL.tflite --export-segments DIR`` on your own model: feeds
one seeded random int8 input to the original model and to the segments chained as libcoral's
pipelined runner chains them (each segment's inputs looked up by tensor name among the model input
and earlier segments' outputs), and reports whether every model output is bit-identical. Uses
LiteRT (``pip install -e ".[litert]"``, part of ``.[all]``), else TensorFlow's interpreter; the
test suite runs the same check in ``tests/test_litert_roundtrip.py``::

    respect-gym schedule tests/fixtures/tflite/residual_concat.tflite --tpus 4 --solver greedy --export-segments /tmp/seg
    python scripts/check_segments_tflite.py tests/fixtures/tflite/residual_concat.tflite /tmp/seg
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # TensorFlow's copy of the same interpreter
    from tensorflow.lite import Interpreter


def run(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    for d in interpreter.get_input_details():
        interpreter.set_tensor(d["index"], feeds[d["name"]])
    interpreter.invoke()
    return {d["name"]: interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("segments", type=Path, help="folder holding manifest.json and the segments")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    manifest = json.loads((args.segments / "manifest.json").read_text())
    interpreter = Interpreter(model_path=str(args.model))
    (model_input,) = interpreter.get_input_details()
    x = np.random.default_rng(args.seed).integers(-128, 128, model_input["shape"]).astype(model_input["dtype"])
    expected = run(args.model, {model_input["name"]: x})
    host = {model_input["name"]: x}  # tensors held on the host, by name
    for segment in manifest["segments"]:
        host.update(run(args.segments / segment["file"], host))
    for name, value in expected.items():
        print(f"{name}: {'bit-identical' if np.array_equal(host[name], value) else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
