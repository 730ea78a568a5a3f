"""The Graph model: validation errors, JSON and networkx round trips, hashing, structure helpers
checked against networkx."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from respect_gym.graph import SCHEMA_VERSION, Graph, GraphError, GraphMeta

TINY_META = GraphMeta(model="tiny", input_shape=(2, 2, 3), granularity="layers", source="hand-built")


def tiny() -> Graph:
    """in -> conv -> fc, sizes small enough to check by hand."""
    return Graph(["in", "conv", "fc"], ["Input", "Conv2D", "Dense"], [0, 1000, 20], [0, 300, 24], [12, 8, 2],
                 [(0, 1), (1, 2)], [(2, 2, 3), (2, 2, 2), (2,)], TINY_META)


def chain(n: int, edges: list[tuple[int, int]], **sizes) -> Graph:
    zeros = [0] * n
    return Graph([f"n{i}" for i in range(n)], ["Op"] * n, sizes.get("macs", zeros),
                 sizes.get("param_bytes", zeros), sizes.get("out_bytes", zeros), edges)


def random_dag(seed: int, n: int = 40, p: float = 0.1) -> Graph:
    """Edges only from a lower to a higher position of a random permutation: acyclic by construction."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    edges = [(int(perm[i]), int(perm[j])) for i in range(n) for j in range(i + 1, n) if rng.random() < p]
    return chain(n, edges, macs=rng.integers(0, 100, n).tolist())


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    ("edges", "sizes", "message"),
    [
        ([(0, 1), (1, 2), (2, 0)], {}, r"cycle: .*'n0'.*'n1'.*'n2'"),
        ([(0, 3)], {}, r"edge 0 -> 3 has an endpoint outside 0\.\.2"),
        ([(-1, 0)], {}, r"outside"),
        ([(1, 1)], {}, r"self loop on node 'n1'"),
        ([(0, 1), (0, 1)], {}, r"edge 0 -> 1 \('n0' -> 'n1'\) appears more than once"),
        ([], {"param_bytes": [0, -5, 0]}, r"node 1 \('n1'\): param_bytes = -5.0 must be finite and >= 0"),
        ([], {"macs": [0, 0, float("nan")]}, r"node 2 \('n2'\): macs = nan"),
        ([], {"out_bytes": [0, 1.5, 0]}, r"whole number"),
        ([], {"macs": [1, 2]}, r"macs has shape \(2,\), expected \(3,\)"),
        ([(0.5, 1)], {}, r"integer"),
    ],
)
def test_malformed_graphs_raise_errors_naming_the_problem(edges, sizes, message) -> None:
    with pytest.raises(GraphError, match=message):
        chain(3, edges, **sizes)


def test_other_construction_errors() -> None:
    with pytest.raises(GraphError, match="at least one node"):
        Graph([], [], [], [], [], [])
    with pytest.raises(GraphError, match="node name 'a' is used by more than one node"):
        Graph(["a", "a"], ["Op", "Op"], [0, 0], [0, 0], [0, 0], [])
    with pytest.raises(GraphError, match="negative dimension"):
        Graph(["a"], ["Op"], [0], [0], [0], [], out_shapes=[(2, -1)])
    assert issubclass(GraphError, ValueError)


def test_graph_is_immutable() -> None:
    graph = tiny()
    with pytest.raises(AttributeError):
        graph.names = ("x",)
    with pytest.raises(ValueError):
        graph.macs[0] = 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"schema": "respect-gym/graph", ', "invalid JSON"),
        ("[1, 2]", "must hold a JSON object, got list"),
        ('{"schema": "other"}', "not a respect-gym graph"),
        ('{"schema": "respect-gym/graph", "version": 99}', "unsupported graph schema version 99"),
        ('{"schema": "respect-gym/graph", "version": 1, "nodes": {"name": []}, "edges": []}', "missing attribute"),
    ],
)
def test_bad_json_text(text: str, message: str) -> None:
    with pytest.raises(GraphError, match=message):
        Graph.from_json(text)


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(GraphError, match=r"bad\.json: invalid JSON"):
        Graph.from_json(bad)
    gz = tmp_path / "bad.json.gz"
    gz.write_bytes(b"not gzip at all")
    with pytest.raises(GraphError, match=r"bad\.json\.gz: not a valid gzip file"):
        Graph.from_json(gz)
    with pytest.raises(FileNotFoundError, match="no such file"):
        Graph.from_json(tmp_path / "missing.json")
    cyclic = tiny().to_dict()
    cyclic["edges"].append([2, 0])
    path = tmp_path / "cyclic.json"
    path.write_text(json.dumps(cyclic))
    with pytest.raises(GraphError, match=r"cyclic\.json: graph has a cycle"):
        Graph.from_json(path)


