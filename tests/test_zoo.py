"""The shipped model zoo against independent figures: the RESPECT authors' graphs, published model
sizes, hand-worked layer arithmetic, and the reachability a correct fusion must preserve."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

import respect_gym
from respect_gym.graph import Graph, GraphMeta
from respect_gym.zoo import PAPER_DIR, UnknownModelError, fuse, list_models, load_graph

# zoo name -> the authors' file, for architectures identical in Keras 3 and the authors' Keras
IDENTICAL = {
    "resnet50": "resnet50", "resnet101": "resnet101", "resnet152": "resnet152",
    "resnet50v2": "resnet50v2", "resnet101v2": "resnet101v2", "resnet152v2": "resnet152v2",
    "densenet121": "densenet121", "densenet169": "densenet169", "densenet201": "densenet201",
    "inception_v3": "inception_v3", "inception_resnet_v2": "inception_resnet_v2",
    "xception": "xception", "mobilenet_v2": "mobilenetv2_1.00_224",
}
ISSUE_MODELS = [
    "resnet50", "resnet101", "resnet152", "resnet50v2", "resnet101v2", "resnet152v2", "densenet121",
    "densenet169", "densenet201", "inception_v3", "inception_resnet_v2", "xception", "mobilenet",
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "vgg16", "vgg19",
    "nasnet_mobile", "resnet50_299",
]
OWN_BIAS = {"Conv2D", "DepthwiseConv2D", "Dense"}


def authors(stem: str) -> dict:
    return json.loads((PAPER_DIR / f"{stem}.json").read_text())


def weight_candidates(graph: Graph, v: int) -> set[int]:
    """Possible Keras weight counts of layer ``v``, inverting the documented byte rule.

    Kernels are 1 byte per weight, vectors 4 bytes; conv-like layers always carry an int32 bias of
    ``4*C`` bytes, which is a Keras weight only if the layer had ``use_bias`` (unknown here).
    """
    b, kind, c = int(graph.param_bytes[v]), graph.op_types[v], (graph.out_shapes[v] or (0,))[-1]
    if kind == "BatchNormalization":
        return {b // 4}
    if kind in OWN_BIAS:
        return {b - 3 * c, b - 4 * c}
    if kind == "SeparableConv2D":
        cin = graph.out_shapes[int(graph.predecessors[v][0])][-1]
        return {b - 4 * cin - 3 * c, b - 4 * cin - 4 * c}
    return {b}


def our_level(node: dict) -> int:
    """The authors' level of a node, as our topological level.

    Their levels count from 1, and their graphs hold one extra parameter-free node between the
    input and the first layer (their level 2), so their level ``l >= 2`` is our level ``l - 2``.
    """
    return max(node["level"] - 2, 0)


def match_weights(graph: Graph, nodes: list[dict]) -> dict[int, int]:
    """Maximum matching of our layers to the authors' layers on the same topological level with
    the same weight count; returns our node -> matched weight count."""
    ours: dict[int, list[int]] = defaultdict(list)
    theirs: dict[int, list[dict]] = defaultdict(list)
    for v in range(graph.num_nodes):
        ours[int(graph.levels[v])].append(v)
    for node in nodes:
        theirs[our_level(node)].append(node)
    matched: dict[int, int] = {}
    for level, group in ours.items():
        bip = nx.Graph()
        bip.add_nodes_from(("o", v) for v in group)
        counts = {node["id"]: round(node["param_bytes_fp32"] / 4) for node in theirs[level]}
        for a, count in counts.items():
            bip.add_edges_from((("o", v), ("a", a)) for v in group if count in weight_candidates(graph, v))
        pairs = nx.bipartite.maximum_matching(bip, top_nodes=[("o", v) for v in group])
        matched.update({v: counts[a] for (side, v), (_, a) in pairs.items() if side == "o"})
    return matched


def test_list_models_has_the_issue_models_and_the_authors_graphs() -> None:
    names = list_models()
    assert set(ISSUE_MODELS) <= set(names)
    paper = sorted(p.stem for p in Path(PAPER_DIR).glob("*.json"))
    assert len(paper) == 16 and [n for n in names if n.startswith("respect/")] == [f"respect/{p}" for p in paper]
    assert respect_gym.list_models() == names


@pytest.mark.parametrize("model", sorted(IDENTICAL))
def test_node_and_edge_counts_equal_the_authors_graphs(model: str) -> None:
    graph = load_graph(model, granularity="layers")
    ref = authors(IDENTICAL[model])
    assert (graph.num_nodes, graph.num_edges) == (len(ref["nodes"]), len(ref["edges"]))


HEADS = {"mobilenet": {"dropout", "conv_preds", "reshape_2", "predictions"},
         "vgg16": {"fc1", "fc2", "predictions"}, "vgg19": {"fc1", "fc2", "predictions"}}
PAPER_STEMS = {**IDENTICAL, "mobilenet": "mobilenet_1.00_224", "vgg16": "vgg16", "vgg19": "vgg19"}


@pytest.mark.parametrize("model", sorted(PAPER_STEMS))
def test_layers_match_the_authors_graph_level_by_level(model: str) -> None:
    """Every layer but the classifier head has an authors' layer on the same level with the same
    weight count; the authors' graphs have no classifier and one extra node after the input."""
    graph = load_graph(model, granularity="layers")
    ref = authors(PAPER_STEMS[model])
    matched = match_weights(graph, ref["nodes"])
    assert len(matched) == len(ref["nodes"]) - 1  # all but their extra node
    unmatched = {graph.names[v] for v in range(graph.num_nodes) if v not in matched}
    assert unmatched == HEADS.get(model, {"predictions"})
    assert {graph.op_types[v] for v in range(graph.num_nodes) if v not in matched} & {"Dense", "Conv2D"}


