"""Per-stage .tflite segments: re-parsed with the ``tflite`` package, checked to add up to and
reconnect into the original model, and re-imported to give the schedule's per-stage figures."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import numpy as np
import pytest
import tflite

import respect_gym
from respect_gym.cli import main
from respect_gym.cost import ScheduleError
from respect_gym.importers import ModelFileError, export_segments
from respect_gym.importers.options import options_values
from respect_gym.importers.tflite_import import load_tflite
from respect_gym.importers.tflite_model import read_tflite
from respect_gym.importers.tflite_writer import encode_tflite
from tflite_builders import FIXTURES, act, const, op, write

MODELS = ["residual_concat", "mobilenet_025_96", "mobilenet_v2_035_96"]
SCHEDULES = [("compiler", 0), ("greedy", 0), ("random", 1), ("random", 2), ("exact", 0)]
K = 4


def schedule(name: str, solver: str, seed: int):
    graph = load_tflite(FIXTURES / f"{name}.tflite")
    return graph, respect_gym.solve(graph, K, solver=solver, seed=seed)


def raw_ops(path) -> list[str]:
    """Operator names of a file, read with the ``tflite`` package alone."""
    data = path.read_bytes()
    assert data[4:8] == b"TFL3"
    model = tflite.Model.GetRootAs(data, 0)
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    sub = model.Subgraphs(0)
    codes = [model.OperatorCodes(sub.Operators(i).OpcodeIndex()) for i in range(sub.OperatorsLength())]
    return [names[max(c.BuiltinCode(), c.DeprecatedBuiltinCode())] for c in codes]


@pytest.mark.parametrize("solver,seed", SCHEDULES)
@pytest.mark.parametrize("name", MODELS)
def test_segments_add_up_and_reconnect(tmp_path, name, solver, seed):
    source = FIXTURES / f"{name}.tflite"
    graph, result = schedule(name, solver, seed)
    manifest = export_segments(source, result.stages, K, tmp_path)
    assert manifest == json.loads((tmp_path / "manifest.json").read_text())
    original = read_tflite(source)
    segments = [read_tflite(tmp_path / seg["file"]) for seg in manifest["segments"]]
    # op counts and parameter bytes add up, op by op type (files parsed by the tflite package alone)
    raw = [raw_ops(tmp_path / seg["file"]) for seg in manifest["segments"]]
    assert sum(map(Counter, raw), Counter()) == Counter(o.code for o in original.operators)
    assert [len(r) for r in raw] == [seg["num_ops"] for seg in manifest["segments"]]
    reimported = [load_tflite(tmp_path / seg["file"]) for seg in manifest["segments"]]
    assert sum(g.total_param_bytes for g in reimported) == graph.total_param_bytes
    assert [g.total_param_bytes for g in reimported] == [seg["param_bytes"] for seg in manifest["segments"]]
    # tensors keep their names and constant data
    by_name = {t.name: t for t in original.tensors}
    for seg in segments:
        for t in seg.tensors:
            assert t.data == by_name[t.name].data and t.shape == by_name[t.name].shape
    # the chain reconnects: every input is the model input or an earlier segment's output
    model_input = original.tensors[original.inputs[0]].name
    sent: dict[str, int] = {}
    for entry, seg in zip(manifest["segments"], segments):
        for t in entry["inputs"]:
            assert (t["source"] == "host" and t["name"] == model_input) or sent[t["name"]] == t["source"] < entry["stage"]
            assert t["bytes"] == by_name[t["name"]].num_bytes
        assert [seg.tensors[i].name for i in seg.inputs] == [t["name"] for t in entry["inputs"]]
        assert [seg.tensors[i].name for i in seg.outputs] == [t["name"] for t in entry["outputs"]]
        sent.update((t["name"], entry["stage"]) for t in entry["outputs"])
        assert hashlib.sha256((tmp_path / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    assert {original.tensors[t].name for t in original.outputs} <= set(sent)
    # every original edge that crosses stages is a tensor sent by its producer's stage and received by
    # its consumer's, and nothing is passed through a stage in between
    received = {(t["name"], e["stage"]) for e in manifest["segments"] for t in e["inputs"]}
    stages = result.stages
    for u, v in graph.edges.tolist():
        if graph.op_types[u] != "Input" and stages[u] != stages[v]:
            assert sent[graph.names[u]] == stages[u] and (graph.names[u], stages[v]) in received
    assert sum(len(e["inputs"]) for e in manifest["segments"]) == len(received)


@pytest.mark.parametrize("solver,seed", SCHEDULES)
@pytest.mark.parametrize("name", MODELS)
def test_reimported_segments_give_the_schedules_stage_figures(tmp_path, name, solver, seed):
    """Each segment evaluated alone, as a 1-stage pipeline, against its stage in the schedule's report.

    Exactly comparable: parameter bytes, op count, input bytes (one transfer per tensor entering the
    stage), compute time (the same ops with the same shapes; summed in another order, so equal to
    rounding) and output bytes, except one thing a graph cannot say: a segment output that the
    segment's own ops also read (a residual's skip tensor) is a sink of no graph, so the segment's
    graph does not count it as an output. The fixtures have single-output ops (an op's out_bytes is
    its one tensor). The stage latency matches where no weights are streamed and no output is also
    read inside: first-fit caching follows each graph's own topological order, which may differ
    for an overflowing stage.
    """
    assert all(len(o.outputs) == 1 for o in read_tflite(FIXTURES / f"{name}.tflite").operators)
    graph, result = schedule(name, solver, seed)
    report = result.report
    manifest = export_segments(FIXTURES / f"{name}.tflite", result.stages, K, tmp_path)
    for entry in manifest["segments"]:
        seg = load_tflite(tmp_path / entry["file"])
        parsed = read_tflite(tmp_path / entry["file"])
        read_inside = {t for o in parsed.operators for t in o.inputs}
        also_read = sum(parsed.tensors[t].num_bytes for t in parsed.outputs if t in read_inside)
        alone = respect_gym.evaluate(seg, np.zeros(seg.num_nodes, dtype=np.int64), 1)
        s = entry["stage"]
        assert alone.stage_param_bytes[0] == report.stage_param_bytes[s]
        assert alone.stage_num_ops[0] == report.stage_num_ops[s]
        assert alone.stage_in_bytes[0] == report.stage_in_bytes[s] == sum(t["bytes"] for t in entry["inputs"])
        assert report.stage_out_bytes[s] == sum(t["bytes"] for t in entry["outputs"])
        assert alone.stage_out_bytes[0] == report.stage_out_bytes[s] - also_read
        assert alone.stage_compute_ms[0] == pytest.approx(report.stage_compute_ms[s], rel=1e-12)
        if report.stage_streamed_bytes[s] == 0 and also_read == 0:
            assert alone.stage_ms[0] == pytest.approx(report.stage_ms[s], rel=1e-12)
    assert manifest["empty_stages"] == report.empty_stages


def test_a_tensor_skipping_a_stage_goes_straight_to_its_consumer(tmp_path):
    """in -> a -> b -> c -> add(a, c): a is sent by stage 0 and received by stage 2 only."""
    tensors = [act("in", [1, 4]), act("a", [1, 4]), act("b", [1, 4]), act("c", [1, 4]), act("out", [1, 4])]
    ops = [op("RELU", [0], [1]), op("RELU", [1], [2]), op("RELU", [2], [3]), op("ADD", [1, 3], [4])]
    path = write(tmp_path / "skip.tflite", tensors, ops, [0], [4])
    manifest = export_segments(path, [0, 0, 1, 2, 2], 3, tmp_path / "out")
    io = [([t["name"] for t in s["inputs"]], [t["name"] for t in s["outputs"]]) for s in manifest["segments"]]
    assert io == [(["in"], ["a"]), (["a"], ["b"]), (["b", "a"], ["out"])]
    assert manifest["segments"][0]["outputs"][0]["to_stages"] == [1, 2]


def test_writer_round_trip_keeps_everything_the_importer_reads():
    source = FIXTURES / "mobilenet_v2_035_96.tflite"
    model = read_tflite(source)
    again = read_tflite_bytes(encode_tflite(model))
    assert again.tensors == model.tensors and again.inputs == model.inputs and again.outputs == model.outputs
    for a, b in zip(again.operators, model.operators):
        assert (a.code, a.inputs, a.outputs, a.version) == (b.code, b.inputs, b.outputs, b.version)
        assert [(o.kind, options_values(o)) for o in a.options] == [(o.kind, options_values(o)) for o in b.options]


def read_tflite_bytes(data: bytes):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.tflite"
        path.write_bytes(data)
        return read_tflite(path)


def test_export_refuses_bad_schedules_and_clashing_names(tmp_path):
    source = FIXTURES / "residual_concat.tflite"
    graph = load_tflite(source)
    backwards = np.zeros(graph.num_nodes, dtype=np.int64)
    backwards[1] = 1  # the first conv after its consumers
    with pytest.raises(ScheduleError):
        export_segments(source, backwards, 2, tmp_path)
    with pytest.raises(ScheduleError):
        export_segments(source, [0] * (graph.num_nodes - 1), 2, tmp_path)
    tensors = [act("in", [1, 4]), act("same", [1, 4]), act("same", [1, 4])]
    path = write(tmp_path / "clash.tflite", tensors, [op("RELU", [0], [1]), op("RELU", [1], [2])], [0], [2])
    with pytest.raises(ModelFileError, match="not unique"):
        export_segments(path, [0, 0, 1], 2, tmp_path / "clash")
    assert not (tmp_path / "clash").exists()  # nothing written


def test_cli_exports_segments(tmp_path, capsys):
    source = str(FIXTURES / "mobilenet_025_96.tflite")
    assert main(["schedule", source, "--tpus", "3", "--solver", "compiler", "--export-segments", str(tmp_path)]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [s["file"] for s in manifest["segments"]] == [f"mobilenet_025_96_segment_{i}_of_3.tflite" for i in range(3)]
    assert "manifest.json written" in capsys.readouterr().out
    assert main(["schedule", "resnet50", "--export-segments", str(tmp_path / "x")]) == 2
