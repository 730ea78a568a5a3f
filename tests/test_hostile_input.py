"""A hostile-input corpus (issue 21): files, submissions and arguments an attacker would try.

Every case is run the way a user meets it (the ``respect-gym`` command in-process, or the public
API) and must end in one of two ways: a correct acceptance, or a refusal in one line naming the
file and the problem (exit code non-zero, no traceback: an exception escaping ``main`` fails the
test). Case ids start with their class: ``loss`` (nothing of the user's is overwritten),
``numbers`` (no silent wrong numbers), ``verifier`` (nothing of a submission is trusted),
``resources`` (bounded time and memory), ``traceback`` (named errors), ``accept`` (what must still
work). Memory is checked with ``tracemalloc`` where a file is built to blow it up.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import pickle
import re
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from hostile_models import onnx_bytes, small_onnx_model
from respect_gym.cli import main
from respect_gym.graph import GraphError, read_json_file
from respect_gym.safe_io import MAX_DEPTH, OutputPathError, atomic_write, check_output_dir, check_output_path

FIXTURES = Path(__file__).parent / "fixtures" / "tflite"
TFLITE = FIXTURES / "residual_concat.tflite"
FAST = ["--tpus", "2", "--solver", "compiler"]


def graph_dict() -> dict:
    """A valid 3-node fused graph."""
    return {
        "schema": "respect-gym/graph", "version": 1, "model": "g", "granularity": "fused", "input_shape": [4],
        "source": "test",
        "nodes": {"name": ["in", "conv", "fc"], "op_type": ["Input", "Conv2D", "Dense"], "macs": [0, 100, 50],
                  "param_bytes": [0, 1000, 500], "out_bytes": [16, 32, 8], "out_shape": [[4], [8], [2]]},
        "edges": [[0, 1], [1, 2]],
    }


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def refused(capsys, *argv, match: str = "") -> str:
    """The command fails with exactly one short error line (which says ``match``); returns it."""
    rc, out, err = run_cli(capsys, *argv)
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc != 0, out
    assert len(lines) == 1 and "error" in lines[0] and "Traceback" not in err, err
    assert len(lines[0]) < 700, lines[0]
    assert match in lines[0], lines[0]
    return lines[0]


def accepted(capsys, *argv) -> str:
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 0, err
    return out


# ----------------------------------------------------------------------------- graph files
def _raw_graph(field: str, text: str) -> str:
    """The valid graph's JSON with ``"<field>": <text>`` spliced in as raw JSON text."""
    data = graph_dict()
    marker = "__HOSTILE__"
    if field in data["nodes"]:
        data["nodes"][field] = marker
    else:
        data[field] = marker
    return json.dumps(data).replace(json.dumps(marker), text)