# Keras' documented parameter counts (include_top=True, 1000 classes) and the usual GMAC figures.
PUBLISHED = {
    "resnet50": (25_636_712, 3.9e9),
    "mobilenet_v2": (3_538_984, 0.30e9),
    "densenet121": (8_062_504, 2.9e9),
    "inception_v3": (23_851_784, 5.7e9),
    "vgg16": (138_357_544, 15.5e9),
}


@pytest.mark.parametrize("model", sorted(PUBLISHED))
def test_totals_match_published_figures(model: str) -> None:
    params, macs = PUBLISHED[model]
    graph = load_graph(model, granularity="layers")
    low = sum(min(weight_candidates(graph, v)) for v in range(graph.num_nodes))
    high = sum(max(weight_candidates(graph, v)) for v in range(graph.num_nodes))
    assert low <= params <= high and high - low < 0.01 * params
    assert graph.total_macs == pytest.approx(macs, rel=0.04)


def test_layer_arithmetic_by_hand() -> None:
    graph = load_graph("resnet50", granularity="layers")
    node = {name: i for i, name in enumerate(graph.names)}
    conv1 = node["conv1_conv"]  # 7x7 conv, 3 -> 64 channels, stride 2 on 230x230 padded input
    assert graph.out_shapes[conv1] == (112, 112, 64)
    assert graph.macs[conv1] == 7 * 7 * 3 * 64 * 112 * 112
    assert graph.param_bytes[conv1] == 7 * 7 * 3 * 64 + 4 * 64
    assert graph.param_bytes[node["conv1_bn"]] == 4 * 4 * 64  # gamma, beta, mean, variance as 32-bit
    fc = node["predictions"]
    assert graph.macs[fc] == 2048 * 1000 and graph.param_bytes[fc] == 2048 * 1000 + 4 * 1000
    assert graph.out_bytes[node["input_layer"]] == 224 * 224 * 3
    big = load_graph("resnet50_299", granularity="layers")
    assert big.meta.input_shape == (299, 299, 3) and big.macs[conv1] == 7 * 7 * 3 * 64 * 150 * 150


def test_fused_resnet50_has_the_ops_tflite_keeps() -> None:
    layers = load_graph("resnet50", granularity="layers")
    fused = load_graph("resnet50")
    kinds = Counter(layers.op_types)
    # input, the pad before the max pool, every conv, the pool, every add, the global pool, the dense
    expected = 1 + 1 + kinds["Conv2D"] + 1 + kinds["Add"] + 1 + kinds["Dense"]
    assert fused.num_nodes == expected == 74
    assert fused.meta.granularity == "fused" and "BatchNormalization" not in fused.op_types
    # every BN folds into its conv; what remains are conv/dense kernels and their int32 biases
    conv_bytes = sum(int(b) for t, b in zip(layers.op_types, layers.param_bytes) if t in OWN_BIAS)
    assert fused.total_param_bytes == conv_bytes


@pytest.mark.parametrize("model", ISSUE_MODELS)
def test_every_model_loads_in_both_granularities(model: str) -> None:
    layers = load_graph(model, granularity="layers")
    fused = load_graph(model)
    assert layers.meta.model == fused.meta.model == model
    assert (layers.meta.granularity, fused.meta.granularity) == ("layers", "fused")
    assert layers.meta.input_shape == layers.out_shapes[0] and layers.meta.input_shape[-1] == 3
    assert "keras.applications" in layers.meta.source
    assert fused.num_nodes < layers.num_nodes and set(fused.names) <= set(layers.names)
    assert fused.total_macs == layers.total_macs > 0
    assert fused.op_types.count("Input") == layers.op_types.count("Input") == 1 and len(fused.sources) == 1
    assert layers.out_bytes.tolist() == [int(np.prod(s)) for s in layers.out_shapes]


def _reachability(graph: Graph, keep: list[int]) -> set[tuple[str, str]]:
    g = graph.to_networkx()
    return {(graph.names[u], graph.names[v]) for u in keep for v in nx.descendants(g, u) if v in set(keep)}


@pytest.mark.parametrize("model", ["resnet50", "inception_resnet_v2", "nasnet_mobile", "mobilenet_v3_small", "densenet121"])
def test_fuse_preserves_macs_and_reachability(model: str) -> None:
    layers = load_graph(model, granularity="layers")
    fused = load_graph(model)
    assert fused.total_macs == layers.total_macs
    assert fused.total_param_bytes <= layers.total_param_bytes
    index = {name: i for i, name in enumerate(layers.names)}
    kept = [index[name] for name in fused.names]
    assert _reachability(fused, list(range(fused.num_nodes))) == _reachability(layers, kept)


