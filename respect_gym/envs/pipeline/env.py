"""The ``RespectPipeline-v0`` Gymnasium environment (dynamics only; see the class docstring)."""

from __future__ import annotations

import numbers
from collections import OrderedDict
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from respect_gym.cost.hardware import EdgeTPU, HardwareError, check_revision, get_hardware
from respect_gym.cost.incremental import IncrementalEvaluator
from respect_gym.cost.model import CostModel
from respect_gym.cost.report import PipelineReport
from respect_gym.envs.pipeline.observation import ObservationBuffer, observation_space, static_node_features
from respect_gym.envs.pipeline.reward import RewardFn, make_reward_fn, normalised_score
from respect_gym.envs.pipeline.sources import as_graph, make_graph_source
from respect_gym.envs.pipeline.types import EpisodeState, GraphInstance
from respect_gym.envs.pipeline.viewer import render_ansi, render_rgb
from respect_gym.graph import Graph
from respect_gym.solvers.compiler import compiler_schedule
from respect_gym.zoo import GRANULARITIES

INSTANCE_CACHE_SIZE = 64  # graphs whose static data (features, compiler split) stay cached
SUCCESS_RTOL = 1e-9  # "beats the compiler" must beat it by more than float noise


class EnvConfigError(ValueError):
    """A constructor argument of the env is invalid; the message names it."""


class InvalidActionError(ValueError):
    """An action outside ``Discrete(num_tpus)``, or a step outside a live episode."""


