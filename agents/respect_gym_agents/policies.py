"""The graph policy shared by every learner: message passing over the graph, one logit per stage.

:class:`GraphPolicyNet` is plain torch (no torch_geometric). Node embeddings come from the static
per-node context (``GraphContextObservation["node_context"]``) through a few rounds of mean
message passing along ``edge_index`` in both directions, so one forward per graph suffices and
the same weights run on any graph size. At each step the current node's embedding, the graph's
mean embedding and the global context are joined with each stage's context row, and one shared
MLP scores every stage: the policy is equivariant in K and needs no padding at inference.
Illegal stages (``stage_context[..., legal] == 0``) get ``-inf`` before the softmax.

:class:`GraphFeaturesExtractor` and :class:`GraphMaskablePolicy` wrap the same module for
sb3-contrib's MaskablePPO (the extractor outputs the K logits and the value features).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from gymnasium import spaces
from torch import nn

from respect_gym.problem.features import (
    NUM_GLOBAL_CONTEXT,
    NUM_NODE_CONTEXT,
    NUM_STAGE_CONTEXT,
    STAGE_CONTEXT,
)

LEGAL_COL = STAGE_CONTEXT.index("legal")
MASKED_LOGIT = -1e9  # finite, so masked softmax and its gradients stay NaN-free


@dataclass(frozen=True)
class NetConfig:
    """Sizes of :class:`GraphPolicyNet` (stored in every checkpoint)."""

    hidden: int = 64
    rounds: int = 3

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, outputs))


class GraphPolicyNet(nn.Module):
    """Stage logits and value features from a graph context observation (see the module docstring)."""

    def __init__(self, config: NetConfig = NetConfig()) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        self.encode = nn.Linear(NUM_NODE_CONTEXT, h)
        self.rounds = nn.ModuleList(_mlp(3 * h, h, h) for _ in range(config.rounds))
        self.norms = nn.ModuleList(nn.LayerNorm(h) for _ in range(config.rounds))
        step_in = 2 * h + NUM_GLOBAL_CONTEXT
        self.stage_score = nn.Sequential(nn.Linear(step_in + NUM_STAGE_CONTEXT, h), nn.ReLU(), nn.Linear(h, h),
                                         nn.ReLU(), nn.Linear(h, 1))
        self.value_features = _mlp(step_in + NUM_STAGE_CONTEXT, h, h)

    @property
    def num_value_features(self) -> int:
        return self.config.hidden

    def embed(self, node_context: torch.Tensor, node_mask: torch.Tensor, edge_index: torch.Tensor,
              edge_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Node embeddings ``(B, N, H)`` and the graph mean embedding ``(B, H)`` of padded graphs."""
        b, n, _ = node_context.shape
        x = torch.relu(self.encode(node_context))
        keep = edge_mask.reshape(-1) > 0
        offset = (torch.arange(b, device=x.device) * n).unsqueeze(1)
        src = (edge_index[:, 0].long() + offset).reshape(-1)[keep]
        dst = (edge_index[:, 1].long() + offset).reshape(-1)[keep]
        ones = torch.ones(src.shape[0], 1, device=x.device)
        in_deg = torch.zeros(b * n, 1, device=x.device).index_add_(0, dst, ones).clamp_(min=1.0)
        out_deg = torch.zeros(b * n, 1, device=x.device).index_add_(0, src, ones).clamp_(min=1.0)
        for layer, norm in zip(self.rounds, self.norms):
            flat = x.reshape(b * n, -1)
            from_preds = torch.zeros_like(flat).index_add_(0, dst, flat[src]) / in_deg
            from_succs = torch.zeros_like(flat).index_add_(0, src, flat[dst]) / out_deg
            x = norm(x + layer(torch.cat([flat, from_preds, from_succs], 1)).reshape(b, n, -1))
        mask = node_mask.float().unsqueeze(-1)
        x = x * mask
        pooled = x.sum(1) / mask.sum(1).clamp(min=1.0)
        return x, pooled

    def step(self, current: torch.Tensor, pooled: torch.Tensor, global_context: torch.Tensor,
             stage_context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked logits ``(B, K)`` and value features ``(B, H)`` of ``B`` states.

        :param current: ``(B, H)`` embedding of each state's current node.
        :param stage_context: ``(B, K, NUM_STAGE_CONTEXT)``; its ``legal`` column is the mask.
        """
        k = stage_context.shape[1]
        shared = torch.cat([current, pooled, global_context], 1)
        rows = torch.cat([shared.unsqueeze(1).expand(-1, k, -1), stage_context], 2)
        logits = self.stage_score(rows).squeeze(-1)
        logits = logits.masked_fill(stage_context[..., LEGAL_COL] <= 0, MASKED_LOGIT)
        values = self.value_features(torch.cat([shared, stage_context.mean(1)], 1))
        return logits, values

    def forward(self, obs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked logits and value features of a batch of ``GraphContextObservation`` dicts."""
        nodes, pooled = self.embed(obs["node_context"], obs["node_mask"], obs["edge_index"], obs["edge_mask"])
        current = obs["current_node"].long().reshape(-1)
        rows = nodes[torch.arange(nodes.shape[0], device=nodes.device), current]
        return self.step(rows, pooled, obs["global_context"], obs["stage_context"])


def policy_net_from(features_extractor: Any) -> GraphPolicyNet:
    """The :class:`GraphPolicyNet` inside a MaskablePPO policy's features extractor."""
    return features_extractor.net


try:  # the SB3 views exist only when the agents extra is installed
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
except ImportError:  # pragma: no cover - exercised only without sb3
    MaskableActorCriticPolicy = BaseFeaturesExtractor = None

if BaseFeaturesExtractor is not None:

    class GraphFeaturesExtractor(BaseFeaturesExtractor):
        """SB3 features extractor: ``[K masked logits, value features]`` from :class:`GraphPolicyNet`."""

        def __init__(self, observation_space: spaces.Dict, hidden: int = 64, rounds: int = 3) -> None:
            k = observation_space["stage_context"].shape[0]
            net = GraphPolicyNet(NetConfig(hidden, rounds))
            super().__init__(observation_space, features_dim=k + net.num_value_features)
            self.num_stages = k
            self.net = net

        def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
            return torch.cat(self.net(observations), 1)

    class _SplitLatent(nn.Module):
        """SB3 ``mlp_extractor``: the actor latent is the logits, the critic latent the rest."""

        def __init__(self, num_stages: int, num_value_features: int) -> None:
            super().__init__()
            self.num_stages = num_stages
            self.latent_dim_pi = num_stages
            self.latent_dim_vf = num_value_features

        def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.forward_actor(features), self.forward_critic(features)

        def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
            return features[:, : self.num_stages]

        def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
            return torch.relu(features[:, self.num_stages :])

    class GraphMaskablePolicy(MaskableActorCriticPolicy):
        """MaskablePPO policy whose action logits are :class:`GraphPolicyNet`'s per-stage scores."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("features_extractor_class", GraphFeaturesExtractor)
            kwargs.setdefault("ortho_init", False)  # keep the net's own (or imitation) weights
            super().__init__(*args, **kwargs)

        def _build_mlp_extractor(self) -> None:
            fx = self.features_extractor
            self.mlp_extractor = _SplitLatent(fx.num_stages, fx.net.num_value_features)

        def _build(self, lr_schedule) -> None:
            super()._build(lr_schedule)
            self.action_net = nn.Identity()  # logits come straight from the per-stage scorer
            self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)
