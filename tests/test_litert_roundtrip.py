"""Exported segments run in a real TFLite interpreter (LiteRT, ``ai-edge-litert``): the original
model and its segments chained as libcoral's pipelined runner chains them (each segment's inputs
looked up by tensor name among the model input and earlier segments' outputs) give bit-identical
final outputs, and every tensor crossing a cut equals the original model's tensor of that name."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tflite")
litert = pytest.importorskip("ai_edge_litert.interpreter")

import respect_gym  # noqa: E402
from respect_gym.importers import export_segments  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "tflite"


@pytest.fixture(scope="module")
def split_demo(tmp_path_factory) -> Path:
    from tflite_builders import write_split_demo

    return write_split_demo(tmp_path_factory.mktemp("demo"))


def interpret(path: Path, feeds: dict[str, np.ndarray], every_tensor: bool = False) -> dict[str, np.ndarray]:
    """Run ``path`` on ``feeds`` (by input name); its outputs by name, or every named tensor."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # preserve_all_tensors warns that it is for debugging
        interpreter = litert.Interpreter(model_path=str(path), experimental_preserve_all_tensors=every_tensor)
    interpreter.allocate_tensors()
    for d in interpreter.get_input_details():
        interpreter.set_tensor(d["index"], feeds[d["name"]])
    interpreter.invoke()
    details = interpreter.get_tensor_details() if every_tensor else interpreter.get_output_details()
    values = {}
    for d in details:
        try:
            values[d["name"]] = interpreter.get_tensor(d["index"]).copy()
        except ValueError:  # constant or unallocated tensors
            continue
    return values


def random_input(path: Path, seed: int) -> tuple[str, np.ndarray]:
    interpreter = litert.Interpreter(model_path=str(path))
    (d,) = interpreter.get_input_details()
    return d["name"], np.random.default_rng(seed).integers(-128, 128, d["shape"]).astype(d["dtype"])


@pytest.mark.parametrize("case", [("demo", "exact", 4), ("demo", "compiler", 2), ("mobilenet_v2_035_96", "compiler", 3),
                                  ("mobilenet_v2_035_96", "greedy", 4), ("residual_concat", "compiler", 4)])
def test_chained_segments_are_bit_identical(case, split_demo, tmp_path) -> None:
    name, solver, k = case
    model = split_demo if name == "demo" else FIXTURES / f"{name}.tflite"
    result = respect_gym.solve(respect_gym.load_graph(model), k, solver=solver)
    manifest = export_segments(model, result.stages, k, tmp_path)
    assert manifest == json.loads((tmp_path / "manifest.json").read_text())
    assert len(manifest["segments"]) >= 2  # a real split, not one segment
    finals = []
    for seed in range(3):
        input_name, x = random_input(model, seed)
        whole = interpret(model, {input_name: x}, every_tensor=True)
        outputs = interpret(model, {input_name: x})
        host = {input_name: x}
        crossed = 0
        for segment in manifest["segments"]:
            produced = interpret(tmp_path / segment["file"], host)
            for tensor, value in produced.items():  # every tensor a segment hands on
                assert np.array_equal(value, whole[tensor]), (case, seed, tensor)
                crossed += 1
            host.update(produced)
        assert crossed > len(outputs)  # cut tensors were checked, not only the final outputs
        for tensor, value in outputs.items():
            assert np.array_equal(host[tensor], value), (case, seed, tensor)
        finals.append(np.concatenate([v.ravel() for v in outputs.values()]))
    assert not np.array_equal(finals[0], finals[1])  # the outputs depend on the input


def test_split_demo_optimum_uses_several_tpus(split_demo) -> None:
    graph = respect_gym.load_graph(split_demo)
    assert graph.total_param_bytes > 2 * 7.68 * 2**20 * 0.95  # about twice one TPU's cache
    one = respect_gym.solve(graph, 1)
    four = respect_gym.solve(graph, 4)
    used = len(set(four.stages.tolist()))
    assert four.optimal and used == 3
    assert one.period_ms / four.period_ms > 10  # all weights cached once split: far faster