class RespectPipelineEnv(gym.Env[dict, np.int64]):
    """Schedule a DNN graph onto a pipeline of ``num_tpus`` Coral Edge TPUs, one node per step.

    ## Description

    A DNN graph is run as a pipeline over K Edge TPUs: stage k runs on TPU k, and throughput is
    1000 / (slowest stage latency in ms). An episode visits the graph's nodes in a fixed
    topological order (``graph.topological_order``: Kahn's algorithm, smallest index first) and
    the agent picks the stage of each node. Stages may only grow along edges, so every finished
    episode is a valid pipeline schedule; stages may stay empty (fewer TPUs used). Stage
    latencies come from respect-gym's Edge TPU cost model (compute, parameter caching and
    streaming, host transfers), updated incrementally in O(degree) per step.

    ## Action Space

    ``Discrete(num_tpus)``: the stage of the current node. Legal stages are those ``>=`` the
    largest stage of the node's predecessors, exposed three ways: the ``action_masks()`` method
    (used by sb3-contrib's MaskablePPO), ``info["action_mask"]`` (int8), and the
    :class:`~respect_gym.envs.pipeline.wrappers.ActionMaskObservation` wrapper. The mask of a
    live state is never all-false (the last stage is always legal). **Illegal actions** (masked
    out) do not crash: the nearest legal stage (the smallest legal one) is used instead,
    ``info["illegal_action"]`` is True, and ``illegal_action_penalty`` is subtracted from the
    reward. An action outside ``0..num_tpus-1`` raises :class:`InvalidActionError`.

    ## Observation Space

    A ``Dict`` of finite-bounded ``Box`` es padded to ``max_nodes`` nodes and ``max_edges`` edges
    (N, E below), ready for SB3's ``MultiInputPolicy``:

    | key | shape | dtype | meaning | min | max |
    |---|---|---|---|---|---|
    | node_features | (N, 11) | float32 | per node (graph index order): log10(1+MACs)/12, log10(1+param bytes)/10, log10(1+output bytes)/10, share of the graph's params, level / max level, in-degree/8, out-degree/8 (capped), position in the visit order / n, is-Input, assigned stage / max(K-1, 1) or -1 if unassigned, is-current | -1 | 1 |
    | node_mask | (N,) | int8 | 1 for real nodes, 0 for padding | 0 | 1 |
    | edge_index | (2, E) | int64 | column e is edge (u, v); padding (0, 0) | 0 | N-1 |
    | edge_mask | (E,) | int8 | 1 for real edges | 0 | 1 |
    | stage_features | (K, 3) | float32 | per stage: share of the graph's param bytes, running latency / compiler-split bottleneck (clipped at 16), share of the nodes | 0 | 16 |
    | current_node | (1,) | int64 | index of the node to schedule | 0 | N-1 |

    ## Rewards

    ``RespectPipeline-v1`` scores with cost-model revision 3; ``RespectPipeline-v0`` with revision 2
    and reproduces every number published on it. The objective (``objective=``) is the pipeline
    period in ms (``"period"``, default: steady-state time between outputs, i.e. throughput; v0
    also accepts its old name ``"latency"`` for it, revision 2's bottleneck stage), one input's
    latency through the pipeline (``"latency"``, v1 only) or the RESPECT authors' cost, largest
    per-stage parameter MB + edge boundary crossings (``"paper"``). It is normalised by the same objective of the vendor compiler's split of the
    same graph (``edgetpu_compiler``'s parameter-balanced segmentation, computed once per graph):
    ``score = compiler_value / agent_value - 1`` (speed-up over the compiler minus one; 0 = tie).

    - ``reward_mode="terminal"``: ``score`` on the last step, 0 on the others.
    - ``reward_mode="dense"``: ``phi(s') - phi(s)`` with ``phi(s) = ref / max(running(s), ref) - 1``
      on unfinished states (``running`` = the objective of the nodes placed so far, ``ref`` = the
      compiler's value) and ``phi = score`` on the final state; ``phi`` of the empty schedule is
      0, so the rewards of an episode sum to exactly the terminal ``score``.

    Each illegal action subtracts ``illegal_action_penalty`` (default 0) in both modes.

    ## Starting State

    On ``reset`` a graph is drawn from the ``model`` source with ``self.np_random`` (or taken
    from ``options={"graph": ...}``), nothing is assigned and the current node is the first of
    the visit order.

    ## Episode End

    - Termination: every node has a stage (after exactly ``n`` steps). The final ``info`` holds
      ``report`` (the cost model's full :class:`~respect_gym.cost.report.PipelineReport` as a
      dict: per-stage ms, parameter, cached and streamed bytes, transfers), ``schedule`` (stage
      per node), ``objective_value``, ``compiler_value``, ``score``, ``compiler_report``,
      ``illegal_actions`` and ``is_success`` (the agent's objective beats the compiler's).
    - Truncation: never (wrap in ``gymnasium.wrappers.TimeLimit`` to add one).

    ## Arguments

    | parameter | type | default | description |
    |---|---|---|---|
    | model | str, list, Graph, generator, path, None | None | zoo model name (``respect_gym.list_models()``), generator name (``"dnn"``, ``"respect"``, ``"respect-val"``), graph JSON file, Graph, generator object (callable on a numpy Generator), or a list of these (one drawn per episode). None: synthetic DNN-like graphs (``DnnGraphGenerator``, 20-400 nodes capped at ``max_nodes``) |
    | num_tpus | int | 4 | pipeline stages K |
    | hardware | str or EdgeTPU | "usb3" | hardware preset (``"usb3"``, ``"pcie"``) |
    | granularity | str | "fused" | zoo graphs: ``"fused"`` (ops the TPU runs) or ``"layers"`` (Keras layers) |
    | max_nodes | int | 1024 | node padding N; a larger graph raises ``ObservationSizeError`` at reset |
    | max_edges | int or None | None | edge padding E (None: 4 * max_nodes) |
    | reward_mode | str | "terminal" | ``"terminal"`` or ``"dense"`` |
    | objective | str | "period" | ``"period"``, ``"latency"`` or ``"paper"`` (see Rewards) |
    | revision | int or None | None | cost-model revision (v0: 2, v1: 3; None: the latest) |
    | reward_fn | RewardFn or None | None | replaces ``reward_mode`` / ``objective`` |
    | illegal_action_penalty | float | 0.0 | subtracted from the reward per illegal action |
    | render_mode | str or None | None | ``"ansi"`` (text table) or ``"rgb_array"`` (bar charts) |

    ## Vectorized environment

    ``gym.make_vec("RespectPipeline-v0", num_envs=8, vectorization_mode="async", ...)`` and SB3's
    ``SubprocVecEnv`` both work (the env pickles). MaskablePPO reaches ``action_masks()`` through
    either; with gymnasium vector envs read ``info["action_mask"]``.

    ## Version History

    - v0: initial version (cost model of ``respect_gym.cost``).

    ## Example

    >>> import gymnasium as gym, respect_gym
    >>> env = gym.make("RespectPipeline-v0", model="resnet50", num_tpus=4)
    >>> obs, info = env.reset(seed=0)
    >>> obs["node_features"].shape, info["action_mask"].tolist()
    ((1024, 11), [1, 1, 1, 1])
    >>> terminated = False
    >>> while not terminated:
    ...     obs, reward, terminated, truncated, info = env.step(int(info["action_mask"].argmax()))
    >>> info["schedule"] == [0] * len(info["schedule"]), info["report"]["num_stages"]
    (True, 4)
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        model: Any = None,
        num_tpus: int = 4,
        hardware: str | EdgeTPU = "usb3",
        granularity: str = "fused",
        max_nodes: int = 1024,
        max_edges: int | None = None,
        reward_mode: str = "terminal",
        objective: str = "period",
        revision: int | None = None,
        reward_fn: RewardFn | None = None,
        illegal_action_penalty: float = 0.0,
        render_mode: str | None = None,
    ) -> None:
        self.num_tpus = _positive_int("num_tpus", num_tpus)
        self.max_nodes = _positive_int("max_nodes", max_nodes)
        self.max_edges = _positive_int("max_edges", 4 * self.max_nodes if max_edges is None else max_edges)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise EnvConfigError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        if not isinstance(illegal_action_penalty, numbers.Real) or not np.isfinite(illegal_action_penalty):
            raise EnvConfigError(f"illegal_action_penalty must be a finite number, got {illegal_action_penalty!r}")
        if granularity not in GRANULARITIES:
            raise EnvConfigError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
        self.render_mode = render_mode
        try:
            self.revision = check_revision(revision)
            self.hardware = get_hardware(hardware, self.revision)
        except HardwareError as exc:
            raise EnvConfigError(str(exc)) from None
        if self.revision == 2 and objective == "latency":
            objective = "period"  # v0's "latency" is revision 2's bottleneck, i.e. its period
        self.granularity = granularity
        self.illegal_action_penalty = float(illegal_action_penalty)
        self.reward_fn = reward_fn if reward_fn is not None else make_reward_fn(reward_mode, objective)
        self._source = make_graph_source(model, granularity, self.max_nodes)
        self.action_space = spaces.Discrete(self.num_tpus)
        self.observation_space = observation_space(self.max_nodes, self.max_edges, self.num_tpus)
        self._obs = ObservationBuffer(self.max_nodes, self.max_edges, self.num_tpus)
        self._mask = np.ones(self.num_tpus, dtype=np.int8)
        self._instances: OrderedDict[int, GraphInstance] = OrderedDict()
        self._state: EpisodeState | None = None

    # ------------------------------------------------------------------ graphs
    def graph_instance(self, graph: Graph) -> GraphInstance:
        """Static data of ``graph`` (features, cost model, compiler split), built once and cached."""
        cached = self._instances.get(id(graph))
        if cached is not None and cached.graph is graph:
            self._instances.move_to_end(id(graph))
            return cached
        self._obs.check_fits(graph)
        cost_model = CostModel(graph, self.hardware, self.revision)
        compiler_stages = compiler_schedule(graph, self.num_tpus)
        compiler_report = cost_model.evaluate(compiler_stages, self.num_tpus)
        objective = self.reward_fn.objective
        reference = float(objective.value(graph, compiler_stages, self.num_tpus, compiler_report))
        _label_objective(compiler_report, objective.name, reference)
        instance = GraphInstance(
            graph=graph,
            cost_model=cost_model,
            order=graph.topological_order,
            node_features=static_node_features(graph),
            compiler_stages=compiler_stages,
            compiler_report=compiler_report,
            reference=reference,
        )
        self._instances[id(graph)] = instance
        if len(self._instances) > INSTANCE_CACHE_SIZE:
            self._instances.popitem(last=False)
        return instance

    # ----------------------------------------------------------------- episode
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode on a graph drawn from the source, or on ``options["graph"]``."""
        super().reset(seed=seed)
        options = options or {}
        if "graph" in options:
            graph = as_graph(options["graph"], self.granularity)
        else:
            graph = self._source(self.np_random)
        instance = self.graph_instance(graph)
        self._state = state = EpisodeState(
            instance=instance,
            evaluator=IncrementalEvaluator(instance.cost_model, self.num_tpus),
            stage_nodes=np.zeros(self.num_tpus, dtype=np.int64),
        )
        self.reward_fn.reset(state)
        self._obs.load(graph, instance.node_features, instance.compiler_report.bottleneck_ms,
                       int(instance.cost_model.param_bytes.sum()))
        self._advance(state)
        return self._obs.snapshot(), {"action_mask": self._mask.copy(), "illegal_action": False}

    def step(self, action):
        """Place the current node on stage ``action`` (repaired to the nearest legal stage)."""
        state = self._state
        if state is None or state.done:
            raise InvalidActionError("step() called outside an episode: call reset() first")
        stage = self._check_action(action)
        illegal = stage < state.min_stage
        if illegal:
            stage = state.min_stage
            state.illegal_actions += 1
        node = state.current_node
        evaluator = state.evaluator
        evaluator.assign(node, stage)
        state.stage_nodes[stage] += 1
        state.step += 1
        self._obs.assign(node, stage, evaluator.stage_ms, evaluator.stage_param_bytes, state.stage_nodes)
        info: dict[str, Any]
        if state.done:
            info, final = self._final_info(state)
        else:
            self._advance(state)
            info, final = {}, None
        reward = self.reward_fn(state, node, final)
        if illegal:
            reward -= self.illegal_action_penalty
        info["action_mask"] = self._mask.copy()
        info["illegal_action"] = illegal
        return self._obs.snapshot(), reward, state.done, False, info

    def action_masks(self) -> np.ndarray:
        """Legal stages of the current node as a bool array (sb3-contrib's MaskablePPO calls this)."""
        return self._mask.astype(bool)

    def _advance(self, state: EpisodeState) -> None:
        node = state.current_node
        preds = state.instance.graph.predecessors[node]
        state.min_stage = int(state.stages[preds].max()) if preds.size else 0
        self._mask.fill(0)
        self._mask[state.min_stage :] = 1
        self._obs.set_current(node)

    def _check_action(self, action) -> int:
        if isinstance(action, (int, np.integer)) and not isinstance(action, bool):
            stage = int(action)
        else:
            array = np.asarray(action)
            if array.size != 1 or array.dtype.kind not in "iu":
                raise InvalidActionError(f"action must be one integer stage in 0..{self.num_tpus - 1}, got {action!r}")
            stage = int(array.reshape(()))
        if not 0 <= stage < self.num_tpus:
            raise InvalidActionError(f"action {stage} is outside Discrete({self.num_tpus}) (stages 0..{self.num_tpus - 1})")
        return stage

    def _final_info(self, state: EpisodeState) -> tuple[dict[str, Any], float]:
        instance = state.instance
        report = state.evaluator.report()
        stages = state.stages.copy()
        objective = self.reward_fn.objective
        final = float(objective.value(instance.graph, stages, self.num_tpus, report))
        _label_objective(report, objective.name, final)
        info = {
            "report": report.to_dict(),
            "schedule": stages.tolist(),
            "objective_value": final,
            "compiler_value": instance.reference,
            "score": normalised_score(instance.reference, final),
            "compiler_report": instance.compiler_report.to_dict(),
            "illegal_actions": state.illegal_actions,
            "is_success": final < instance.reference * (1.0 - SUCCESS_RTOL),
        }
        return info, final

    # ----------------------------------------------------------------- viewing
    def render(self):
        """``"ansi"``: the pipeline so far as text; ``"rgb_array"``: bar charts as an image."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'rgb_array'")
            return None
        if self._state is None:
            raise InvalidActionError("render() called outside an episode: call reset() first")
        return render_ansi(self._state) if self.render_mode == "ansi" else render_rgb(self._state)

    def close(self) -> None:
        """Nothing is held open (figures are closed after each frame); safe to call twice."""
        self._state = None

    @property
    def state(self) -> EpisodeState | None:
        """The live episode state (read it, do not modify it)."""
        return self._state

    def __getstate__(self) -> dict[str, Any]:
        data = self.__dict__.copy()
        data["_instances"] = OrderedDict()  # rebuilt on demand; keeps pickles small
        return data


def _positive_int(label: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise EnvConfigError(f"{label} must be an integer >= 1, got {value!r}")
    return int(value)


def _label_objective(report: PipelineReport, objective: str, value: float) -> None:
    """Record in ``report`` which objective scored it (and the paper cost, for that objective)."""
    report.objective = objective
    if objective == "paper":
        report.paper_cost = value
