"""Synthetic graph generators: determinism, size/level/in-degree contracts, shape-derived sizes
re-checked node by node, speed at 10k nodes, and realism against the shipped zoo."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from respect_gym.generators import (
    GENERATORS,
    DnnGraphGenerator,
    GeneratorConfigError,
    RespectLayeredGenerator,
    make_generator,
)
from respect_gym.generators.layers import NetBuilder
from respect_gym.generators.respect import WEIGHT_UNIT_BYTES
from respect_gym.graph import Graph

MIB = 2**20
EDGE_TPU_CACHE_BYTES = 8 * MIB


def hashes(gen, count: int) -> list[str]:
    return [gen().sha256() for _ in range(count)]


# ----------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_same_seed_same_graphs_different_seed_different_graphs(name):
    first = hashes(make_generator(name, seed=11), 4)
    assert first == hashes(make_generator(name, seed=11), 4)
    assert len(set(first)) == 4
    assert set(first).isdisjoint(hashes(make_generator(name, seed=12), 4))


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_graph_index_is_random_access_and_named(name):
    gen = make_generator(name, seed=5)
    stream = [gen() for _ in range(4)]
    again = make_generator(name, seed=5)
    assert again(3).sha256() == stream[3].sha256()  # independent of what was drawn before
    assert [g.meta.model for g in stream] == [f"{gen.name}-5-{i}" for i in range(4)]
    assert all(g.meta.granularity == "synthetic" for g in stream)


def test_caller_rng_fixes_the_graph():
    gen = DnnGraphGenerator(seed=0)
    a = gen(np.random.default_rng(42))
    b = DnnGraphGenerator(seed=0)(np.random.default_rng(42))
    assert a.sha256() == b.sha256()
    index = int(a.meta.model.rsplit("-", 1)[1])
    assert gen(index).sha256() == a.sha256()  # the name alone regenerates it


def test_unseeded_generator_records_its_seed():
    gen = RespectLayeredGenerator()
    assert RespectLayeredGenerator(seed=gen.seed)(0).sha256() == gen(0).sha256()


def test_graphs_do_not_depend_on_process_state():
    """Another interpreter with another hash seed and global numpy seed builds the same graphs."""
    code = (
        "import numpy, random; numpy.random.seed(99); random.seed(99);"
        "from respect_gym.generators import make_generator;"
        "print(' '.join(make_generator(n, seed=3)(i).sha256() for n in ('respect', 'dnn') for i in range(3)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout.split()
    assert out == [make_generator(n, seed=3)(i).sha256() for n in ("respect", "dnn") for i in range(3)]


# ----------------------------------------------------------------------------- RESPECT
def intended_levels(graph: Graph) -> list[int]:
    """The level the generator meant for each node, from its name (``n<v>_l<level>``)."""
    return [0] + [int(re.fullmatch(r"n\d+_l(\d+)", n).group(1)) for n in graph.names[1:]]


@pytest.mark.parametrize(
    ("factory", "nodes", "levels"),
    [(RespectLayeredGenerator, 30, (10, 25)), (RespectLayeredGenerator.validation, 50, (16, 40))],
)
def test_respect_sizes_levels_and_in_degree(factory, nodes, levels):
    graphs = [factory(seed=1)(i) for i in range(300)]
    seen_levels = set()
    for g in graphs:
        assert g.num_nodes == nodes
        assert g.in_degree.max() <= 6
        assert g.is_input.tolist() == [True] + [False] * (nodes - 1)
        assert g.sources.tolist() == [0]
        num_levels = int(g.levels.max()) + 1
        assert levels[0] <= num_levels <= levels[1]
        assert g.levels.tolist() == intended_levels(g)  # exact levels, as recomputed by Graph
        assert set(g.levels.tolist()) == set(range(num_levels))  # no empty level
        seen_levels.add(num_levels)
    assert {levels[0], levels[1]} <= seen_levels  # both ends of the range are drawn


def test_respect_predecessors_and_outputs():
    for g in (RespectLayeredGenerator(seed=2)(i) for i in range(200)):
        lv = g.levels
        for v in range(1, g.num_nodes):
            preds = g.predecessors[v]
            assert (lv[preds] < lv[v]).all() and (lv[preds] == lv[v] - 1).any()
        # a node below the last level is an output only when no later node had in-degree to spare
        for u in g.sinks.tolist():
            if lv[u] < lv.max():
                assert (g.in_degree[lv > lv[u]] == 6).all()


def test_respect_weights_and_sizes():
    graphs = [RespectLayeredGenerator(seed=4)(i) for i in range(200)]
    weights = np.concatenate([g.param_bytes[1:] / WEIGHT_UNIT_BYTES for g in graphs])
    assert weights.min() >= 0 and weights.max() <= 5
    assert abs(weights.mean() - 2.5) < 0.1  # uniform(0, 5): sd of the mean over 5800 nodes ~0.02
    totals = np.array([g.total_param_bytes for g in graphs])
    assert (totals > EDGE_TPU_CACHE_BYTES).mean() > 0.95  # one TPU is not enough...
    assert (totals < 4 * EDGE_TPU_CACHE_BYTES).mean() > 0.95  # ...four usually are
    g = graphs[0]
    num_levels = int(g.levels.max()) + 1
    for v in range(1, g.num_nodes):
        side = 56 // 2 ** ((4 * (int(g.levels[v]) - 1)) // (num_levels - 1))  # 56, 28, 14, 7
        channels = max(1, math.isqrt(int(g.param_bytes[v]) // 9))
        assert g.out_shapes[v] == (side, side, channels)
        assert g.macs[v] == side * side * g.param_bytes[v]
        assert g.out_bytes[v] == side * side * channels


def test_respect_configurable_sizes():
    gen = RespectLayeredGenerator(seed=0, num_nodes=(8, 12), levels=(3, 5), max_in_degree=2, weight_range=(1, 2))
    for g in (gen(i) for i in range(100)):
        assert 8 <= g.num_nodes <= 12 and 3 <= g.levels.max() + 1 <= 5 and g.in_degree.max() <= 2
        assert (g.param_bytes[1:] >= WEIGHT_UNIT_BYTES).all() and (g.param_bytes <= 2 * WEIGHT_UNIT_BYTES).all()


# ----------------------------------------------------------------------------- DNN structure
def check_shapes(g: Graph) -> None:
    """Re-derive every node's sizes from its inputs' shapes, independently of the builder."""
    for v in range(g.num_nodes):
        op, preds, shape = g.op_types[v], g.predecessors[v].tolist(), g.out_shapes[v]
        assert g.out_bytes[v] == math.prod(shape)
        ins = [g.out_shapes[u] for u in preds]
        if op == "Input":
            assert not preds and len(shape) == 3 and shape[2] == 3
            continue
        if op in ("Conv2D", "DepthwiseConv2D", "MaxPooling2D", "AveragePooling2D"):
            (h, w, cin), = ins
            stride = 2 if shape[0] < h else 1
            assert stride in (1, 2) and shape[:2] == (-(-h // stride), -(-w // stride))
        if op == "Conv2D":
            cout = shape[2]
            weights = g.param_bytes[v] - 4 * cout
            kernel = math.isqrt(weights // (cin * cout))
            assert kernel in (1, 3, 5, 7) and weights == kernel * kernel * cin * cout
            assert g.macs[v] == shape[0] * shape[1] * weights
        elif op == "DepthwiseConv2D":
            assert shape[2] == cin
            weights = g.param_bytes[v] - 4 * cin
            assert math.isqrt(weights // cin) in (3, 5) and g.macs[v] == shape[0] * shape[1] * weights
        elif op == "Add":
            assert len(preds) == 2 and ins == [shape, shape]
        elif op == "Concatenate":
            assert len(preds) >= 2 and {s[:2] for s in ins} == {shape[:2]}
            assert sum(s[2] for s in ins) == shape[2]
        elif op == "GlobalAveragePooling2D":
            assert shape == (ins[0][2],)
        elif op == "Dense":
            flat = int(np.prod(ins[0]))  # Dense reads its input flattened
            assert g.param_bytes[v] == flat * shape[0] + 4 * shape[0] and g.macs[v] == flat * shape[0]
        else:
            assert op in ("MaxPooling2D", "AveragePooling2D"), op
        if op not in ("Conv2D", "DepthwiseConv2D", "Dense"):
            assert g.macs[v] == 0 and g.param_bytes[v] == 0


@given(num_nodes=st.integers(4, 1500), seed=st.integers(0, 2**32), index=st.integers(0, 2**20),
       input_size=st.sampled_from([(160, 320), 299]))
@settings(max_examples=40, deadline=None)
def test_dnn_exact_size_and_consistent_shapes(num_nodes, seed, index, input_size):
    g = DnnGraphGenerator(seed=seed, num_nodes=num_nodes, input_size=input_size)(index)
    assert g.num_nodes == num_nodes
    assert g.sources.tolist() == [0] and g.op_types[0] == "Input"
    assert g.sinks.tolist() == [num_nodes - 1] and g.op_types[-1] == "Dense"
    assert g.out_shapes[-1] == (1000,)
    side = g.meta.input_shape[0]
    assert side == 299 if input_size == 299 else (side % 32 == 0 and 160 <= side <= 320)
    check_shapes(g)
    channels = [s[-1] for s in g.out_shapes[1:-1]]
    assert max(channels) <= 2048


def test_dnn_size_range_and_downsampling():
    gen = DnnGraphGenerator(seed=8, num_nodes=(60, 90), input_size=224)
    for g in (gen(i) for i in range(50)):
        assert 60 <= g.num_nodes <= 90 and g.meta.input_shape == (224, 224, 3)
        gap = g.op_types.index("GlobalAveragePooling2D")
        assert g.out_shapes[int(g.predecessors[gap][0])][:2] == (7, 7)  # total stride 32, as in ImageNet CNNs


@pytest.mark.parametrize(
    ("block", "motif"),
    [
        ("residual", lambda g: "Add" in g.op_types and "Concatenate" not in g.op_types),
        ("inception", lambda g: any(t == "Concatenate" and d > 2 for t, d in zip(g.op_types, g.in_degree))),
        ("dense", lambda g: g.op_types.count("Concatenate") > g.op_types.count("AveragePooling2D")),
        ("separable", lambda g: "DepthwiseConv2D" in g.op_types),
        ("plain", lambda g: set(g.op_types) == {"Input", "Conv2D", "MaxPooling2D", "GlobalAveragePooling2D", "Dense"}),
    ],
)
def test_dnn_block_kinds(block, motif):
    gen = DnnGraphGenerator(seed=1, num_nodes=(40, 80), blocks=(block,))
    assert all(motif(gen(i)) for i in range(10))


def test_fc_head_is_vggs_classifier_on_the_flattened_map():
    for g in (DnnGraphGenerator(seed=3, num_nodes=(20, 60), input_size=224, head="fc")(i) for i in range(5)):
        assert "GlobalAveragePooling2D" not in g.op_types and list(g.op_types[-3:]) == ["Dense"] * 3
        fc1, fc2, out = range(g.num_nodes - 3, g.num_nodes)
        last_map = g.out_shapes[int(g.predecessors[fc1][0])]
        assert last_map[:2] == (7, 7)  # 224 / 32, flattened into fc1 as in VGG16 (7 * 7 * 512 * 4096 weights)
        assert g.param_bytes[fc1] == last_map[0] * last_map[1] * last_map[2] * 4096 + 4 * 4096
        assert g.param_bytes[fc2] == 4096 * 4096 + 4 * 4096 and g.param_bytes[out] == 4096 * 1000 + 4 * 1000
        check_shapes(g)
    assert "head" not in DnnGraphGenerator(seed=3).config()  # gap graphs keep the names they had


def test_hand_computed_conv_sizes():
    b = NetBuilder()
    x = b.input(56, 56, 64)
    y = b.conv("c", x, 64, 3)
    assert (b.macs[y], b.param_bytes[y], b.shapes[y]) == (115_605_504, 36_864 + 4 * 64, (56, 56, 64))
    z = b.depthwise("d", y, 3, stride=2)
    assert (b.macs[z], b.param_bytes[z], b.shapes[z]) == (28 * 28 * 9 * 64, 9 * 64 + 4 * 64, (28, 28, 64))


def test_ten_thousand_nodes_fast():
    start = time.perf_counter()
    g = DnnGraphGenerator(seed=0, num_nodes=10_000)(0)
    elapsed = time.perf_counter() - start
    assert g.num_nodes == 10_000 and g.levels.max() > 100
    assert elapsed < 5.0, f"10k-node graph took {elapsed:.2f} s"


# ----------------------------------------------------------------------------- realism vs zoo
@pytest.fixture(scope="module")
def zoo_graphs():
    zoo = pytest.importorskip("respect_gym.zoo")
    names = [m for m in zoo.list_models() if "/" not in m]
    if not names:
        pytest.skip("model zoo data not available")
    return [zoo.load_graph(m) for m in names]


def test_matches_zoo_conv_arithmetic(zoo_graphs):
    resnet = next(g for g in zoo_graphs if g.meta.model == "resnet50")
    v = resnet.names.index("conv2_block1_2_conv")  # 3x3, 64 -> 64 at 56x56
    b = NetBuilder()
    y = b.conv("c", b.input(56, 56, 64), 64, 3)
    assert (b.macs[y], b.param_bytes[y], b.shapes[y]) == (resnet.macs[v], resnet.param_bytes[v], resnet.out_shapes[v])


def test_statistics_within_zoo_ranges(zoo_graphs):
    """Graphs the size of zoo models have zoo-like parameter, MAC and activation totals, edge
    density, branching and op vocabulary."""
    def stats(g: Graph) -> dict[str, float]:
        return {
            "param_mib": g.total_param_bytes / MIB,
            "gmacs": g.total_macs / 1e9,
            "activation_mib": g.out_bytes.sum() / MIB,
            "peak_activation_mib": g.out_bytes.max() / MIB,
            "edges_per_node": g.num_edges / g.num_nodes,
            "max_in_degree": float(g.in_degree.max()),
        }

    zoo = [stats(g) for g in zoo_graphs]
    sizes = sorted(g.num_nodes for g in zoo_graphs)
    gen = DnnGraphGenerator(seed=2024, num_nodes=(sizes[0], sizes[-1]), input_size=224)
    synthetic = [stats(gen(i)) for i in range(100)]
    for key in zoo[0]:
        lo, hi = min(z[key] for z in zoo), max(z[key] for z in zoo)
        median = float(np.median([s[key] for s in synthetic]))
        assert lo <= median <= hi, f"{key}: synthetic median {median:.3g} outside zoo range [{lo:.3g}, {hi:.3g}]"
    zoo_ops = {t for g in zoo_graphs for t in g.op_types}
    ops = {t for i in range(20) for t in gen(i).op_types}
    assert ops <= zoo_ops, ops - zoo_ops


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("call", "word"),
    [
        (lambda: make_generator("nope"), "nope"),
        (lambda: DnnGraphGenerator(num_nodes=(10, 5)), "num_nodes"),
        (lambda: DnnGraphGenerator(num_nodes=3), "num_nodes"),
        (lambda: DnnGraphGenerator(blocks=("resnet",)), "blocks"),
        (lambda: DnnGraphGenerator(input_size=(200, 220)), "input_size"),
        (lambda: DnnGraphGenerator(head="avg"), "head"),
        (lambda: RespectLayeredGenerator(num_nodes=8, levels=(10, 12)), "levels"),
        (lambda: RespectLayeredGenerator(weight_range=(3, 1)), "weight_range"),
        (lambda: RespectLayeredGenerator(seed=-1), "seed"),
        (lambda: RespectLayeredGenerator(seed=1)(-2), "index"),
    ],
)
def test_bad_configuration_is_a_clear_value_error(call, word):
    with pytest.raises(GeneratorConfigError, match=word):
        call()
    assert issubclass(GeneratorConfigError, ValueError)