def test_fuse_rules_on_a_hand_built_graph() -> None:
    #  in -> pad -> conv -> bn -> relu -> add -> relu2 ; relu -> pool -> add ; add -> drop
    names = ["in", "pad", "conv", "bn", "relu", "pool", "add", "relu2", "drop"]
    types = ["Input", "ZeroPadding2D", "Conv2D", "BatchNormalization", "ReLU", "MaxPooling2D", "Add",
             "Activation(relu)", "Dropout"]
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (4, 6), (5, 6), (6, 7), (7, 8)]
    shapes = [(8, 8, 3), (10, 10, 3), (8, 8, 4), (8, 8, 4), (8, 8, 4), (8, 8, 4), (8, 8, 4), (8, 8, 4), (8, 8, 4)]
    graph = Graph(names, types, [0, 0, 100, 0, 0, 0, 0, 0, 0], [0, 0, 124, 64, 0, 0, 0, 0, 0],
                  [int(np.prod(s)) for s in shapes], edges, shapes, GraphMeta(model="toy"))
    fused = fuse(graph)
    assert fused.names == ("in", "conv", "pool", "add")
    assert fused.edges.tolist() == [[0, 1], [1, 2], [1, 3], [2, 3]]
    assert fused.macs.tolist() == [0, 100, 0, 0] and fused.param_bytes.tolist() == [0, 124, 0, 0]


def test_unknown_names_and_granularities_are_clear_errors() -> None:
    with pytest.raises(UnknownModelError, match="resnet50") as info:
        load_graph("resnet51")
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    with pytest.raises(ValueError, match="granularity"):
        load_graph("resnet50", granularity="ops")


def test_keras_and_other_spellings_resolve() -> None:
    assert load_graph("ResNet50") is load_graph("resnet50")
    assert load_graph("MobileNetV2").meta.model == "mobilenet_v2"
    assert load_graph("mobilenetv2_1.00_224").meta.model == "mobilenet_v2"
    assert load_graph("InceptionResNetV2_299") is load_graph("inception_resnet_v2")
    assert load_graph("respect/MobileNet").meta.model == "respect/mobilenet_1.00_224"


def test_authors_graphs_load_with_their_sizes_and_no_compute_data() -> None:
    ref = authors("resnet50")
    graph = load_graph("respect/resnet50")
    assert graph.meta.granularity == "layers" and "RESPECT" in graph.meta.source
    fp32 = {n["id"]: n["param_bytes_fp32"] for n in ref["nodes"]}
    assert graph.param_bytes.tolist() == [fp32[i] / 4 for i in range(graph.num_nodes)]
    assert not graph.macs.any() and not graph.out_bytes.any()
    assert Counter(graph.op_types) == {"Input": 1, "Layer": 176}
    assert graph.op_types[int(graph.sources[0])] == "Input"


def test_load_from_path_and_hashes_are_deterministic(tmp_path: Path) -> None:
    layers = load_graph("mobilenet_v2", granularity="layers")
    path = tmp_path / "g.json.gz"
    layers.to_json(path)
    assert load_graph(path, granularity="layers").sha256() == layers.sha256()
    assert load_graph(str(path)).sha256() == fuse(layers).sha256() == load_graph("mobilenet_v2").sha256()
    layers.to_json(tmp_path / "h.json.gz")
    assert path.read_bytes() == (tmp_path / "h.json.gz").read_bytes()  # gzip without timestamps


def test_files_at_other_granularities_load_as_stored(tmp_path: Path) -> None:
    fused = load_graph("mobilenet")
    synthetic = Graph.from_dict({**fused.to_dict(), "granularity": "synthetic"})
    for graph in (fused, synthetic):
        path = tmp_path / f"{graph.meta.granularity}.json"
        graph.to_json(path)
        for granularity in ("fused", "layers"):
            assert load_graph(path, granularity).sha256() == graph.sha256()


def test_shipped_files_are_compact() -> None:
    data = Path(respect_gym.zoo.DATA_DIR)
    assert sum(p.stat().st_size for p in data.glob("*.json.gz")) < 2 * 2**20


def test_models_command_lists_every_model_with_its_sizes() -> None:
    import argparse
    import io

    from rich.console import Console

    from respect_gym.cli import models

    parser = argparse.ArgumentParser()
    models.register(parser.add_subparsers())
    args = parser.parse_args(["models", "--no-paper"])
    assert args.func is models.run and args.no_paper
    console = Console(file=io.StringIO(), width=200)
    console.print(models.models_table(include_paper=True))
    cells = [line.split() for line in console.file.getvalue().splitlines()]  # columns apart by spaces
    rows = {c[0]: c[1:] for c in cells if len(c) == 7 and c[0] in set(list_models())}
    assert set(rows) == set(list_models())
    assert rows["resnet50"] == ["224x224x3", "74", "177", "192", "25.61", "3.86"]
    assert rows["respect/resnet50"][1:3] == ["-", "177"] and rows["respect/resnet50"][-1] == "-"
