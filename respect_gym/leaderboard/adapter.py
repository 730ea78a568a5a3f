"""From an env policy to a leaderboard scheduler.

``respect-gym leaderboard run --policy`` calls a *scheduler*: ``policy(graph, num_stages,
hardware=..., objective=...)`` returning one stage per node. An RL agent is usually an *env
policy*: a function of the observation (and the action mask) returning the next action, or a
Stable-Baselines3 / sb3-contrib model. :func:`env_scheduler` turns the second into the first: for
each suite instance it builds ``RespectPipeline-v1`` on that graph with that K, hardware, objective
and cost-model revision (and any wrapper or env option the policy was trained with), plays one
episode with the policy, and returns the episode's schedule (``info["schedule"]``, one stage per
node in graph order).

A model's action space is ``Discrete(K)`` and most observations depend on K, so a model serves
one K: pass ``{K: model}`` for a suite with several (``zoo-v1`` has K in 2, 4, 6, 8). A complete
example with sb3-contrib's MaskablePPO on ``CompactObservation`` (whose observation depends on K
only, not on the graph's size); first train and save one model per K (2,048 steps each here, to
show the mechanics)::

    import gymnasium as gym
    from sb3_contrib import MaskablePPO

    from respect_gym.envs import CompactObservation

    for k in (2, 4, 6, 8):
        env = CompactObservation(gym.make("RespectPipeline-v1", model="dnn", num_tpus=k))
        MaskablePPO("MlpPolicy", env, seed=0).learn(2048).save(f"my_agent_k{k}")

then ``my_agent.py`` in the same folder::

    from sb3_contrib import MaskablePPO

    from respect_gym.envs import CompactObservation
    from respect_gym.leaderboard.adapter import env_scheduler

    scheduler = env_scheduler({k: MaskablePPO.load(f"my_agent_k{k}") for k in (2, 4, 6, 8)},
                              wrappers=[CompactObservation])

and, from that folder::

    respect-gym leaderboard run --suite zoo-v1 --policy my_agent.py:scheduler --not-trained-on-suite \\
        --method "My agent" --authors "A. Author" --out my-agent.json
    respect-gym leaderboard verify my-agent.json --brief

A plain function works the same way; it receives the observation and, if it takes two
parameters, the action mask (int8, one entry per stage)::

    import numpy as np

    def first_legal(obs, mask):
        return int(np.flatnonzero(mask)[0])

    scheduler = env_scheduler(first_legal)

Rules the adapter follows: an SB3 model's ``predict`` is called with ``deterministic=True`` (and
``action_masks=`` when it accepts them, as MaskablePPO does); a masked-out action is replaced by
the env with the smallest legal stage, as during training (``info["illegal_action"]``), so every
episode ends in a valid schedule; the env's ``max_nodes`` grows to the graph's node count when the
graph is larger, unless ``env_kwargs`` fixes it (a model trained with a fixed ``max_nodes`` needs
that value, and graphs above it fail with the env's own message).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from respect_gym.graph import Graph

DEFAULT_MAX_NODES = 1024  # the env's default


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def _positional_count(fn: Callable[..., Any]) -> int:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return 2
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty for p in parameters)


def act(policy: Any, obs: Any, mask: np.ndarray) -> int:
    """One action of ``policy`` (an SB3 model or a callable) for ``obs`` and the int8 ``mask``."""
    predict = getattr(policy, "predict", None)
    if predict is not None:
        if _accepts(predict, "action_masks"):
            action, _ = predict(obs, deterministic=True, action_masks=mask.astype(bool))
        else:
            action, _ = predict(obs, deterministic=True)
    elif _positional_count(policy) >= 2:
        action = policy(obs, mask)
    else:
        action = policy(obs)
    return int(np.asarray(action).reshape(-1)[0])


@dataclass
class EnvScheduler:
    """A leaderboard scheduler that plays one episode of ``env_id`` with an env policy (see the
    module doc); build it with :func:`env_scheduler`."""

    policy: Any
    env_id: str = "RespectPipeline-v1"
    wrappers: Sequence[Callable[[Any], Any]] = ()
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    def make_env(self, graph: Graph, num_stages: int, hardware: str, objective: str, revision: int | None):
        import gymnasium as gym

        import respect_gym  # noqa: F401  (registers the env ids)

        kwargs = {"max_nodes": max(DEFAULT_MAX_NODES, graph.num_nodes), **self.env_kwargs}
        if revision is not None and self.env_id == "RespectPipeline-v1":
            kwargs.setdefault("revision", revision)
        env = gym.make(self.env_id, model=graph, num_tpus=num_stages, hardware=hardware, objective=objective,
                       **kwargs)
        for wrapper in self.wrappers:
            env = wrapper(env)
        return env

    def __call__(self, graph: Graph, num_stages: int, hardware: str = "usb3", objective: str = "period",
                 revision: int | None = None) -> list[int]:
        """One stage per node of ``graph`` (node order), from one episode of the policy."""
        policy = self.policy
        if isinstance(policy, Mapping):
            if num_stages not in policy:
                raise ValueError(f"no policy for K={num_stages} (policies for K in {sorted(policy)})")
            policy = policy[num_stages]
        env = self.make_env(graph, num_stages, hardware, objective, revision)
        try:
            obs, info = env.reset(seed=0)
            terminated = truncated = False
            while not (terminated or truncated):
                obs, _, terminated, truncated, info = env.step(act(policy, obs, info["action_mask"]))
            if not terminated:
                raise RuntimeError(f"the episode on {graph.meta.model} was truncated before the last node")
            return list(info["schedule"])
        finally:
            env.close()


def env_scheduler(policy: Any, *, env_id: str = "RespectPipeline-v1", wrappers: Sequence[Callable[[Any], Any]] = (),
                  **env_kwargs: Any) -> EnvScheduler:
    """A leaderboard scheduler from an env policy.

    :param policy: an SB3 / sb3-contrib model (anything with ``predict``), a callable
        ``policy(obs) -> action`` or ``policy(obs, action_mask) -> action``, or a mapping from K
        to either (one per number of stages of the suite).
    :param env_id: the env the policy was trained on (``RespectPipeline-v1`` or ``-v0``).
    :param wrappers: observation wrappers applied in order, e.g. ``[CompactObservation]``.
    :param env_kwargs: further env options the policy needs (``max_nodes``, ``max_edges``, ...);
        ``model``, ``num_tpus``, ``hardware`` and ``objective`` come from each instance.
    """
    clash = {"model", "num_tpus", "hardware", "objective"} & set(env_kwargs)
    if clash:
        raise ValueError(f"env_scheduler: {', '.join(sorted(clash))} come from each suite instance; "
                         "do not pass them")
    return EnvScheduler(policy, env_id, tuple(wrappers), dict(env_kwargs))
