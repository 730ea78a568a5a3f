"""The ``RespectPipeline-v1`` Gymnasium environment: one episode of the problem kernel behind ``gym.Env``."""

from __future__ import annotations

import sys
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from respect_gym.envs.pipeline.sources import as_graph
from respect_gym.envs.pipeline.spec import EnvConfigError, PipelineSpec
from respect_gym.envs.pipeline.viewer import render_ansi, render_rgb
from respect_gym.problem.observe import View, make_view
from respect_gym.problem.reward import Reward, beats_compiler, final_values, normalised_score
from respect_gym.problem.state import Episode, State, Transition, cut_choices, cut_legal, legal, reset, step

_ROW = np.zeros(1, dtype=np.int64)  # the single env is row 0 of a one-episode kernel state

INFO_MODES = ("full", "flat", "final")  # info=: v1's dicts; fixed numeric schema; empty mid-episode
ON_ILLEGAL = ("warn", "repair", "raise")  # on_illegal=: what a masked-out action does
ACTIONS = ("stage", "cut")  # action=: the stage of the current node; stay on the open stage (0) or open the next (1)
# info="flat": the same keys on every step (zero until they mean something), numpy scalars
FLAT_INFO_KEYS = ("action_mask", "illegal_action", "illegal_actions", "score", "objective_value", "compiler_value",
                  "is_success")
FINAL_INFO_KEYS = FLAT_INFO_KEYS[2:]  # info="final": these, on the step that ends an episode only

__all__ = ["EnvConfigError", "FLAT_INFO_KEYS", "IllegalActionError", "IllegalActionWarning", "InvalidActionError",
           "RespectPipelineEnv"]


class InvalidActionError(ValueError):
    """An action outside ``Discrete(num_tpus)``, or a step outside a live episode."""


class IllegalActionError(InvalidActionError):
    """A masked-out stage under ``on_illegal="raise"`` (the episode is left as it was)."""


class IllegalActionWarning(UserWarning):
    """The first masked-out stage an env repaired (``on_illegal="warn"``, the default)."""


class IllegalActions:
    """What an env does with masked-out actions (``on_illegal``): ``"repair"`` them silently,
    ``"warn"`` (repair, and one :class:`IllegalActionWarning` per env) or ``"raise"``
    :class:`IllegalActionError` before anything moves. One per env; the env says what was masked."""

    def __init__(self, on_illegal: str) -> None:
        if on_illegal not in ON_ILLEGAL:
            raise EnvConfigError(f"on_illegal must be one of {ON_ILLEGAL}, got {on_illegal!r}")
        self.mode = on_illegal
        self._warned = False

    @property
    def strict(self) -> bool:
        """Whether masked-out actions raise (check them before a step; otherwise they are repaired)."""
        return self.mode == "raise"

    def refuse(self, what: str) -> None:
        """Before a step with a masked-out action: under ``"raise"``, raise, ``what`` saying which."""
        if self.mode == "raise":
            raise IllegalActionError(f"{what} (on_illegal='raise'); read action_masks() or info['action_mask']")

    def repaired(self, what: str) -> None:
        """After a repair: under ``"warn"``, the env's first one warns, ``what`` saying what was repaired."""
        if self.mode == "warn" and not self._warned:
            self._warned = True
            warnings.warn(f"{what}; illegal actions are counted in info but not warned again for this env. Mask the "
                          f"policy with action_masks() / info['action_mask'], or pass on_illegal='raise' (strict) "
                          f"or 'repair' (silent)", IllegalActionWarning, stacklevel=caller_stacklevel())


