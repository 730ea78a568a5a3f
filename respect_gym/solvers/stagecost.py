"""Batched stage latencies: the cost model's per-stage formula evaluated for many node sets at once.

The exact DP and the contiguous-cut DP need the latency of hundreds of thousands of candidate
stages. :meth:`CostModel.stage_latency_ms` takes one mask at a time; this evaluates a whole
``(P, n)`` matrix of masks with a few numpy passes, built only from the cost model's public
per-node arrays and its :meth:`~respect_gym.cost.model.CostModel.capacity` /
:meth:`~respect_gym.cost.model.CostModel.combine`, and is tested to equal
``stage_latency_ms`` mask by mask.
"""

from __future__ import annotations

import numpy as np

from respect_gym.cost.model import CostModel

_CHUNK_CELLS = 4_000_000  # rows x columns per pass: bounds the temporary boolean matrices


class BatchStageCost:
    """Latency of many stages given as rows of a boolean node-mask matrix.

    :param cost_model: the cost model whose formula is evaluated.
    """

    def __init__(self, cost_model: CostModel) -> None:
        self.cost_model = cm = cost_model
        graph = cm.graph
        is_op = np.asarray(cm.is_op)
        edges = graph.edges[is_op[graph.edges[:, 1]]]  # host-side nodes read nothing
        edges = edges[np.argsort(edges[:, 0], kind="stable")]
        self._eu, self._ev = edges[:, 0], edges[:, 1]
        # one reduction group per producer tensor (edges sorted by producer)
        self._producers, self._group_start = np.unique(self._eu, return_index=True)
        self._host_u = ~is_op[self._eu]
        self._op_u = is_op[self._eu]
        self._sinks = np.flatnonzero(is_op & (graph.out_degree == 0))
        self._is_op = is_op
        self._compute = np.asarray(cm.compute_ms, dtype=np.float64)
        self._act = np.asarray(cm.act_bytes, dtype=np.int64)
        self._order = np.asarray(cm.param_order)
        self._params = np.asarray(cm.param_bytes, dtype=np.int64)
        self._extra = np.asarray(cm.extra_ms, dtype=np.float64)
        self._out = np.asarray(cm.out_bytes, dtype=np.float64)

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        """Latency in ms of each row of ``masks`` (``(P, n)`` bool), one float per row."""
        masks = np.asarray(masks, dtype=bool)
        if masks.ndim != 2 or masks.shape[1] != self.cost_model.graph.num_nodes:
            raise ValueError(f"masks must have shape (P, {self.cost_model.graph.num_nodes}), got {masks.shape}")
        width = max(masks.shape[1], self._eu.shape[0], 1)
        step = max(1, _CHUNK_CELLS // width)
        out = np.empty(masks.shape[0], dtype=np.float64)
        for lo in range(0, masks.shape[0], step):
            out[lo : lo + step] = self._latency(masks[lo : lo + step])
        return out

    def _latency(self, masks: np.ndarray) -> np.ndarray:
        rows = masks.shape[0]
        ops = masks & self._is_op
        num_ops = ops.sum(axis=1)
        busy = masks.astype(np.float64) @ self._compute
        max_act = np.where(ops, self._act, 0).max(axis=1, initial=0)
        remaining = np.asarray(self.cost_model.capacity(max_act), dtype=np.int64).reshape(rows).copy()
        max_layer = self.cost_model.max_layer_bytes
        for v in self._order.tolist():  # first fit in execution order
            p = int(self._params[v])
            present = masks[:, v]
            fits = present & (remaining >= p) if p <= max_layer else np.zeros(rows, dtype=bool)
            remaining -= np.where(fits, p, 0)
            busy += np.where(present & ~fits, self._extra[v], 0.0)
        transfer = np.zeros(rows, dtype=np.float64)
        if self._eu.size:
            mu, mv = masks[:, self._eu], masks[:, self._ev]
            needs_in = mv & (~mu | self._host_u)
            sends_out = mu & ~mv & self._op_u
            groups = self._group_start
            tensor_in = np.logical_or.reduceat(needs_in, groups, axis=1)
            tensor_out = np.logical_or.reduceat(sends_out, groups, axis=1)
            weights = self._out[self._producers]
            transfer = tensor_in @ weights + tensor_out @ weights
        # graph outputs (sink ops have no consumers, so they are not among the producers above)
        transfer = transfer + masks[:, self._sinks].astype(np.float64) @ self._out[self._sinks]
        return np.asarray(self.cost_model.combine(num_ops, busy, transfer), dtype=np.float64)

    def chain_latencies(self, order: np.ndarray, upper: float = np.inf, ends_only: bool = False) -> np.ndarray:
        """``C[i, j]`` = latency of the contiguous segment ``order[i:j]`` (``inf`` when ``j < i``).

        Op count, compute, transfers and the cache capacity of all segments sharing a start are
        prefix sums over the order, so a start costs a few O(n + E) passes. A segment whose
        weights fit its cache has no streaming and is then exact; only the others go through the
        batched first-fit of :meth:`__call__`. Segments whose streaming-free latency (a lower
        bound) exceeds ``upper`` are left at ``inf``, and ``ends_only`` keeps only segments that
        start at 0 or end at ``n`` (all a 2-stage cut uses).
        """
        cm = self.cost_model
        n = order.shape[0]
        pos = np.empty(n, dtype=np.int64)
        pos[order] = np.arange(n)

        def prefix(values: np.ndarray) -> np.ndarray:
            return np.concatenate([[0], np.cumsum(np.asarray(values)[order])])

        ops, work, params = prefix(self._is_op.astype(np.int64)), prefix(self._compute), prefix(self._params)
        too_big = prefix(self._params > cm.max_layer_bytes)
        sink_out = np.zeros(cm.graph.num_nodes)
        sink_out[self._sinks] = self._out[self._sinks]
        sinks = prefix(sink_out)
        act = np.where(self._is_op, self._act, 0)[order]
        pu, pv = pos[self._eu], pos[self._ev]
        # a tensor leaves segment [i, j) when its producer is an op inside and its last reader is at >= j
        producers = np.flatnonzero(self._is_op & (np.bincount(self._eu, minlength=n) > 0))
        last = np.full(cm.graph.num_nodes, -1)
        np.maximum.at(last, self._eu, pv)
        out_start, out_stop, out_w = pos[producers] + 1, last[producers] + 1, self._out[producers]
        matrix = np.full((n + 1, n + 1), np.inf)
        np.fill_diagonal(matrix, 0.0)
        pending: list[tuple[int, np.ndarray]] = []
        for i in range(n):
            j = np.arange(i + 1, n + 1)
            # tensors entering: read at some position >= i and produced before i (or on the host)
            enters = (pv >= i) & ((pu < i) | self._host_u)
            first = np.full(cm.graph.num_nodes, n + 1)
            np.minimum.at(first, self._eu[enters], pv[enters])
            tensor = np.flatnonzero(first <= n)
            in_b = np.cumsum(np.bincount(first[tensor] + 1, weights=self._out[tensor], minlength=n + 2))[j]
            sel = out_start > i
            leaving = np.bincount(out_start[sel], weights=out_w[sel], minlength=n + 2)
            leaving -= np.bincount(out_stop[sel], weights=out_w[sel], minlength=n + 2)
            out_b = np.cumsum(leaving)[j] + sinks[j] - sinks[i]
            latency = np.asarray(cm.combine(ops[j] - ops[i], work[j] - work[i], in_b + out_b), dtype=np.float64)
            cap = np.asarray(cm.capacity(np.maximum.accumulate(act[i:])), dtype=np.int64)
            keep = latency <= upper * (1 + 1e-9) + 1e-12
            if ends_only and i > 0:
                keep &= j == n
            matrix[i, j[keep]] = latency[keep]
            overflow = keep & ((params[j] - params[i] > cap) | (too_big[j] > too_big[i]))
            if overflow.any():
                pending.append((i, j[overflow]))
        if pending:
            starts = np.concatenate([np.full(js.shape[0], i) for i, js in pending])
            stops = np.concatenate([js for _, js in pending])
            masks = (pos[None, :] >= starts[:, None]) & (pos[None, :] < stops[:, None])
            matrix[starts, stops] = self(masks)
        return matrix
