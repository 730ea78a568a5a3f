"""The ``RespectOrder-v1`` Gymnasium environment: RESPECT's own formulation of pipeline scheduling."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from respect_gym.envs.pipeline.env import (
    IllegalActionError, IllegalActions, IllegalActionWarning, InvalidActionError, check_action, graph_info,
)
from respect_gym.envs.pipeline.sources import as_graph
from respect_gym.envs.pipeline.spec import EnvConfigError, PipelineSpec, positive_int
from respect_gym.problem.features import CONTEXT_CLIP, NUM_NODE_CONTEXT
from respect_gym.problem.instance import Instance
from respect_gym.problem.observe import tables
from respect_gym.problem.reward import beats_compiler, normalised_score
from respect_gym.solvers.stagecost import BatchStageCost

GLOBALS = ("placed_share", "num_stages", "bound_vs_compiler")  # the columns of the ``globals`` observation
NUM_STAGES_SCALE = 32  # K / 32: K is at most 32 (respect_gym.cost.schedule.check_num_stages)
TABLE_CACHE_SIZE = 64  # graphs whose per-graph tables (successors, padded arrays, batched costs) stay cached

__all__ = ["EnvConfigError", "IllegalActionError", "IllegalActionWarning", "InvalidActionError", "RespectOrderEnv"]


@dataclass(eq=False)
class _Tables:
    """What the env needs of one instance, built once per graph."""

    instance: Instance
    successors: tuple[list[int], ...]
    in_degree: np.ndarray  # (n,) int64
    node_context: np.ndarray  # (N, NUM_NODE_CONTEXT) float32, padded
    node_mask: np.ndarray  # (N,) int8
    edge_index: np.ndarray  # (2, E) int64, padded with (0, 0)
    edge_mask: np.ndarray  # (E,) int8
    bound_vs_compiler: float
    batch_cost: BatchStageCost
    cut_upper: float  # passed to best_cut: inf, or (paper) a value every optimal cut is below
    topological_value: float | None = None  # the plain topological order's cut, once computed


class RespectOrderEnv(gym.Env[dict, np.int64]):
    """Order the nodes of a DNN graph one at a time; the optimal cut of the order makes the pipeline.

    ## Description

    RESPECT (Yin et al., DAC 2023, arXiv:2304.04716) schedules a DNN graph on K pipelined Coral
    Edge TPUs with a pointer network that emits a permutation of the nodes; the permutation is
    then cut into K contiguous stages. This env is that formulation. Each step the agent picks the
    next node of a topological order among the **ready** nodes (not yet ordered, every predecessor
    already ordered). When all ``n`` nodes are ordered, the objective's optimal cut of the order
    into at most K contiguous segments (:meth:`respect_gym.problem.objectives.Objective.best_cut`,
    the exact DP over the order's prefixes, for any graph size unless ``dp_max_nodes`` says
    otherwise) gives the stages, scored by the same cost model, objective and reference (the
    vendor compiler's split) as ``RespectPipeline-v1``.

    Every schedule is the cut of some topological order (a chain of nested ideals), so the
    optimum is reachable; but on many graphs the plain topological order (Kahn's algorithm,
    smallest index first, ``graph.topological_order``) already cuts to the optimum, and the
    order matters only on branchy graphs and large K (``benchmarks/order_vs_exact.py`` tables
    where). The final ``info`` holds the plain order's cut value (``topological_value``) beside
    the agent's.

    ## Action Space

    ``Discrete(max_nodes)``: the index of the node to order next (graph index order, as in the
    observation). Legal actions are the ready nodes, exposed as ``action_masks()`` (bool, used by
    sb3-contrib's MaskablePPO) and ``info["action_mask"]`` (bool, the same array). A live state
    always has a ready node. **Illegal actions** (a node already ordered, one with an unordered
    predecessor, or a padding index ``>= n``), by ``on_illegal`` as in ``RespectPipeline-v1``:
    ``"warn"`` (default) repairs them (the ready node with the smallest index is ordered instead,
    ``info["illegal_action"]`` is True and ``illegal_action_penalty`` is subtracted from the
    reward) and issues one ``IllegalActionWarning`` on the first one an env repairs; ``"repair"``
    does the same silently; ``"raise"`` raises ``IllegalActionError`` and leaves the episode as it
    was. (So always playing an illegal action under repair plays the plain topological order.) An
    action outside ``0..max_nodes-1``, or not one integer, raises ``InvalidActionError`` (the
    classes of :mod:`respect_gym.envs.pipeline.env`).

    ## Observation Space

    A ``Dict`` of finite-bounded ``Box`` es padded to ``max_nodes`` nodes and ``max_edges`` edges
    (N, E below), rows in graph index order; SB3's ``MultiInputPolicy`` takes it as is, and a
    pointer or graph network reads ``node_context`` with ``edge_index``:

    | key | shape | dtype | meaning | min | max |
    |---|---|---|---|---|---|
    | node_context | (N, 12) | float32 | static node context of ``respect_gym.problem.features`` (``NODE_CONTEXT``): log MACs, log parameter bytes, log output bytes, share of the graph's parameters, level, in/out degree, position in the plain topological order, is-Input, compute ms / lower bound of the graph on K stages, parameter bytes / TPU cache, exists; padding rows 0 | -1 | 16 |
    | node_mask | (N,) | int8 | 1 for real nodes | 0 | 1 |
    | edge_index | (2, E) | int64 | column e is edge (u, v); padding (0, 0) | 0 | N-1 |
    | edge_mask | (E,) | int8 | 1 for real edges | 0 | 1 |
    | placed | (N,) | int8 | 1 for nodes already ordered | 0 | 1 |
    | ready | (N,) | int8 | 1 for the legal next nodes (the action mask) | 0 | 1 |
    | position | (N,) | float32 | position of an ordered node in the order / n; -1 if not ordered yet | -1 | 1 |
    | last_node | (1,) | int64 | the node ordered last; -1 before the first step | -1 | N-1 |
    | globals | (3,) | float32 | nodes ordered / n, K / 32, the graph's lower bound on K stages / the compiler split's bottleneck (clipped at 16) | 0 | 16 |

    ## Rewards

    ``score = compiler_value / objective_value - 1`` on the last step (the speed-up over the
    vendor compiler's split minus one, as in ``RespectPipeline-v1``), 0 on the others; minus
    ``illegal_action_penalty`` on each illegal action. The objective (``objective=``) is the
    pipeline period in ms (``"period"``, default), one input's latency (``"latency"``) or the
    RESPECT authors' memory + crossings cost (``"paper"``), under cost-model revision 3. There is
    no dense reward: the stages, hence every objective, exist only once the order is complete.

    ## Starting State

    On ``reset`` a graph is drawn from the ``model`` source with ``self.np_random`` (or taken from
    ``options={"graph": ...}``); nothing is ordered, the ready nodes are the graph's sources.
    ``info`` holds ``action_mask``, ``illegal_action``, ``graph`` (its name) and ``graph_sha256``.

    ## Episode End

    - Termination: every node is ordered (after exactly ``n`` steps). The final ``info`` holds
      ``order`` (the node indices in the order played), ``stages`` (stage per node, graph index
      order), ``objective_value``, ``compiler_value``, ``score``, ``is_success`` (the value beats
      the compiler's by more than a 1e-9 relative margin), ``report`` (the cost model's
      :class:`~respect_gym.cost.report.PipelineReport` of the stages, as a dict),
      ``compiler_report``, ``topological_value`` (the objective of the best cut of the plain
      topological order), ``illegal_actions``, ``graph`` and ``graph_sha256``.
    - Truncation: never (wrap in ``gymnasium.wrappers.TimeLimit`` to add one).

    The cut is computed on the last step, once per episode: the latencies of the order's
    ``O(n^2)`` contiguous segments, then a DP over them; from 200 nodes on only the segments below a
    heuristic cut's value are priced, with the same result (measured on this project's 2-core
    machine, quiet: 5 ms for ResNet50 fused, 74 nodes; 60 ms for ResNet50 layers, 177 nodes; 0.09 s
    for DenseNet201 fused, 408 nodes; 0.7 s for DenseNet201 layers, 709 nodes; 0.8 s for
    InceptionResNetV2 layers, 782 nodes). ``dp_max_nodes=500`` (what the solvers' re-cut uses,
    ``respect_gym.solvers.cuts.DP_MAX_NODES``) cuts larger orders with the bisection heuristic
    instead, in milliseconds, but then the value is not the order's best: on DenseNet201 layers,
    which has essentially one topological order, it is 10% above the optimum at K=4 where the
    exact cut reaches it (``benchmarks/order_vs_exact.py``). The other steps are O(out-degree)
    plus the copy of the observation. The plain order's cut is computed once per graph.

    ## Arguments

    | parameter | type | default | description |
    |---|---|---|---|
    | model | str, list, Graph, generator, path, None | None | graph source, as ``RespectPipeline-v1`` (zoo name, generator name, graph JSON, Graph, generator object, or a list drawn from per episode); None: synthetic DNN-like graphs of 20-400 nodes |
    | num_tpus | int | 4 | K, the most pipeline stages the cut may use |
    | hardware | str or EdgeTPU | "usb3" | hardware preset (``"usb3"``, ``"pcie"``) |
    | granularity | str | "fused" | zoo graphs: ``"fused"`` or ``"layers"`` |
    | max_nodes | int or None | 1024 | node padding N (and the action space); a larger graph raises ``ObservationSizeError`` at reset; None: the source's own size |
    | max_edges | int or None | None | edge padding E (None: 4 * max_nodes, or the source's own size with ``max_nodes=None``) |
    | objective | str | "period" | ``"period"``, ``"latency"`` or ``"paper"`` |
    | revision | int or None | None | cost-model revision (v1: 3) |
    | illegal_action_penalty | float | 0.0 | subtracted from the reward per illegal action |
    | on_illegal | str | "warn" | masked-out actions: ``"warn"`` (repair, warn once per env), ``"repair"`` (silently), ``"raise"`` (``IllegalActionError``) |
    | dp_max_nodes | int or None | None | orders of more nodes are cut by the bisection heuristic of ``respect_gym.solvers.cuts`` (period and latency); None: always the exact cut DP |
    | render_mode | str or None | None | ``"ansi"``: the order so far, then the stages, as text |

    The arguments are checked by :class:`respect_gym.envs.pipeline.spec.PipelineSpec`, as the
    pipeline env's, and a wrong one raises ``EnvConfigError`` naming it.

    ## Vectorized environment

    No native vector env; ``gym.make_vec("RespectOrder-v1", num_envs=N, vectorization_mode="sync")``
    (or ``"async"``, or SB3's ``DummyVecEnv`` / ``SubprocVecEnv``) steps N of these.

    ## Version History

    - v1: first version; cost-model revision 3, the objectives and the reference of
      ``RespectPipeline-v1``.

    ## Example

    >>> import gymnasium as gym, respect_gym
    >>> env = gym.make("RespectOrder-v1", model="resnet50", num_tpus=4, max_nodes=128)
    >>> obs, info = env.reset(seed=0)
    >>> obs["node_context"].shape, info["action_mask"].nonzero()[0].tolist()
    ((128, 12), [0])
    >>> terminated = False
    >>> while not terminated:  # the smallest ready index: the plain topological order
    ...     obs, reward, terminated, truncated, info = env.step(int(info["action_mask"].argmax()))
    >>> info["objective_value"] == info["topological_value"], info["is_success"]
    (True, True)
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        model: Any = None,
        num_tpus: int = 4,
        hardware: str = "usb3",
        granularity: str = "fused",
        max_nodes: int | None = 1024,
        max_edges: int | None = None,
        objective: str = "period",
        revision: int | None = None,
        illegal_action_penalty: float = 0.0,
        on_illegal: str = "warn",
        dp_max_nodes: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise EnvConfigError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.illegal_actions = IllegalActions(on_illegal)
        self.render_mode, self.on_illegal = render_mode, on_illegal
        self.spec_args = p = PipelineSpec.parse(model, num_tpus, hardware, granularity, max_nodes, max_edges,
                                                "terminal", objective, revision, illegal_action_penalty)
        self.num_tpus, self.max_nodes, self.max_edges = p.num_tpus, p.max_nodes, p.max_edges
        self.revision, self.hardware, self.granularity = p.revision, p.hardware, p.granularity
        self.objective = p.objective
        self.illegal_action_penalty = p.illegal_action_penalty
        self.dp_max_nodes = None if dp_max_nodes is None else positive_int("dp_max_nodes", dp_max_nodes)
        n, e = self.max_nodes, self.max_edges
        self.action_space = spaces.Discrete(n)
        self.observation_space = spaces.Dict({
            "node_context": spaces.Box(-1.0, CONTEXT_CLIP, (n, NUM_NODE_CONTEXT), np.float32),
            "node_mask": spaces.Box(0, 1, (n,), np.int8),
            "edge_index": spaces.Box(0, n - 1, (2, e), np.int64),
            "edge_mask": spaces.Box(0, 1, (e,), np.int8),
            "placed": spaces.Box(0, 1, (n,), np.int8),
            "ready": spaces.Box(0, 1, (n,), np.int8),
            "position": spaces.Box(-1.0, 1.0, (n,), np.float32),
            "last_node": spaces.Box(-1, n - 1, (1,), np.int64),
            "globals": spaces.Box(0.0, CONTEXT_CLIP, (len(GLOBALS),), np.float32),
        })
        self._cache: OrderedDict[int, _Tables] = OrderedDict()
        self._tables: _Tables | None = None
        self._ready = np.zeros(n, dtype=bool)
        self._placed = np.zeros(n, dtype=bool)
        self._position = np.full(n, -1.0, dtype=np.float32)
        self._missing = np.zeros(0, dtype=np.int64)  # unordered predecessors per node
        self._order: list[int] = []
        self._illegal = 0
        self._live = False
        self._final: dict[str, Any] | None = None

    # ------------------------------------------------------------------ episode
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode on a graph drawn from the source, or on ``options["graph"]``."""
        super().reset(seed=seed)
        options = options or {}
        graph = as_graph(options["graph"], self.granularity) if "graph" in options else self.spec_args.source(self.np_random)
        self._tables = t = self._tables_of(self.spec_args.instance(graph))
        n = graph.num_nodes
        self._missing = t.in_degree.copy()
        self._ready[:] = False
        self._ready[:n] = self._missing == 0
        self._placed[:] = False
        self._position[:] = -1.0
        self._order = []
        self._illegal = 0
        self._live = True
        self._final = None
        return self._observe(), {"action_mask": self.action_masks(), "illegal_action": False, **self._graph_info()}

    def step(self, action):
        """Order node ``action`` next (the smallest ready index if it is not ready)."""
        if not self._live:
            raise InvalidActionError("step() called outside an episode: call reset() first")
        node = check_action(action, self.max_nodes, "node index")
        illegal = not self._ready[node]
        if illegal:
            self.illegal_actions.refuse(f"node {node} is not ready (ordered already, an unordered predecessor, "
                                        f"or padding)")
            ready = int(np.flatnonzero(self._ready)[0])
            self.illegal_actions.repaired(f"RespectOrderEnv repaired a masked-out action (node {node} -> {ready}; "
                                          f"penalty {self.illegal_action_penalty})")
            node = ready
            self._illegal += 1
        t = self._tables
        n = t.instance.graph.num_nodes
        self._ready[node] = False
        self._placed[node] = True
        self._position[node] = len(self._order) / n
        self._order.append(node)
        for v in t.successors[node]:
            self._missing[v] -= 1
            if self._missing[v] == 0:
                self._ready[v] = True
        done = len(self._order) == n
        reward, info = 0.0, {}
        if done:
            info = self._finish()
            reward = info["score"]
            self._live = False
        if illegal:
            reward -= self.illegal_action_penalty
        info["action_mask"] = self.action_masks()
        info["illegal_action"] = illegal
        return self._observe(), reward, done, False, info

    def action_masks(self) -> np.ndarray:
        """The ready nodes as a bool ``(max_nodes,)`` array (sb3-contrib's MaskablePPO calls this);
        all False once the episode has ended."""
        return self._ready.copy()

    # ------------------------------------------------------------------ internals
    def _tables_of(self, instance: Instance) -> _Tables:
        key = id(instance)
        found = self._cache.get(key)
        if found is not None and found.instance is instance:
            self._cache.move_to_end(key)
            return found
        graph, cm = instance.graph, instance.cost_model
        n, e, big_n, big_e = graph.num_nodes, graph.num_edges, self.max_nodes, self.max_edges
        context = np.zeros((big_n, NUM_NODE_CONTEXT), dtype=np.float32)
        context[:n] = tables(instance).context
        node_mask = np.zeros(big_n, dtype=np.int8)
        node_mask[:n] = 1
        edge_index = np.zeros((2, big_e), dtype=np.int64)
        edge_index[:, :e] = graph.edges.T
        edge_mask = np.zeros(big_e, dtype=np.int8)
        edge_mask[:e] = 1
        static = tables(instance)
        bound = float(np.clip(static.bound_ms * static.inv_reference, 0.0, CONTEXT_CLIP))
        upper = np.inf
        if not self.objective.uses_cost_model:  # paper cost: one stage is a cut, so the optimum is at most its value
            one_stage = np.zeros(n, dtype=np.int64)
            upper = float(self.objective.value(graph, one_stage, instance.num_stages, None)) * (1 + 1e-9) + 1e-9
        found = _Tables(instance, tuple(s.tolist() for s in graph.successors),
                        np.asarray(graph.in_degree, dtype=np.int64), context, node_mask, edge_index, edge_mask,
                        bound, BatchStageCost(cm), upper)
        self._cache[key] = found
        if len(self._cache) > TABLE_CACHE_SIZE:
            self._cache.popitem(last=False)
        return found

    def cut(self, order) -> tuple[float, np.ndarray]:
        """``(objective value, stage per node)`` of the cut of ``order`` (a topological order of the
        current episode's graph) into at most ``num_tpus`` stages, the env's own rule: optimal,
        unless the order has more than ``dp_max_nodes`` nodes."""
        t = self._tables
        if t is None:
            raise InvalidActionError("cut() needs a graph: call reset() first")
        instance = t.instance
        order = np.asarray(order, dtype=np.int64)
        dp_max = self.dp_max_nodes or max(order.shape[0], 1)
        value, stages = self.objective.best_cut(instance.cost_model, t.batch_cost, order, instance.num_stages,
                                                t.cut_upper, dp_max)
        if stages is None:  # cannot happen for a topological order; kept so a bad order fails clearly
            raise InvalidActionError("no cut of this order into stages was found; is it a topological order?")
        return float(value), stages

    def topological_value(self) -> float:
        """The objective of the optimal cut of the plain topological order of the current graph
        (computed once per graph)."""
        t = self._tables
        if t.topological_value is None:
            t.topological_value = self.cut(t.instance.graph.topological_order)[0]
        return t.topological_value

    def _finish(self) -> dict[str, Any]:
        instance = self._tables.instance
        order = np.asarray(self._order, dtype=np.int64)
        value, stages = self.cut(order)
        _, report = instance.evaluate(stages)
        self.objective.label(report, value)
        self._final = info = {
            "order": order.tolist(),
            "stages": stages.tolist(),
            "objective_value": value,
            "compiler_value": instance.reference,
            "score": normalised_score(instance.reference, value),
            "is_success": beats_compiler(instance.reference, value),
            "report": report.to_dict(),
            "compiler_report": instance.compiler_report.to_dict(),
            "topological_value": self.topological_value(),
            "illegal_actions": self._illegal,
            **self._graph_info(),
        }
        return dict(info)

    def _observe(self) -> dict[str, np.ndarray]:
        t = self._tables
        n = t.instance.graph.num_nodes
        return {
            "node_context": t.node_context.copy(),
            "node_mask": t.node_mask.copy(),
            "edge_index": t.edge_index.copy(),
            "edge_mask": t.edge_mask.copy(),
            "placed": self._placed.astype(np.int8),
            "ready": self._ready.astype(np.int8),
            "position": self._position.copy(),
            "last_node": np.array([self._order[-1] if self._order else -1], dtype=np.int64),
            "globals": np.array([len(self._order) / n, self.num_tpus / NUM_STAGES_SCALE, t.bound_vs_compiler],
                                dtype=np.float32),
        }

    def _graph_info(self) -> dict[str, Any]:
        return graph_info(self._tables.instance.graph)

    # ----------------------------------------------------------------- viewing
    def render(self):
        """``"ansi"``: the order so far (and, once complete, the stages) as text."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi'")
            return None
        if self._tables is None:
            raise InvalidActionError("render() called outside an episode: call reset() first")
        graph = self._tables.instance.graph
        names = graph.names
        lines = [f"{graph.meta.model}: {len(self._order)}/{graph.num_nodes} nodes ordered, K={self.num_tpus}",
                 "order: " + " ".join(names[v] for v in self._order[-12:]) + (" ..." if len(self._order) > 12 else ""),
                 "ready: " + " ".join(names[v] for v in np.flatnonzero(self._ready)[:12].tolist())]
        if self._final is not None:
            f = self._final
            stages = np.asarray(f["stages"])
            lines.append(f"{self.objective.name} {f['objective_value']:.4g} (compiler {f['compiler_value']:.4g}, "
                         f"score {f['score']:+.3f}); nodes per stage "
                         + " ".join(str(int((stages == k).sum())) for k in range(self.num_tpus)))
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        """Nothing is held open; safe to call twice."""
        self._live = False
