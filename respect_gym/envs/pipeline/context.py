"""Step context: what an agent needs to decide the current node's stage, in a few fixed-size arrays.

The default observation pads the whole graph, which an MLP cannot exploit (it sees 1024 x 11
mostly-zero numbers and learns to keep every node on stage 0). The context keeps only what the
decision depends on, normalised so the same numbers mean the same thing on any graph and K:

- ``nodes`` ``(1 + lookahead, NUM_NODE_CONTEXT)``: the current node and the next ``lookahead`` nodes
  of the visit order, columns :data:`NODE_CONTEXT` (zero rows past the end, ``exists`` = 0).
- ``stages`` ``(K, NUM_STAGE_CONTEXT)``: per stage, columns :data:`STAGE_CONTEXT`.
- ``globals`` ``(NUM_GLOBAL_CONTEXT,)``: columns :data:`GLOBAL_CONTEXT`.

Latencies are divided by the combinatorial lower bound of the graph on K stages (what a perfect
balance would reach) and by the compiler split's bottleneck; parameter bytes by the Edge TPU
cache. Every value is clipped to ``[-1, CONTEXT_CLIP]``.
"""

from __future__ import annotations

import numpy as np

from respect_gym.envs.pipeline.observation import NUM_STATIC_FEATURES
from respect_gym.envs.pipeline.types import EpisodeState, GraphInstance
from respect_gym.solvers.bounds import combinatorial_lower_bound_ms

NODE_CONTEXT = (
    "static features (9 columns of observation.NODE_FEATURES before 'stage')",
    "compute_vs_bound",  # the node's compute ms / lower bound
    "param_vs_cache",  # the node's parameter bytes / cache bytes
    "exists",  # 1 for a real node, 0 past the end of the visit order
)
NUM_NODE_CONTEXT = NUM_STATIC_FEATURES + 3
STAGE_CONTEXT = (
    "latency_vs_bound",  # running stage ms / lower bound
    "latency_vs_compiler",  # running stage ms / compiler split's bottleneck
    "param_vs_cache",  # parameter bytes on the stage / cache bytes
    "node_share",  # nodes on the stage / n
    "legal",  # 1 if the current node may go there
    "frontier",  # 1 for the smallest legal stage (stay = keep filling it)
    "offset",  # (k - smallest legal stage) / max(K - 1, 1)
)
NUM_STAGE_CONTEXT = len(STAGE_CONTEXT)
GLOBAL_CONTEXT = (
    "placed_share",  # nodes placed / n
    "remaining_compute_vs_bound",  # compute ms of the current and later nodes / lower bound
    "remaining_param_vs_cache",  # their parameter bytes / cache bytes
    "bound_vs_compiler",  # lower bound / compiler split's bottleneck
    "stages_left",  # (K - 1 - smallest legal stage) / max(K - 1, 1)
    "num_stages",  # K / 8
)
NUM_GLOBAL_CONTEXT = len(GLOBAL_CONTEXT)
CONTEXT_CLIP = 16.0


class StepContext:
    """Computes the context of an env's live state; per-graph tables are built once per graph.

    :param num_stages: K of the env.
    :param lookahead: how many upcoming nodes of the visit order to include.
    """

    def __init__(self, num_stages: int, lookahead: int = 4) -> None:
        self.num_stages = int(num_stages)
        self.lookahead = int(lookahead)
        self._instance: GraphInstance | None = None
        self._table = np.zeros((0, NUM_NODE_CONTEXT), dtype=np.float32)
        self._suffix = np.zeros((1, 2))
        self._bound_ms = 1.0
        self._compiler_ms = 1.0
        self._cache = 1.0

    def load(self, instance: GraphInstance) -> None:
        """Build the per-graph tables (O(n + e)); a no-op for the graph already loaded."""
        if instance is self._instance:
            return
        cm = instance.cost_model
        self._instance = instance
        self._bound_ms = combinatorial_lower_bound_ms(cm, self.num_stages) or 1.0
        self._compiler_ms = instance.compiler_report.bottleneck_ms or 1.0
        self._cache = float(cm.hardware.cache_bytes)
        self._table = self._node_table(instance)
        order = instance.order
        per_node = np.stack([np.asarray(cm.compute_ms)[order], np.asarray(cm.param_bytes, dtype=np.float64)[order]], 1)
        self._suffix = np.vstack([np.cumsum(per_node[::-1], axis=0)[::-1], np.zeros((1, 2))])

    def nodes_of(self, instance: GraphInstance) -> np.ndarray:
        """``(n, NUM_NODE_CONTEXT)`` per-node context in graph index order (static for the graph)."""
        self.load(instance)
        return self._table

    def _node_table(self, instance: GraphInstance) -> np.ndarray:
        cm = instance.cost_model
        n = instance.graph.num_nodes
        table = np.zeros((n, NUM_NODE_CONTEXT), dtype=np.float64)
        table[:, :NUM_STATIC_FEATURES] = instance.node_features
        table[:, NUM_STATIC_FEATURES] = np.asarray(cm.compute_ms) / self._bound_ms
        table[:, NUM_STATIC_FEATURES + 1] = np.asarray(cm.param_bytes) / self._cache
        table[:, NUM_STATIC_FEATURES + 2] = 1.0
        return np.clip(table, -1.0, CONTEXT_CLIP).astype(np.float32)

    def __call__(self, state: EpisodeState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(nodes, stages, globals)`` of the state (see the module docstring)."""
        self.load(state.instance)
        k, n, step = self.num_stages, self._table.shape[0], state.step
        nodes = np.zeros((1 + self.lookahead, NUM_NODE_CONTEXT), dtype=np.float32)
        upcoming = state.instance.order[step : step + 1 + self.lookahead]
        nodes[: upcoming.size] = self._table[upcoming]
        ev = state.evaluator
        low = state.min_stage
        scale = 1.0 / max(k - 1, 1)
        stages = np.empty((k, NUM_STAGE_CONTEXT), dtype=np.float64)
        stages[:, 0] = ev.stage_ms / self._bound_ms
        stages[:, 1] = ev.stage_ms / self._compiler_ms
        stages[:, 2] = ev.stage_param_bytes / self._cache
        stages[:, 3] = state.stage_nodes / n
        offset = np.arange(k) - low
        stages[:, 4] = offset >= 0
        stages[:, 5] = offset == 0
        stages[:, 6] = offset * scale
        remaining = self._suffix[min(step, n)]
        glob = np.array([step / n, remaining[0] / self._bound_ms, remaining[1] / self._cache,
                         self._bound_ms / self._compiler_ms, (k - 1 - low) * scale, k / 8.0])
        clip = (-1.0, CONTEXT_CLIP)
        return nodes, np.clip(stages, *clip).astype(np.float32), np.clip(glob, *clip).astype(np.float32)
