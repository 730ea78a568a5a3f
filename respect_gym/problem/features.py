"""The numbers an agent observes: node and stage features of the graph view, and the step
context of the compact and context views, with their normalisations and bounds.

Graph view (``observation="graph"``), fields (``N = max_nodes``, ``E = max_edges``, ``K`` stages,
``n`` nodes of the graph):

- ``node_features`` ``(N, NUM_NODE_FEATURES)`` float32: one row per node in graph index order,
  columns :data:`NODE_FEATURES` (see :func:`static_node_features`); rows ``>= n`` are 0.
- ``node_mask`` ``(N,)`` int8: 1 for the ``n`` real nodes.
- ``edge_index`` ``(2, E)`` int64: ``edge_index[:, e] = (u, v)`` for edge ``u -> v``; padding ``(0, 0)``.
- ``edge_mask`` ``(E,)`` int8: 1 for real edges.
- ``stage_features`` ``(K, NUM_STAGE_FEATURES)`` float32, columns :data:`STAGE_FEATURES`: share of
  the graph's parameter bytes on the stage, the stage's running latency divided by the vendor
  compiler's bottleneck (clipped at :data:`LATENCY_CLIP`), and share of the graph's nodes on it.
- ``current_node`` ``(1,)`` int64: index of the node to schedule now.

Step context (``observation="compact"`` / ``"context"``): what the current decision depends on, in
fixed-size arrays normalised so the same numbers mean the same thing on any graph and K.
Latencies are divided by the combinatorial lower bound of the graph on K stages (what a perfect
balance would reach) and by the compiler split's bottleneck; parameter bytes by the Edge TPU
cache. Every value is clipped to ``[-1, CONTEXT_CLIP]``. Per node: columns :data:`NODE_CONTEXT`;
per stage: :data:`STAGE_CONTEXT`; global: :data:`GLOBAL_CONTEXT`.

Decision view (``observation="decision-v2"``; ``"decision"`` is its first version, see
:class:`respect_gym.problem.observe.DecisionView`): one flat vector, columns :data:`DECISION_FEATURES`,
of what the choice "keep filling the open stage, or open the next one" depends on, in the terms
the exact cut DP compares: the open stage's latency with and without the current node, the worst
closed stage, the work left per stage left (with the streaming its parameters force when they
exceed the stages' caches), and what a cut here or a little further would transfer. The two
``*_probe_ms`` columns estimate the DP's own values of the two actions: the smallest period for
which a greedy cut covers the rest of the order with the stages left, each segment priced by an
estimate of the stage formula from suffix sums (the invoke overhead; compute; the streaming time
of its layers from the first whose weights overflow the cache on, each at its own streaming cost,
as first fit in execution order does; half the transfers of its two boundaries; the period at
least the host's work for the stages used), found by bisection. Latencies are divided by the
*scale*, the same probe's estimate of the whole instance's best period at reset (it counts
transfers, which the combinatorial bound does not, so a transfer-heavy graph reads like any other),
clipped to ``[-1, CONTEXT_CLIP]``; the probes take ``O(K log(n)^2 PROBE_ROUNDS)`` per step, the other
values O(1) from suffix sums and per-position tables.
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


NODE_CONTEXT = (
    "static features (the NUM_STATIC_FEATURES columns of NODE_FEATURES before 'stage')",
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
DECISION_FEATURES = (
    "open_ms",  # the open stage's running latency / scale
    "open_with_node_ms",  # ... plus the current node's compute and, if its weights miss the cache left, streaming
    "closed_max_ms",  # the slowest stage before the open one / scale
    "host_ms",  # the host's serial work for the stages used so far / scale
    "node_ms",  # the current node's compute / scale
    "node_stream_ms",  # its streaming time if it joins the open stage (0 when its weights fit) / scale
    "node_param_vs_cache",  # its parameter bytes / cache bytes
    "cache_left",  # the open stage's cache bytes left / cache bytes
    "rest_ms",  # compute of the nodes after the current one / scale
    "rest_share_ms",  # their estimated latency (compute + forced streaming) per stage left / scale
    "rest_share_with_node_ms",  # the same with the current node (if a cut opens the next stage here)
    "stages_left",  # stages after the open one / max(K - 1, 1)
    "cut_here_ms",  # transfer time of the tensors a cut before the current node would cross / scale
    "cut_next_ms",  # the same for a cut after it
    "cut_min_ahead_ms",  # the cheapest cut among the next DECISION_LOOKAHEAD positions
    "next_node_ms",  # the next node's compute / scale
    "placed_share",  # nodes placed / n
    "open_empty",  # 1 when the open stage holds no node yet
    "can_cut",  # 1 when opening the next stage is legal
    "compiler_vs_scale",  # the compiler split's bottleneck / the scale
    "num_stages",  # K / 8
    "stay_estimate_ms",  # max(open_with_node, rest_share, closed_max) / scale
    "cut_estimate_ms",  # max(open + cut_here, rest_share_with_node, closed_max) / scale
    "open_stage",  # open stage / max(K - 1, 1)
    "stay_probe_ms",  # estimated best period if the current node stays: a greedy cut of the rest, bisected
    "cut_probe_ms",  # the same if a cut opens the next stage here (see the module docstring)
    "probe_advantage",  # 10 * (stay_probe - cut_probe) / stay_probe: > 0 when the probes favour a cut (-1 if none)
    "estimate_advantage",  # 10 * (stay_estimate - cut_estimate) / stay_estimate, likewise
    "bound_vs_scale",  # the combinatorial lower bound / the scale
)
NUM_DECISION_FEATURES = len(DECISION_FEATURES)
DECISION_LOOKAHEAD = 8
PROBE_ROUNDS = 12  # bisection rounds of the probes
