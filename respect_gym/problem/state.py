"""The state of a batch of scheduling episodes as arrays, and its transitions.

An episode visits a graph's nodes in ``graph.topological_order`` and puts each on a stage
``>=`` the largest stage of its predecessors, so every finished episode is a valid pipeline. The
state of ``B`` episodes (each on its own instance, see :mod:`respect_gym.problem.pool`) is a few
arrays: per episode its step and the current node's smallest legal stage, per episode and stage
the running totals of the cost model's stage formula (op count, compute, streaming, cached
capacity, transfers), per episode and node the stage and which tensors were already sent.

Transitions are functions of the state: :func:`reset` starts episodes, :func:`legal` is the action
mask, :func:`step` places the current node of each given episode, each in O(in-degree) numpy
operations over the whole batch and no Python loop over episodes. They update the arrays in
place instead of returning a copy: at 4,096 episodes a copy per step would cost more than the step
(``State.copy`` takes a snapshot where one is needed, e.g. to search from a partial schedule).

The running stage latencies are the cost model's formula (:meth:`CostModel.combine` of the op
count, compute plus streaming, and transferred bytes; first-fit caching of
:func:`respect_gym.cost.model.first_fit` in execution order; a tensor pays one TPU -> host
transfer when first read in a later stage and one host -> TPU transfer per stage that reads it),
accumulated in the same order as :meth:`CostModel.evaluate` prices a complete schedule, so a
finished episode's :func:`report` equals ``CostModel.evaluate`` of its schedule (tested).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from respect_gym.cost.model import PipelineConstants
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

    def copy(self) -> "State":
        """An independent snapshot (the pool of static tables is shared)."""
        other = copy.copy(self)
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray):
                setattr(other, name, value.copy())
        return other

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
    s, pool = state, state.pool
    r = np.asarray(rows, dtype=np.int64)
    off = pool.offset[s.instance_id[r]]
    v = s.node[r]
    pv = off + v  # pool index of each episode's current node
    low = s.min_stage[r]
    actions = np.asarray(actions, dtype=np.int64)
    illegal = actions < low
    stage = np.maximum(actions, low)
    s.illegal_actions[r] += illegal
    s.stages[r, v] = stage
    s.stage_nodes[r, stage] += 1
    if s.track_crossings:
        s.crossings[r] += stage * pool.nodes["num_preds"][pv] - _pred_stages(s, r, off, pv).sum(axis=1)
    op = pool.nodes["is_op"][pv]
    if op.any():
        _place_ops(s, r[op], v[op], stage[op], off[op], pv[op])
    _refresh_stage_ms(s, r)
    s.step[r] += 1
    done = s.step[r] >= pool.num_nodes[s.instance_id[r]]
    live = ~done
    if live.any():
        rl, offl = r[live], off[live]
        nxt = pool.order[offl + s.step[rl]]
        s.node[rl] = nxt
        s.min_stage[rl] = np.maximum(_pred_stages(s, rl, offl, offl + nxt).max(axis=1), 0)
    return Transition(node=v, stage=stage, illegal=illegal, done=done)


def _pred_stages(s: State, r: np.ndarray, off: np.ndarray, pv: np.ndarray) -> np.ndarray:
    """``(len(r), D)`` stages of each node's predecessors, 0 in the padding columns."""
    preds = s.pool.preds[pv]
    width = int(s.pool.nodes["num_preds"][pv].max(initial=0))
    preds = preds[:, : max(width, 1)]
    stages = s.stages[r[:, None], np.maximum(preds, 0)]
    return np.where(preds >= 0, stages, 0).astype(np.int64)


