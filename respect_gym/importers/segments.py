"""Deployable output of a schedule of a ``.tflite`` model: one ``.tflite`` per pipeline stage.

libcoral's ``PipelinedModelRunner`` runs segment i on TPU i and matches each segment input to an
earlier segment's output (or the model input) **by tensor name**; it keeps an intermediate tensor
on the host until its last consumer has run, so a tensor that skips a stage is not passed
through it. Each segment therefore holds:

- the stage's operators, in the original execution order, with their own tensors and constant
  buffers (tensor names, types, shapes and quantisation kept);
- inputs: the computed tensors its operators read that no operator of the stage writes (model
  inputs or earlier stages' outputs), in order of first use;
- outputs: the tensors it writes that a later stage reads or that are model outputs.

Empty stages get no file (the pipeline then needs fewer TPUs). Files are named like the Edge TPU
compiler's segments, ``<model>_segment_<i>_of_<n>.tflite``; ``manifest.json`` lists each segment's
stage, file, op count, parameter bytes (counted as the importer does) and inputs/outputs with
shape, element type, bytes and where they come from / go to. Everything is encoded before the first
file is written, into a new or empty folder only (nothing of the user's is overwritten, removed,
or left beside the segments of this run), each file atomically (temporary file, then a rename).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from respect_gym.importers.errors import ModelFileError
from respect_gym.importers.tflite_import import tflite_graph
from respect_gym.importers.tflite_model import _DECODE_ERRORS, TfliteModel, read_tflite
from respect_gym.importers.tflite_writer import encode_tflite
from respect_gym.safe_io import atomic_write, check_output_dir, excerpt

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "respect-gym/segments"
MANIFEST_VERSION = 1
HOST = "host"


@dataclass(frozen=True)
class Segment:
    """One stage's sub-model; ``inputs`` / ``outputs`` / ``ops`` index the original model."""

    stage: int
    model: TfliteModel
    ops: tuple[int, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def split_model(model: TfliteModel, op_stages: Sequence[int]) -> list[Segment]:
    """Cut ``model`` into one sub-model per non-empty stage (``op_stages[i]``: stage of operator i)."""
    if len(op_stages) != len(model.operators):
        raise ValueError(f"{len(op_stages)} operator stages for {len(model.operators)} operators")
    readers = reader_stages(model, op_stages)
    model_outputs = set(model.outputs)
    segments = []
    for stage in sorted(set(int(s) for s in op_stages)):
        ops = tuple(i for i, s in enumerate(op_stages) if s == stage)
        written = [t for i in ops for t in model.operators[i].outputs]
        written_set = set(written)
        read = dict.fromkeys(t for i in ops for t in model.operators[i].inputs
                             if t >= 0 and model.tensors[t].data is None)
        inputs = tuple(t for t in read if t not in written_set)
        outputs = tuple(t for t in written if t in model_outputs or readers.get(t, set()) - {stage})
        segments.append(Segment(stage, _sub_model(model, ops, inputs, outputs, stage), ops, inputs, outputs))
    return segments


def _sub_model(model: TfliteModel, ops: tuple[int, ...], inputs: tuple[int, ...], outputs: tuple[int, ...],
               stage: int) -> TfliteModel:
    """The operators ``ops`` with the tensors they use, renumbered in order of first use."""
    index: dict[int, int] = {}
    for i in ops:
        for t in (*model.operators[i].inputs, *model.operators[i].outputs):
            if t >= 0:
                index.setdefault(t, len(index))

    def remap(tensors: Sequence[int]) -> tuple[int, ...]:
        return tuple(index[t] if t >= 0 else -1 for t in tensors)

    operators = tuple(replace(model.operators[i], inputs=remap(model.operators[i].inputs),
                              outputs=remap(model.operators[i].outputs)) for i in ops)
    return TfliteModel(
        tensors=tuple(model.tensors[t] for t in index),
        operators=operators,
        inputs=remap(inputs),
        outputs=remap(outputs),
        name=f"{model.name}_stage{stage}",
        description=f"stage {stage} of {model.name}, written by respect-gym",
    )


def export_segments(model_path: str | os.PathLike, stages: Sequence[int] | np.ndarray, num_stages: int,
                    out_dir: str | os.PathLike) -> dict[str, Any]:
    """Write the segments of a schedule of ``model_path`` and ``manifest.json`` to ``out_dir``.

    :param stages: the schedule, one stage per node of the imported graph
        (:func:`respect_gym.load_graph` of the same file: ``"Input"`` nodes first, then operators).
    :param out_dir: a new or empty folder (created with its parents).
    :raises OutputPathError: when ``out_dir`` exists and is not an empty folder.
    :returns: the manifest (also written to ``out_dir/manifest.json``).
    """
    from respect_gym.cost import validate_schedule

    check_output_dir(out_dir, "segments folder", inputs=[model_path])
    model = read_tflite(model_path)
    graph = tflite_graph(model, model_path, cpu_ops="keep")  # the node order the schedule refers to
    stages = validate_schedule(graph, stages, num_stages)
    op_stages = stages[len(model.inputs):].tolist()
    segments = split_model(model, op_stages)
    _check_names(model, segments, model_path)
    producer_stage = {t: s for op, s in zip(model.operators, op_stages) for t in op.outputs}
    try:
        encoded = [encode_tflite(seg.model) for seg in segments]
    except ModelFileError as exc:  # a damaged options table, met only when copied
        message = str(exc)
        raise ModelFileError(message if message.startswith(str(model_path)) else f"{model_path}: {message}") from None
    except _DECODE_ERRORS as exc:
        raise ModelFileError(f"{model_path}: cannot copy the model's ops ({type(exc).__name__}: {str(exc)[:120]})") from None
    readers = reader_stages(model, op_stages)
    out_dir = check_output_dir(out_dir, "segments folder", inputs=[model_path])
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, (seg, data) in enumerate(zip(segments, encoded)):
        file = f"{model.name}_segment_{i}_of_{len(segments)}.tflite"
        atomic_write(out_dir / file, data)
        entries.append({
            "stage": seg.stage,
            "file": file,
            "sha256": hashlib.sha256(data).hexdigest(),
            "num_ops": len(seg.ops),
            "param_bytes": int(graph.param_bytes[[len(model.inputs) + j for j in seg.ops]].sum()),
            "inputs": [dict(_tensor_entry(model, t), source=producer_stage.get(t, HOST)) for t in seg.inputs],
            "outputs": [dict(_tensor_entry(model, t), to_stages=sorted(readers.get(t, set()) - {seg.stage}),
                             model_output=t in model.outputs) for t in seg.outputs],
        })
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "version": MANIFEST_VERSION,
        "model": Path(model_path).name,
        "model_sha256": hashlib.sha256(Path(model_path).read_bytes()).hexdigest(),
        "num_stages": int(num_stages),
        "empty_stages": sorted(set(range(num_stages)) - {seg.stage for seg in segments}),
        "segments": entries,
    }
    atomic_write(out_dir / MANIFEST, json.dumps(manifest, indent=1))
    return manifest


def reader_stages(model: TfliteModel, op_stages: Sequence[int]) -> dict[int, set[int]]:
    """Tensor index -> the stages whose operators read it."""
    readers: dict[int, set[int]] = {}
    for op, stage in zip(model.operators, op_stages):
        for t in op.inputs:
            readers.setdefault(t, set()).add(int(stage))
    return readers


def _tensor_entry(model: TfliteModel, t: int) -> dict[str, Any]:
    tensor = model.tensors[t]
    return {"name": tensor.name, "shape": list(tensor.shape), "dtype": tensor.dtype.lower(), "bytes": tensor.num_bytes}


def _check_names(model: TfliteModel, segments: list[Segment], path) -> None:
    """The runner matches segment inputs to outputs by name: crossing tensors need unique names."""
    crossing = {t for seg in segments for t in (*seg.inputs, *seg.outputs)}
    seen: dict[str, int] = {}
    for t in sorted(crossing):
        name = model.tensors[t].name
        if not name or seen.setdefault(name, t) != t:
            raise ModelFileError(f"{path}: tensor {t} crosses stages but its name {excerpt(name)} is empty or not unique; "
                                 "the pipelining runtime matches segment tensors by name")
