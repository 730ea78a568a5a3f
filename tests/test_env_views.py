"""Rendering and the alternative observation views (mask in observation, spaces.Graph, PyG)."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

from respect_gym.envs import ActionMaskObservation, GraphObservation, RespectPipelineEnv, to_pyg_data
from respect_gym.zoo import load_graph

SMALL = {"model": "resnet50", "num_tpus": 3, "max_nodes": 96, "max_edges": 128}


def finish(env, stage_of):
    """Play to the end giving node v the stage ``stage_of(v)``; return the final info."""
    terminated = False
    while not terminated:
        _, _, terminated, _, info = env.step(stage_of(env.state.current_node))
    return info


def test_ansi_table_matches_the_report():
    env = RespectPipelineEnv(**SMALL, render_mode="ansi")
    env.reset(seed=0)
    graph = env.state.instance.graph
    first = env.render()
    assert f"0/{graph.num_nodes} nodes" in first and repr(graph.names[graph.topological_order[0]]) in first
    order = graph.topological_order.tolist()
    info = finish(env, lambda v: 0 if order.index(v) < 30 else 2)
    text = env.render()
    rows = [line for line in text.splitlines() if re.match(r"\s+\d+\s+\d+\s", line)]
    assert len(rows) == 3
    report = info["report"]
    counts = np.bincount(info["schedule"], minlength=3)
    for k, row in enumerate(rows):
        fields = row.split()
        assert int(fields[0]) == k and int(fields[1]) == counts[k]
        assert float(fields[2]) == pytest.approx(report["stage_param_bytes"][k] / 2**20, abs=0.006)
        assert float(fields[3].rstrip("*")) == pytest.approx(report["stage_ms"][k], abs=6e-4)
    slowest = int(np.argmax(report["stage_ms"]))
    assert rows[slowest].split()[3].endswith("*")
    assert f"bottleneck {report['bottleneck_ms']:.3f} ms" in text


def test_rgb_array_is_an_image_and_close_is_idempotent():
    env = RespectPipelineEnv(**SMALL, render_mode="rgb_array")
    env.reset(seed=0)
    finish(env, lambda v: 1)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert frame.shape[0] > 100 and frame.shape[1] > 100
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 10  # bars, axes and text, not a blank canvas
    env.close()
    env.close()


def test_rgb_array_without_matplotlib_names_the_viz_extra(monkeypatch):
    env = RespectPipelineEnv(**SMALL, render_mode="rgb_array")
    env.reset(seed=0)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"respect-gym\[viz\]"):
        env.render()


def test_action_mask_observation_holds_the_live_mask():
    env = ActionMaskObservation(RespectPipelineEnv(**SMALL))
    obs, info = env.reset(seed=0)
    for action in (2, 0, 1):
        assert env.observation_space.contains(obs)
        assert np.array_equal(obs["action_mask"], info["action_mask"])
        obs, _, _, _, info = env.step(action)
    assert obs["action_mask"].tolist() == [0, 0, 1]


def test_graph_observation_is_the_unpadded_graph():
    graph = load_graph("resnet50", "fused")
    env = GraphObservation(RespectPipelineEnv(**SMALL))
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    g = obs["graph"]
    assert g.nodes.shape == (graph.num_nodes, 11)
    assert np.array_equal(g.edge_links, graph.edges)
    expected = np.log10(1.0 + graph.out_bytes[graph.edges[:, 0]]) / 10
    assert np.allclose(g.edges[:, 0], expected, atol=1e-6)
    assert env.action_masks().all()


def test_to_pyg_data_matches_the_observation():
    pytest.importorskip("torch_geometric")
    env = RespectPipelineEnv(**SMALL)
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(1)
    data = to_pyg_data(obs)
    n, e = int(obs["node_mask"].sum()), int(obs["edge_mask"].sum())
    assert data.num_nodes == n and data.edge_index.shape == (2, e)
    assert np.array_equal(data.x.numpy(), obs["node_features"][:n])
    assert np.array_equal(data.edge_index.numpy(), obs["edge_index"][:, :e])
    assert int(data.current_node[0]) == int(obs["current_node"][0])


def test_to_pyg_data_without_torch_geometric_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_geometric", None)
    monkeypatch.setitem(sys.modules, "torch_geometric.data", None)
    env = RespectPipelineEnv(**SMALL)
    obs, _ = env.reset(seed=0)
    with pytest.raises(ImportError, match="pip install torch_geometric"):
        to_pyg_data(obs)
