"""Property tests (hypothesis) of the JSON readers: whatever the bytes, a reader returns a value
within the bounds of :mod:`respect_gym.safe_io` or raises its own one-line error; never another
exception. Checked against an independent oracle of the bounds, for the generic reader, graph
files, leaderboard files and submissions, and schedule files; and valid graphs round-trip."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from respect_gym.cli.evaluate import MAX_STAGES, read_schedule  # noqa: E402
from respect_gym.cost import ScheduleError  # noqa: E402
from respect_gym.generators import DnnGraphGenerator  # noqa: E402
from respect_gym.graph import Graph, GraphError, read_json_file  # noqa: E402
from respect_gym.graph.dag import MAX_NODE_BYTES, MAX_NODE_MACS  # noqa: E402
from respect_gym.leaderboard import LeaderboardError  # noqa: E402
from respect_gym.leaderboard.jsonio import read_json  # noqa: E402
from respect_gym.safe_io import MAX_DEPTH, MAX_STRING_CHARS, UntrustedInputError, loads_json  # noqa: E402

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])
BAD_CHARS = set(range(0x20)) | set(range(0x7F, 0xA0)) | {0x61C, 0x200B, 0x200E, 0x200F, 0x2028, 0x2029, 0xFEFF} | \
    set(range(0x202A, 0x202F)) | set(range(0x2060, 0x206A)) | set(range(0xFFF9, 0xFFFC)) | \
    set(range(0xD800, 0xE000)) | set(range(0xE0000, 0xE0080))

texts = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=12) | st.sampled_from(
    ["\u202e", "\x1b[31m", "\ud800", "a\nb", "ok", "名前", "|", "[/]", "a\u200bb", "\U000e0041", "\u200d"])
numbers = (st.integers(min_value=-2**70, max_value=2**70) | st.sampled_from([2**63, 2**64 - 1, 2**64, -2**64])
           | st.floats(allow_nan=True, allow_infinity=True))
scalars = st.none() | st.booleans() | numbers | texts
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
                           max_leaves=25)


def within_bounds(value, depth: int = 1) -> bool:
    """The oracle: what the readers may return (written independently of safe_io)."""
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -2**64 < value < 2**64
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return len(value) <= MAX_STRING_CHARS and not any(ord(c) in BAD_CHARS for c in value)
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, list):
        return all(within_bounds(v, depth + 1) for v in value)
    return all(within_bounds(k) and within_bounds(v, depth + 1) for k, v in value.items())


def nest(value, depth: int):
    for _ in range(depth):
        value = [value]
    return value


@SETTINGS
@given(json_values, st.integers(min_value=0, max_value=80))
def test_loads_json_returns_exactly_the_values_within_bounds(value, depth):
    value = nest(value, depth)
    text = json.dumps(value, allow_nan=True)  # NaN / Infinity literals, escaped surrogates
    if within_bounds(value):
        assert loads_json(text, "x") == value or (value != value)  # NaN never reaches here (oracle)
    else:
        with pytest.raises(UntrustedInputError) as info:
            loads_json(text, "x")
        assert "\n" not in str(info.value) and len(str(info.value)) < 400


@SETTINGS
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v, allow_nan=True).encode()))
def test_graph_and_leaderboard_readers_never_raise_anything_else(tmp_path, data):
    for name in ("f.json", "f.json.gz"):
        path = tmp_path / name
        path.write_bytes(data)
        for reader, error in ((read_json_file, GraphError), (read_json, LeaderboardError)):
            try:
                value = reader(path)
            except error as exc:
                assert str(path) in str(exc) and "\n" not in str(exc)
            else:
                assert within_bounds(value)


def _graph_dict() -> dict:
    return DnnGraphGenerator(seed=3, num_nodes=12)(0).to_dict()


FIELDS = ["model", "granularity", "input_shape", "source", "edges", "version", "nodes.name", "nodes.op_type",
          "nodes.macs", "nodes.param_bytes", "nodes.out_bytes", "nodes.out_shape"]


@SETTINGS
@given(st.sampled_from(FIELDS), json_values, st.integers(min_value=0, max_value=11))
def test_graph_files_with_any_field_replaced_load_within_bounds_or_fail_clearly(field, value, index):
    data = _graph_dict()
    parent, _, key = field.rpartition(".")
    target = data[parent] if parent else data
    if isinstance(target[key], list) and len(target[key]) > index and not isinstance(value, (list, dict)):
        target[key][index] = value  # one entry replaced
    else:
        target[key] = value  # the whole field replaced
    text = json.dumps(data, allow_nan=True)
    try:
        graph = Graph.from_json(text)
    except GraphError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 700
    else:
        for array, bound in ((graph.macs, MAX_NODE_MACS), (graph.param_bytes, MAX_NODE_BYTES),
                             (graph.out_bytes, MAX_NODE_BYTES)):
            assert array.dtype == np.int64 and np.all(array >= 0) and np.all(array <= bound)
        assert all(all(0 <= d < 2**31 for d in shape) for shape in graph.out_shapes)


@SETTINGS
@given(json_values, st.none() | st.integers(min_value=-5, max_value=2000))
def test_schedule_files_give_a_bounded_k_or_fail_clearly(tmp_path, value, tpus):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(value, allow_nan=True))
    try:
        stages, k, record = read_schedule(str(path), tpus)
    except (ScheduleError, GraphError) as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(stages, list) and type(k) is int and 1 <= k <= MAX_STAGES


@SETTINGS
@given(st.sampled_from(["method.name", "method.link", "method.authors", "machine", "harness.seed",
                        "results.0.objective_value", "results.0.seconds", "results.0.num_stages",
                        "results.0.stages", "results.0.instance", "suite"]), json_values)
def test_submissions_with_any_field_replaced_are_read_or_refused_clearly(tmp_path, field, value):
    pytest.importorskip("jsonschema")
    from respect_gym.leaderboard import ROOT
    from respect_gym.leaderboard.submission import MAX_SECONDS, read_submission

    data = json.loads((ROOT / "submission.template.json").read_text())
    node = data
    *parents, key = field.split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(key) if key.isdigit() else key] = value
    path = tmp_path / "sub.json"
    path.write_text(json.dumps(data, allow_nan=True))
    try:
        submission = read_submission(path)
    except LeaderboardError as exc:
        assert 1 <= len(exc.problems) <= 6 and all("\n" not in p for p in exc.problems)
    else:
        for entry in submission.results:
            assert math.isfinite(entry["objective_value"]) and entry["objective_value"] > 0
            assert entry["seconds"] is None or 0 <= entry["seconds"] <= MAX_SECONDS
        assert within_bounds({**submission.meta, "results": submission.results})


@SETTINGS
@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=4, max_value=60))
def test_valid_graphs_round_trip_through_json_files(tmp_path, seed, nodes):
    graph = DnnGraphGenerator(seed=seed, num_nodes=nodes)(0)
    for name in ("g.json", "g.json.gz"):
        path = Path(tmp_path) / name
        graph.to_json(path)
        again = Graph.from_json(path)
        assert again.sha256() == graph.sha256() and np.array_equal(again.edges, graph.edges)
