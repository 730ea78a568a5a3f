"""Observations of a batch of episodes, as functions of the kernel's :class:`~respect_gym.problem.state.State`.

Three views, named by the env's ``observation`` argument:

- ``"graph"`` (:class:`GraphView`, the default): the padded graph, a ``Dict`` of bounded ``Box`` es
  for SB3's ``MultiInputPolicy`` (fields in :mod:`respect_gym.problem.features`);
- ``"compact"`` (:class:`CompactView`): one flat ``Box``, the step context of
  :mod:`respect_gym.problem.features` (current and upcoming nodes, per-stage running totals,
  a few graph-level numbers), for MLPs on any graph size;
- ``"context"`` (:class:`ContextView`): the padded graph with static per-node context plus the
  per-stage and global context, for message-passing policies.

A view keeps per-episode buffers of what changes only at reset (the padded graph arrays) and
writes only what a step changes; :meth:`View.observe` returns copies, so an observation handed
out is never altered by later steps. Per-instance tables (normalised node features, context
rows, suffix sums of the remaining work) are built once per instance and cached on it.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from gymnasium import spaces

from respect_gym.problem.features import (
    CONTEXT_CLIP, CURRENT_COL, LATENCY_CLIP, NUM_GLOBAL_CONTEXT, NUM_NODE_CONTEXT, NUM_STAGE_CONTEXT,
    NUM_STATIC_FEATURES, STAGE_COL, observation_space, static_node_features,
)
from respect_gym.problem.instance import Instance
from respect_gym.problem.state import State, Transition

OBSERVATIONS = ("graph", "compact", "context")


@dataclass(frozen=True)
class StaticTables:
    """Per-instance observation tables (normalisations of :mod:`respect_gym.problem.features`)."""

    features: np.ndarray  # (n, NUM_STATIC_FEATURES) float32, graph index order
    context: np.ndarray  # (n, NUM_NODE_CONTEXT) float32, graph index order
    remaining: np.ndarray  # (n + 1, 2): compute ms and parameter bytes of the nodes from step t on
    bound_ms: float  # combinatorial lower bound on the bottleneck (1 if 0)
    compiler_ms: float  # the compiler split's bottleneck (1 if 0)
    inv_reference: float  # 1 / compiler bottleneck (0 if 0)
    inv_params: float  # 1 / the cost model's total parameter bytes
    cache_bytes: float


def tables(instance: Instance) -> StaticTables:
    """The observation tables of ``instance``, built once (O(n + e)) and kept on it."""
    found = instance.__dict__.get("_observation_tables")
    if found is None:
        found = _build_tables(instance)
        object.__setattr__(instance, "_observation_tables", found)
    return found


def _build_tables(instance: Instance) -> StaticTables:
    from respect_gym.solvers.bounds import combinatorial_lower_bound_ms

    cm, graph = instance.cost_model, instance.graph
    bound = combinatorial_lower_bound_ms(cm, instance.num_stages) or 1.0
    cache = float(cm.hardware.cache_bytes)
    features = static_node_features(graph)
    context = np.zeros((graph.num_nodes, NUM_NODE_CONTEXT), dtype=np.float64)
    context[:, :NUM_STATIC_FEATURES] = features
    context[:, NUM_STATIC_FEATURES] = np.asarray(cm.compute_ms) / bound
    context[:, NUM_STATIC_FEATURES + 1] = np.asarray(cm.param_bytes) / cache
    context[:, NUM_STATIC_FEATURES + 2] = 1.0
    order = graph.topological_order
    per_node = np.stack([np.asarray(cm.compute_ms)[order], np.asarray(cm.param_bytes, dtype=np.float64)[order]], 1)
    remaining = np.vstack([np.cumsum(per_node[::-1], axis=0)[::-1], np.zeros((1, 2))])
    bottleneck = instance.compiler_report.bottleneck_ms
    return StaticTables(
        features=features,
        context=np.clip(context, -1.0, CONTEXT_CLIP).astype(np.float32),
        remaining=remaining,
        bound_ms=bound,
        compiler_ms=bottleneck or 1.0,
        inv_reference=1.0 / bottleneck if bottleneck > 0 else 0.0,
        inv_params=1.0 / max(int(np.asarray(cm.param_bytes).sum()), 1),
        cache_bytes=cache,
    )


@lru_cache(maxsize=64)
def _stage_values(num_stages: int) -> np.ndarray:
    """The graph view's ``stage`` column of a node on each stage (float32, as the env wrote it)."""
    scale = np.float32(1.0 / max(num_stages - 1, 1))
    return np.array([s * scale for s in range(num_stages)], dtype=np.float32)


class View(abc.ABC):
    """An observation of every episode of a :class:`State`; ``space`` is one episode's space."""

    space: spaces.Space

    def __init__(self, state: State) -> None:
        self.state = state

    def reset(self, rows: np.ndarray) -> None:
        """Episodes ``rows`` were just reset."""

    def after_step(self, rows: np.ndarray, transition: Transition) -> None:
        """Episodes ``rows`` just made ``transition``."""

    @abc.abstractmethod
    def observe(self, rows: np.ndarray | slice = slice(None)):
        """The observations of episodes ``rows`` stacked on a leading axis (fresh arrays)."""