def _place_ops(s: State, r: np.ndarray, v: np.ndarray, stage: np.ndarray, off: np.ndarray, pv: np.ndarray) -> None:
    """The cost-model side of placing op nodes: compute, caching, transfers (see the module docstring)."""
    pool, c, nodes = s.pool, s.constants, s.pool.nodes
    s.num_ops[r, stage] += 1
    s.compute_ms[r, stage] += nodes["compute_ms"][pv]
    # caching: first fit in execution order; a larger working set shrinks the cache and forces a refit
    act = nodes["act_bytes"][pv]
    max_act = s.max_act[r, stage]
    grows = act > max_act
    old_capacity = s.capacity[r, stage]
    new_capacity = np.where(grows, c.capacity(act), old_capacity)
    refit = new_capacity < old_capacity
    s.max_act[r, stage] = np.maximum(act, max_act)
    s.capacity[r, stage] = new_capacity
    param = nodes["param_bytes"][pv]
    s.stage_param_bytes[r, stage] += param
    layer = (param > 0) & ~refit
    remaining = s.remaining[r, stage]
    fits = layer & (param <= remaining) & (param <= c.max_layer_bytes)
    s.remaining[r, stage] = remaining - np.where(fits, param, 0)
    spill = layer & ~fits
    if spill.any():
        rs, ss = r[spill], stage[spill]
        s.stream_ms[rs, ss] += nodes["extra_ms"][pv[spill]]
        s.streamed_bytes[rs, ss] += param[spill]
    if refit.any():
        _refit(s, r[refit], stage[refit], off[refit], pv[refit])
    # transfers: each predecessor tensor produced elsewhere (or on the host) enters once per stage,
    # and leaves its producer's TPU once
    preds = pool.preds[pv]
    width = int(nodes["num_preds"][pv].max(initial=0))
    out_bytes = nodes["out_bytes"]
    for d in range(width):
        u = preds[:, d]
        valid = u >= 0
        u = np.maximum(u, 0)
        pu = off + u
        su = s.stages[r, u].astype(np.int64)
        u_op = nodes["is_op"][pu]
        crosses = valid & ~((su == stage) & u_op)
        enters = crosses & ~s.received[r, u, stage]
        if enters.any():
            re, ue, se = r[enters], u[enters], stage[enters]
            s.in_bytes[re, se] += out_bytes[pu[enters]]
            s.received[re, ue, se] = True
        leaves = crosses & u_op & ~s.sent[r, u]
        if leaves.any():
            rl, ul = r[leaves], u[leaves]
            s.sent[rl, ul] = True
            s.out_bytes[rl, su[leaves]] += out_bytes[pu[leaves]]
    sink = nodes["is_sink"][pv]
    if sink.any():
        s.sent[r[sink], v[sink]] = True
        s.out_bytes[r[sink], stage[sink]] += out_bytes[pv[sink]]


def _refit(s: State, r: np.ndarray, stage: np.ndarray, off: np.ndarray, pv: np.ndarray) -> None:
    """First fit of each stage's placed layers from scratch, in execution order, into its capacity."""
    pool, nodes = s.pool, s.pool.nodes
    ids = s.instance_id[r]
    loff = pool.layer_offset[ids]
    count = pool.layers_done[pv]  # layers visited so far: all placed, the current one included
    remaining = s.capacity[r, stage].copy()
    stream = np.zeros(r.shape[0])
    streamed = np.zeros(r.shape[0], dtype=np.int64)
    max_layer = s.constants.max_layer_bytes
    for i in range(int(count.max(initial=0))):
        valid = i < count
        u = pool.layers[loff + np.where(valid, i, 0)]
        present = valid & (s.stages[r, u] == stage)
        param = nodes["param_bytes"][off + u]
        fits = present & (param <= remaining) & (param <= max_layer)
        remaining -= np.where(fits, param, 0)
        missed = present & ~fits
        stream += np.where(missed, nodes["extra_ms"][off + u], 0.0)
        streamed += np.where(missed, param, 0)
    s.remaining[r, stage] = remaining
    s.stream_ms[r, stage] = stream
    s.streamed_bytes[r, stage] = streamed


def _refresh_stage_ms(s: State, r: np.ndarray) -> None:
    """Stage latency = :meth:`CostModel.combine` of op count, compute + streaming, transferred bytes."""
    s.stage_ms[r] = s.constants.combine(s.num_ops[r], s.compute_ms[r] + s.stream_ms[r], s.in_bytes[r] + s.out_bytes[r])


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

    @property
    def min_stage(self) -> int:
        return int(self.state.min_stage[self.row])

    @property
    def illegal_actions(self) -> int:
        return int(self.state.illegal_actions[self.row])

    @property
    def stages(self) -> np.ndarray:
        """Stage of every node, -1 while not placed."""
        return _read_only(self.state.schedule(self.row))

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

    @property
    def period_ms(self) -> float:
        return float(self.state.period_ms(np.array([self.row]))[0])

    @property
    def latency_ms(self) -> float:
        return float(self.state.latency_ms(np.array([self.row]))[0])

    def report(self) -> PipelineReport:
        """The cost model's report of the complete schedule."""
        return self.state.report(self.row)


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array
