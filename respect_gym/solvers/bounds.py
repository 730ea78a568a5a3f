"""Combinatorial lower bounds on the optimal bottleneck, from the cost model's formula alone.

Every schedule puts each op in some stage, so the bottleneck is at least the cost any stage
holding that op must pay (invoke overhead, the op's compute, its streaming when its weights can
never fit the cache beside its own activations, graph inputs it reads and the graph output it
writes). The K stages together pay at least one invoke, all compute, all forced streaming, the
spill of the weights that K caches cannot hold, and all graph input/output transfers, so the
bottleneck is also at least that total over K. Neither bound assumes latency grows with the
node set (it does not: merging stages removes transfers). Such combinatorial bounds can be loose;
Archer et al. (ICML 2024) report LP-based ones far tighter. Per node, the work that the stages
before or after it must hold (:func:`closure_sums`, :func:`closure_cut_costs`) bounds the CP-SAT
model's prefix / suffix cuts.
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


def tensor_readers(graph: Graph, is_op: np.ndarray, tensor: np.ndarray) -> dict[int, list[int]]:
    """The TPU ops that read each tensor with a transfer cost (``tensor[u] > 0``), in edge order:
    the tensors a stage boundary can make cross."""
    readers: dict[int, list[int]] = {}
    for u, w in graph.edges.tolist():
        if is_op[w] and tensor[u]:
            readers.setdefault(u, []).append(w)
    return readers


def closure_cut_costs(graph: Graph, is_op: np.ndarray, compute: np.ndarray, tensor: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Per op v, the least cost of an ideal that holds v, and of a filter that holds v (integers).

    An ideal's cost is its ops' ``compute``, the ``tensor`` of each op in it that an op outside
    it reads (sent across its boundary) and of each host tensor (non-op) an op in it reads; a
    filter's is its ops' compute and the tensor of each op outside it that an op in it reads
    (received). The stages ``<= s`` of any schedule form an ideal and pay at least its cost, the
    stages after ``s`` a filter, so with v on a stage ``<= s``, ``(s + 1) T`` bounds the first
    and otherwise ``(K - 1 - s) T`` the second: the compute of v's ancestors
    (:func:`closure_sums`) plus the cheapest way to cut the graph around them. On NASNet, whose
    early tensors cost more than the compute they follow, that is much tighter.

    Each cost is a minimum cut (project selection: the nodes on the source side form the ideal, a
    filter being the rest; a tensor's cost is paid once however many of its readers lie outside),
    one maximum flow per op and side: ``O(n)`` flows over ``O(n + E)`` arcs.
    """
    from ortools.graph.python import max_flow

    n = graph.num_nodes
    is_op = np.asarray(is_op, dtype=bool)
    compute, tensor = np.asarray(compute, dtype=np.int64), np.asarray(tensor, dtype=np.int64)
    readers = tensor_readers(graph, is_op, tensor)
    big = int(compute.sum() + 2 * tensor.sum()) + 1  # more than any cut: an arc that cannot be cut
    source, sink = n + len(readers), n + len(readers) + 1
    ops = np.flatnonzero(is_op).tolist()
    costs = []
    for ideal in (True, False):
        flow = max_flow.SimpleMaxFlow()
        for u, w in graph.edges.tolist():
            flow.add_arc_with_capacity(w, u, big)  # a reader in the set holds its producer
        for i, (u, ws) in enumerate(readers.items()):
            if is_op[u]:  # paid when u is in the set and the tensor's node is not: a reader is out
                flow.add_arc_with_capacity(u, n + i, int(tensor[u]))
                for w in ws:
                    flow.add_arc_with_capacity(n + i, w, big)
            elif ideal:  # a host tensor: paid when a reader holds it in the set
                flow.add_arc_with_capacity(u, sink, int(tensor[u]))
        for v in ops:  # an ideal pays the compute of its ops, a filter that of the ops outside the ideal
            if compute[v] and ideal:
                flow.add_arc_with_capacity(v, sink, int(compute[v]))
            elif compute[v]:
                flow.add_arc_with_capacity(source, v, int(compute[v]))
        force = {v: flow.add_arc_with_capacity(source, v, 0) if ideal else flow.add_arc_with_capacity(v, sink, 0)
                 for v in ops}
        cost = np.zeros(n, dtype=np.int64)
        for v in ops:
            flow.set_arc_capacity(force[v], big)
            if flow.solve(source, sink) != flow.OPTIMAL:
                raise RuntimeError("maximum flow failed")
            cost[v] = flow.optimal_flow()
            flow.set_arc_capacity(force[v], 0)
        costs.append(cost)
    return costs[0], costs[1]
