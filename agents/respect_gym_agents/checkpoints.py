"""Checkpoints: a torch state_dict plus metadata, loaded with ``weights_only=True`` (no pickle).

Every checkpoint records the env id, the cost-model version it was trained against, the
objective and the command that retrains it; loading one for another cost-model version fails
with that command in the message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from respect_gym.cost import COST_MODEL_VERSION

from respect_gym_agents.policies import GraphPolicyNet, NetConfig

ENV_ID = "RespectPipeline-v1"
SHIPPED = Path(__file__).parent / "checkpoints"


class CheckpointError(ValueError):
    """A checkpoint made for another cost-model version, or not a respect-gym-agents checkpoint."""


def save(net: GraphPolicyNet, path: str | os.PathLike, *, command: str, objective: str = "period",
         extra: dict[str, Any] | None = None) -> None:
    """Write ``net`` with its config, the env id, cost-model version, objective and ``command``."""
    meta = {"env_id": ENV_ID, "cost_model_version": COST_MODEL_VERSION, "objective": objective,
            "command": command, "net": net.config.to_dict(), **(extra or {})}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"meta": meta, "state_dict": net.state_dict()}, path)


def load(path: str | os.PathLike) -> tuple[GraphPolicyNet, dict[str, Any]]:
    """The net and metadata of a checkpoint; refuses one trained for another cost model."""
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or "meta" not in data or "state_dict" not in data:
        raise CheckpointError(f"{path} is not a respect-gym-agents checkpoint")
    meta = data["meta"]
    if meta["cost_model_version"] != COST_MODEL_VERSION:
        raise CheckpointError(
            f"{path} was trained for cost model {meta['cost_model_version']!r} ({meta['env_id']}), but this "
            f"respect-gym has {COST_MODEL_VERSION!r}; retrain with: {meta['command']}"
        )
    net = GraphPolicyNet(NetConfig(**meta["net"]))
    net.load_state_dict(data["state_dict"])
    net.eval()
    return net, meta


def shipped(name: str, objective: str = "period") -> Path:
    """Path of a checkpoint shipped with the package (``"imitation"``; ``imitation_paper`` for the
    paper objective)."""
    return SHIPPED / (f"{name}.pt" if objective == "period" else f"{name}_{objective}.pt")


def revision_of(meta: dict[str, Any]) -> int:
    """The cost-model revision a checkpoint was trained for (its version is ``"<revision>.<hash>"``)."""
    return int(str(meta["cost_model_version"]).split(".")[0])