class Actions:
    """What an env's actions name (``action``): ``"stage"``, the current node's stage
    (``Discrete(K)``); or ``"cut"``, ``Discrete(2)``: 0 puts it on the open stage (the largest stage
    holding a node), 1 opens the next stage with it, so an episode is a cut of the visit order
    (:func:`respect_gym.problem.state.cut_choices`). One definition for the single and vector envs."""

    def __init__(self, mode: str, num_tpus: int) -> None:
        if mode not in ACTIONS:
            raise EnvConfigError(f"action must be one of {ACTIONS}, got {mode!r}")
        self.mode = mode
        self.size = num_tpus if mode == "stage" else 2
        self.what = "stage" if mode == "stage" else "cut (0 stay, 1 next stage)"

    def mask(self, state: State, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """``(len(rows), size)`` bool: the legal actions of each episode."""
        return legal(state, rows) if self.mode == "stage" else cut_legal(state, rows)

    def stages(self, state: State, rows: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The stage each action names, and which actions are masked out. A masked-out stage is
        left for the kernel to repair; a masked-out cut is repaired here to "stay" (and counted)."""
        if self.mode == "stage":
            return actions, actions < state.min_stage[rows]
        open_stage, mask = cut_choices(state, rows)
        bad = (actions == 1) & ~mask[:, 1]
        state.illegal_actions[rows[bad]] += 1
        return open_stage + np.where(bad, 0, actions), bad


def check_action(action: Any, size: int, what: str) -> int:
    """One integer action in ``0..size-1`` (``what`` names it in the error: "stage", "node index")."""
    if isinstance(action, (int, np.integer)) and not isinstance(action, bool):
        value = int(action)
    else:
        array = np.asarray(action)
        if array.size != 1 or array.dtype.kind not in "iu":
            raise InvalidActionError(f"action must be one integer {what} in 0..{size - 1}, got {action!r}")
        value = int(array.reshape(()))
    if not 0 <= value < size:
        raise InvalidActionError(f"action {value} is outside Discrete({size}) ({what}s 0..{size - 1})")
    return value


def graph_info(graph) -> dict[str, Any]:
    """What ``info`` says of the graph an episode schedules: its name and content hash."""
    return {"graph": graph.meta.model, "graph_sha256": graph.sha256()}


class RespectPipelineEnv(gym.Env[dict, np.int64]):
    """Schedule a DNN graph onto a pipeline of ``num_tpus`` Coral Edge TPUs, one node per step.

    ## Description

    A DNN graph is run as a pipeline over K Edge TPUs: stage k runs on TPU k, and throughput is
    1000 / period, the period being the slowest stage (or the host's serial per-stage work when
    that is longer). An episode visits the graph's nodes in a fixed topological order
    (``graph.topological_order``: Kahn's algorithm, smallest index first) and the agent picks the
    stage of each node. Stages may only grow along edges, so every finished episode is a valid
    pipeline schedule; stages may stay empty (fewer TPUs used). Stage latencies come from
    respect-gym's Edge TPU cost model (compute, parameter caching and streaming, host transfers),
    updated incrementally in O(in-degree) per step by the problem kernel
    (:mod:`respect_gym.problem.state`), which also steps the native vector env
    (``gym.make_vec``) through the same transitions.

    ## Action Space

    ``Discrete(num_tpus)`` (``action="stage"``, default): the stage of the current node. Legal
    stages are those ``>=`` the largest stage of the node's predecessors.

    ``Discrete(2)`` (``action="cut"``): 0 puts the current node on the open stage (the largest
    stage holding a node), 1 opens the next stage with it; "open the next" is legal when the open
    stage holds a node and is not the last. An episode is then a cut of the visit order into at
    most K contiguous segments, the action space of order-based schedulers (and of the exact cut
    DP that the ``"decision-v2"`` view summarises); the best such cut is 0.9% above the optimum over
    all schedules on average on the zoo (fused), 21.7% at most (agents/RESULTS.md).

    The legal actions are exposed four ways: the ``action_masks()`` method
    (bool, used by sb3-contrib's MaskablePPO), ``info["action_mask"]`` (int8; bool with
    ``info="flat"``), inside the observation with ``action_mask_key=`` (bool), and the
    :class:`~respect_gym.envs.pipeline.wrappers.ActionMask` wrapper (bool, any observation, any
    key). The mask of a live state is never all-false (the last stage is always legal).

    **Illegal actions** (masked out), by ``on_illegal``: ``"warn"`` (default) repairs them (the
    smallest legal stage is used instead, ``info["illegal_action"]`` is True and
    ``illegal_action_penalty`` is subtracted from the reward) and issues one
    :class:`IllegalActionWarning` on the first one an env repairs; ``"repair"`` does the same
    silently; ``"raise"`` (strict) raises :class:`IllegalActionError` and leaves the episode as it
    was. An action outside ``0..num_tpus-1`` raises :class:`InvalidActionError`.

    A uniformly random masked policy drifts towards the last stage: once a node sits on stage k,
    every later consumer must too, so random play usually ends with most nodes on the last TPUs.
    That is the floor learners start from, not a bug.

    ## Observation Space

    Chosen by ``observation`` (views of the kernel state, :mod:`respect_gym.problem.observe`):

    - ``"graph"`` (default): a ``Dict`` of finite-bounded ``Box`` es padded to ``max_nodes``
      nodes and ``max_edges`` edges (N, E below), ready for SB3's ``MultiInputPolicy``:

    | key | shape | dtype | meaning | min | max |
    |---|---|---|---|---|---|
    | node_features | (N, 11) | float32 | per node (graph index order): log10(1+MACs)/12, log10(1+param bytes)/10, log10(1+output bytes)/10, share of the graph's params, level / max level, in-degree/8, out-degree/8 (capped), position in the visit order / n, is-Input, assigned stage / max(K-1, 1) or -1 if unassigned, is-current | -1 | 1 |
    | node_mask | (N,) | int8 | 1 for real nodes, 0 for padding | 0 | 1 |
    | edge_index | (2, E) | int64 | column e is edge (u, v); padding (0, 0) | 0 | N-1 |
    | edge_mask | (E,) | int8 | 1 for real edges | 0 | 1 |
    | stage_features | (K, 3) | float32 | per stage: share of the graph's param bytes, running latency / compiler-split bottleneck (clipped at 16), share of the nodes | 0 | 16 |
    | current_node | (1,) | int64 | index of the node to schedule | 0 | N-1 |

    - ``"compact"``: one flat ``Box`` (the step context of :mod:`respect_gym.problem.features`:
      the current and ``lookahead`` upcoming nodes, per-stage running totals, graph-level
      numbers), for MLPs on any graph size; the same as the ``CompactObservation`` wrapper.
    - ``"context"``: the padded graph with static node context plus the stage and global context,
      for message-passing policies; the same as the ``GraphContextObservation`` wrapper.
    - ``"decision"``: ``Box(-1, 16, (29,), float32)``, what the choice between staying on the open
      stage and opening the next one depends on (``respect_gym.problem.features.DECISION_FEATURES``:
      the open stage's latency with and without the node, the slowest closed stage, the work left
      per stage left, the transfers a cut here or further on would pay, and greedy-probe estimates
      of the best period after each choice), latencies divided by the same probe's estimate of the
      whole instance's best period at reset: the same numbers on any graph and K, for MLPs with
      ``action="cut"``. ``"decision-v2"`` is the same 29 columns with probes priced as the cost
      model prices a stage (each stage pays the invoke overhead, the first stage after a cut its
      share of the cut's transfers, and the period is at least the host's work for the stages
      used); ``"decision"`` is the first version, kept as it was so its numbers reproduce (its
      probes leave those three terms out, and a rule reading them lands 28.5% above the optimum
      on the zoo against 1.5% with ``"decision-v2"``). New work should use ``"decision-v2"``.

    ``action_mask_key="action_mask"`` (TorchRL, PufferLib) or ``"mask"`` (Tianshou) adds the bool
    mask ``Box(0, 1, (K,), bool)`` to the observation under that key: a ``Dict`` view gains the key,
    the ``"compact"`` ``Box`` becomes ``{"observation": box, key: mask}``.

    ## Rewards

    ``RespectPipeline-v1`` scores with cost-model revision 3; ``RespectPipeline-v0`` with revision 2
    and reproduces every number published on it. The objective (``objective=``) is the pipeline
    period in ms (``"period"``, default: steady-state time between outputs, i.e. throughput; v0
    also accepts its old name ``"latency"`` for it, revision 2's bottleneck stage), one input's
    latency through the pipeline (``"latency"``, v1 only) or the RESPECT authors' cost, largest
    per-stage parameter MB + edge boundary crossings (``"paper"``). It is normalised by the same
    objective of the vendor compiler's split of the same graph (``edgetpu_compiler``'s
    parameter-balanced segmentation, computed once per graph):
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
    the visit order. ``info`` holds ``action_mask``, ``illegal_action``, and the drawn graph's
    ``graph`` name and ``graph_sha256``.

    ## Episode End

    - Termination: every node has a stage (after exactly ``n`` steps). The final ``info`` holds
      ``report`` (the cost model's full :class:`~respect_gym.cost.report.PipelineReport` as a
      dict: per-stage ms, parameter, cached and streamed bytes, transfers), ``schedule`` (stage
      per node), ``objective_value``, ``compiler_value``, ``score``, ``compiler_report``,
      ``illegal_actions``, ``is_success`` (the agent's objective beats the compiler's), ``graph``
      and ``graph_sha256``.
    - Truncation: never (wrap in ``gymnasium.wrappers.TimeLimit`` to add one).

    ## Info

    ``info="full"`` (default): as above, nested on the last step. ``info="flat"``: a fixed schema,
    the same keys on every step and at reset, numpy scalars, nothing nested (what TorchRL's
    ``auto_register_info_dict`` and replay buffers need): ``action_mask`` (bool), ``illegal_action``,
    ``illegal_actions`` (so far), and ``score``, ``objective_value``, ``compiler_value``,
    ``is_success``, 0 / False until the step that ends the episode. ``info="final"``: ``{}`` at
    reset and mid-episode (PufferLib passes every non-empty info through a pipe), the four final
    keys and ``illegal_actions`` on the last step. In every mode, :meth:`final_info` returns the
    full final info (``report``, ``schedule``, ``compiler_report``, ...) of the episode that just
    ended, until the next ``reset``.

    ``num_tpus=1`` is allowed (one stage: every episode is the whole graph on one TPU, scoring 0
    against the compiler, which has nothing to split either); it is the single-TPU baseline.

    ## Arguments

    | parameter | type | default | description |
    |---|---|---|---|
    | model | str, list, Graph, generator, path, None | None | zoo model name (``respect_gym.list_models()``), generator name (``"dnn"``, ``"respect"``, ``"respect-val"``), graph JSON file, Graph, generator object (callable on a numpy Generator), or a list of these (one drawn per episode). None: synthetic DNN-like graphs (``DnnGraphGenerator``, 20-400 nodes capped at ``max_nodes``) |
    | num_tpus | int | 4 | pipeline stages K |
    | hardware | str or EdgeTPU | "usb3" | hardware preset (``"usb3"``, ``"pcie"``) |
    | granularity | str | "fused" | zoo graphs: ``"fused"`` (ops the TPU runs) or ``"layers"`` (Keras layers) |
    | max_nodes | int or None | 1024 | node padding N; a larger graph raises ``ObservationSizeError`` at reset; None: the graph source's own size (a fixed graph's node count, a generator's largest) |
    | max_edges | int or None | None | edge padding E (None: 4 * max_nodes, or the source's own size with ``max_nodes=None``) |
    | reward_mode | str | "terminal" | ``"terminal"`` or ``"dense"`` |
    | objective | str | "period" | ``"period"``, ``"latency"`` or ``"paper"`` (see Rewards) |
    | revision | int or None | None | cost-model revision (v0: 2, v1: 3; None: the latest) |
    | illegal_action_penalty | float | 0.0 | subtracted from the reward per illegal action |
    | observation | str | "graph" | ``"graph"``, ``"compact"``, ``"context"``, ``"decision-v2"`` or ``"decision"`` (see Observation Space) |
    | action | str | "stage" | ``"stage"`` (the node's stage) or ``"cut"`` (stay on the open stage / open the next one; see Action Space) |
    | lookahead | int | 4 | upcoming nodes in the ``"compact"`` view |
    | render_mode | str or None | None | ``"ansi"`` (text table) or ``"rgb_array"`` (bar charts) |
    | on_illegal | str | "warn" | masked-out actions: ``"warn"`` (repair, warn once per env), ``"repair"`` (silently), ``"raise"`` (:class:`IllegalActionError`) |
    | info | str | "full" | ``"full"`` (v1's info), ``"flat"`` (fixed numeric schema every step) or ``"final"`` (empty until the last step); see Info |
    | action_mask_key | str or None | None | put the bool action mask into the observation under this key (see Observation Space) |

    ## Vectorized environment

    ``gym.make_vec("RespectPipeline-v1", num_envs=4096, observation="compact")`` builds the native
    vector env (:class:`~respect_gym.envs.pipeline.vector.RespectPipelineVectorEnv`): every episode
    of the batch stepped together by the kernel, over a million steps per second on one core
    (``benchmarks/env_speed.py``); sub-env ``i`` after ``reset(seed=s)`` plays what this env plays
    after ``reset(seed=s + i)``. ``vectorization_mode="async"`` / ``"sync"`` and SB3's
    ``SubprocVecEnv`` also work (the env pickles); MaskablePPO reaches ``action_masks()`` through
    them.

    ## Version History

    - v1: cost-model revision 3 (the period includes the host's serial work; channel-padded
      compute, tiled streaming; docs/cost_model.md); objectives ``"period"``, ``"latency"`` (one
      input's latency) and ``"paper"``; the env became a shell over the problem kernel with the
      ``observation`` argument and a native vector env (same spaces, episodes and numbers:
      tests/test_v1_golden.py); reset and final ``info`` name the graph and its SHA-256. Opt-in
      options that leave the default's spaces, info and numbers as they were: ``on_illegal``
      (the default ``"warn"`` adds a Python warning only), ``info``, ``action_mask_key``, and
      (since respect-gym's stop 27) ``action="cut"`` with ``observation="decision"``, where an
      episode is a cut of the visit order (the same cost model, rewards and scores); since
      respect-gym's stop 28 ``observation="decision-v2"`` (``"decision"`` unchanged).
    - v0: cost-model revision 2, frozen (tests/test_v0_golden.py); its ``objective="latency"``
      is revision 2's bottleneck stage, i.e. its period.

    ## Example

    >>> import gymnasium as gym, respect_gym
    >>> env = gym.make("RespectPipeline-v1", model="resnet50", num_tpus=4)
    >>> obs, info = env.reset(seed=0)
    >>> obs["node_features"].shape, info["action_mask"].tolist(), info["graph"]
    ((1024, 11), [1, 1, 1, 1], 'resnet50')
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
        hardware: str = "usb3",
        granularity: str = "fused",
        max_nodes: int | None = 1024,
        max_edges: int | None = None,
        reward_mode: str = "terminal",
        objective: str = "period",
        revision: int | None = None,
        illegal_action_penalty: float = 0.0,
        observation: str = "graph",
        lookahead: int = 4,
        render_mode: str | None = None,
        on_illegal: str = "warn",
        info: str = "full",
        action_mask_key: str | None = None,
        action: str = "stage",
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise EnvConfigError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        if info not in INFO_MODES:
            raise EnvConfigError(f"info must be one of {INFO_MODES}, got {info!r}")
        if action_mask_key is not None and (not isinstance(action_mask_key, str) or not action_mask_key):
            raise EnvConfigError(f"action_mask_key must be a non-empty string or None, got {action_mask_key!r}")
        self.illegal_actions = IllegalActions(on_illegal)
        self.on_illegal, self.info_mode, self.action_mask_key = on_illegal, info, action_mask_key
        self._final_value: float | None = None  # the objective of the episode that just ended
        self.render_mode = render_mode
        self.spec_args = p = PipelineSpec.parse(model, num_tpus, hardware, granularity, max_nodes, max_edges,
                                                reward_mode, objective, revision, illegal_action_penalty, observation)
        self.num_tpus, self.max_nodes, self.max_edges = p.num_tpus, p.max_nodes, p.max_edges
        self.revision, self.hardware, self.granularity = p.revision, p.hardware, p.granularity
        self.objective = p.objective
        self.illegal_action_penalty = p.illegal_action_penalty
        self.lookahead = int(lookahead)
        self.actions = Actions(action, p.num_tpus)
        self.action_space = spaces.Discrete(self.actions.size)
        # the kernel state of one episode, and the views over it
        self._state = p.new_state(1)
        self._views: dict[tuple[str, int], View] = {}
        self._reward = Reward(self._state, self.objective, p.reward_mode)
        self._live = False
        self.observation_space = self.view_space(p.observation, self.lookahead)
        if action_mask_key is not None:
            self.observation_space = with_mask_space(self.observation_space, self.actions.size, action_mask_key)

    # ------------------------------------------------------------------ episode
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode on a graph drawn from the source, or on ``options["graph"]``."""
        super().reset(seed=seed)
        options = options or {}
        graph = as_graph(options["graph"], self.granularity) if "graph" in options else self.spec_args.source(self.np_random)
        instance = self.spec_args.instance(graph)
        reset(self._state, _ROW, [instance])
        for view in self._views.values():
            view.reset(_ROW)
        self._reward.reset(_ROW)
        self._live = True
        self._final_value = None
        if self.info_mode == "full":
            info = {"action_mask": self._mask(), "illegal_action": False, **self._graph_info()}
        else:
            info = self._flat_info(False, None) if self.info_mode == "flat" else {}
        return self._observe(), info

    def step(self, action):
        """Place the current node on stage ``action`` (repaired to the smallest legal stage)."""
        if not self._live:
            raise InvalidActionError("step() called outside an episode: call reset() first")
        chosen = check_action(action, self.actions.size, self.actions.what)
        if not self.action_masks()[chosen]:
            self.illegal_actions.refuse(f"{self.actions.mode} {chosen} is masked out for node "
                                        f"{int(self._state.node[0])} (legal: {np.flatnonzero(self.action_masks()).tolist()})")
        stages, repaired = self.actions.stages(self._state, _ROW, np.array([chosen]))
        transition = step(self._state, _ROW, stages)
        for view in self._views.values():
            view.after_step(_ROW, transition)
        done = bool(transition.done[0])
        final = final_values(self.objective, self._state, _ROW[transition.done])
        reward = float(self._reward(_ROW, transition, final)[0])
        illegal = bool(transition.illegal[0] or repaired[0])
        if illegal:
            reward -= self.illegal_action_penalty
            self.illegal_actions.repaired(f"RespectPipelineEnv repaired a masked-out action ({self.actions.mode} "
                                          f"{chosen} -> stage {int(transition.stage[0])}; penalty "
                                          f"{self.illegal_action_penalty})")
        self._live = not done
        if done:
            self._final_value = float(final[0])
        if self.info_mode == "full":
            info = self._final_info(self._final_value) if done else {}
            info["action_mask"] = self._mask()
            info["illegal_action"] = illegal
        elif self.info_mode == "flat":
            info = self._flat_info(illegal, self._final_value)
        else:
            info = {k: v for k, v in self._flat_info(illegal, self._final_value).items() if k in FINAL_INFO_KEYS} \
                if done else {}
        return self._observe(), reward, done, False, info

    def action_masks(self) -> np.ndarray:
        """Legal actions as a bool array (sb3-contrib's MaskablePPO calls this): the stages of the
        current node, or with ``action="cut"`` the two cut actions."""
        return self.actions.mask(self._state, _ROW)[0]

    # ------------------------------------------------------------------ views
    def view_space(self, name: str, lookahead: int = 4) -> spaces.Space:
        """The observation space of view ``name`` (one of ``"graph"``, ``"compact"``, ``"context"``)."""
        return self._view(name, lookahead).space

    def observe(self, name: str, lookahead: int = 4):
        """The current observation under view ``name`` (the wrappers' source; a fresh copy)."""
        view = self._view(name, lookahead)
        return _unbatch(view.observe(_ROW))

    def _view(self, name: str, lookahead: int) -> View:
        key = (name, int(lookahead) if name == "compact" else 0)
        view = self._views.get(key)
        if view is None:
            try:
                view = make_view(name, self._state, self.max_edges, lookahead)
            except ValueError as exc:
                raise EnvConfigError(str(exc)) from None
            if self._live or self._state.step[0] > 0:
                view.reset(_ROW)  # a view added mid-episode starts from the static tables ...
                _replay(self._state, view)  # ... and the steps taken so far
            self._views[key] = view
        return view

    def _observe(self):
        observation = self.observe(self.spec_args.observation, self.lookahead)
        if self.action_mask_key is None:
            return observation
        return with_mask(observation, self.action_masks(), self.action_mask_key)

    def final_info(self) -> dict[str, Any]:
        """The full final ``info`` of the episode that just ended (``report``, ``schedule``,
        ``compiler_report``, ... as ``info="full"`` gives it), whatever ``info`` mode the env has;
        available from the step that ends an episode until the next ``reset``."""
        if self._live or self._final_value is None:
            raise InvalidActionError("final_info() is available after the step that ends an episode, before reset()")
        return self._final_info(self._final_value)

    # ------------------------------------------------------------------ internals
    def _mask(self) -> np.ndarray:
        return self.action_masks().astype(np.int8)

    def _graph_info(self) -> dict[str, Any]:
        return graph_info(self._state.instance(0).graph)

    def _flat_info(self, illegal: bool, final: float | None) -> dict[str, Any]:
        """``info="flat"``: the same numeric keys on every step, numpy scalars, zero until they mean something."""
        info = {"action_mask": self.action_masks(), "illegal_action": np.bool_(illegal),
                "illegal_actions": np.int64(self._state.illegal_actions[0])}
        if final is None:
            info.update(score=np.float64(0.0), objective_value=np.float64(0.0), compiler_value=np.float64(0.0),
                        is_success=np.bool_(False))
        else:
            reference = self._state.instance(0).reference
            info.update(score=np.float64(normalised_score(reference, final)), objective_value=np.float64(final),
                        compiler_value=np.float64(reference),
                        is_success=np.bool_(beats_compiler(reference, final)))
        return info

    def _final_info(self, final: float) -> dict[str, Any]:
        instance = self._state.instance(0)
        report = self._state.report(0)
        self.objective.label(report, final)
        return {
            "report": report.to_dict(),
            "schedule": self._state.schedule(0).tolist(),
            "objective_value": final,
            "compiler_value": instance.reference,
            "score": normalised_score(instance.reference, final),
            "compiler_report": instance.compiler_report.to_dict(),
            "illegal_actions": int(self._state.illegal_actions[0]),
            "is_success": beats_compiler(instance.reference, final),
            **self._graph_info(),
        }

    # ----------------------------------------------------------------- viewing
    def render(self):
        """``"ansi"``: the pipeline so far as text; ``"rgb_array"``: bar charts as an image."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'rgb_array'")
            return None
        if not self._live and self._state.step[0] == 0:
            raise InvalidActionError("render() called outside an episode: call reset() first")
        return render_ansi(self.state) if self.render_mode == "ansi" else render_rgb(self.state)

    def close(self) -> None:
        """Nothing is held open (figures are closed after each frame); safe to call twice."""
        self._live = False

    @property
    def state(self) -> Episode | None:
        """A read-only look at the episode (:class:`~respect_gym.problem.state.Episode`), None before reset."""
        return Episode(self._state, 0) if self._live or self._state.step[0] > 0 else None

    @property
    def kernel(self) -> State:
        """The one-episode kernel state (read it, do not modify it)."""
        return self._state


def caller_stacklevel() -> int:
    """The ``stacklevel`` of a warning issued in a ``step`` that names the first caller outside
    gymnasium's wrappers and respect-gym (the line of the user's code or library that stepped)."""
    frame, level = sys._getframe(2), 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith(("gymnasium", "respect_gym")):
        frame, level = frame.f_back, level + 1
    return level


def with_mask_space(space: spaces.Space, num_tpus: int, key: str, observation_key: str = "observation",
                    dtype: Any = bool) -> spaces.Dict:
    """``space`` with the action mask added under ``key``: a ``Dict`` gains the key, any other space
    becomes ``{observation_key: space, key: mask}`` (the mask is a ``(num_tpus,)`` ``Box`` of ``dtype``)."""
    mask = spaces.Box(0, 1, (num_tpus,), dtype)
    if isinstance(space, spaces.Dict):
        if key in space.spaces:
            raise EnvConfigError(f"the observation already has a key {key!r}; choose another action mask key")
        return spaces.Dict({**space.spaces, key: mask})
    if key == observation_key:
        raise EnvConfigError(f"the action mask key and the observation key are both {key!r}")
    return spaces.Dict({observation_key: space, key: mask})


def with_mask(observation: Any, mask: np.ndarray, key: str, observation_key: str = "observation") -> dict:
    """The observation with ``mask`` added as :func:`with_mask_space` lays it out."""
    if isinstance(observation, dict):
        return {**observation, key: mask}
    return {observation_key: observation, key: mask}


def _unbatch(observation):
    if isinstance(observation, dict):
        return {key: value[0] for key, value in observation.items()}
    return observation[0]


def _replay(state: State, view: View) -> None:
    """Feed a view added mid-episode the steps already taken (from the placed stages)."""
    schedule = state.schedule(0)
    order = state.instance(0).order
    steps = int(state.step[0])
    for t in range(steps):
        node = int(order[t])
        done = np.array([t + 1 >= order.shape[0]])
        view.after_step(_ROW, Transition(node=np.array([node]), stage=np.array([int(schedule[node])]),
                                         illegal=np.zeros(1, dtype=bool), done=done))
