"""Calibration data and fitting for the Edge TPU latency model.

Two data sets, both from DOMAIN.md section 2:

- :data:`PUBLISHED`: the Coral benchmarks page's single-TPU latencies (desktop CPU + USB
  Accelerator) of six ImageNet models. The model's free constants are fitted to these rows.
- :data:`THESIS_FC` / :data:`THESIS_CONV`: measured pipelines of small synthetic models (one to four
  TPUs, Villarrubia's thesis). They are never fitted: they check that the same constants predict
  models and splits the fit did not see. Those graphs are rebuilt here with the generators' layer
  arithmetic (:class:`~respect_gym.generators.layers.NetBuilder`).

The fit (:func:`fit`) is a deterministic coordinate search in log space over the constants named
in :data:`FITTED` (each constant in :data:`TIED` follows its source), minimising the sum of squared
log errors; ``scripts/calibrate_cost_model.py`` runs it and prints the tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from respect_gym.cost.hardware import EdgeTPU
from respect_gym.cost.model import CostModel
from respect_gym.generators.layers import NetBuilder
from respect_gym.graph import Graph, GraphMeta

# (zoo model, label, published ms)
PUBLISHED: tuple[tuple[str, str, float], ...] = (
    ("mobilenet", "MobileNet v1 (224)", 2.4),
    ("mobilenet_v2", "MobileNet v2 (224)", 2.6),
    ("densenet121", "DenseNet-121 (224)", 20.0),
    ("resnet50_299", "ResNet-50 V1 (299)", 49.0),
    ("inception_resnet_v2", "Inception-ResNet V2 (299)", 57.0),
    ("vgg16", "VGG16 (224)", 296.0),
)

FITTED = ("conv_efficiency", "elementwise_bytes_per_s", "link_bytes_per_s", "conv_stream_bytes_per_s")
# constant -> the fitted constant it equals (the six rows cannot tell them apart)
TIED = {"depthwise_efficiency": "conv_efficiency"}

# FC model: input width 128 (not stated in the thesis; it only sizes the first, small layer) and
# four Dense layers of width N. (N, TPUs, measured ms)
FC_INPUT = 128
THESIS_FC: tuple[tuple[int, int, float], ...] = (
    (1500, 1, 0.241), (1740, 1, 8.55), (2020, 1, 21.83), (2620, 1, 36.03),
    (2620, 2, 19.71), (2620, 3, 0.762), (2620, 4, 1.02),
)
# Conv model: 64x64x3 input, five 3x3 same convs of F filters. (F, TPUs, measured ms, profiled split)
THESIS_CONV: tuple[tuple[int, int, float], ...] = (
    (232, 1, 16.22), (232, 2, 20.76), (232, 3, 16.51), (232, 4, 13.86),
    (432, 1, 40.25), (432, 2, 42.53), (432, 3, 42.39), (432, 4, 27.67),
)


@dataclass(frozen=True)
class Row:
    """One predicted-vs-measured comparison; ``error`` = predicted / measured - 1."""

    label: str
    measured_ms: float
    predicted_ms: float
    note: str = ""

    @property
    def error(self) -> float:
        return self.predicted_ms / self.measured_ms - 1.0


@lru_cache(maxsize=None)
def calibration_graph(model: str) -> Graph:
    """The fused zoo graph of a calibration row (what the Edge TPU executes)."""
    from respect_gym.zoo import load_graph

    return load_graph(model)


def fc_graph(width: int) -> Graph:
    """The thesis FC model: a ``FC_INPUT`` vector through four Dense layers of ``width``."""
    b = NetBuilder()
    x = b.input(1, 1, FC_INPUT)
    for i in range(4):
        x = b.dense(f"fc{i}", x, width)
    return b.build(GraphMeta(model=f"thesis_fc_{width}", input_shape=(FC_INPUT,), granularity="fused"))


def conv_graph(filters: int) -> Graph:
    """The thesis conv model: 64x64x3 input through five 3x3 same convs of ``filters``."""
    b = NetBuilder()
    x = b.input(64, 64, 3)
    for i in range(5):
        x = b.conv(f"conv{i}", x, filters, kernel=3)
    return b.build(GraphMeta(model=f"thesis_conv_{filters}", input_shape=(64, 64, 3), granularity="fused"))


def single_tpu_ms(graph: Graph, hardware: EdgeTPU | str) -> float:
    """Latency of the whole graph on one TPU."""
    return CostModel(graph, hardware).evaluate(np.zeros(graph.num_nodes, dtype=np.int64), 1).bottleneck_ms


def best_order_cut(model: CostModel, num_stages: int) -> np.ndarray:
    """Schedule minimising the bottleneck over all cuts of ``graph.topological_order`` into
    ``num_stages`` contiguous segments that each hold a TPU op, as the thesis' K-segment runs do
    (O(K n^2) stage evaluations; optimal for chains such as the thesis models, a good split
    otherwise). Used for the validation tables, not as a solver."""
    order = model.graph.topological_order
    n = order.shape[0]
    if int(model.is_op.sum()) < num_stages:
        raise ValueError(f"{model.graph.meta.model}: fewer TPU ops than the {num_stages} stages to fill")
    ops_before = np.concatenate([[0], np.cumsum(model.is_op[order])])
    seg = np.full((n + 1, n + 1), np.inf)
    for i in range(n):
        mask = np.zeros(model.graph.num_nodes, dtype=bool)
        for j in range(i + 1, n + 1):
            mask[order[j - 1]] = True
            if ops_before[j] > ops_before[i]:
                seg[i, j] = model.stage_latency_ms(mask)
    # best[k][j]: smallest bottleneck covering order[:j] with k + 1 stages holding an op each
    best = np.full((num_stages, n + 1), np.inf)
    arg = np.zeros((num_stages, n + 1), dtype=np.int64)
    best[0, 1:] = seg[0, 1:]
    for k in range(1, num_stages):
        for j in range(1, n + 1):
            cands = [max(best[k - 1, i], seg[i, j]) for i in range(j)]
            arg[k, j] = int(np.argmin(cands))
            best[k, j] = cands[arg[k, j]]
    st = np.zeros(model.graph.num_nodes, dtype=np.int64)
    j = n
    for k in range(num_stages - 1, 0, -1):
        i = int(arg[k, j])
        st[order[i:j]] = k
        j = i
    return st


def published_rows(hardware: EdgeTPU | str) -> list[Row]:
    """Predicted vs published single-TPU latency for the six calibration models."""
    return [Row(label, ms, single_tpu_ms(calibration_graph(model), hardware)) for model, label, ms in PUBLISHED]


def thesis_rows(hardware: EdgeTPU | str) -> list[Row]:
    """Predicted vs measured thesis pipelines (best contiguous split; bottleneck and end-to-end)."""
    rows = []
    for builder, data, tag in ((fc_graph, THESIS_FC, "FC N"), (conv_graph, THESIS_CONV, "conv F")):
        for size, k, ms in data:
            model = CostModel(builder(size), hardware)
            report = model.evaluate(best_order_cut(model, k), k)
            note = f"bottleneck {report.bottleneck_ms:.2f} ms, streamed {report.stage_streamed_bytes.sum() / 2**20:.2f} MiB"
            rows.append(Row(f"{tag}={size}, {k} TPU", ms, report.latency_ms, note))
    return rows


def log_loss(rows: list[Row]) -> float:
    return float(sum(math.log(r.predicted_ms / r.measured_ms) ** 2 for r in rows))


def tie(hardware: EdgeTPU) -> EdgeTPU:
    """``hardware`` with every :data:`TIED` constant set to its source constant."""
    return replace(hardware, **{name: getattr(hardware, source) for name, source in TIED.items()})


def fit(start: EdgeTPU, names: tuple[str, ...] = FITTED, rounds: int = 12) -> EdgeTPU:
    """Coordinate search in log space on the published rows: each round tries multiplying each
    constant by a shrinking set of factors and keeps any improvement. Deterministic."""
    best = tie(start)
    best_loss = log_loss(published_rows(best))
    for r in range(rounds):
        step = 2.0 ** (1.0 / (1 + r))
        for name in names:
            for factor in (step, 1 / step, step**0.5, step**-0.5):
                trial = tie(replace(best, **{name: getattr(best, name) * factor}))
                loss = log_loss(published_rows(trial))
                if loss < best_loss - 1e-12:
                    best, best_loss = trial, loss
    return best
