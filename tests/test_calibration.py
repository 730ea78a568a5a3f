"""Calibration of the stored constants against published and measured Edge TPU latencies."""

from __future__ import annotations

import numpy as np
import pytest

from respect_gym.cost import CostModel
from respect_gym.cost.calibration import PUBLISHED, best_order_cut, fc_graph, published_rows
from respect_gym.cost.hardware import MiB
from respect_gym.zoo import load_graph


def test_published_rows_within_bound() -> None:
    rows = published_rows("usb3")
    assert [r.label for r in rows] == [label for _, label, _ in PUBLISHED]
    errors = np.abs([r.error for r in rows])
    assert np.median(errors) <= 0.15, rows
    assert errors.max() <= 0.35, rows


@pytest.mark.parametrize("width, on_chip_mib, off_chip_mib", [(1500, 6.78, 0.0), (1740, 6.16, 2.97),
                                                              (2020, 4.19, 7.89), (2620, 6.88, 13.11)])
def test_first_fit_reproduces_compiler_allocation(width: int, on_chip_mib: float, off_chip_mib: float) -> None:
    # The thesis' compiler logs (DOMAIN.md): whole-layer caching in execution order.
    g = fc_graph(width)
    r = CostModel(g).evaluate(np.zeros(g.num_nodes, dtype=np.int64), 1)
    assert r.stage_streamed_bytes[0] / MiB == pytest.approx(off_chip_mib, abs=0.15)
    assert r.stage_cached_bytes[0] / MiB == pytest.approx(on_chip_mib, abs=0.45)


def test_fc_pipeline_gets_superlinear_once_every_layer_fits() -> None:
    # Thesis: FC N=2620 takes 36 ms on one TPU and 0.76 ms end to end on three (~47x).
    model = CostModel(fc_graph(2620))
    one = model.evaluate(np.zeros(model.graph.num_nodes, dtype=np.int64), 1)
    three = model.evaluate(best_order_cut(model, 3), 3)
    assert three.stage_streamed_bytes.sum() == 0
    assert one.latency_ms / three.latency_ms > 20


def test_qualitative_facts() -> None:
    vgg = CostModel(load_graph("vgg16"))
    one = vgg.evaluate(np.zeros(vgg.graph.num_nodes, dtype=np.int64), 1)
    assert one.stage_stream_ms[0] > 0.5 * one.bottleneck_ms  # streaming-dominated
    mnv2 = CostModel(load_graph("mobilenet_v2"))
    assert mnv2.evaluate(np.zeros(mnv2.graph.num_nodes, dtype=np.int64), 1).stage_streamed_bytes[0] == 0
    resnet = CostModel(load_graph("resnet152"))
    single = resnet.evaluate(np.zeros(resnet.graph.num_nodes, dtype=np.int64), 1).bottleneck_ms
    four = resnet.evaluate(best_order_cut(resnet, 4), 4).bottleneck_ms
    assert single / four > 4  # super-linear: every segment's weights fit its TPU's cache
