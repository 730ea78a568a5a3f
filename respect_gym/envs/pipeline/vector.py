"""``gym.make_vec("RespectPipeline-v1", num_envs=N)``: N scheduling episodes stepped as numpy arrays.

The native vector env steps all N episodes with the problem kernel's batched transitions
(:mod:`respect_gym.problem.state`): no Python loop over episodes, no sub-processes. Each
sub-env may draw its own graph (``model`` as in the single env: a zoo name, a list, a generator,
...), and plays exactly what a single ``RespectPipeline-v1`` would: after ``reset(seed=s)``,
sub-env ``i`` plays the episodes of a single env reset with seed ``s + i`` (the convention of
Gymnasium's sync and async vector envs), with the same observations, rewards and scores (tested).

Spaces: ``single_action_space = Discrete(num_tpus)`` and ``action_space = MultiDiscrete``;
``single_observation_space`` is the view named by ``observation`` (``"graph"``, ``"compact"``,
``"context"``, see :mod:`respect_gym.problem.observe`), batched on a leading axis.

Autoreset: Gymnasium 1.x's next-step mode (``metadata["autoreset_mode"]``): the step that ends an
episode returns its last observation with ``terminated=True``; the next ``step`` call resets that
sub-env (its action is ignored) and returns the new episode's first observation with reward 0.

``info`` has a fixed schema of numpy arrays, the same keys on every step: ``action_mask``
``(N, K)`` bool and ``illegal_action`` ``(N,)`` bool; and, meaningful where the episode just ended
(marked by the Gymnasium-style ``"_score"`` etc. boolean arrays, zero elsewhere), ``score``,
``objective_value``, ``compiler_value``, ``is_success`` and ``illegal_actions``. The masks are also
available as ``action_masks()`` (``(N, K)`` bool).

The single env's opt-in options are accepted too: ``on_illegal`` (``"warn"``, the default: one
warning on the first repaired action; ``"repair"``; ``"raise"``: :class:`IllegalActionError`
before any sub-env moves), ``action_mask_key`` (the bool mask inside the observation) and
``info="flat"`` (what this env's info always is; ``"full"`` and ``"final"`` are single-env modes).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from respect_gym.envs.pipeline.env import Actions, IllegalActions, with_mask_space
from respect_gym.envs.pipeline.spec import DEFAULT_MAX_NODES, EnvConfigError, PipelineSpec, positive_int
from respect_gym.problem.observe import make_view
from respect_gym.problem.reward import Reward, beats_compiler, final_values, scores
from respect_gym.problem.state import State, compact, reset, step

_FINAL_KEYS = ("score", "objective_value", "compiler_value", "is_success", "illegal_actions")


class InvalidActionError(ValueError):
    """Actions of the wrong shape, type or range."""


class RespectPipelineVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` pipeline-scheduling episodes as one batch (see the module docstring).

    Arguments are those of :class:`~respect_gym.envs.pipeline.env.RespectPipelineEnv` plus
    ``num_envs``; ``max_nodes=None`` (the default here) pads to the graph source's own size (a fixed
    graph: its node count; a list: the largest; a generator: its largest size, and its in-degree
    bound times that for the edges; another callable: 1024), and ``max_edges=None`` likewise.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, num_envs: int, model: Any = None, num_tpus: int = 4, hardware: str = "usb3",
                 granularity: str = "fused", max_nodes: int | None = None, max_edges: int | None = None,
                 reward_mode: str = "terminal", objective: str = "period", revision: int | None = None,
                 illegal_action_penalty: float = 0.0, observation: str = "graph", lookahead: int = 4,
                 render_mode: str | None = None, on_illegal: str = "warn", info: str = "flat",
                 action_mask_key: str | None = None, action: str = "stage") -> None:
        if render_mode is not None:
            raise EnvConfigError("the vector env does not render; use the single env's render_mode")
        if info != "flat":
            raise EnvConfigError(f"the vector env's info is always 'flat' (fixed-schema arrays), got info={info!r}")
        if action_mask_key is not None and (not isinstance(action_mask_key, str) or not action_mask_key):
            raise EnvConfigError(f"action_mask_key must be a non-empty string or None, got {action_mask_key!r}")
        self.illegal_actions = IllegalActions(on_illegal)
        self.on_illegal, self.action_mask_key = on_illegal, action_mask_key
        self.num_envs = positive_int("num_envs", num_envs)
        self.spec_args = PipelineSpec.parse(model, num_tpus, hardware, granularity, max_nodes, max_edges, reward_mode,
                                            objective, revision, illegal_action_penalty, observation)
        p = self.spec_args
        self.num_tpus = p.num_tpus
        self.lookahead = positive_int("lookahead", lookahead) if lookahead else 0
        self.actions = Actions(action, p.num_tpus)
        self.single_action_space = spaces.Discrete(self.actions.size)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._rngs: list[np.random.Generator] | None = None
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)
        self._started = False
        self._state = p.new_state(self.num_envs)
        # the padded graph's arrays (edge index, masks) are handed out once per episode, not copied per step
        self._view = make_view(p.observation, self._state, p.max_edges, self.lookahead, share_static=True)
        self._reward = Reward(self._state, p.objective, p.reward_mode)
        self.single_observation_space = self._view.space
        if action_mask_key is not None:
            self.single_observation_space = with_mask_space(self._view.space, self.actions.size, action_mask_key)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)

    # ------------------------------------------------------------------ episodes
    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset every sub-env (or those of ``options["reset_mask"]``); ``options["graph"]`` schedules
        one graph in all of them."""
        options = dict(options or {})
        mask = np.asarray(options.pop("reset_mask", np.ones(self.num_envs, dtype=bool)), dtype=bool)
        if mask.shape != (self.num_envs,):
            raise EnvConfigError(f"options['reset_mask'] must have shape ({self.num_envs},), got {mask.shape}")
        self._seed(seed)
        rows = np.flatnonzero(mask)
        if "graph" in options:
            from respect_gym.envs.pipeline.sources import as_graph

            graph = as_graph(options.pop("graph"), self.spec_args.granularity)
            instances = [self.spec_args.instance(graph)] * rows.shape[0]
        else:
            instances = self._draw([self._rngs[i] for i in rows.tolist()])
        if options:
            raise EnvConfigError(f"unknown reset option(s) {sorted(options)}; allowed: graph, reset_mask")
        self._start(rows, instances)
        self._needs_reset[rows] = False  # reset here: the next step plays them, it does not reset them again
        return self._observe(), self._info(np.zeros(self.num_envs, dtype=bool), None, None)

    def step(self, actions):
        """Place every live sub-env's current node on its action's stage; reset the ones that ended."""
        if not self._started:
            raise InvalidActionError("step() called before reset()")
        actions = self._check(actions)
        pending = np.flatnonzero(self._needs_reset)
        rows = np.flatnonzero(~self._needs_reset)
        reward = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, dtype=bool)
        illegal = np.zeros(self.num_envs, dtype=bool)
        final = done_rows = None
        if self.illegal_actions.strict:  # checked only when it can raise: the step's hot path stays as it was
            bad = rows[~np.take_along_axis(self.actions.mask(self._state, rows), actions[rows, None], axis=1)[:, 0]]
            if bad.size:
                self.illegal_actions.refuse(f"masked-out actions in sub-envs {bad.tolist()[:8]}")
        if rows.size:
            stages, repaired = self.actions.stages(self._state, rows, actions[rows])
            transition = step(self._state, rows, stages)
            transition.illegal |= repaired
            self._view.after_step(rows, transition)
            done_rows = rows[transition.done]
            final = final_values(self.spec_args.objective, self._state, done_rows)
            r = self._reward(rows, transition, final)
            r[transition.illegal] -= self.spec_args.illegal_action_penalty
            reward[rows] = r
            terminated[rows] = transition.done
            illegal[rows] = transition.illegal
            if transition.illegal.any():
                self.illegal_actions.repaired(f"RespectPipelineVectorEnv repaired {int(transition.illegal.sum())} "
                                              f"masked-out action(s)")
        if pending.size:
            self._start(pending, self._draw([self._rngs[i] for i in pending.tolist()]))
        self._needs_reset = terminated.copy()
        info = self._info(illegal, done_rows, final)
        return self._observe(), reward, terminated, np.zeros(self.num_envs, dtype=bool), info

    def action_masks(self) -> np.ndarray:
        """``(num_envs, n)`` bool: the legal actions of each sub-env (``n``: the single action space's size)."""
        return self.actions.mask(self._state)

    @property
    def kernel(self) -> State:
        """The batch's kernel state (read it, do not modify it)."""
        return self._state

    # ------------------------------------------------------------------ internals
    def _observe(self):
        observation = self._view.observe()
        if self.action_mask_key is None:
            return observation
        if isinstance(observation, dict):
            return {**observation, self.action_mask_key: self.action_masks()}
        return {"observation": observation, self.action_mask_key: self.action_masks()}

    def _seed(self, seed) -> None:
        if seed is None:
            seeds = [None] * self.num_envs if self._rngs is None else None
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise EnvConfigError(f"reset(seed=...) takes an int or {self.num_envs} seeds, got {len(seeds)}")
        if seeds is not None:
            self._rngs = [seeding.np_random(s)[0] for s in seeds]

    def _draw(self, rngs: list[np.random.Generator]):
        return [self.spec_args.instance(self.spec_args.source(rng)) for rng in rngs]

    def _start(self, rows: np.ndarray, instances) -> None:
        self._started = True
        reset(self._state, rows, instances)
        compact(self._state)
        self._view.reset(rows)
        self._reward.reset(rows)

    def _check(self, actions) -> np.ndarray:
        array = np.asarray(actions)
        if array.shape != (self.num_envs,) or array.dtype.kind not in "iu":
            raise InvalidActionError(f"actions must be {self.num_envs} integer actions, got {array.dtype} {array.shape}")
        if array.size and (array.min() < 0 or array.max() >= self.actions.size):
            raise InvalidActionError(f"actions must lie in 0..{self.actions.size - 1}")
        return array.astype(np.int64, copy=False)

    def _info(self, illegal: np.ndarray, done_rows: np.ndarray | None, final: np.ndarray | None) -> dict[str, np.ndarray]:
        n = self.num_envs
        info: dict[str, np.ndarray] = {"action_mask": self.action_masks(), "illegal_action": illegal}
        ended = np.zeros(n, dtype=bool)
        values = {key: np.zeros(n, dtype=bool if key == "is_success" else np.int64 if key == "illegal_actions"
                                else np.float64) for key in _FINAL_KEYS}
        if done_rows is not None and done_rows.size:
            s = self._state
            reference = s.pool.reference[s.instance_id[done_rows]]
            ended[done_rows] = True
            values["objective_value"][done_rows] = final
            values["compiler_value"][done_rows] = reference
            values["score"][done_rows] = scores(reference, final)
            values["is_success"][done_rows] = beats_compiler(reference, final)
            values["illegal_actions"][done_rows] = s.illegal_actions[done_rows]
        for key in _FINAL_KEYS:
            info[key] = values[key]
            info[f"_{key}"] = ended
        return info


def make_vector_env(num_envs: int = 1, max_nodes: int | None = None, **kwargs: Any) -> RespectPipelineVectorEnv:
    """The ``vector_entry_point`` of ``RespectPipeline-v1`` (``gym.make_vec``)."""
    return RespectPipelineVectorEnv(num_envs=num_envs, max_nodes=max_nodes, **kwargs)


__all__ = ["DEFAULT_MAX_NODES", "InvalidActionError", "RespectPipelineVectorEnv", "make_vector_env"]