def _groups(state: State, rows: np.ndarray):
    """``(instance, its StaticTables, rows on it)`` for each instance among ``rows``."""
    ids = state.instance_id[rows]
    for g in np.unique(ids).tolist():
        instance = state.pool.instances[g]
        yield instance, tables(instance), rows[ids == g]


class StepContext:
    """The per-stage and global step context of :mod:`respect_gym.problem.features`, batched."""

    def __init__(self, state: State) -> None:
        k = state.num_stages
        b = state.num_envs
        self.state = state
        self.bound = np.ones(b)
        self.compiler = np.ones(b)
        self.cache = np.ones(b)
        self.scale = 1.0 / max(k - 1, 1)

    def reset(self, rows: np.ndarray) -> None:
        for _, t, sel in _groups(self.state, rows):
            self.bound[sel], self.compiler[sel], self.cache[sel] = t.bound_ms, t.compiler_ms, t.cache_bytes

    def stages_and_globals(self, rows: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray]:
        s, k = self.state, self.state.num_stages
        bound, compiler, cache = self.bound[rows, None], self.compiler[rows, None], self.cache[rows, None]
        n = s.num_nodes(rows)
        step = s.step[rows]
        low = s.min_stage[rows]
        stage_ms = s.stage_ms[rows]
        stages = np.empty((stage_ms.shape[0], k, NUM_STAGE_CONTEXT), dtype=np.float64)
        stages[:, :, 0] = stage_ms / bound
        stages[:, :, 1] = stage_ms / compiler
        stages[:, :, 2] = s.stage_param_bytes[rows] / cache
        stages[:, :, 3] = s.stage_nodes[rows] / n[:, None]
        offset = np.arange(k) - low[:, None]
        stages[:, :, 4] = offset >= 0
        stages[:, :, 5] = offset == 0
        stages[:, :, 6] = offset * self.scale
        remaining = self._remaining(rows, step, n)
        glob = np.empty((stage_ms.shape[0], NUM_GLOBAL_CONTEXT), dtype=np.float64)
        glob[:, 0] = step / n
        glob[:, 1] = remaining[:, 0] / bound[:, 0]
        glob[:, 2] = remaining[:, 1] / cache[:, 0]
        glob[:, 3] = bound[:, 0] / compiler[:, 0]
        glob[:, 4] = (k - 1 - low) * self.scale
        glob[:, 5] = k / 8.0
        clip = (-1.0, CONTEXT_CLIP)
        return np.clip(stages, *clip).astype(np.float32), np.clip(glob, *clip).astype(np.float32)

    def _remaining(self, rows, step: np.ndarray, n: np.ndarray) -> np.ndarray:
        s = self.state
        ids = s.instance_id[rows]
        out = np.empty((ids.shape[0], 2))
        for g in np.unique(ids).tolist():
            sel = ids == g
            out[sel] = tables(s.pool.instances[g]).remaining[np.minimum(step[sel], n[sel])]
        return out


