"""Byte-flip fuzzing of the model importers with fixed seeds: every mutant of a ``.tflite`` fixture
and of an ONNX model (4,900 in all) is either imported into a graph within the documented bounds
or refused with one :class:`~respect_gym.importers.ModelFileError` line naming the file; never
another exception, never a hang (each mutant is timed)."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from hostile_models import mutate, small_onnx_model
from respect_gym.graph.dag import MAX_NODE_BYTES, MAX_NODE_MACS
from respect_gym.importers import ModelFileError, export_segments
from respect_gym.zoo import load_graph

FIXTURES = Path(__file__).parent / "fixtures" / "tflite"
MAX_SECONDS_PER_MUTANT = 2.0


def fuzz(source: bytes, suffix: str, count: int, seed: int, tmp_path: Path, granularity: str) -> Counter:
    """Import ``count`` mutants of ``source``; returns outcome counts (and asserts on each)."""
    rng = random.Random(seed)
    outcomes: Counter = Counter()
    path = tmp_path / f"mutant{suffix}"
    slowest = 0.0
    for _ in range(count):
        path.write_bytes(mutate(source, rng))
        start = time.perf_counter()
        try:
            graph = load_graph(path, granularity=granularity, cpu_ops="keep")
        except ModelFileError as exc:
            message = str(exc)
            assert message.startswith(str(path)) and "\n" not in message and len(message) < 1000, message
            outcomes["refused"] += 1
        else:
            assert np.all(graph.param_bytes <= MAX_NODE_BYTES) and np.all(graph.out_bytes <= MAX_NODE_BYTES)
            assert np.all(graph.macs <= MAX_NODE_MACS) and np.all(graph.macs >= 0)
            outcomes["imported"] += 1
        slowest = max(slowest, time.perf_counter() - start)
    assert slowest < MAX_SECONDS_PER_MUTANT, f"a mutant took {slowest:.2f} s"
    return outcomes


def test_tflite_mutants_are_imported_or_refused_in_one_line(tmp_path):
    source = (FIXTURES / "residual_concat.tflite").read_bytes()
    outcomes = fuzz(source, ".tflite", 1500, seed=21, tmp_path=tmp_path, granularity="fused")
    assert sum(outcomes.values()) == 1500
    assert outcomes["refused"] > 600 and outcomes["imported"] > 300, outcomes  # both paths exercised


@pytest.mark.parametrize("granularity", ["fused", "layers"])
def test_onnx_mutants_are_imported_or_refused_in_one_line(tmp_path, granularity):
    pytest.importorskip("onnx")
    outcomes = fuzz(small_onnx_model(), ".onnx", 1500, seed=21, tmp_path=tmp_path, granularity=granularity)
    assert sum(outcomes.values()) == 1500
    assert outcomes["refused"] > 700 and outcomes["imported"] > 200, outcomes


def test_tflite_mutants_that_import_export_segments_or_are_refused_in_one_line(tmp_path):
    """Builtin options tables are decoded only when a segment copies them: damage there is met at export."""
    source = (FIXTURES / "residual_concat.tflite").read_bytes()
    rng = random.Random(5)
    path = tmp_path / "mutant.tflite"
    outcomes: Counter = Counter()
    for i in range(400):
        path.write_bytes(mutate(source, rng))
        try:
            graph = load_graph(path, cpu_ops="keep")
        except ModelFileError:
            continue
        stages = [0] * (graph.num_nodes - 1) + [1]
        try:
            manifest = export_segments(path, stages, 2, tmp_path / f"out{i}")
        except ModelFileError as exc:
            assert str(exc).startswith(str(path)) and "\n" not in str(exc), str(exc)
            outcomes["refused"] += 1
        else:
            assert len(manifest["segments"]) == 2
            outcomes["exported"] += 1
    assert outcomes["exported"] > 100, outcomes  # refusals here are rare (a damaged options table)