# ------------------------------------------------------------ JSON and hashing
@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
def test_json_round_trip(tmp_path: Path, suffix: str) -> None:
    graph = tiny()
    path = tmp_path / f"g{suffix}"
    graph.to_json(path)
    if suffix.endswith(".gz"):
        assert json.loads(gzip.decompress(path.read_bytes()))["version"] == SCHEMA_VERSION
    back = Graph.from_json(path)
    assert back.to_dict() == graph.to_dict()
    assert back.meta == graph.meta and back.out_shapes == graph.out_shapes
    assert back.sha256() == graph.sha256()
    assert Graph.from_json(graph.to_json()).to_dict() == graph.to_dict()


def test_hash_is_sha256_of_the_canonical_content_without_source() -> None:
    by_hand = {
        "schema": "respect-gym/graph", "version": 1, "model": "tiny", "granularity": "layers",
        "input_shape": [2, 2, 3],
        "nodes": {"name": ["in", "conv", "fc"], "op_type": ["Input", "Conv2D", "Dense"], "macs": [0, 1000, 20],
                  "param_bytes": [0, 300, 24], "out_bytes": [12, 8, 2], "out_shape": [[2, 2, 3], [2, 2, 2], [2]]},
        "edges": [[0, 1], [1, 2]],
    }
    canonical = json.dumps(by_hand, sort_keys=True, separators=(",", ":")).encode()
    assert tiny().sha256() == hashlib.sha256(canonical).hexdigest()
    # pinned: a change here invalidates every hash recorded by leaderboards
    assert tiny().sha256() == "164215cabd7af11f3ba1841e532d12fed289b21d548fe27121dca19b07344b25"


def test_hash_ignores_source_but_not_content() -> None:
    graph = tiny()
    data = graph.to_dict()
    data["source"] = "somewhere else"
    assert Graph.from_dict(data).sha256() == graph.sha256()
    data["nodes"]["macs"][1] += 1
    assert Graph.from_dict(data).sha256() != graph.sha256()


def test_edge_order_does_not_change_the_graph() -> None:
    a = chain(4, [(0, 1), (2, 3), (1, 2)])
    b = chain(4, [(1, 2), (0, 1), (2, 3)])
    assert a.edges.tolist() == b.edges.tolist() and a.sha256() == b.sha256()


# ------------------------------------------------------------------ networkx
@pytest.mark.parametrize("seed", range(3))
def test_networkx_round_trip(seed: int) -> None:
    graph = random_dag(seed)
    g = graph.to_networkx()
    assert nx.is_directed_acyclic_graph(g) and g.number_of_edges() == graph.num_edges
    assert Graph.from_networkx(g).sha256() == graph.sha256()


@pytest.mark.parametrize("seed", range(5))
def test_structure_helpers_agree_with_networkx(seed: int) -> None:
    graph = random_dag(seed)
    g = graph.to_networkx()
    assert graph.topological_order.tolist() == list(nx.lexicographical_topological_sort(g))
    for v in range(graph.num_nodes):
        ancestors = nx.ancestors(g, v)
        assert graph.num_ancestors[v] == len(ancestors)
        assert graph.num_descendants[v] == len(nx.descendants(g, v))
        assert graph.levels[v] == nx.dag_longest_path_length(g.subgraph(ancestors | {v}))
        assert graph.predecessors[v].tolist() == sorted(g.predecessors(v))
        assert graph.successors[v].tolist() == sorted(g.successors(v))
    assert graph.in_degree.tolist() == [g.in_degree(v) for v in range(graph.num_nodes)]
    assert graph.sources.tolist() == [v for v in g if g.in_degree(v) == 0]
    assert graph.sinks.tolist() == [v for v in g if g.out_degree(v) == 0]


def test_totals_and_input_mask() -> None:
    graph = tiny()
    assert (graph.total_macs, graph.total_param_bytes) == (1020, 324)
    assert graph.is_input.tolist() == [True, False, False]
    assert len(graph) == graph.num_nodes == 3 and graph.num_edges == 2
