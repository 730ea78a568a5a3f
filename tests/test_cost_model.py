"""Edge TPU cost model: hand-worked latencies, invariants, equivalence of the three evaluators."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

import respect_gym
from respect_gym.cost import (
    COST_MODEL_VERSION, CostModel, EdgeTPU, HardwareError, PipelineReport, ScheduleError, get_hardware,
)
from respect_gym.problem import Instance, State, reset, step
from respect_gym.problem.objectives import evaluate
from respect_gym.cost.hardware import USB3, HardwareError
from respect_gym.cost.model import cost_model_version, first_fit, op_class
from respect_gym.cost.paper import paper_cost
from respect_gym.graph import Graph

# Round constants so every expected figure below can be worked out by hand.
HW = EdgeTPU(
    name="hand", cache_bytes=1000, activation_reserve=0.5, peak_macs_per_s=1e9, conv_efficiency=0.5,
    depthwise_efficiency=0.25, dense_efficiency=0.1, elementwise_bytes_per_s=1e6, op_overhead_ms=0.01,
    invoke_overhead_ms=0.1, link_bytes_per_s=1e6, conv_stream_bytes_per_s=2e6,
)


def chain() -> Graph:
    """in(100 B) -> conv(1e6 MAC, 800 B params, out 200 B) -> conv(2e6 MAC, 600 B, out 50 B)
    -> dense(1e4 MAC, 500 B, out 10 B)."""
    return Graph(["in", "c1", "c2", "fc"], ["Input", "Conv2D", "Conv2D", "Dense"], [0, 1e6, 2e6, 1e4],
                 [0, 800, 600, 500], [100, 200, 50, 10], [[0, 1], [1, 2], [2, 3]])


def test_hand_worked_single_stage() -> None:
    m = CostModel(chain(), HW, 2)
    # compute: c1 0.01 + 1e6/(1e9*0.5)*1e3 = 2.01; c2 0.01 + 4 = 4.01; fc 0.01 + 1e4/1e8*1e3 = 0.11
    # largest working set: c1 reads 100 B, writes 200 B -> reserve 150 B, capacity 850 B.
    # first fit: c1 800 B cached (50 B left), c2 600 B streamed, fc 500 B streamed.
    # c2 streamed conv: max(4.01, 600/2e6*1e3 = 0.3) = 4.01 -> adds 0.
    # fc streamed dense: 0.11 + 500/1e6*1e3 = 0.61 -> adds 0.5.
    # transfers: 100 B in + 10 B out = 110 B over 1e6 B/s = 0.11 ms.
    expected = 0.1 + (2.01 + 4.01 + 0.11) + 0.5 + 0.11
    r = m.evaluate([0, 0, 0, 0], 1)
    assert r.bottleneck_ms == pytest.approx(expected)
    assert r.latency_ms == pytest.approx(expected)
    assert r.throughput == pytest.approx(1000 / expected)
    assert (r.stage_cached_bytes[0], r.stage_streamed_bytes[0]) == (800, 1100)
    assert r.stage_stream_ms[0] == pytest.approx(0.5)


def test_hand_worked_three_stages_with_empty_stage() -> None:
    m = CostModel(chain(), HW, 2)
    r = m.evaluate([0, 0, 2, 3], 4)
    # stage 0: c1 only, cached; in 100 B, out 200 B -> 0.1 + 2.01 + 0.3
    # stage 2: c2 alone, capacity 1000 - 125 = 875 -> cached; in 200 + out 50 -> 0.1 + 4.01 + 0.25
    # stage 3: fc cached (capacity 1000 - 30); in 50 + out 10 -> 0.1 + 0.11 + 0.06
    assert r.stage_ms.tolist() == pytest.approx([2.41, 0.0, 4.36, 0.27])
    assert r.empty_stages == [1]
    assert r.bottleneck_ms == pytest.approx(4.36)
    assert r.latency_ms == pytest.approx(2.41 + 4.36 + 0.27)
    assert r.stage_streamed_bytes.sum() == 0


def test_transfer_counted_once_per_consumer_stage() -> None:
    # a feeds b, c (stage 1) and d (stage 2): sent to the host once, received once per stage.
    g = Graph(["in", "a", "b", "c", "d"], ["Input", "Conv2D", "Add", "Add", "Add"], [0, 10, 0, 0, 0],
              [0, 0, 0, 0, 0], [7, 1000, 1, 1, 1], [[0, 1], [1, 2], [1, 3], [1, 4]])
    r = CostModel(g, HW, 2).evaluate([0, 0, 1, 1, 2], 3)
    assert r.stage_out_bytes.tolist() == [1000, 2, 1]  # a once; b, c, d are graph outputs
    assert r.stage_in_bytes.tolist() == [7, 1000, 1000]


def test_input_tensor_is_read_from_host_in_every_consumer_stage() -> None:
    g = Graph(["in", "a", "b"], ["Input", "Conv2D", "Conv2D"], [0, 1, 1], [0, 0, 0], [40, 5, 5],
              [[0, 1], [0, 2]])
    r = CostModel(g, HW, 2).evaluate([0, 0, 1], 2)
    assert r.stage_in_bytes.tolist() == [40, 40]
    assert r.stage_out_bytes.tolist() == [5, 5]


def test_array_utilisation_by_cycle_count() -> None:
    # A 4 x 4 array (cycle = 16 MACs at 1e9 MAC/s = 16 ns). Input 3x4 pixels x 6 channels.
    # 1x1 conv to 5 channels: 360 MACs; passes = 1 tap * ceil(6/4) * ceil(5/4) = 4, each loads a
    # tile (4 cycles) and streams 12 pixels -> 4 * 16 = 64 cycles = 1.024 us, at efficiency 0.5
    # -> 2.048 us. 3x3 depthwise on its 5 channels: 540 MACs; taps on the rows: ceil(9/4) * ceil(5/4)
    # = 6 passes * 16 = 96 cycles = 1.536 us, at efficiency 0.25 -> 6.144 us.
    g = Graph(["in", "pw", "dw"], ["Input", "Conv2D", "DepthwiseConv2D"], [0, 360, 540], [0, 0, 0],
              [72, 60, 60], [[0, 1], [1, 2]], out_shapes=[(3, 4, 6), (3, 4, 5), (3, 4, 5)])
    m = CostModel(g, replace(HW, array_side=4), 2)
    assert m.compute_ms.tolist() == pytest.approx([0.0, 0.01 + 2.048e-3, 0.01 + 6.144e-3])
    # without shapes the class efficiency alone applies (as in the other hand-worked tests)
    bare = CostModel(Graph(g.names, g.op_types, g.macs, g.param_bytes, g.out_bytes, g.edges), replace(HW, array_side=4), 2)
    assert bare.compute_ms.tolist() == pytest.approx([0.0, 0.01 + 360 / 0.5e9 * 1e3, 0.01 + 540 / 0.25e9 * 1e3])


def test_first_fit_skips_a_layer_that_does_not_fit_and_keeps_filling() -> None:
    cached = first_fit(np.array([600, 500, 300, 100]), 1000)
    assert cached.tolist() == [True, False, True, True]


def test_op_classes() -> None:
    assert [op_class(t) for t in ("Conv2D", "CONV_2D", "DepthwiseConv2D", "DEPTHWISE_CONV_2D", "Dense",
                                  "FULLY_CONNECTED", "Add", "Input")] == [
        "conv", "conv", "depthwise", "depthwise", "dense", "dense", "other", "input"]


def random_graph(rng: np.random.Generator, n: int) -> Graph:
    edges = [(int(u), v) for v in range(1, n) for u in rng.choice(v, size=min(v, int(rng.integers(1, 4))), replace=False)]
    types = ["Input"] + rng.choice(["Conv2D", "DepthwiseConv2D", "Dense", "Add"], n - 1).tolist()
    return Graph([f"n{i}" for i in range(n)], types, rng.integers(0, 10**8, n), rng.integers(0, 3 * 10**6, n),
                 rng.integers(1, 2 * 10**6, n), edges)


def random_schedule(rng: np.random.Generator, g: Graph, k: int) -> np.ndarray:
    st = np.zeros(g.num_nodes, dtype=np.int64)
    for v in g.topological_order.tolist():
        lo = max((int(st[u]) for u in g.predecessors[v]), default=0)
        st[v] = rng.integers(lo, k)
    return st


@pytest.mark.parametrize("seed", range(6))
def test_three_evaluators_agree(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(15):
        g = random_graph(rng, int(rng.integers(2, 40)))
        m = CostModel(g)
        k = int(rng.integers(1, 6))
        st = random_schedule(rng, g, k)
        full = m.evaluate(st, k)
        # the kernel's incremental totals (respect_gym.problem.state), placing nodes in visit order
        instance = Instance.build(g, k, cost_model=m)
        state = State.for_instance(instance, 1, g.num_nodes)
        row = np.zeros(1, dtype=np.int64)
        reset(state, row, [instance])
        for v in g.topological_order.tolist():
            step(state, row, np.array([st[v]]))
        got = state.report(0).to_dict()
        for key, value in full.to_dict().items():
            if value is None or isinstance(value, str):  # names, version, unset paper cost
                assert got[key] == value, key
            else:
                assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
        for s in range(k):
            cost = m.stage_cost(st == s)
            assert cost.latency_ms == pytest.approx(full.stage_ms[s], rel=1e-9, abs=1e-12)
            assert m.stage_latency_ms(st == s) == pytest.approx(full.stage_ms[s], rel=1e-9, abs=1e-12)
            assert (cost.in_bytes, cost.out_bytes, cost.streamed_bytes, cost.num_ops) == (
                full.stage_in_bytes[s], full.stage_out_bytes[s], full.stage_streamed_bytes[s], full.stage_num_ops[s])


def test_one_stage_equals_single_tpu_stage_cost() -> None:
    g = random_graph(np.random.default_rng(3), 30)
    m = CostModel(g)
    assert m.evaluate(np.zeros(30, dtype=np.int64), 1).bottleneck_ms == pytest.approx(
        m.stage_cost(np.ones(30, dtype=bool)).latency_ms)
    # extra empty stages change nothing but the empty list
    r = m.evaluate(np.zeros(30, dtype=np.int64), 3)
    assert r.empty_stages == [1, 2] and r.stage_ms[1:].tolist() == [0.0, 0.0]


def test_moving_a_layer_keeps_total_param_bytes() -> None:
    m = CostModel(chain(), HW, 2)
    a, b = m.evaluate([0, 0, 0, 0], 2), m.evaluate([0, 0, 0, 1], 2)
    assert a.stage_param_bytes.sum() == b.stage_param_bytes.sum() == 1900
    assert b.stage_cached_bytes.sum() + b.stage_streamed_bytes.sum() == 1900


def test_validation_errors() -> None:
    g = chain()
    with pytest.raises(ScheduleError, match="one stage per node"):
        evaluate(g, [0, 0, 0], 1)
    with pytest.raises(ScheduleError, match="outside 0..1"):
        evaluate(g, [0, 0, 2, 1], 2)
    with pytest.raises(ScheduleError, match="not an integer"):
        evaluate(g, [0, 0.5, 1, 1], 2)
    with pytest.raises(ScheduleError, match="edge 1 -> 2 \\('c1' -> 'c2'\\)"):
        evaluate(g, [0, 1, 0, 1], 2)
    with pytest.raises(ScheduleError, match="num_stages"):
        evaluate(g, [0, 0, 0, 0], 0)
    with pytest.raises(ScheduleError, match="integers"):
        evaluate(g, ["a", "b", "c", "d"], 2)
    with pytest.raises(HardwareError, match="unknown hardware"):
        get_hardware("tpu9000")
    with pytest.raises(HardwareError, match="link_bytes_per_s"):
        replace(USB3, link_bytes_per_s=0)
    with pytest.raises(HardwareError, match="array_side"):
        replace(USB3, array_side=0)
    with pytest.raises(ValueError, match="objective"):
        evaluate(g, [0, 0, 0, 0], 1, objective="speed")


def test_report_json_round_trip() -> None:
    r = evaluate(chain(), [0, 0, 1, 1], 2, objective="paper")
    text = json.dumps(r.to_dict())
    back = PipelineReport.from_dict(json.loads(text))
    assert back.to_dict() == r.to_dict()
    assert r.cost_model_version == COST_MODEL_VERSION and r.hardware == "usb3"


def test_paper_objective_by_hand() -> None:
    g = chain()  # params 0, 800, 600, 500; edges 0-1, 1-2, 2-3
    # stages [0, 0, 1, 2]: memory max(800, 600, 500) = 800 B = 0.0008 MB; crossings 0 + 1 + 1 = 2
    assert paper_cost(g, [0, 0, 1, 2], 3) == pytest.approx(2.0008)
    # an edge spanning two boundaries counts twice: [0, 0, 0, 2] -> memory 1400 B, crossings 2
    assert paper_cost(g, [0, 0, 0, 2], 3, memory_weight=1000.0) == pytest.approx(3.4)
    r = respect_gym.evaluate(g, [0, 0, 1, 2], 3, objective="paper")
    assert r.paper_cost == pytest.approx(2.0008) and r.objective_value == r.paper_cost
    assert r.bottleneck_ms == pytest.approx(evaluate(g, [0, 0, 1, 2], 3).bottleneck_ms)


def test_version_tracks_constants() -> None:
    from respect_gym.cost import COST_MODEL_VERSIONS
    from respect_gym.cost.hardware import USB3_R3

    assert cost_model_version(USB3, 2) == COST_MODEL_VERSIONS[2] != COST_MODEL_VERSIONS[3]
    assert cost_model_version(USB3_R3) == COST_MODEL_VERSION == COST_MODEL_VERSIONS[3]
    assert cost_model_version(replace(USB3, op_overhead_ms=0.5), 2) != COST_MODEL_VERSIONS[2]
    assert get_hardware("pcie", 2).link_bytes_per_s > USB3.link_bytes_per_s
    assert get_hardware("pcie").link_bytes_per_s > USB3_R3.link_bytes_per_s
    with pytest.raises(HardwareError, match="revision-2 constants"):
        CostModel(chain(), USB3)  # revision 3 needs EdgeTPU3 constants
    with pytest.raises(HardwareError, match="unknown cost-model revision"):
        CostModel(chain(), revision=4)


def _cli(args: list[str]) -> int:
    import argparse

    from respect_gym.cli import evaluate as evaluate_cli

    parser = argparse.ArgumentParser()
    evaluate_cli.register(parser.add_subparsers(dest="command"))
    parsed = parser.parse_args(["evaluate", *args])
    return parsed.func(parsed)


def test_cli_evaluate_writes_the_report(tmp_path) -> None:
    g = chain()
    graph_file, stages_file, out = tmp_path / "g.json", tmp_path / "s.json", tmp_path / "r.json"
    g.to_json(str(graph_file))
    stages_file.write_text(json.dumps({"stages": [0, 0, 1, 1], "num_stages": 2}))
    assert _cli([str(graph_file), "--stages", str(stages_file), "--json", str(out)]) == 0
    assert json.loads(out.read_text()) == evaluate(g, [0, 0, 1, 1], 2).to_dict()
    stages_file.write_text(json.dumps([0, 0, 1, 1]))
    with pytest.raises(ScheduleError, match="--tpus"):
        _cli([str(graph_file), "--stages", str(stages_file)])
    with pytest.raises(ScheduleError, match="precedence"):
        stages_file.write_text(json.dumps([1, 0, 0, 0]))
        _cli([str(graph_file), "--stages", str(stages_file), "--tpus", "2"])


def test_cli_evaluate_rescores_a_schedule_record_on_its_own_graph(tmp_path) -> None:
    from respect_gym.zoo import load_graph

    layers = load_graph("mobilenet", granularity="layers")
    k = 3
    stages = np.minimum(np.arange(layers.num_nodes) * k // layers.num_nodes, k - 1)
    stages = np.maximum.accumulate(stages)  # non-decreasing in node order; mobilenet is a chain
    record = {"stages": stages.tolist(), "num_stages": k, "granularity": "layers",
              "graph_sha256": layers.sha256()}
    stages_file, out = tmp_path / "s.json", tmp_path / "r.json"
    stages_file.write_text(json.dumps(record))
    assert _cli(["mobilenet", "--stages", str(stages_file), "--json", str(out)]) == 0
    assert json.loads(out.read_text()) == evaluate(layers, stages, k).to_dict()
    with pytest.raises(ScheduleError, match="different graph"):
        _cli(["mobilenet_v2", "--stages", str(stages_file)])