class CompactView(View):
    """One flat ``Box`` per episode: the context of the current and ``lookahead`` upcoming nodes,
    then the K stage rows, then the global row (:class:`respect_gym.envs.pipeline.wrappers.CompactObservation`)."""

    def __init__(self, state: State, lookahead: int = 4) -> None:
        super().__init__(state)
        self.lookahead = int(lookahead)
        size = (1 + self.lookahead) * NUM_NODE_CONTEXT + state.num_stages * NUM_STAGE_CONTEXT + NUM_GLOBAL_CONTEXT
        self.space = spaces.Box(-1.0, CONTEXT_CLIP, (size,), np.float32)
        self.context = StepContext(state)

    def reset(self, rows: np.ndarray) -> None:
        self.context.reset(rows)

    def observe(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        s = self.state
        rows = np.arange(s.num_envs)[rows]
        stages, glob = self.context.stages_and_globals(rows)
        width = 1 + self.lookahead
        nodes = np.zeros((rows.shape[0], width, NUM_NODE_CONTEXT), dtype=np.float32)
        ids, step = s.instance_id[rows], s.step[rows]
        pool = s.pool
        for g in np.unique(ids).tolist():
            sel = ids == g
            context = tables(pool.instances[g]).context
            n, off = int(pool.num_nodes[g]), int(pool.offset[g])
            order = pool.order[off : off + n]
            for j in range(width):
                pos = step[sel] + j
                ok = pos < n
                if ok.all():
                    nodes[sel, j] = context[order[pos]]
                elif ok.any():
                    nodes[np.flatnonzero(sel)[ok], j] = context[order[pos[ok]]]
        return np.concatenate([nodes.reshape(rows.shape[0], -1), stages.reshape(rows.shape[0], -1), glob], axis=1)


class GraphView(View):
    """The padded graph ``Dict`` (:func:`respect_gym.problem.features.observation_space`)."""

    def __init__(self, state: State, max_edges: int) -> None:
        super().__init__(state)
        k, b, n = state.num_stages, state.num_envs, state.max_nodes
        self.max_edges = int(max_edges)
        self.space = observation_space(n, self.max_edges, k)
        self.buffers = {name: np.zeros((b, *sp.shape), dtype=sp.dtype) for name, sp in self.space.spaces.items()}
        self.inv_params = np.ones(b)
        self.inv_nodes = np.ones(b)
        self.inv_reference = np.ones(b)
        self.stage_values = _stage_values(k)

    def reset(self, rows: np.ndarray) -> None:
        a = self.buffers
        for name in a:
            a[name][rows] = 0
        features = a["node_features"]
        for instance, t, sel in _groups(self.state, rows):
            graph = instance.graph
            n, e = graph.num_nodes, graph.num_edges
            if e > self.max_edges:
                raise ValueError(f"graph {graph.meta.model!r} has {e} edges but max_edges={self.max_edges}; "
                                 f"pass max_edges>={e} to the env")
            block = np.zeros((n, features.shape[2]), dtype=np.float32)
            block[:, :NUM_STATIC_FEATURES] = t.features
            block[:, STAGE_COL] = -1.0
            features[sel, :n] = block
            a["node_mask"][sel, :n] = 1
            a["edge_index"][sel, :, :e] = graph.edges.T
            a["edge_mask"][sel, :e] = 1
            self.inv_params[sel] = t.inv_params
            self.inv_nodes[sel] = 1.0 / n
            self.inv_reference[sel] = t.inv_reference
        node = self.state.node[rows]
        features[rows, node, CURRENT_COL] = 1.0
        a["current_node"][rows, 0] = node

    def after_step(self, rows: np.ndarray, transition: Transition) -> None:
        s, a = self.state, self.buffers
        features = a["node_features"]
        features[rows, transition.node, STAGE_COL] = self.stage_values[transition.stage]
        sf = a["stage_features"]
        sf[rows, :, 0] = s.stage_param_bytes[rows] * self.inv_params[rows, None]
        sf[rows, :, 1] = np.minimum((s.stage_ms[rows] * self.inv_reference[rows, None]).astype(np.float32),
                                    np.float32(LATENCY_CLIP))
        sf[rows, :, 2] = s.stage_nodes[rows] * self.inv_nodes[rows, None]
        live = rows[~transition.done]
        if live.size:
            current = a["current_node"]
            features[live, current[live, 0], CURRENT_COL] = 0.0
            node = s.node[live]
            features[live, node, CURRENT_COL] = 1.0
            current[live, 0] = node

    def observe(self, rows: np.ndarray | slice = slice(None)) -> dict[str, np.ndarray]:
        return {name: array[rows].copy() for name, array in self.buffers.items()}


class ContextView(View):
    """The padded graph with static node context and the step context (:class:`GraphContextObservation`)."""

    def __init__(self, state: State, max_edges: int) -> None:
        super().__init__(state)
        self.graph = GraphView(state, max_edges)
        self.context = StepContext(state)
        k, n = state.num_stages, state.max_nodes
        base = self.graph.space.spaces
        box = lambda shape: spaces.Box(-1.0, CONTEXT_CLIP, shape, np.float32)  # noqa: E731
        self.space = spaces.Dict({
            "node_context": box((n, NUM_NODE_CONTEXT)),
            **{key: base[key] for key in ("node_mask", "edge_index", "edge_mask", "current_node")},
            "stage_context": box((k, NUM_STAGE_CONTEXT)),
            "global_context": box((NUM_GLOBAL_CONTEXT,)),
        })
        self.node_context = np.zeros((state.num_envs, n, NUM_NODE_CONTEXT), dtype=np.float32)

    def reset(self, rows: np.ndarray) -> None:
        self.graph.reset(rows)
        self.context.reset(rows)
        self.node_context[rows] = 0.0
        for instance, t, sel in _groups(self.state, rows):
            self.node_context[sel, : instance.graph.num_nodes] = t.context

    def after_step(self, rows: np.ndarray, transition: Transition) -> None:
        self.graph.after_step(rows, transition)

    def observe(self, rows: np.ndarray | slice = slice(None)) -> dict[str, np.ndarray]:
        rows = np.arange(self.state.num_envs)[rows]
        stages, glob = self.context.stages_and_globals(rows)
        g = self.graph.buffers
        return {
            "node_context": self.node_context[rows],
            **{key: g[key][rows] for key in ("node_mask", "edge_index", "edge_mask", "current_node")},
            "stage_context": stages,
            "global_context": glob,
        }


def make_view(name: str, state: State, max_edges: int, lookahead: int = 4) -> View:
    """The view named ``name`` (one of :data:`OBSERVATIONS`) over ``state``."""
    if name == "graph":
        return GraphView(state, max_edges)
    if name == "compact":
        return CompactView(state, lookahead)
    if name == "context":
        return ContextView(state, max_edges)
    raise ValueError(f"unknown observation {name!r}; choose one of {OBSERVATIONS}")
