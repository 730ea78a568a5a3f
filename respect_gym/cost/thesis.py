"""The thesis pipeline measurements (``data/edgetpu_thesis.csv``) and how the cost model predicts them.

1,177 timings of two synthetic int8 model families on one to four Coral USB Accelerators
(Villarrubia's thesis experiments; ``data/edgetpu_thesis.md`` says what each column measures).
Every row ran a split that the CSV does not name but that its per-segment compiler memory
pins down: :func:`recover_split` enumerates the contiguous splits of the model's ops into K
non-empty segments and keeps the one whose stored-bytes rule matches the reported MiB best.
:func:`predict_ms` then prices that split with a cost model the way the row was timed:

- ``latency``, K = 1 (``invoke()`` timed alone): the stage time, no pipeline hand-off;
- ``latency``, K >= 2: one input through the pipeline (``report.latency_ms``);
- ``period`` with a burst of B inputs: ``(latency + (B - 1) * period) / B`` (fill and drain are
  inside the timing, so the figure tends to the period as B grows).
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

import numpy as np

from respect_gym.cost.hardware import EdgeTPU
from respect_gym.cost.model import CostModel
from respect_gym.cost.report import PipelineReport
from respect_gym.generators.layers import NetBuilder
from respect_gym.graph import Graph, GraphMeta

MiB = 2**20
FC_INPUT = 64
FC_CLASSES = 10
CONV_INPUT = (64, 64, 3)


class ThesisDataError(ValueError):
    """A malformed thesis row."""


@dataclass(frozen=True)
class ThesisRow:
    """One measurement; ``on_chip_mib`` / ``off_chip_mib`` per segment as the compiler reported."""

    family: str
    size: int
    segments: int
    partition: str
    mode: str
    batch: int
    on_chip_mib: tuple[float, ...]
    off_chip_mib: tuple[float, ...]
    ms: float
    source_file: str

    @property
    def label(self) -> str:
        return f"{self.family} {self.size} K={self.segments} {self.partition} {self.mode} B={self.batch}"


def _row(record: dict[str, str], line: int) -> ThesisRow:
    try:
        on = tuple(float(x) for x in record["on_chip_mib"].split(";"))
        off = tuple(float(x) for x in record["off_chip_mib"].split(";"))
        row = ThesisRow(record["family"], int(record["size"]), int(record["segments"]), record["partition"],
                        record["mode"], int(record["batch"]), on, off, float(record["ms"]), record["source_file"])
    except (KeyError, ValueError) as exc:
        raise ThesisDataError(f"thesis CSV line {line}: {exc}") from None
    if row.family not in ("conv", "fc") or row.mode not in ("latency", "period") or len(on) != row.segments \
            or len(off) != row.segments or not row.ms > 0:
        raise ThesisDataError(f"thesis CSV line {line}: inconsistent row {record}")
    return row


@lru_cache(maxsize=1)
def load_rows() -> tuple[ThesisRow, ...]:
    """Every row of the shipped CSV, in file order."""
    text = files("respect_gym.cost").joinpath("data/edgetpu_thesis.csv").read_text()
    return tuple(_row(r, i + 2) for i, r in enumerate(csv.DictReader(text.splitlines())))


@lru_cache(maxsize=None)
def thesis_graph(family: str, size: int) -> Graph:
    """The model a row ran: ``conv`` = float 64x64x3 input, the ``QUANTIZE`` op, five 3x3 same
    convs of ``size`` filters; ``fc`` = a 64-vector, four ``Dense(size)``, ``Dense(10)``."""
    b = NetBuilder(max_channels=10**6)
    if family == "conv":
        x = b.quantize("quantize", b.input(*CONV_INPUT))
        for i in range(5):
            x = b.conv(f"conv{i}", x, size, kernel=3)
        shape: tuple[int, ...] = CONV_INPUT
    elif family == "fc":
        x = b.input(1, 1, FC_INPUT)
        for i in range(4):
            x = b.dense(f"fc{i}", x, size)
        b.dense("logits", x, FC_CLASSES)
        shape = (FC_INPUT,)
    else:
        raise ThesisDataError(f"unknown thesis family {family!r}; choose 'conv' or 'fc'")
    return b.build(GraphMeta(model=f"thesis_{family}_{size}", input_shape=shape, granularity="fused"))


def _ops(graph: Graph) -> np.ndarray:
    return graph.topological_order[~graph.is_input[graph.topological_order]]


def recover_split(row: ThesisRow, model: CostModel) -> tuple[tuple[int, ...], float]:
    """The contiguous split (ops per segment) whose stored bytes match the row's per-segment
    MiB best, and its largest relative error (``max(MiB, 0.01)`` as the denominator)."""
    ops = _ops(model.graph)
    stored = np.asarray(model.param_bytes)[ops] / MiB
    measured = np.add(row.on_chip_mib, row.off_chip_mib)
    best: tuple[tuple[int, ...], float] | None = None
    for cuts in itertools.combinations(range(1, len(ops)), row.segments - 1):
        bounds = (0, *cuts, len(ops))
        pred = np.array([stored[a:b].sum() for a, b in zip(bounds, bounds[1:])])
        err = float(np.max(np.abs(pred - measured) / np.maximum(measured, 0.01)))
        if best is None or err < best[1]:
            best = (tuple(np.diff(bounds).tolist()), err)
    if best is None:
        raise ThesisDataError(f"{row.label}: {len(ops)} ops cannot fill {row.segments} segments")
    return best


def split_schedule(graph: Graph, split: tuple[int, ...]) -> np.ndarray:
    """Stage per node of a contiguous split of the ops (host-side inputs go with stage 0)."""
    stages = np.zeros(graph.num_nodes, dtype=np.int64)
    stages[_ops(graph)] = np.repeat(np.arange(len(split)), split)
    return stages


def row_report(row: ThesisRow, hardware: EdgeTPU | str = "usb3", revision: int | None = None) -> PipelineReport:
    """The cost model's report of the split the row ran."""
    model = CostModel(thesis_graph(row.family, row.size), hardware, revision)
    split, _ = recover_split(row, model)
    return model.evaluate(split_schedule(model.graph, split), row.segments)


def predict_ms(row: ThesisRow, report: PipelineReport) -> float:
    """What the row's timing measures, from the report of its split (see the module docstring)."""
    if row.mode == "latency":
        return float(report.stage_ms.sum()) if row.segments == 1 else report.latency_ms
    return (report.latency_ms + (row.batch - 1) * report.period_ms) / row.batch
