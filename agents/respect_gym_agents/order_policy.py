"""The order policy: a pointer network that emits a topological order for ``RespectOrder-v1``.

RESPECT (Yin et al., DAC 2023) schedules with a pointer network that emits a node permutation,
which is then cut into K stages. This is that policy for ``RespectOrder-v1``: each step it points
at one of the **ready** nodes (all predecessors ordered) and, once the order is complete, the
objective's optimal cut (:func:`order_cut`, the env's own rule) makes the stages.

- **Encoder** (once per graph and K): the static node context of the env's observation
  (:func:`respect_gym.problem.observe.context_rows`) plus ``K / 32``, a linear embedding, then
  ``rounds`` of residual message passing along the edges (mean over predecessors and mean over
  successors, each its own weights), so a node's embedding knows its branch and its neighbours.
- **Decoder** (once per step): a query from the last ordered node's embedding (a learned start
  vector before the first), the graph mean, the mean of the ordered nodes and :data:`STEP_FEATURES`
  (how far the order is, and how much compute and cache its prefix fills in units of the graph's
  per-stage lower bound: where the optimal cut's stage boundaries fall); each ready node's score is
  its key's dot product with the query plus a learned bonus when it is a successor of the last
  node, clipped by ``CLIP * tanh`` (Kool et al., ICLR 2019), softmax over the ready nodes.

Everything the decoder needs per node is precomputed from the encoder (keys, the query's share of
each node's embedding), so a step costs ``O(hidden * ready nodes)``. Inference never touches torch:
:class:`NumpyOrderPolicy` runs the encoder in numpy and decodes in one compiled loop (greedy, or
sampled from given uniforms); :meth:`OrderPolicyNet.order_logits` scores every step of given
orders at once (teacher forcing), which is what training differentiates. The two agree (tested).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numba
import numpy as np
import torch
from torch import nn

from respect_gym.problem.features import NUM_NODE_CONTEXT, NUM_STATIC_FEATURES
from respect_gym.problem.instance import Instance
from respect_gym.problem.observe import context_rows
from respect_gym.solvers.stagecost import BatchStageCost
from respect_gym_agents.policies import MASKED_LOGIT

COMPUTE = NUM_STATIC_FEATURES  # context column: the node's compute ms / the graph's lower bound on K stages
PARAMS = NUM_STATIC_FEATURES + 1  # context column: the node's parameter bytes / TPU cache bytes
NUM_STAGES_SCALE = 32.0  # K / 32, as the env's globals
STEP_FEATURES = ("ordered_share", "work_per_stage", "work_fraction", "cache_fraction", "num_stages", "log_cache_fill")
CLIP = 10.0  # logits are CLIP * tanh(score)


@dataclass(frozen=True)
class OrderNetConfig:
    """Sizes of :class:`OrderPolicyNet` (stored in every checkpoint)."""

    hidden: int = 64
    rounds: int = 3

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class OrderGraph:
    """What the policy reads of one instance, built once: node inputs, edges, successor lists."""

    inputs: np.ndarray  # (n, NUM_NODE_CONTEXT + 1) float32: the context and K / 32
    edges: np.ndarray  # (E, 2) int64
    succ_start: np.ndarray  # (n + 1,) int64: successors of v are succ[succ_start[v]:succ_start[v + 1]]
    succ: np.ndarray  # (E,) int64
    pred_start: np.ndarray  # (n + 1,) int64: predecessors of v are pred[pred_start[v]:pred_start[v + 1]]
    pred: np.ndarray  # (E,) int64
    in_degree: np.ndarray  # (n,) int64
    num_stages: int

    @classmethod
    def of(cls, instance: Instance) -> "OrderGraph":
        graph = instance.graph
        n = graph.num_nodes
        context = np.asarray(context_rows(instance), dtype=np.float32)
        inputs = np.concatenate([context, np.full((n, 1), instance.num_stages / NUM_STAGES_SCALE, np.float32)], 1)
        edges = np.asarray(graph.edges, dtype=np.int64).reshape(-1, 2)
        succ_start, succ = _csr(edges[:, 0], edges[:, 1], n)
        pred_start, pred = _csr(edges[:, 1], edges[:, 0], n)
        return cls(inputs, edges, succ_start, succ, pred_start, pred, np.diff(pred_start), instance.num_stages)

    @property
    def num_nodes(self) -> int:
        return self.inputs.shape[0]


def _csr(rows: np.ndarray, cols: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(start, neighbours)``: the ``cols`` of row ``v`` are ``neighbours[start[v]:start[v + 1]]``."""
    by_row = np.argsort(rows, kind="stable")
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=start[1:])
    return start, np.ascontiguousarray(cols[by_row])


