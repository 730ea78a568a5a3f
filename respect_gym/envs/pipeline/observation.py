"""The observation: a flat ``Dict`` of padded, finite-bounded ``Box`` es that SB3's
``MultiInputPolicy`` accepts, with arrays kept in place and copied once per step.

Fields (``N = max_nodes``, ``E = max_edges``, ``K = num_tpus``, ``n`` = nodes of the graph):

- ``node_features`` ``(N, NUM_NODE_FEATURES)`` float32: one row per node in graph index order,
  columns named by :data:`NODE_FEATURES` (see :func:`static_node_features`); rows ``>= n`` are 0.
- ``node_mask`` ``(N,)`` int8: 1 for the ``n`` real nodes.
- ``edge_index`` ``(2, E)`` int64: ``edge_index[:, e] = (u, v)`` for edge ``u -> v``; padding is
  ``(0, 0)``.
- ``edge_mask`` ``(E,)`` int8: 1 for real edges.
- ``stage_features`` ``(K, NUM_STAGE_FEATURES)`` float32, columns :data:`STAGE_FEATURES`: share of
  the graph's parameter bytes on the stage, the stage's running latency divided by the vendor
  compiler's bottleneck (clipped at :data:`LATENCY_CLIP`), and share of the graph's nodes on it.
- ``current_node`` ``(1,)`` int64: index of the node to schedule now.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from respect_gym.graph import Graph

NODE_FEATURES = (
    "log_macs",  # log10(1 + MACs) / 12
    "log_param_bytes",  # log10(1 + parameter bytes) / 10
    "log_out_bytes",  # log10(1 + output activation bytes) / 10
    "param_share",  # parameter bytes / graph's total parameter bytes
    "level",  # topological level / largest level
    "in_degree",  # min(in-degree, DEGREE_CAP) / DEGREE_CAP
    "out_degree",  # min(out-degree, DEGREE_CAP) / DEGREE_CAP
    "position",  # position in the visit order / n
    "is_input",  # 1 for "Input" nodes (held by the host)
    "stage",  # assigned stage / max(K - 1, 1), or -1 while unassigned
    "is_current",  # 1 for the node to schedule now
)
NUM_NODE_FEATURES = len(NODE_FEATURES)
NUM_STATIC_FEATURES = NODE_FEATURES.index("stage")
STAGE_COL = NODE_FEATURES.index("stage")
CURRENT_COL = NODE_FEATURES.index("is_current")
STAGE_FEATURES = ("param_share", "latency_vs_compiler", "node_share")
NUM_STAGE_FEATURES = len(STAGE_FEATURES)
DEGREE_CAP = 8
LATENCY_CLIP = 16.0  # a stage 16x slower than the compiler's bottleneck reads as 16


class ObservationSizeError(ValueError):
    """A graph does not fit the observation's padding (``max_nodes`` / ``max_edges``)."""


def observation_space(max_nodes: int, max_edges: int, num_stages: int) -> spaces.Dict:
    """The env's observation space; every bound is finite."""
    return spaces.Dict(
        {
            "node_features": spaces.Box(-1.0, 1.0, (max_nodes, NUM_NODE_FEATURES), np.float32),
            "node_mask": spaces.Box(0, 1, (max_nodes,), np.int8),
            "edge_index": spaces.Box(0, max_nodes - 1, (2, max_edges), np.int64),
            "edge_mask": spaces.Box(0, 1, (max_edges,), np.int8),
            "stage_features": spaces.Box(0.0, LATENCY_CLIP, (num_stages, NUM_STAGE_FEATURES), np.float32),
            "current_node": spaces.Box(0, max_nodes - 1, (1,), np.int64),
        }
    )


