"""The state of a batch of scheduling episodes as arrays, and its transitions.

An episode visits a graph's nodes in ``graph.topological_order`` and puts each on a stage
``>=`` the largest stage of its predecessors, so every finished episode is a valid pipeline. The
state of ``B`` episodes (each on its own instance, see :mod:`respect_gym.problem.pool`) is a few
arrays: per episode its step and the current node's smallest legal stage, per episode and stage
the running totals of the cost model's stage formula (op count, compute, streaming, cached
capacity, transfers), per episode and node the stage and which tensors were already sent.

Transitions are functions of the state: :func:`reset` starts episodes, :func:`legal` is the action
mask, :func:`step` places the current node of each given episode in O(in-degree) work, compiled
by numba (one loop over the episodes, so one episode steps in microseconds and 4,096 in about a
millisecond; a numpy formulation over the batch spends most of its time in per-call overhead at
small batches). They update the arrays in place instead of returning a copy: at 4,096 episodes a
copy per step would cost more than the step.

The running stage latencies are the cost model's formula (:meth:`CostModel.combine` of the op
count, compute plus streaming, and transferred bytes; first-fit caching of
:func:`respect_gym.cost.model.first_fit` in execution order; a tensor pays one TPU -> host
transfer when first read in a later stage and one host -> TPU transfer per stage that reads it),
accumulated in the same order as :meth:`CostModel.evaluate` prices a complete schedule, so a
finished episode's :func:`report` equals ``CostModel.evaluate`` of its schedule (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from respect_gym.cost.model import PipelineConstants, cache_left, stage_time
from respect_gym.cost.report import PipelineReport
from respect_gym.problem.instance import Instance
from respect_gym.problem.pool import Pool

_STAGE_INT = ("stage_nodes", "num_ops", "stage_param_bytes", "streamed_bytes", "in_bytes", "out_bytes",
              "max_act", "capacity", "remaining")
_STAGE_FLOAT = ("compute_ms", "stream_ms", "stage_ms")


class State:
    """``B`` episodes of the scheduling problem (see the module docstring).

    Arrays (``B`` episodes, ``K`` stages, ``N`` = the most nodes an episode may have):

    - per episode: ``instance_id`` (into :attr:`pool`), ``step`` (nodes placed), ``node`` (the
      current node, local index), ``min_stage`` (its smallest legal stage), ``illegal_actions``,
      ``crossings`` (edge boundary crossings, for the paper objective);
    - per episode and stage ``(B, K)``: ``stage_nodes``, ``num_ops``, ``stage_param_bytes``,
      ``streamed_bytes``, ``in_bytes``, ``out_bytes``, ``max_act``, ``capacity``, ``remaining``
      (cache bytes left), ``compute_ms``, ``stream_ms`` and ``stage_ms`` (the running latency);
    - per episode and node: ``stages`` ``(B, N)`` (-1 = not placed), ``sent`` ``(B, N)`` (tensor
      already sent to the host), ``received`` ``(B, N, K)`` (tensor already sent to stage k).
    """

    def __init__(self, num_envs: int, max_nodes: int, num_stages: int, constants: PipelineConstants,
                 track_crossings: bool = False) -> None:
        b, k = int(num_envs), int(num_stages)
        self.num_envs, self.max_nodes, self.num_stages = b, int(max_nodes), k
        self.constants = constants
        self.empty_capacity = int(constants.capacity(0))
        self.track_crossings = track_crossings
        self.pool = Pool()
        self.instance_id = np.zeros(b, dtype=np.int64)
        self.step = np.zeros(b, dtype=np.int64)
        self.node = np.zeros(b, dtype=np.int64)
        self.min_stage = np.zeros(b, dtype=np.int64)
        self.illegal_actions = np.zeros(b, dtype=np.int64)
        self.crossings = np.zeros(b, dtype=np.int64)
        for name in _STAGE_INT:
            setattr(self, name, np.zeros((b, k), dtype=np.int64))
        for name in _STAGE_FLOAT:
            setattr(self, name, np.zeros((b, k), dtype=np.float64))
        self.stages = np.full((b, self.max_nodes), -1, dtype=np.int16 if k < 32_000 else np.int64)
        self.sent = np.zeros((b, self.max_nodes), dtype=bool)
        self.received = np.zeros((b, self.max_nodes, k), dtype=bool)

    @classmethod
    def for_instance(cls, instance: Instance, num_envs: int, max_nodes: int) -> "State":
        """An empty state whose episodes share ``instance``'s K, hardware, revision and objective."""
        return cls(num_envs, max_nodes, instance.num_stages, instance.cost_model.constants,
                   track_crossings=instance.objective.name == "paper")

    # ------------------------------------------------------------------ reads
    def instance(self, row: int) -> Instance:
        return self.pool.instances[int(self.instance_id[row])]

    def num_nodes(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        return self.pool.num_nodes[self.instance_id[rows]]

    def done(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Whether each episode has placed every node."""
        return self.step[rows] >= self.num_nodes(rows)

    def used_stages(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        return (self.num_ops[rows] > 0).sum(axis=1)

    def period_ms(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Running pipeline period (:func:`respect_gym.cost.report.pipeline_figures`), ``(len(rows),)``."""
        c = self.constants
        return np.maximum(self.stage_ms[rows].max(axis=1, initial=0.0), c.host_stage_ms * self.used_stages(rows))

    def latency_ms(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Running one-input latency (:func:`respect_gym.cost.report.pipeline_figures`)."""
        return self.stage_ms[rows].sum(axis=1) + self.constants.handoff_ms * self.used_stages(rows)

    def schedule(self, row: int) -> np.ndarray:
        """Stage per node of episode ``row`` (-1 where not placed yet)."""
        return self.stages[row, : int(self.num_nodes(row))].astype(np.int64)

    def report(self, row: int) -> PipelineReport:
        """The cost model's report of episode ``row``'s (complete) schedule."""
        r = int(row)
        return self.instance(r).cost_model.report(
            stage_ms=self.stage_ms[r].copy(),
            stage_compute_ms=self.compute_ms[r].copy(),
            stage_stream_ms=self.stream_ms[r].copy(),
            stage_transfer_ms=(self.in_bytes[r] + self.out_bytes[r]) * self.constants.ms_per_link_byte,
            stage_param_bytes=self.stage_param_bytes[r].copy(),
            stage_cached_bytes=self.stage_param_bytes[r] - self.streamed_bytes[r],
            stage_streamed_bytes=self.streamed_bytes[r].copy(),
            stage_in_bytes=self.in_bytes[r].copy(),
            stage_out_bytes=self.out_bytes[r].copy(),
            stage_num_ops=self.num_ops[r].copy(),
        )


def reset(state: State, rows: np.ndarray, instances: list[Instance]) -> None:
    """Start a new episode on ``instances[i]`` in row ``rows[i]``: nothing placed, first node current."""
    rows = np.asarray(rows, dtype=np.int64)
    pool = state.pool
    ids = np.fromiter((pool.index(inst) for inst in instances), dtype=np.int64, count=len(instances))
    too_big = pool.num_nodes[ids] > state.max_nodes
    if too_big.any():
        inst = instances[int(np.flatnonzero(too_big)[0])]
        raise ValueError(f"graph {inst.graph.meta.model!r} has {inst.graph.num_nodes} nodes, more than the "
                         f"state's max_nodes={state.max_nodes}")
    state.instance_id[rows] = ids
    for name in ("step", "min_stage", "illegal_actions", "crossings", *_STAGE_INT, *_STAGE_FLOAT):
        getattr(state, name)[rows] = 0
    state.capacity[rows] = state.empty_capacity
    state.remaining[rows] = state.empty_capacity
    state.stages[rows] = -1
    state.sent[rows] = False
    state.received[rows] = False
    state.node[rows] = pool.order[pool.offset[ids]]  # the first node has no predecessors


def compact(state: State) -> None:
    """Let the pool drop the tables of instances no episode uses any more."""
    remap = state.pool.compact(state.instance_id)
    if remap is not None:
        state.instance_id[:] = remap[state.instance_id]


def legal(state: State, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
    """``(len(rows), K)`` bool action mask: stages at or after the current node's smallest legal stage.
    Never all-false for a live episode (the last stage is always legal)."""
    return np.arange(state.num_stages) >= state.min_stage[rows, None]


def cut_choices(state: State, rows: np.ndarray | slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
    """The ``action="cut"`` view of each episode, in one pass: ``(len(rows),)`` the open stage (the
    largest stage holding a node, 0 when none) and the ``(len(rows), 2)`` bool mask of the actions.

    A schedule of the visit order is where it opens the next stage: action 0 puts the current node
    on the open stage (always legal: it is at or after the stage of every placed node, the current
    node's predecessors included), action 1 on the next one (legal when the open stage holds a
    node and is not the last). The stage an action names is ``open_stage + action``.
    """
    return compiled_cut_choices(state.stage_nodes, np.arange(state.num_envs)[rows])


def cut_legal(state: State, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
    """``(len(rows), 2)`` bool mask of the ``action="cut"`` actions (:func:`cut_choices`)."""
    return cut_choices(state, rows)[1]


@numba.njit(cache=True)
def compiled_cut_choices(stage_nodes, rows):
    """:func:`cut_choices` of ``rows`` (an int64 array) for compiled episode loops: the open stage of
    each row and the ``action="cut"`` mask, in one pass."""
    num_stages = stage_nodes.shape[1]
    open_stage = np.zeros(rows.shape[0], dtype=np.int64)
    mask = np.ones((rows.shape[0], 2), dtype=np.bool_)
    for i in range(rows.shape[0]):
        b = rows[i]
        f = 0
        for k in range(num_stages):
            if stage_nodes[b, k] > 0:
                f = k
        open_stage[i] = f
        mask[i, 1] = stage_nodes[b, f] > 0 and f < num_stages - 1
    return open_stage, mask


@dataclass
class Transition:
    """What :func:`step` did to each of its rows."""

    node: np.ndarray  # the node placed (local index)
    stage: np.ndarray  # the stage it was placed on (the action, repaired if illegal)
    illegal: np.ndarray  # the action was below the smallest legal stage (repaired to it)
    done: np.ndarray  # the episode has placed every node


def step(state: State, rows: np.ndarray, actions: np.ndarray) -> Transition:
    """Place the current node of each episode ``rows[i]`` on stage ``actions[i]``.

    An action below the smallest legal stage is repaired to it (and counted in
    ``illegal_actions``); actions must lie in ``0..K-1`` and ``rows`` be distinct live episodes.
    """
    r = np.asarray(rows, dtype=np.int64)
    actions = np.asarray(actions, dtype=np.int64)
    count = r.shape[0]
    node, stage = np.empty(count, dtype=np.int64), np.empty(count, dtype=np.int64)
    illegal, done = np.empty(count, dtype=np.bool_), np.empty(count, dtype=np.bool_)
    compiled_step(r, actions, node, stage, illegal, done, *step_arrays(state))
    return Transition(node=node, stage=stage, illegal=illegal, done=done)


def step_arrays(state: State) -> tuple:
    """What the compiled transition reads and writes besides its per-call arguments, in its order:
    ``compiled_step(rows, actions, node, stage, illegal, done, *step_arrays(state))`` is
    :func:`step` without the Python wrapper, for episode loops compiled with numba (the tuple is
    built once per loop, not once per step)."""
    s, pool, c = state, state.pool, state.constants
    nodes = pool.nodes
    return (s.instance_id, s.node, s.min_stage, s.step, s.illegal_actions, s.crossings,
            s.stages, s.sent, s.received, s.stage_nodes, s.num_ops, s.stage_param_bytes, s.streamed_bytes,
            s.in_bytes, s.out_bytes, s.max_act, s.capacity, s.remaining, s.compute_ms, s.stream_ms, s.stage_ms,
            pool.offset, pool.num_nodes, pool.layer_offset, pool.order, pool.layers_done, pool.preds, pool.layers,
            nodes["is_op"], nodes["is_sink"], nodes["compute_ms"], nodes["extra_ms"], nodes["param_bytes"],
            nodes["act_bytes"], nodes["out_bytes"], nodes["num_preds"],
            c.invoke_overhead_ms, c.ms_per_link_byte, c.cache_bytes, c.activation_reserve, c.max_layer_bytes,
            s.track_crossings)


@numba.njit(cache=True)
def compiled_step(rows, actions, out_node, out_stage, out_illegal, out_done,
          instance_id, node, min_stage, step_, illegal_actions, crossings,
          stages, sent, received, stage_nodes, num_ops, stage_param_bytes, streamed_bytes,
          in_bytes, out_bytes, max_act, capacity, remaining, compute_ms, stream_ms, stage_ms,
          offset, num_nodes, layer_offset, order, layers_done, preds, layers,
          is_op, is_sink, node_compute_ms, node_extra_ms, node_param_bytes, node_act_bytes, node_out_bytes,
          num_preds, invoke_overhead_ms, ms_per_link_byte, cache_bytes, activation_reserve, max_layer_bytes,
          track_crossings):
    """The transition of each episode ``rows[i]`` (see the module docstring), one episode at a time.

    Sums are accumulated in the order :meth:`CostModel.evaluate` and first fit use, so a finished
    episode's floats equal the cost model's exactly.
    """
    num_stages = stage_ms.shape[1]
    for i in range(rows.shape[0]):
        b = rows[i]
        g = instance_id[b]
        off = offset[g]
        v = node[b]
        pv = off + v
        low = min_stage[b]
        s = max(actions[i], low)
        out_node[i], out_stage[i], out_illegal[i] = v, s, actions[i] < low
        if actions[i] < low:
            illegal_actions[b] += 1
        stages[b, v] = s
        stage_nodes[b, s] += 1
        if track_crossings:
            crossed = s * num_preds[pv]
            for d in range(num_preds[pv]):
                crossed -= stages[b, preds[pv, d]]
            crossings[b] += crossed
        if is_op[pv]:
            num_ops[b, s] += 1
            compute_ms[b, s] += node_compute_ms[pv]
            # caching: first fit in execution order; a larger working set shrinks the cache (refit)
            refit = False
            act = node_act_bytes[pv]
            if act > max_act[b, s]:
                max_act[b, s] = act
                cap = cache_left(act, cache_bytes, activation_reserve)
                refit = cap < capacity[b, s]
                capacity[b, s] = cap
            param = node_param_bytes[pv]
            if param > 0:
                stage_param_bytes[b, s] += param
                if not refit:
                    if param <= remaining[b, s] and param <= max_layer_bytes:
                        remaining[b, s] -= param
                    else:
                        stream_ms[b, s] += node_extra_ms[pv]
                        streamed_bytes[b, s] += param
            if refit:
                left, extra, spilled = capacity[b, s], 0.0, 0
                loff = layer_offset[g]
                for j in range(layers_done[off + step_[b]]):  # the layers placed so far, in order
                    u = layers[loff + j]
                    if stages[b, u] == s:
                        p = node_param_bytes[off + u]
                        if p <= left and p <= max_layer_bytes:
                            left -= p
                        else:
                            extra += node_extra_ms[off + u]
                            spilled += p
                remaining[b, s], stream_ms[b, s], streamed_bytes[b, s] = left, extra, spilled
            # transfers: a tensor produced elsewhere (or on the host) enters once per reading stage
            # and leaves its producer's TPU once
            for d in range(num_preds[pv]):
                u = preds[pv, d]
                su = stages[b, u]
                pu = off + u
                if su == s and is_op[pu]:
                    continue
                if not received[b, u, s]:
                    received[b, u, s] = True
                    in_bytes[b, s] += node_out_bytes[pu]
                if is_op[pu] and not sent[b, u]:
                    sent[b, u] = True
                    out_bytes[b, su] += node_out_bytes[pu]
            if is_sink[pv]:
                sent[b, v] = True
                out_bytes[b, s] += node_out_bytes[pv]
            for k in range(num_stages):  # the cost model's stage formula for every stage
                stage_ms[b, k] = stage_time(num_ops[b, k], compute_ms[b, k] + stream_ms[b, k],
                                            float(in_bytes[b, k] + out_bytes[b, k]), invoke_overhead_ms,
                                            ms_per_link_byte)
        step_[b] += 1
        finished = step_[b] >= num_nodes[g]
        out_done[i] = finished
        if not finished:
            nxt = order[off + step_[b]]
            node[b] = nxt
            low = 0
            for d in range(num_preds[off + nxt]):
                low = max(low, stages[b, preds[off + nxt, d]])
            min_stage[b] = low


@dataclass(frozen=True)
class Episode:
    """A read-only look at one episode of a :class:`State` (for rendering, tests and tools)."""

    state: State
    row: int

    @property
    def instance(self) -> Instance:
        return self.state.instance(self.row)

    @property
    def step(self) -> int:
        """Nodes placed so far; the current node is ``instance.order[step]``."""
        return int(self.state.step[self.row])

    @property
    def done(self) -> bool:
        return bool(self.state.done(np.array([self.row]))[0])

    @property
    def current_node(self) -> int:
        """The node to place next (the last node once the episode is over)."""
        return int(self.state.node[self.row])

    def _stage_array(self, name: str) -> np.ndarray:
        return _read_only(getattr(self.state, name)[self.row].copy())

    @property
    def stage_ms(self) -> np.ndarray:
        return self._stage_array("stage_ms")

    @property
    def stage_param_bytes(self) -> np.ndarray:
        return self._stage_array("stage_param_bytes")

    @property
    def stage_nodes(self) -> np.ndarray:
        return self._stage_array("stage_nodes")


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array