class OrderPolicyNet(nn.Module):
    """Graph encoder + pointer decoder (module docstring)."""

    def __init__(self, config: OrderNetConfig = OrderNetConfig()) -> None:
        super().__init__()
        self.config = config
        d = config.hidden
        self.embed = nn.Linear(NUM_NODE_CONTEXT + 1, d)
        self.passes = nn.ModuleList(nn.Linear(3 * d, d) for _ in range(config.rounds))
        self.start = nn.Parameter(torch.zeros(d))
        self.query = nn.Linear(3 * d + len(STEP_FEATURES), d)
        self.key = nn.Linear(d, d, bias=False)
        self.follow = nn.Parameter(torch.zeros(()))  # score bonus of a successor of the last node

    def encode(self, graph: OrderGraph) -> torch.Tensor:
        """``(n, hidden)`` node embeddings."""
        n = graph.num_nodes
        h = torch.relu(self.embed(torch.from_numpy(graph.inputs)))
        u, v = torch.tensor(graph.edges[:, 0]), torch.tensor(graph.edges[:, 1])
        in_deg = torch.bincount(v, minlength=n).clamp(min=1).unsqueeze(1).float()
        out_deg = torch.bincount(u, minlength=n).clamp(min=1).unsqueeze(1).float()
        for layer in self.passes:
            preds = torch.zeros_like(h).index_add(0, v, h[u]) / in_deg
            succs = torch.zeros_like(h).index_add(0, u, h[v]) / out_deg
            h = h + torch.relu(layer(torch.cat([h, preds, succs], 1)))
        return h

    def order_logits(self, graph: OrderGraph, orders: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits, ready)`` of every step of each order in ``orders`` ``(M, n)`` (topological
        orders of ``graph``): ``logits[m, t, v]`` is the policy's logit for ordering ``v`` at step
        ``t`` given ``orders[m, :t]``, ``MASKED_LOGIT`` where ``v`` is not ready (``ready[m, t, v]``)."""
        n, d = graph.num_nodes, self.config.hidden
        orders_t = torch.from_numpy(np.ascontiguousarray(orders, dtype=np.int64))
        m = orders_t.shape[0]
        h = self.encode(graph)
        steps = torch.arange(n)
        pos = torch.empty((m, n), dtype=torch.int64)
        pos.scatter_(1, orders_t, steps.expand(m, n).contiguous())
        u, v = torch.tensor(graph.edges[:, 0]), torch.tensor(graph.edges[:, 1])
        last_pred = torch.full((m, n), -1, dtype=torch.int64)
        if u.numel():
            last_pred = last_pred.scatter_reduce(1, v.expand(m, -1), pos[:, u], "amax")
        ready = (last_pred.unsqueeze(1) < steps.view(1, n, 1)) & (pos.unsqueeze(1) >= steps.view(1, n, 1))
        last = orders_t[:, :-1]  # the node ordered before step t (t >= 1)
        adjacency = torch.zeros((n, n), dtype=torch.bool)
        adjacency[u, v] = True
        follows = torch.cat([torch.zeros((m, 1, n), dtype=torch.bool), adjacency[last]], 1)
        h_last = torch.cat([self.start.expand(m, 1, d), h[last]], 1)
        prefix = torch.cat([torch.zeros((m, 1, d)), torch.cumsum(h[orders_t], 1)[:, :-1]], 1)
        ordered_mean = prefix / steps.clamp(min=1).view(1, n, 1)
        x = graph.inputs.astype(np.float64)[orders]
        work = np.concatenate([np.zeros((m, 1)), np.cumsum(x[:, :, COMPUTE], 1)[:, :-1]], 1)
        cache = np.concatenate([np.zeros((m, 1)), np.cumsum(x[:, :, PARAMS], 1)[:, :-1]], 1)
        share = np.broadcast_to(np.arange(n) / n, (m, n))
        state = torch.from_numpy(np.stack(step_features(share, work, cache, graph.num_stages), -1)).float()
        query = self.query(torch.cat([h_last, h.mean(0).expand(m, n, d), ordered_mean, state], -1))
        score = query @ self.key(h).T / d**0.5 + self.follow * follows
        return (CLIP * torch.tanh(score)).masked_fill(~ready, MASKED_LOGIT), ready


def step_features(share: float | np.ndarray, work: float | np.ndarray, cache: float | np.ndarray,
                  num_stages: int) -> tuple:
    """:data:`STEP_FEATURES` of a step (floats in the compiled decoder, numpy arrays over every
    step in training): ``share`` of the nodes ordered, ``work`` and ``cache`` the prefix's summed
    compute / bound and parameter bytes / cache; the fractional parts say how full the open stage is."""
    return (share, work / num_stages, work - np.floor(work), cache - np.floor(cache),
            share * 0.0 + num_stages / NUM_STAGES_SCALE, np.log1p(cache))


_step_features = numba.njit(step_features)  # the decoder's (compiled) call of the same formula


class NumpyOrderPolicy:
    """The net's weights as numpy arrays: the encoder in numpy, decoding in a compiled loop."""

    def __init__(self, net: OrderPolicyNet) -> None:
        def array(t: torch.Tensor) -> np.ndarray:
            return np.ascontiguousarray(t.detach().numpy(), dtype=np.float64)

        self.hidden = net.config.hidden
        self.embed = (array(net.embed.weight.T), array(net.embed.bias))
        self.passes = [(array(p.weight.T), array(p.bias)) for p in net.passes]
        d = self.hidden
        w = array(net.query.weight.T)  # (3d + S, d)
        self.w_last, self.w_graph, self.w_mean, self.w_state = w[:d], w[d : 2 * d], w[2 * d : 3 * d], w[3 * d :]
        self.q_bias = array(net.query.bias)
        self.q_start = array(net.start) @ self.w_last
        self.w_key = array(net.key.weight.T)
        self.follow = float(net.follow.detach())

    def encode(self, graph: OrderGraph) -> np.ndarray:
        """``(n, hidden)`` node embeddings (:meth:`OrderPolicyNet.encode` in numpy)."""
        w, b = self.embed
        h = _dense(graph.inputs.astype(np.float64), w, b, True)
        for w, b in self.passes:
            preds = _neighbour_mean(h, graph.pred_start, graph.pred)
            succs = _neighbour_mean(h, graph.succ_start, graph.succ)
            h = h + _dense(np.concatenate([h, preds, succs], 1), w, b, True)
        return h

    def decode(self, graph: OrderGraph, uniforms: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """``(order, log-probability of it under the policy)``: greedy (the highest logit, the
        smallest index among equal ones), or sampled with one ``uniforms[t]`` in [0, 1) per step."""
        h = self.encode(graph)
        none = np.zeros(self.hidden)
        keys = _dense(h, self.w_key / np.sqrt(self.hidden), none, False)
        q_last = _dense(h, self.w_last, none, False)
        q_mean = _dense(h, self.w_mean, none, False)
        q_fixed = _dense(h.mean(0, keepdims=True), self.w_graph, self.q_bias, False)[0]
        sample = uniforms is not None
        draws = np.asarray(uniforms, dtype=np.float64) if sample else np.zeros(0)
        if sample and draws.shape != (graph.num_nodes,):
            raise ValueError(f"decode needs one uniform per node ({graph.num_nodes}), got shape {draws.shape}")
        return _decode(keys, q_last, q_mean, q_fixed, self.q_start, self.w_state, self.follow,
                       graph.inputs[:, COMPUTE].astype(np.float64), graph.inputs[:, PARAMS].astype(np.float64),
                       graph.succ_start, graph.succ, graph.in_degree, graph.num_stages, sample, draws)


@numba.njit(cache=True)
def _dense(x, w, b, relu):
    """``x @ w + b`` (then ReLU), in a compiled loop rather than BLAS: on a machine whose cores are
    busy, OpenBLAS's threads wait on each other and a 771 x 192 x 64 product takes 40 ms instead of
    1 (measured here); one thread is the setting the solver times are quoted for."""
    rows, inner, cols = x.shape[0], x.shape[1], w.shape[1]
    out = np.empty((rows, cols))
    for i in range(rows):
        for j in range(cols):
            out[i, j] = b[j]
        for k in range(inner):
            xk = x[i, k]
            if xk != 0.0:  # ReLU outputs are often 0
                for j in range(cols):
                    out[i, j] += xk * w[k, j]
        if relu:
            for j in range(cols):
                out[i, j] = max(out[i, j], 0.0)
    return out


@numba.njit(cache=True)
def _neighbour_mean(h, start, neighbours):
    """Row ``v``: the mean of ``h`` over ``v``'s neighbours in the CSR lists (0 when it has none)."""
    out = np.zeros_like(h)
    for v in range(h.shape[0]):
        count = start[v + 1] - start[v]
        for j in range(start[v], start[v + 1]):
            out[v] += h[neighbours[j]]
        if count:
            out[v] /= count
    return out


@numba.njit(cache=True)
def _decode(keys, q_last, q_mean, q_fixed, q_start, w_state, follow, compute, params, succ_start, succ, in_degree,
            num_stages, sample, draws):
    n, d = keys.shape
    missing = in_degree.copy()
    ready = np.empty(n, dtype=np.int64)
    count = 0
    for v in range(n):
        if missing[v] == 0:
            ready[count] = v
            count += 1
    is_next = np.zeros(n, dtype=np.bool_)  # successors of the last node
    order = np.empty(n, dtype=np.int64)
    mean_sum = np.zeros(d)
    logits = np.empty(n)
    work, cache, logp = 0.0, 0.0, 0.0
    for t in range(n):
        feats = _step_features(t / n, work, cache, num_stages)
        query = q_fixed.copy() + (q_start if t == 0 else q_last[order[t - 1]])
        if t > 0:
            query += mean_sum / t
        for s in range(len(feats)):
            query += feats[s] * w_state[s]
        best = 0
        for i in range(count):
            v = ready[i]
            score = follow if is_next[v] else 0.0
            for j in range(d):
                score += keys[v, j] * query[j]
            logits[i] = CLIP * np.tanh(score)
            if logits[i] > logits[best] or (logits[i] == logits[best] and v < ready[best]):
                best = i
        top = logits[best]
        total = 0.0
        for i in range(count):
            total += np.exp(logits[i] - top)
        pick = best
        if sample:
            target, acc = draws[t] * total, 0.0
            for i in range(count):
                acc += np.exp(logits[i] - top)
                if acc > target:
                    pick = i
                    break
                pick = i
        logp += logits[pick] - top - np.log(total)
        node = ready[pick]
        ready[pick] = ready[count - 1]
        count -= 1
        if t > 0:
            for j in range(succ_start[order[t - 1]], succ_start[order[t - 1] + 1]):
                is_next[succ[j]] = False
        order[t] = node
        mean_sum += q_mean[node]
        work += compute[node]
        cache += params[node]
        for j in range(succ_start[node], succ_start[node + 1]):
            w = succ[j]
            is_next[w] = True
            missing[w] -= 1
            if missing[w] == 0:
                ready[count] = w
                count += 1
    return order, logp


def order_cut(instance: Instance, order: np.ndarray, batch_cost: BatchStageCost | None = None) -> tuple[float, np.ndarray]:
    """``(objective value, stage per node)`` of the optimal cut of ``order`` into at most K stages:
    ``RespectOrder-v1``'s cut (its default ``dp_max_nodes=None``: the exact DP at every size, bounded
    by a heuristic cut on long orders, :func:`respect_gym.solvers.cuts.best_cut`; tested equal).

    :raises ValueError: ``order`` is not a topological order of the instance's graph.
    """
    graph, cm = instance.graph, instance.cost_model
    order = np.asarray(order, dtype=np.int64)
    n = graph.num_nodes
    if order.shape != (n,) or not np.array_equal(np.sort(order), np.arange(n)):
        raise ValueError(f"the order must be a permutation of the graph's {n} nodes")
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    late = np.flatnonzero(pos[graph.edges[:, 0]] > pos[graph.edges[:, 1]]) if graph.num_edges else []
    if len(late):
        u, v = graph.edges[late[0]].tolist()
        raise ValueError(f"not a topological order of the graph: node {v} comes before its predecessor {u}")
    value, stages = instance.objective.best_cut(cm, batch_cost or BatchStageCost(cm), order, instance.num_stages,
                                                np.inf, max(n, 1))
    return float(value), stages


def expert_targets(graph: OrderGraph, ready: torch.Tensor, stages: np.ndarray) -> torch.Tensor:
    """The set-valued expert target of each step: the ready nodes whose stage in the expert's
    schedule ``stages`` (monotone along edges) is the smallest among the ready ones.

    Along an order that has followed these targets, the ordered prefix is every node of the
    stages below some ``s`` plus some of stage ``s``; any target keeps that so, and the finished
    order is sorted by stage, so its optimal cut is at most the expert's value (tested by brute
    force). After a deviation the same rule still says which ready node the expert's schedule
    would run first (the DAgger relabelling of :mod:`respect_gym_agents.order_training`), without
    a guarantee of optimality for the deviated prefix.
    """
    stage = torch.from_numpy(np.asarray(stages, dtype=np.int64)).expand_as(ready)
    big = graph.num_stages + 1
    lowest = torch.where(ready, stage, big).min(-1, keepdim=True).values
    return ready & (stage == lowest)