def static_node_features(graph: Graph) -> np.ndarray:
    """``(n, NUM_STATIC_FEATURES)`` float32 features in ``[0, 1]``, fixed for the graph.

    Sizes are log-scaled against fixed decades (not per graph) so the same layer reads the same in
    every graph; ``param_share`` adds the per-graph view that balancing parameters needs.
    """
    n = graph.num_nodes
    out = np.zeros((n, NUM_STATIC_FEATURES), dtype=np.float64)
    out[:, 0] = np.log10(1.0 + graph.macs) / 12.0
    out[:, 1] = np.log10(1.0 + graph.param_bytes) / 10.0
    out[:, 2] = np.log10(1.0 + graph.out_bytes) / 10.0
    out[:, 3] = graph.param_bytes / max(graph.total_param_bytes, 1)
    out[:, 4] = graph.levels / max(int(graph.levels.max()), 1)
    out[:, 5] = np.minimum(graph.in_degree, DEGREE_CAP) / DEGREE_CAP
    out[:, 6] = np.minimum(graph.out_degree, DEGREE_CAP) / DEGREE_CAP
    out[graph.topological_order, 7] = np.arange(n) / n
    out[:, 8] = graph.is_input
    return np.clip(out, 0.0, 1.0).astype(np.float32)


class ObservationBuffer:
    """The live observation arrays of one env, written in place at reset and at every step."""

    def __init__(self, max_nodes: int, max_edges: int, num_stages: int) -> None:
        self.max_nodes = max_nodes
        self.max_edges = max_edges
        self.num_stages = num_stages
        self.stage_scale = np.float32(1.0 / max(num_stages - 1, 1))
        self.arrays = {
            name: np.zeros(space.shape, dtype=space.dtype)
            for name, space in observation_space(max_nodes, max_edges, num_stages).spaces.items()
        }
        self._features = self.arrays["node_features"]
        self._stage_features = self.arrays["stage_features"]
        self._current = self.arrays["current_node"]
        self._inv_params = 1.0
        self._inv_nodes = 1.0
        self._inv_reference = 1.0

    def check_fits(self, graph: Graph) -> None:
        """Refuse a graph larger than the padding, naming the argument to raise."""
        if graph.num_nodes > self.max_nodes:
            raise ObservationSizeError(
                f"graph {graph.meta.model!r} has {graph.num_nodes} nodes but max_nodes={self.max_nodes}; "
                f"pass max_nodes>={graph.num_nodes} to the env"
            )
        if graph.num_edges > self.max_edges:
            raise ObservationSizeError(
                f"graph {graph.meta.model!r} has {graph.num_edges} edges but max_edges={self.max_edges}; "
                f"pass max_edges>={graph.num_edges} to the env"
            )

    def load(self, graph: Graph, node_features: np.ndarray, compiler_bottleneck_ms: float,
             total_param_bytes: int) -> None:
        """Write a new graph's static fields and clear the dynamic ones (``total_param_bytes``:
        the cost model's, which stage shares are taken of)."""
        self.check_fits(graph)
        n, e = graph.num_nodes, graph.num_edges
        a = self.arrays
        for array in a.values():
            array.fill(0)
        self._features[:n, :NUM_STATIC_FEATURES] = node_features
        self._features[:n, STAGE_COL] = -1.0
        a["node_mask"][:n] = 1
        a["edge_index"][:, :e] = graph.edges.T
        a["edge_mask"][:e] = 1
        self._inv_params = 1.0 / max(total_param_bytes, 1)
        self._inv_nodes = 1.0 / n
        self._inv_reference = 1.0 / compiler_bottleneck_ms if compiler_bottleneck_ms > 0 else 0.0

    def set_current(self, node: int) -> None:
        previous = int(self._current[0])
        self._features[previous, CURRENT_COL] = 0.0
        self._features[node, CURRENT_COL] = 1.0
        self._current[0] = node

    def assign(self, node: int, stage: int, stage_ms: np.ndarray, stage_params: np.ndarray,
               stage_nodes: np.ndarray) -> None:
        """Record ``node -> stage`` and refresh the per-stage totals (O(K))."""
        self._features[node, STAGE_COL] = stage * self.stage_scale
        sf = self._stage_features
        np.multiply(stage_params, self._inv_params, out=sf[:, 0], casting="unsafe")
        np.multiply(stage_ms, self._inv_reference, out=sf[:, 1], casting="unsafe")
        np.minimum(sf[:, 1], LATENCY_CLIP, out=sf[:, 1])
        np.multiply(stage_nodes, self._inv_nodes, out=sf[:, 2], casting="unsafe")

    def snapshot(self) -> dict[str, np.ndarray]:
        """The one copy per step handed to the agent, so later steps never alter it."""
        return {name: array.copy() for name, array in self.arrays.items()}