HOSTILE_GRAPHS = {
    # silent wrong numbers: each used to pass the finite / non-negative check and wrap in int64
    "numbers-param-1e19": (_raw_graph("param_bytes", "[0, 1e19, 5]"), "above the bound"),
    "numbers-param-1e30": (_raw_graph("param_bytes", "[0, 1e30, 5]"), "above the bound"),
    "numbers-param-2**63": (_raw_graph("param_bytes", f"[0, {2**63}, 5]"), "above the bound"),
    "numbers-param-400-digits": (_raw_graph("param_bytes", "[0, 1" + "0" * 400 + ", 5]"), "out of range"),
    "numbers-param-1e400": (_raw_graph("param_bytes", "[0, 1e400, 5]"), "overflows a double"),
    "numbers-param-nan": (_raw_graph("param_bytes", "[0, NaN, 5]"), "NaN is not a JSON number"),
    "numbers-param-infinity": (_raw_graph("param_bytes", "[0, -Infinity, 5]"), "not a JSON number"),
    "numbers-param-negative": (_raw_graph("param_bytes", "[0, -1, 5]"), "must be finite and >= 0"),
    "numbers-param-fraction": (_raw_graph("param_bytes", "[0, 1.5, 5]"), "whole number"),
    "numbers-param-string": (_raw_graph("param_bytes", '[0, "5", 5]'), "numbers"),
    "numbers-param-bool": (_raw_graph("param_bytes", "[0, true, 5]"), "numbers"),
    "numbers-param-null": (_raw_graph("param_bytes", "[0, null, 5]"), "numbers"),
    "numbers-macs-2**60": (_raw_graph("macs", f"[0, {2**60}, 5]"), "above the bound"),
    "numbers-out-bytes-2**40": (_raw_graph("out_bytes", f"[0, {2**40}, 5]"), "above the bound"),
    "numbers-shape-2**31": (_raw_graph("out_shape", "[[4], [2147483648], [2]]"), "2**31"),
    "numbers-shape-rank-40": (_raw_graph("out_shape", "[[4], [" + ", ".join(["1"] * 40) + "], [2]]"), "40 dimensions"),
    "numbers-shape-elements": (_raw_graph("out_shape", "[[4], [2000000000, 2000000000], [2]]"), "2**40 elements"),
    "numbers-shape-negative": (_raw_graph("out_shape", "[[4], [-8], [2]]"), "negative"),
    "numbers-shape-string": (_raw_graph("out_shape", '[[4], ["8"], [2]]'), "not a list of ints"),
    "numbers-input-shape-float": (_raw_graph("input_shape", "[4.5]"), "input_shape"),
    "numbers-edge-1e300": (_raw_graph("edges", "[[0, 1e300], [1, 2]]"), "outside 0..2"),
    "numbers-edge-bool": (_raw_graph("edges", "[[false, true], [1, 2]]"), "edges must be"),
    "numbers-edge-string": (_raw_graph("edges", '[["0", "1"], [1, 2]]'), "edges must be"),
    "numbers-edge-out-of-range": (_raw_graph("edges", "[[0, 7], [1, 2]]"), "outside 0..2"),
    "numbers-edge-self-loop": (_raw_graph("edges", "[[1, 1], [1, 2]]"), "self loop"),
    "numbers-edge-cycle": (_raw_graph("edges", "[[0, 1], [1, 2], [2, 1]]"), "cycle"),
    "numbers-edge-duplicate": (_raw_graph("edges", "[[0, 1], [0, 1], [1, 2]]"), "more than once"),
    # strings that would reach a terminal or a table raw
    "traceback-name-bidi": (_raw_graph("name", '["in", "a\\u202eb", "fc"]'), "bidirectional"),
    "traceback-name-ansi": (_raw_graph("name", '["in", "\\u001b[31mred", "fc"]'), "control character"),
    "traceback-name-surrogate": (_raw_graph("name", '["in", "\\ud800", "fc"]'), "lone surrogate"),
    "traceback-name-newline": (_raw_graph("name", '["in", "a\\nb", "fc"]'), "control character"),
    "traceback-name-huge": (_raw_graph("name", '["in", "' + "x" * 5000 + '", "fc"]'), "characters long"),
    "traceback-name-number": (_raw_graph("name", '["in", 5, "fc"]'), "must hold strings"),
    "traceback-name-duplicate": (_raw_graph("name", '["in", "fc", "fc"]'), "more than one node"),
    "traceback-model-newline": (_raw_graph("model", '"fake\\n| row |"'), "control character"),
    "traceback-model-rich-markup": (_raw_graph("model", '"[/bold]"'), ""),  # accepted: printed as text
    "traceback-op-type-list": (_raw_graph("op_type", '["Input", ["x"], "Dense"]'), "must hold strings"),
    "traceback-nodes-missing": (json.dumps({**graph_dict(), "nodes": {}}), "missing attribute"),
    "traceback-version-2": (json.dumps({**graph_dict(), "version": 2}), "unsupported graph schema version"),
    "traceback-top-level-list": ("[1, 2, 3]", "must hold a JSON object"),
    "traceback-truncated": (json.dumps(graph_dict())[:-7], "invalid JSON"),
    "traceback-duplicate-key": ('{"schema": 1, "schema": 2}', "appears twice"),
    "resources-deep-nesting": ("[" * 100_000 + "]" * 100_000, "nested deeper than"),
    "resources-deep-nesting-object": ('{"a":' * 5000 + "1" + "}" * 5000, "nested deeper than"),
    "resources-nesting-65": (_raw_graph("source", "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)), "nested deeper"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_GRAPHS))
def test_hostile_graph_file_is_refused_in_one_line(case, tmp_path, capsys):
    text, match = HOSTILE_GRAPHS[case]
    path = tmp_path / "g.json"
    path.write_text(text, encoding="utf-8")
    if case == "traceback-model-rich-markup":
        out = accepted(capsys, "schedule", path, *FAST)  # rich markup in a model name is text, never a crash
        assert "period" in out
        return
    line = refused(capsys, "schedule", path, *FAST, match=match)
    assert str(path) in line


@pytest.mark.parametrize("case", ["numbers-param-1e19", "numbers-shape-2**31", "traceback-name-bidi"])
def test_hostile_graph_is_refused_by_the_env_and_evaluate(case, tmp_path, capsys):
    import gymnasium as gym

    text, match = HOSTILE_GRAPHS[case]
    path = tmp_path / "g.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GraphError, match=re.escape(match)):
        gym.make("RespectPipeline-v1", model=str(path), num_tpus=2)
    stages = tmp_path / "s.json"
    stages.write_text(json.dumps({"stages": [0, 0, 1], "num_stages": 2}))
    refused(capsys, "evaluate", path, "--stages", stages, match=match)


@pytest.mark.parametrize("case, data", [
    ("traceback-empty", b""),
    ("traceback-binary", bytes(range(256)) * 4),
    ("traceback-utf16", json.dumps(graph_dict()).encode("utf-16")),
    ("traceback-latin1-name", json.dumps(graph_dict()).replace('"fc"', '"f\u00e9"').encode("latin-1")),
], ids=lambda x: x if isinstance(x, str) else "")
def test_undecodable_graph_files_are_refused(case, data, tmp_path, capsys):
    path = tmp_path / "g.json"
    path.write_bytes(data)
    refused(capsys, "schedule", path, *FAST, match=str(path))


def test_traceback_folder_device_and_pipe_are_refused_without_reading(tmp_path, capsys):
    folder = tmp_path / "folder.json"
    folder.mkdir()
    refused(capsys, "schedule", folder, *FAST, match="is a folder")
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)  # opening it for reading would block forever
    refused(capsys, "schedule", fifo, *FAST, match="not a regular file")
    stages = tmp_path / "s.json"
    stages.write_text("[0, 0]")
    refused(capsys, "evaluate", "resnet50", "--stages", fifo, "--tpus", "2", match="not a regular file")
    refused(capsys, "import", tmp_path / "missing.tflite", match="no such file")
    (tmp_path / "dir.tflite").mkdir()
    refused(capsys, "import", tmp_path / "dir.tflite", match="is a folder")


# ------------------------------------------------------------------------- bounded resources
def _gzip_bomb(path: Path, inflated_bytes: int) -> None:
    """A ``.json.gz`` of ``inflated_bytes`` spaces (about 1,000 times smaller on disk)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
    chunk = b" " * (1 << 22)
    with open(path, "wb") as fh:
        fh.write(compressor.compress(b"["))
        for _ in range(inflated_bytes // len(chunk)):
            fh.write(compressor.compress(chunk))
        fh.write(compressor.compress(b"]") + compressor.flush())


def test_resources_gzip_bomb_is_refused_after_the_cap_in_bounded_memory(tmp_path, capsys):
    path = tmp_path / "bomb.json.gz"
    _gzip_bomb(path, 1 << 28)  # 256 MiB inflated (8x the cap), ~250 KB on disk
    assert path.stat().st_size < 2**20
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(GraphError, match="decompresses to more than the 33,554,432-byte cap"):
            read_json_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert time.perf_counter() - start < 10
    refused(capsys, "schedule", path, *FAST, match="decompresses to more than")


def test_resources_truncated_and_fake_gzip_are_refused(tmp_path, capsys):
    good = gzip.compress(json.dumps(graph_dict()).encode())
    for name, data in (("cut.json.gz", good[: len(good) // 2]), ("fake.json.gz", b"not gzip at all")):
        path = tmp_path / name
        path.write_bytes(data)
        refused(capsys, "schedule", path, *FAST, match="gzip")


# ------------------------------------------------------------------------------- data loss
@pytest.fixture
def graph_file(tmp_path) -> Path:
    path = tmp_path / "g.json"
    path.write_text(json.dumps(graph_dict()))
    return path


def test_loss_schedule_json_never_replaces_its_input(graph_file, tmp_path, capsys):
    before = graph_file.read_bytes()
    refused(capsys, "schedule", graph_file, *FAST, "--json", graph_file, match="would overwrite the input")
    refused(capsys, "schedule", graph_file, *FAST, "--json", graph_file, "--force", match="would overwrite the input")
    link = tmp_path / "link.json"
    link.symlink_to(graph_file)
    refused(capsys, "schedule", graph_file, *FAST, "--json", link, "--force", match="would overwrite the input")
    hard = tmp_path / "hard.json"
    os.link(graph_file, hard)
    refused(capsys, "schedule", graph_file, *FAST, "--json", hard, "--force", match="would overwrite the input")
    refused(capsys, "schedule", graph_file, *FAST, "--plot", graph_file, match="would overwrite the input")
    assert graph_file.read_bytes() == before


def test_loss_existing_output_needs_force(graph_file, tmp_path, capsys):
    out = tmp_path / "result.json"
    out.write_text("the user's notes")
    refused(capsys, "schedule", graph_file, *FAST, "--json", out, match="pass --force")
    assert out.read_text() == "the user's notes"
    accepted(capsys, "schedule", graph_file, *FAST, "--json", out, "--force")
    assert json.loads(out.read_text())["num_stages"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.json", "result.json"]  # no temporary file left


@pytest.mark.parametrize("target, match", [
    ("folder", "is a folder"), ("missing/out.json", "does not exist"),
], ids=["loss-json-is-a-folder", "loss-json-in-missing-folder"])
def test_loss_bad_output_paths_are_refused_before_the_solve(graph_file, tmp_path, capsys, target, match):
    (tmp_path / "folder").mkdir()
    start = time.perf_counter()
    refused(capsys, "schedule", graph_file, "--tpus", "2", "--solver", "exact", "--time-limit", "30",
            "--json", tmp_path / target, match=match)
    assert time.perf_counter() - start < 5


def test_loss_segments_go_into_a_new_or_empty_folder_only(tmp_path, capsys):
    users = tmp_path / "users"
    users.mkdir()
    (users / "manifest.json").write_text("the user's manifest")
    (users / "residual_concat_segment_0_of_2.tflite").write_bytes(b"the user's model")
    for extra in ([], ["--force"]):
        refused(capsys, "schedule", TFLITE, *FAST, "--export-segments", users, *extra, match="not empty")
    assert (users / "manifest.json").read_text() == "the user's manifest"
    assert (users / "residual_concat_segment_0_of_2.tflite").read_bytes() == b"the user's model"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    refused(capsys, "schedule", TFLITE, *FAST, "--export-segments", a_file, match="not a folder")
    fresh = tmp_path / "new" / "segments"
    accepted(capsys, "schedule", TFLITE, *FAST, "--export-segments", fresh)
    first = sorted(p.name for p in fresh.iterdir())
    assert "manifest.json" in first
    refused(capsys, "schedule", TFLITE, "--tpus", "3", "--solver", "compiler", "--export-segments", fresh,
            match="not empty")  # a second run never mixes its segments with stale ones
    assert sorted(p.name for p in fresh.iterdir()) == first


def test_loss_import_out_and_evaluate_json_never_replace_inputs(tmp_path, capsys):
    model = tmp_path / "m.tflite"
    model.write_bytes(TFLITE.read_bytes())
    refused(capsys, "import", model, "--out", model, "--force", match="would overwrite the input")
    assert model.read_bytes() == TFLITE.read_bytes()
    out = tmp_path / "g.json"
    accepted(capsys, "import", model, "--out", out)
    refused(capsys, "import", model, "--out", out, match="pass --force")
    accepted(capsys, "import", model, "--out", out, "--force")
    stages = tmp_path / "s.json"
    stages.write_text(json.dumps({"stages": [0, 0, 1], "num_stages": 2}))
    graph = tmp_path / "graph.json"
    graph.write_text(json.dumps(graph_dict()))
    refused(capsys, "evaluate", graph, "--stages", stages, "--json", stages, match="would overwrite the input")
    refused(capsys, "evaluate", graph, "--stages", stages, "--json", graph, "--force", match="would overwrite the input")
    assert json.loads(stages.read_text())["stages"] == [0, 0, 1]


def test_loss_atomic_write_leaves_the_old_file_on_failure(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("precious")
    with pytest.raises(UnicodeEncodeError):
        atomic_write(path, "new text with a lone surrogate \ud800")
    assert path.read_text() == "precious" and [p.name for p in tmp_path.iterdir()] == ["README.md"]
    atomic_write(path, "new")
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["README.md"]


def test_loss_output_checks_refuse_odd_paths(tmp_path):
    with pytest.raises(OutputPathError, match="control character"):
        check_output_path(tmp_path / "a\nb.json")
    with pytest.raises(OutputPathError, match="empty path"):
        check_output_path("")
    with pytest.raises(OutputPathError, match="is the input"):
        (tmp_path / "d").mkdir()
        check_output_dir(tmp_path / "d", inputs=[tmp_path / "d"])


# --------------------------------------------------------------------------- schedules
@pytest.mark.parametrize("text, match", [
    ('{"stages": [0, 0, 1], "num_stages": 1' + "0" * 30 + "}", "out of range"),
    ('{"stages": [0, 0, 1], "num_stages": "2"}', "num_stages must be a whole number"),
    ('{"stages": [0, 0, 1], "num_stages": true}', "num_stages must be a whole number"),
    ('{"stages": [0, 0, 1], "num_stages": 1000000}', "num_stages must be a whole number"),
    ('{"stages": [0, 1e300, 1], "num_stages": 2}', "outside 0..1"),
    ('{"stages": [0, 0, ' + "1" + "0" * 400 + '], "num_stages": 2}', "out of range"),
    ('{"stages": [[0], [0], [1]], "num_stages": 2}', "stages has shape"),
    ('{"stages": "001", "num_stages": 2}', "'stages' must be a list"),
    ("[" * 5000 + "]" * 5000, "nested deeper"),
], ids=["numbers-k-30-digits", "numbers-k-string", "numbers-k-bool", "resources-k-million", "numbers-stage-1e300",
        "numbers-stage-400-digits", "traceback-stage-nested", "traceback-stages-string", "resources-stages-deep"])
def test_hostile_schedule_files_are_refused(tmp_path, capsys, text, match):
    graph = tmp_path / "g.json"
    graph.write_text(json.dumps(graph_dict()))
    stages = tmp_path / "s.json"
    stages.write_text(text)
    refused(capsys, "evaluate", graph, "--stages", stages, match=match)


# ------------------------------------------------------------------------------- importers
def _onnx_cases():
    from onnx import TensorProto, helper, numpy_helper

    value = helper.make_tensor_value_info
    w = numpy_helper.from_array(np.ones((4,), dtype=np.float32), "w")
    scalar_matmul = onnx_bytes([helper.make_node("MatMul", ["x", "w"], ["y"])], [value("x", TensorProto.FLOAT, [])],
                               [value("y", TensorProto.FLOAT, None)], [numpy_helper.from_array(np.float32(2.0), "w")])
    no_output = onnx_bytes([helper.make_node("Relu", ["x"], [], name="r"), helper.make_node("Relu", ["x"], ["y"])],
                           [value("x", TensorProto.FLOAT, [1, 4])], [value("y", TensorProto.FLOAT, [1, 4])])
    bad_utf8 = onnx_bytes([helper.make_node("Relu", ["x"], ["y"], name="r")], [value("x", TensorProto.FLOAT, [1, 4])],
                          [value("y", TensorProto.FLOAT, [1, 4])]).replace(b"Relu", b"R\xffxu")
    huge = small_onnx_model(("N", 3, 2**40, 2**40))
    huge_dim = small_onnx_model(("N", 3, 2**62, 8))
    rank_20 = onnx_bytes([helper.make_node("Relu", ["x"], ["y"])], [value("x", TensorProto.FLOAT, [1] * 20)],
                         [value("y", TensorProto.FLOAT, [1] * 20)])
    control = onnx_bytes([helper.make_node("Relu", ["x"], ["y"], name="a\x1b[2Jb")],
                         [value("x", TensorProto.FLOAT, [1, 4])], [value("y", TensorProto.FLOAT, [1, 4])])
    del w
    return {
        "traceback-onnx-scalar-matmul": (scalar_matmul, "scalar"),
        "traceback-onnx-node-without-output": (no_output, "has no output"),
        "traceback-onnx-non-utf8-op-type": (bad_utf8, "not UTF-8 text"),
        "numbers-onnx-2**80-elements": (huge, "outside 0..2**31-1"),
        "numbers-onnx-dim-2**62": (huge_dim, "outside 0..2**31-1"),
        "numbers-onnx-rank-20": (rank_20, "20 dimensions"),
        "traceback-onnx-control-name": (control, "control character"),
        "traceback-onnx-garbage": (b"\x08\x07garbage" * 10, "ONNX"),
    }


@pytest.mark.parametrize("granularity", ["fused", "layers"])
def test_hostile_onnx_models_are_refused_at_both_granularities(tmp_path, capsys, granularity):
    pytest.importorskip("onnx")
    for case, (data, match) in _onnx_cases().items():
        path = tmp_path / f"{case}.onnx"
        path.write_bytes(data)
        line = refused(capsys, "import", path, "--granularity", granularity, match=match)
        assert str(path) in line, case


def test_hostile_tflite_shapes_are_refused(tmp_path, capsys):
    from tflite_builders import act, op, write

    cases = {
        "numbers-tflite-rank-40": ([1] * 40, "40 dimensions"),
        "numbers-tflite-2**62-elements": ([1, 2**31 - 1, 2**31 - 1], "beyond the bounds"),
    }
    for case, (shape, match) in cases.items():
        path = write(tmp_path / f"{case}.tflite", [act("in", [1, 4]), act("out", shape)],
                     [op("RELU", [0], [1])], [0], [1])
        refused(capsys, "import", path, match=match)
    path = write(tmp_path / "ansi.tflite", [act("in", [1, 4]), act("\x1b[31mout", [1, 4])], [op("RELU", [0], [1])], [0], [1])
    refused(capsys, "import", path, match="control character")


def test_accept_valid_models_still_import(tmp_path, capsys):
    out = accepted(capsys, "import", TFLITE)
    assert "nodes" in out and "GMACs" in out
    pytest.importorskip("onnx")
    path = tmp_path / "small.onnx"
    path.write_bytes(small_onnx_model())
    for granularity in ("fused", "layers"):
        assert "nodes" in accepted(capsys, "import", path, "--granularity", granularity)


# ------------------------------------------------------------------------------ checkpoints
@pytest.mark.filterwarnings("ignore:.*Unpickler:UserWarning")  # torch's note on the raw pickle case
def test_traceback_checkpoints_fail_in_one_line_and_never_unpickle(tmp_path):
    torch = pytest.importorskip("torch")
    from respect_gym_agents import checkpoints

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    cases = {}
    cases["pickle"] = tmp_path / "pickle.pt"
    torch.save({"meta": Payload(), "state_dict": {}}, cases["pickle"])
    cases["raw-pickle"] = tmp_path / "raw.pt"
    cases["raw-pickle"].write_bytes(pickle.dumps(Payload()))
    cases["garbage"] = tmp_path / "garbage.pt"
    cases["garbage"].write_bytes(b"\x00garbage" * 100)
    cases["empty"] = tmp_path / "empty.pt"
    cases["empty"].write_bytes(b"")
    good_meta = {"cost_model_version": "3.x", "env_id": "RespectPipeline-v1", "command": "rm -rf ~",
                 "objective": "period", "net": {"hidden": 8, "rounds": 1}}
    for name, meta in (("no-version", {k: v for k, v in good_meta.items() if k != "cost_model_version"}),
                       ("huge-net", {**good_meta, "net": {"hidden": 10**9, "rounds": 1}}),
                       ("net-keys", {**good_meta, "net": {"evil": 1}}),
                       ("net-flag", {**good_meta, "net": {"kind": "cut", "hidden": 8, "squash": "yes"}}),
                       ("ansi-version", {**good_meta, "cost_model_version": "\x1b[2J"}),
                       ("not-a-dict", "meta")):
        cases[name] = tmp_path / f"{name}.pt"
        torch.save({"meta": meta, "state_dict": {}}, cases[name])
    for name, path in cases.items():
        with pytest.raises(checkpoints.CheckpointError) as info:
            checkpoints.load(path)
        message = str(info.value)
        assert str(path) in message and "\n" not in message and "weights_only=False" not in message, (name, message)
    assert not (tmp_path / "pwned").exists()
    mismatch = tmp_path / "mismatch.pt"
    torch.save({"meta": good_meta, "state_dict": {}}, mismatch)
    with pytest.raises(checkpoints.CheckpointError, match="retrain it") as info:
        checkpoints.load(mismatch)
    assert "rm -rf" not in str(info.value)
    net, _ = checkpoints.load(checkpoints.shipped("imitation"))  # the shipped ones still load
    assert net is not None


# ---------------------------------------------------------------------------- the verifier
@pytest.fixture(scope="module")
def board(tmp_path_factory) -> Path:
    """A leaderboards folder with a one-instance suite and a valid compiler submission to it."""
    import shutil

    from respect_gym.leaderboard import ROOT
    from respect_gym.leaderboard.build import SuiteSpec, build_suite
    from respect_gym.leaderboard.run import Method, run

    root = tmp_path_factory.mktemp("board")
    shutil.copy(ROOT / "submission.schema.json", root)
    shutil.copy(ROOT / "README.md", root)
    build_suite(SuiteSpec("mini-v0", "one graph", ("mobilenet",), (2,), time_limit_s=10.0), root)
    run("mini-v0", root / "submissions" / "mini-v0" / "compiler.json", Method("compiler", link="https://coral.ai/x"),
        solver="compiler", root=root)
    return root


@pytest.fixture
def submission(board) -> dict:
    return json.loads((board / "submissions" / "mini-v0" / "compiler.json").read_text())


def _verify(board: Path, tmp_path: Path, capsys, data, name: str = "forged.json") -> tuple[int, str, str]:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return run_cli(capsys, "leaderboard", "verify", "--root", board, path)


def _set(path: tuple, value):
    def edit(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


HOSTILE_SUBMISSIONS = {
    "verifier-claim-1e400": (_set(("results", 0, "objective_value"), "__RAW__1e400"), "overflows a double"),
    "verifier-seconds-1e400": (_set(("results", 0, "seconds"), "__RAW__1e400"), "overflows a double"),
    "verifier-seconds-a-year": (_set(("results", 0, "seconds"), 3.2e7), "above the bound"),
    "verifier-seconds-negative": (_set(("results", 0, "seconds"), -1), "less than the minimum"),
    "verifier-k-400-digits": (_set(("results", 0, "num_stages"), "__RAW__1" + "0" * 400), "out of range"),
    "verifier-claim-400-digits": (_set(("results", 0, "objective_value"), "__RAW__1" + "0" * 400), "out of range"),
    "verifier-claim-nan": (_set(("results", 0, "objective_value"), "__RAW__NaN"), "not a JSON number"),
    "verifier-claim-better-than-bound": (_set(("results", 0, "objective_value"), 1e-9), "better than the proven"),
    "verifier-name-surrogate": (_set(("method", "name"), "__RAW__\"\\ud800\""), "lone surrogate"),
    "verifier-name-newline-row": (_set(("method", "name"), "x |\n| 1 | fake | 9.9 |"), "control character"),
    "verifier-name-ansi": (_set(("method", "name"), "\x1b[31mred"), "control character"),
    "verifier-name-bidi": (_set(("method", "name"), "abc\u202edef"), "bidirectional"),
    "verifier-link-javascript": (_set(("method", "link"), "javascript:alert(1)"), "not an http(s) URL"),
    "verifier-link-breaks-out": (_set(("method", "link"), "https://x.org) | fake | row"), "not an http(s) URL"),
    "verifier-description-control": (_set(("method", "description"), "a\u0007b"), "control character"),
    "verifier-instance-ansi": (_set(("results", 0, "instance"), "\x1b[2J"), "control character"),
    "verifier-deep-nesting": (_set(("method", "description"), "__RAW__" + "[" * 3000 + "]" * 3000), "nested deeper"),
    "verifier-duplicate-key": (None, "appears twice"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_SUBMISSIONS))
def test_hostile_submission_is_refused(board, submission, tmp_path, capsys, case):
    edit, match = HOSTILE_SUBMISSIONS[case]
    if edit is None:
        text = json.dumps(submission).replace('"suite":', '"suite": "mini-v0", "suite":', 1)
    else:
        edit(submission)
        text = json.dumps(submission)
        for raw in ("1e400", "NaN", "1" + "0" * 400, '"\\\\ud800"', "[" * 3000 + "]" * 3000):
            text = text.replace(json.dumps("__RAW__" + raw), raw)
        text = text.replace('"__RAW__\\"\\\\ud800\\""', '"\\ud800"')
    rc, out, err = _verify(board, tmp_path, capsys, text)
    assert rc == 1 and "Traceback" not in err and match in err, err
    assert all(line.startswith("respect-gym leaderboard verify: error:") or "failed verification" in line
               for line in err.splitlines()), err


def test_verifier_markdown_is_escaped_and_times_are_claimed(board, submission, tmp_path, capsys):
    import shutil

    from respect_gym.leaderboard.render import render_readme, render_tables

    other = tmp_path / "board"
    shutil.copytree(board, other)
    submission["method"]["name"] = "a|b [x](javascript:y) *z*"
    submission["method"]["link"] = ""
    (other / "submissions" / "mini-v0" / "pipes.json").write_text(json.dumps(submission))
    tables = render_tables(other)
    rows = [line for line in tables.splitlines() if line.startswith("| ") and line[2:3].isdigit()]
    assert len(rows) == 2, tables  # the two submissions, no injected row
    assert any("a\\|b \\[x\\]\\(javascript:y\\) \\*z\\*" in row for row in rows), rows
    assert "median solve time (claimed)" in tables
    assert render_readme(other) is True
    rc, out, err = run_cli(capsys, "leaderboard", "verify", "--root", other, other / "submissions" / "mini-v0" / "pipes.json")
    assert rc == 0 and "(claimed)" in out


def test_loss_render_leaves_the_readme_when_a_submission_fails(board, submission, tmp_path, capsys):
    import shutil

    other = tmp_path / "board"
    shutil.copytree(board, other)
    before = (other / "README.md").read_bytes()
    text = json.dumps(submission).replace('"name": "compiler"', '"name": "\\ud800"')
    (other / "submissions" / "mini-v0" / "evil.json").write_text(text)
    rc, out, err = run_cli(capsys, "leaderboard", "render", "--root", other)
    assert rc != 0 and "lone surrogate" in err and "Traceback" not in err
    assert (other / "README.md").read_bytes() == before


def test_verifier_checks_every_file_given(board, submission, tmp_path, capsys):
    good = board / "submissions" / "mini-v0" / "compiler.json"
    bad = tmp_path / "bad.json"
    bad.write_text("[" * 10_000)
    missing = tmp_path / "missing.json"
    rc, out, err = run_cli(capsys, "leaderboard", "verify", "--brief", "--root", board, good, bad, missing, good)
    assert rc == 1 and out.count("compiler on mini-v0: score") == 2, out
    assert "2 of 4 submission(s) failed" in err and "Traceback" not in err and str(missing) in err


def test_resources_a_submission_of_millions_of_bad_results_is_cheap(board, submission, tmp_path, capsys):
    bad = {**submission, "results": [{"instance": 1}] * 500_000}  # ~7.5 MB
    text = json.dumps(bad, separators=(",", ":"))
    assert len(text) < 8 * 2**20
    start = time.perf_counter()
    rc, out, err = _verify(board, tmp_path, capsys, text)
    assert rc == 1 and time.perf_counter() - start < 15
    assert 1 < len(err.splitlines()) <= 8 and "not listed" in err, err[:2000]
    many = {**submission, "results": [dict(submission["results"][0], instance=f"x{i}") for i in range(3000)]}
    rc, out, err = _verify(board, tmp_path, capsys, many)
    assert rc == 1 and len(err.splitlines()) <= 13 and "stopped after 10 problems" in err, err[:2000]


def test_loss_leaderboard_run_checks_out_before_running(board, tmp_path, capsys):
    out = tmp_path / "mine.json"
    out.write_text("keep")
    refused(capsys, "leaderboard", "run", "--root", board, "--suite", "mini-v0", "--solver", "compiler", "--trained-on-suite", "--out", out,
            match="pass --force")
    refused(capsys, "leaderboard", "run", "--root", board, "--suite", "mini-v0", "--solver", "compiler", "--trained-on-suite", "--out",
            tmp_path, match="is a folder")
    assert out.read_text() == "keep"
    accepted(capsys, "leaderboard", "run", "--root", board, "--suite", "mini-v0", "--solver", "compiler", "--trained-on-suite", "--out", out,
             "--force")
    assert json.loads(out.read_text())["suite"] == "mini-v0"


def test_accept_valid_files_round_trip(graph_file, tmp_path, capsys, board):
    out = accepted(capsys, "schedule", graph_file, *FAST, "--json", tmp_path / "r.json")
    assert "period" in out
    record = json.loads((tmp_path / "r.json").read_text())
    stages = tmp_path / "s.json"
    stages.write_text(json.dumps({"stages": record["stages"], "num_stages": 2}))
    assert "period" in accepted(capsys, "evaluate", graph_file, "--stages", stages, "--json", tmp_path / "e.json")
    gz = tmp_path / "g.json.gz"
    gz.write_bytes(gzip.compress(graph_file.read_bytes()))
    assert "period" in accepted(capsys, "schedule", gz, *FAST)
    name = copy.deepcopy(graph_dict())
    name["nodes"]["name"] = ["entrée", "卷积", "fc/BiasAdd;dense"]  # non-ASCII names are fine
    unicode_file = tmp_path / "u.json"
    unicode_file.write_text(json.dumps(name, ensure_ascii=False), encoding="utf-8")
    assert "period" in accepted(capsys, "schedule", unicode_file, *FAST)
    assert "score" in accepted(capsys, "leaderboard", "verify", "--brief", "--root", board,
                               board / "submissions" / "mini-v0" / "compiler.json")


def test_traceback_escapes_in_file_names_never_reach_the_terminal(tmp_path, capsys):
    path = tmp_path / "e\x1b[31mvil\u202e.json"
    path.write_text("{broken")
    line = refused(capsys, "schedule", path, *FAST, match="invalid JSON")
    assert "\x1b" not in line and "\u202e" not in line and "\\x1b" in line


def test_resources_json_of_millions_of_tiny_values_is_refused_before_parsing(tmp_path, capsys):
    path = tmp_path / "wide.json"
    path.write_text("[" + "[]," * 5_000_000 + "[]]")  # 15 MB that would parse into ~5M lists (~400 MB)
    tracemalloc.start()
    try:
        with pytest.raises(GraphError, match="values, above the bound"):
            read_json_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_loss_no_other_output_inside_the_segments_folder(tmp_path, capsys):
    folder = tmp_path / "segments"
    folder.mkdir()
    refused(capsys, "schedule", TFLITE, *FAST, "--export-segments", folder, "--json", folder / "r.json",
            match="inside the --export-segments folder")
    assert not any(folder.iterdir())


@pytest.mark.parametrize("flag, value, match", [
    ("--link", "javascript:alert(1)", "not an http(s) URL"),
    ("--method", "a\x1b[2Jb", "control character"),
    ("--method", "x" * 61, "above the 60-character bound"),
    ("--description", "rtl \u202e text", "bidirectional"),
], ids=["verifier-run-link", "verifier-run-ansi", "verifier-run-long-name", "verifier-run-bidi"])
def test_verifier_run_refuses_metadata_the_verifier_would_refuse_before_running(board, tmp_path, capsys, flag, value,
                                                                                 match):
    out = tmp_path / "new.json"
    line = refused(capsys, "leaderboard", "run", "--root", board, "--suite", "mini-v0", "--solver", "compiler",
                   "--trained-on-suite", "--out", out, flag, value, match=match)
    assert "\x1b" not in line and "\u202e" not in line and not out.exists()


def test_resources_thousands_of_equal_names_import_in_linear_time(tmp_path):
    from tflite_builders import act, op, write

    from respect_gym.zoo import load_graph

    n = 10_000  # every tensor named "x": unique node names used to cost O(n^2) probes (minutes at 100k)
    path = write(tmp_path / "dups.tflite", [act("x", [1, 4]) for _ in range(n + 1)],
                 [op("RELU", [i], [i + 1]) for i in range(n)], [0], [n])
    start = time.perf_counter()
    graph = load_graph(path)
    assert time.perf_counter() - start < 5
    assert graph.num_nodes == n + 1 and graph.names[-1] == f"x#{n}"


def test_loss_plot_format_is_checked_before_the_solve_and_written_atomically(graph_file, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    refused(capsys, "schedule", graph_file, *FAST, "--plot", tmp_path / "p.xyz", match="not one matplotlib writes")
    out = tmp_path / "p.png"
    accepted(capsys, "schedule", graph_file, *FAST, "--plot", out)
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.json", "p.png"]  # no temporary file left
