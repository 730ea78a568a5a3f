"""Calibration of cost-model revision 3: the fit and the per-group error table.

Two data sets, both fitted:

- :data:`PUBLISHED`: the Coral benchmarks page's single-TPU latencies (desktop CPU + USB
  Accelerator) of six ImageNet models (Coral's published benchmarks, docs/cost_model.md), priced on the fused zoo graphs.
- the thesis pipelines (:mod:`respect_gym.cost.thesis`): 1,177 timings, each priced on the split
  it ran, recovered from its per-segment compiler memory.

The loss is the sum of squared log errors with each group (:func:`group_of`: family x mode x
one/several TPUs, and the Coral rows) weighted to the same total, so the 186 fc single-TPU rows
do not outvote the six Coral rows. :func:`fit` is a deterministic coordinate search in log space
over :data:`FITTED` (each :data:`TIED` constant follows its source);
``scripts/calibrate_cost_model.py`` runs it and writes the tables and the scatter plot.

Two diagnostics say why two floors of the fit are missed: :func:`paired_periods` (conv pipelines
on three TPUs stream slower than on four running the same stages) and :func:`coral_tradeoff`
(no pair of compute / streaming factors brings every Coral row within 25%).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from respect_gym.cost.hardware import EdgeTPU3
from respect_gym.cost.model import CostModel
from respect_gym.cost.thesis import ThesisRow, load_rows, predict_ms, recover_split, row_report, thesis_graph
from respect_gym.graph import Graph

# (zoo model, label, published ms)
PUBLISHED: tuple[tuple[str, str, float], ...] = (
    ("mobilenet", "MobileNet v1 (224)", 2.4),
    ("mobilenet_v2", "MobileNet v2 (224)", 2.6),
    ("densenet121", "DenseNet-121 (224)", 20.0),
    ("resnet50_299", "ResNet-50 V1 (299)", 49.0),
    ("inception_resnet_v2", "Inception-ResNet V2 (299)", 57.0),
    ("vgg16", "VGG16 (224)", 296.0),
)

FITTED = ("stream_tile_bytes", "conv_efficiency", "activation_ms_per_mb", "elementwise_bytes_per_s", "conv_stream_bytes_per_s",
          "dense_stream_bytes_per_s", "link_bytes_per_s", "invoke_overhead_ms", "host_stage_ms", "handoff_ms")
# constant -> the fitted constant it equals (the data cannot tell them apart)
TIED = {"depthwise_efficiency": "conv_efficiency"}
CORAL = "coral"


@dataclass(frozen=True)
class Row:
    """One predicted-vs-measured comparison; ``error`` = predicted / measured - 1."""

    group: str
    label: str
    measured_ms: float
    predicted_ms: float

    @property
    def error(self) -> float:
        return self.predicted_ms / self.measured_ms - 1.0


@lru_cache(maxsize=None)
def calibration_graph(model: str) -> Graph:
    """The fused zoo graph of a Coral row (what the Edge TPU executes)."""
    from respect_gym.zoo import load_graph

    return load_graph(model)


def group_of(row: ThesisRow) -> str:
    """``family mode K=1`` or ``family mode K>=2``: what the error table and the loss group by."""
    return f"{row.family} {row.mode} {'K=1' if row.segments == 1 else 'K>=2'}"


def published_rows(hardware: EdgeTPU3 | str = "usb3", revision: int = 3) -> list[Row]:
    """Predicted vs published single-TPU latency (one ``invoke()``) of the six Coral models
    (``revision=2`` with revision-2 hardware scores the frozen model on the same rows)."""
    rows = []
    for model, label, ms in PUBLISHED:
        graph = calibration_graph(model)
        report = CostModel(graph, hardware, revision=revision).evaluate(np.zeros(graph.num_nodes, dtype=np.int64), 1)
        rows.append(Row(CORAL, label, ms, float(report.stage_ms.sum())))
    return rows


def thesis_rows(hardware: EdgeTPU3 | str = "usb3", revision: int = 3) -> list[Row]:
    """Predicted vs measured for every thesis row, on its recovered split."""
    return [Row(group_of(r), r.label, r.ms, predict_ms(r, row_report(r, hardware, revision=revision)))
            for r in load_rows()]


def all_rows(hardware: EdgeTPU3 | str = "usb3") -> list[Row]:
    return published_rows(hardware) + thesis_rows(hardware)


def log_loss(rows: list[Row]) -> float:
    """Group-balanced sum of squared log errors (every group weighs the same in total)."""
    groups: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        groups[r.group].append(math.log(r.predicted_ms / r.measured_ms) ** 2)
    return float(sum(np.mean(v) for v in groups.values()))


def error_table(rows: list[Row], by=lambda r: r.group) -> list[tuple[str, int, float, float, float]]:
    """Per group: ``(group, n, median |error|, 90th percentile |error|, median signed error)``."""
    groups: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        groups[by(r)].append(r.error)
    out = []
    for name in sorted(groups):
        e = np.asarray(groups[name])
        out.append((name, e.size, float(np.median(np.abs(e))), float(np.percentile(np.abs(e), 90)), float(np.median(e))))
    return out


def tie(hardware: EdgeTPU3) -> EdgeTPU3:
    """``hardware`` with every :data:`TIED` constant set to its source constant."""
    return replace(hardware, **{name: getattr(hardware, source) for name, source in TIED.items()})


def fit(start: EdgeTPU3, names: tuple[str, ...] = FITTED, rounds: int = 8) -> EdgeTPU3:
    """Coordinate search in log space on all rows: each round tries multiplying each constant by
    a shrinking set of factors and keeps any improvement. Deterministic."""
    best = tie(start)
    best_loss = log_loss(all_rows(best))
    for r in range(rounds):
        step = 2.0 ** (1.0 / (1 + r))
        for name in names:
            for factor in (step, 1 / step, step**0.5, step**-0.5):
                trial = tie(replace(best, **{name: getattr(best, name) * factor}))
                loss = log_loss(all_rows(trial))
                if loss < best_loss - 1e-12:
                    best, best_loss = trial, loss
    return best


def paired_periods(hw: EdgeTPU3) -> list[tuple[int, float, float, float, float]]:
    """Conv period rows of one script (same result-file prefix) where K=3 ran split 3|1|2 and
    K=4 ran 2|1|1|2: the same last two stages, and K=3's first stage merges K=4's first two (the
    same work, one crossing fewer). Per F: (F, measured K=3 ms, measured K=4 ms, predicted
    slowest stage of K=3, of K=4)."""
    runs: dict[tuple[str, int, int], ThesisRow] = {}
    for r in load_rows():
        if r.family == "conv" and r.mode == "period" and r.batch == 100 and r.partition == "compiler":
            split, _ = recover_split(r, CostModel(thesis_graph(r.family, r.size), hw, revision=3))
            if split in ((3, 1, 2), (2, 1, 1, 2)):
                runs[(r.source_file.split("-seg")[0], r.size, r.segments)] = r
    out = []
    for (prefix, size, k), r3 in sorted(runs.items()):
        r4 = runs.get((prefix, size, 4))
        if k == 3 and r4 is not None:
            out.append((size, r3.ms, r4.ms, float(row_report(r3, hw, revision=3).stage_ms.max()),
                        float(row_report(r4, hw, revision=3).stage_ms.max())))
    return out


def coral_tradeoff(hw: EdgeTPU3) -> tuple[float, float, float]:
    """The smallest worst |error| over the six Coral rows when every model's compute and streaming
    time are scaled by one factor each (grid 0.5..2): (worst error, compute factor, streaming
    factor). Above 25%, no refit of those two rates alone meets the Coral floor."""
    parts = []
    for model, _, ms in PUBLISHED:
        graph = calibration_graph(model)
        rep = CostModel(graph, hw, revision=3).evaluate(np.zeros(graph.num_nodes, dtype=np.int64), 1)
        compute, stream = float(rep.stage_compute_ms.sum()), float(rep.stage_stream_ms.sum())
        parts.append((compute, stream, float(rep.stage_ms.sum()) - compute - stream, ms))
    grid = np.exp(np.linspace(np.log(0.5), np.log(2.0), 201))
    a, b = np.meshgrid(grid, grid, indexing="ij")
    worst = np.max([np.abs((a * c + b * s + rest) / ms - 1) for c, s, rest, ms in parts], axis=0)
    i, j = np.unravel_index(np.argmin(worst), worst.shape)
    return float(worst[i, j]), float(grid[i]), float(grid[j])
