"""Combinatorial lower bounds on the optimal bottleneck, from the cost model's formula alone.

Every schedule puts each op in some stage, so the bottleneck is at least the cost any stage
holding that op must pay (invoke overhead, the op's compute, its streaming when its weights can
never fit the cache beside its own activations, graph inputs it reads and the graph output it
writes). The K stages together pay at least one invoke, all compute, all forced streaming, the
spill of the weights that K caches cannot hold, and all graph input/output transfers, so the
bottleneck is also at least that total over K. Neither bound assumes latency grows with the
node set (it does not: merging stages removes transfers). Such combinatorial bounds can be loose;
Archer et al. (ICML 2024) report LP-based ones far tighter.
"""

from __future__ import annotations

import numpy as np

from respect_gym.cost.model import CostModel
from respect_gym.graph import Graph
from respect_gym.solvers.ideals import bitsets_to_masks


def combinatorial_lower_bound_ms(cost_model: CostModel, num_stages: int) -> float:
    """Largest of the single-op bound and the total-work-over-K bound, in ms."""
    cm, graph, hw = cost_model, cost_model.graph, cost_model.hardware
    ops = np.asarray(cm.is_op)
    if not ops.any():
        return 0.0
    params = np.asarray(cm.param_bytes, dtype=np.int64)
    extra = np.asarray(cm.extra_ms, dtype=np.float64)
    capacity = np.asarray(cm.capacity(np.asarray(cm.act_bytes)), dtype=np.int64)
    forced = ops & ((params > capacity) | (params > cm.max_layer_bytes))  # streamed wherever the op is
    host_in = np.zeros(graph.num_nodes, dtype=np.float64)  # graph-input bytes each op must receive
    u, v = graph.edges[:, 0], graph.edges[:, 1]
    reads_host = ~ops[u] & ops[v]
    np.add.at(host_in, v[reads_host], graph.out_bytes[u[reads_host]])
    sink_out = np.where(ops & (graph.out_degree == 0), graph.out_bytes, 0).astype(np.float64)
    per_op = (cm.compute_ms + np.where(forced, extra, 0.0)
              + (host_in + sink_out) * cm.ms_per_link_byte + hw.invoke_overhead_ms)
    single = float(per_op[ops].max())

    free = ops & ~forced & (params > 0)
    spill_bytes = max(0, int(params[free].sum()) - num_stages * int(hw.cache_bytes))
    rate = float((extra[free] / params[free]).min()) if free.any() else 0.0
    input_tensors = np.unique(u[reads_host])
    io_bytes = float(graph.out_bytes[input_tensors].sum() + sink_out.sum())
    total = (hw.invoke_overhead_ms + float(cm.compute_ms[ops].sum()) + float(extra[forced].sum())
             + spill_bytes * rate + io_bytes * cm.ms_per_link_byte)
    return max(single, total / num_stages)


def closure_sums(graph: Graph, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per node v, the total weight of v with all its ancestors, and of v with all its descendants.

    Any stage holding v is preceded (or joined) by all of v's ancestors and followed (or joined)
    by all its descendants, so these sums bound the work of a prefix or suffix of the stages.
    """
    n = graph.num_nodes
    order = graph.topological_order.tolist()
    anc, desc = [0] * n, [0] * n
    for v in order:
        bits = 1 << v
        for u in graph.predecessors[v].tolist():
            bits |= anc[u]
        anc[v] = bits
    for u in reversed(order):
        bits = 1 << u
        for v in graph.successors[u].tolist():
            bits |= desc[v]
        desc[u] = bits
    weights = np.asarray(weights)
    return bitsets_to_masks(anc, n) @ weights, bitsets_to_masks(desc, n) @ weights
