"""Other views of the pipeline env's observation: the action mask inside it, the compact step
context for MLPs, the context plus the graph for GNN policies, a ``gymnasium.spaces.Graph``, and a
PyTorch Geometric ``Data`` object."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from respect_gym.envs.pipeline.env import with_mask, with_mask_space
from respect_gym.problem.features import NODE_FEATURES, NUM_NODE_FEATURES

OUT_BYTES_COL = NODE_FEATURES.index("log_out_bytes")


class _MaskForwarding(gym.ObservationWrapper):
    """Keeps ``action_masks()`` reachable for MaskablePPO through the wrapper."""

    def action_masks(self) -> np.ndarray:
        return self.env.unwrapped.action_masks()


class ActionMask(_MaskForwarding):
    """Puts the action mask (``bool`` by default, True = legal stage) into any observation, under
    ``key``: a ``Dict`` observation gains the key, any other (the ``"compact"`` ``Box``) becomes
    ``{observation_key: observation, key: mask}``. For libraries that read the mask from the
    observation: TorchRL (``action_mask``), Tianshou (``key="mask"``), PufferLib. The same as the
    env's ``action_mask_key=`` option, on an env you already have.

    >>> env = ActionMask(gym.make("RespectPipeline-v1", observation="compact"), key="mask")
    """

    def __init__(self, env: gym.Env, key: str = "action_mask", observation_key: str = "observation",
                 dtype: Any = bool) -> None:
        super().__init__(env)
        self.key, self.observation_key, self.dtype = key, observation_key, np.dtype(dtype)
        self.observation_space = with_mask_space(env.observation_space, int(env.action_space.n), key,
                                                 observation_key, self.dtype)

    def observation(self, observation: Any) -> dict[str, Any]:
        mask = self.env.unwrapped.action_masks()
        return with_mask(observation, mask if self.dtype == np.bool_ else mask.astype(self.dtype), self.key,
                         self.observation_key)


class ActionMaskObservation(ActionMask):
    """:class:`ActionMask` with v1's ``int8`` mask (1 = legal stage) by default, kept for the
    code written against it; any observation, ``key`` and ``dtype`` as in :class:`ActionMask`."""

    def __init__(self, env: gym.Env, key: str = "action_mask", observation_key: str = "observation",
                 dtype: Any = np.int8) -> None:
        super().__init__(env, key, observation_key, dtype)


class CompactObservation(_MaskForwarding):
    """The ``"compact"`` view (:class:`respect_gym.problem.observe.CompactView`) of the wrapped env:
    the step context of the current and ``lookahead`` upcoming nodes, the running per-stage
    totals and a few graph-level numbers in one ``Box``; it makes ``MlpPolicy`` / a plain MLP learn
    on any graph size. The same as ``gym.make(..., observation="compact")``.

    >>> env = CompactObservation(gym.make("RespectPipeline-v1", model="resnet50", num_tpus=4))
    """

    def __init__(self, env: gym.Env, lookahead: int = 4) -> None:
        super().__init__(env)
        self.lookahead = int(lookahead)
        self.observation_space = env.unwrapped.view_space("compact", self.lookahead)

    def observation(self, observation: Any) -> np.ndarray:
        return self.env.unwrapped.observe("compact", self.lookahead)


class GraphContextObservation(_MaskForwarding):
    """The ``"context"`` view (:class:`respect_gym.problem.observe.ContextView`) of the wrapped env:
    the padded graph with static per-node context, plus the per-stage and global context, what a
    message-passing policy needs, as a ``Dict`` of bounded ``Box`` es. The same as
    ``gym.make(..., observation="context")``.

    Keys: ``node_context`` ``(N, NUM_NODE_CONTEXT)`` (static, graph index order), ``node_mask``,
    ``edge_index``, ``edge_mask``, ``current_node`` (as in the graph view),
    ``stage_context`` ``(K, NUM_STAGE_CONTEXT)`` and ``global_context`` ``(NUM_GLOBAL_CONTEXT,)``.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.observation_space = env.unwrapped.view_space("context")

    def observation(self, observation: Any) -> dict[str, np.ndarray]:
        return self.env.unwrapped.observe("context")


def unpadded_graph(observation: dict[str, np.ndarray]) -> spaces.GraphInstance:
    """The unpadded graph of an observation: node features, edge features (the producer's
    normalised output bytes, i.e. the tensor each edge carries) and ``(E, 2)`` edge links."""
    n = int(observation["node_mask"].sum())
    e = int(observation["edge_mask"].sum())
    features = observation["node_features"][:n]
    links = observation["edge_index"][:, :e].T.copy()
    edges = features[links[:, 0], OUT_BYTES_COL].reshape(e, 1).copy()
    return spaces.GraphInstance(nodes=features.copy(), edges=edges, edge_links=links)


class GraphObservation(_MaskForwarding):
    """Observation as ``{"graph": spaces.Graph, "stage_features": Box, "current_node": Box}``:
    variable-size graphs without padding, for GNN libraries (SB3 does not support it)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        base = env.observation_space.spaces
        self.observation_space = spaces.Dict(
            {
                "graph": spaces.Graph(
                    node_space=spaces.Box(-1.0, 1.0, (NUM_NODE_FEATURES,), np.float32),
                    edge_space=spaces.Box(0.0, 1.0, (1,), np.float32),
                ),
                "stage_features": base["stage_features"],
                "current_node": base["current_node"],
            }
        )

    def observation(self, observation: dict[str, np.ndarray]) -> dict[str, Any]:
        return {
            "graph": unpadded_graph(observation),
            "stage_features": observation["stage_features"],
            "current_node": observation["current_node"],
        }


def to_pyg_data(observation: dict[str, np.ndarray]):
    """A ``torch_geometric.data.Data`` of an observation of the base env (padding removed):
    ``x`` node features, ``edge_index`` (2, E), ``edge_attr`` (E, 1), ``stage_features`` (K, 3)
    and ``current_node`` (1,).

    :raises ImportError: when PyTorch Geometric is not installed.
    """
    try:
        import torch
        from torch_geometric.data import Data
    except ImportError as exc:
        raise ImportError(
            "to_pyg_data needs PyTorch Geometric: pip install torch_geometric (and respect-gym[agents] for torch)"
        ) from exc
    graph = unpadded_graph(observation)
    return Data(
        x=torch.from_numpy(graph.nodes),
        edge_index=torch.from_numpy(np.ascontiguousarray(graph.edge_links.T)),
        edge_attr=torch.from_numpy(graph.edges),
        stage_features=torch.from_numpy(np.asarray(observation["stage_features"])),
        current_node=torch.from_numpy(np.asarray(observation["current_node"])),
        num_nodes=graph.nodes.shape[0],
    )
