"""Checkpoints: a torch state_dict plus metadata, loaded with ``weights_only=True`` (no pickle).

Every checkpoint records the env id, the cost-model version it was trained against, the
objective and the command that retrains it. A checkpoint is untrusted input: a file above
:data:`MAX_CHECKPOINT_BYTES`, one torch's safe loader refuses (a pickle payload: nothing is ever
unpickled), metadata of the wrong shape (strings with control or bidi characters, net sizes
beyond :data:`MAX_HIDDEN` / :data:`MAX_ROUNDS`) or weights that do not fit the net are each one
:class:`CheckpointError` line naming the file. Loading one for another cost-model version fails
with a message that says where the retraining command is recorded, without printing it (text
taken from a file is never offered as a command to run).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch

import gymnasium as gym

import respect_gym  # noqa: F401  (registers the env ids)
from respect_gym.cost import COST_MODEL_VERSIONS, LATEST_REVISION
from respect_gym.problem.instance import Instance
from respect_gym.problem.observe import DECISION_VERSIONS
from respect_gym.safe_io import excerpt, text_problem
from respect_gym.solvers.base import Problem, SolverError

from respect_gym_agents.cut_policy import CutNetConfig, CutPolicyNet
from respect_gym_agents.order_policy import OrderNetConfig, OrderPolicyNet
from respect_gym_agents.policies import GraphPolicyNet, NetConfig

ENV_ID = "RespectPipeline-v1"  # the env the imitation recipe's rollouts use (the latest revision's)
SHIPPED = Path(__file__).parent / "checkpoints"
MAX_CHECKPOINT_BYTES = 256 * 2**20  # the shipped checkpoints are ~0.2 MiB
MAX_HIDDEN = 4096
MAX_ROUNDS = 64
_META_TEXT = ("env_id", "cost_model_version", "objective", "command")
_OPTIONAL = ("objective", "command")  # absent from early checkpoints
# meta["net"]["kind"] (absent: "graph", the early checkpoints): the net class, its config, the config's
# whole-number keys and its flags (absent from checkpoints older than the flag: the config's default)
NETS = {"graph": (GraphPolicyNet, NetConfig, ("hidden", "rounds"), ()),
        "cut": (CutPolicyNet, CutNetConfig, ("hidden", "layers", "members", "view"), ("squash",)),
        "order": (OrderPolicyNet, OrderNetConfig, ("hidden", "rounds"), ())}
Net = GraphPolicyNet | CutPolicyNet | OrderPolicyNet
BOUNDS = {"hidden": MAX_HIDDEN, "view": max(DECISION_VERSIONS.values())}  # other whole-number keys: MAX_ROUNDS


class CheckpointError(ValueError):
    """A checkpoint made for another cost-model version, or not a respect-gym-agents checkpoint."""


def env_cost_model_version(env_id: str) -> str:
    """The cost-model version a registered env id scores with (its revision's preset version)."""
    return COST_MODEL_VERSIONS[int(gym.spec(env_id).kwargs.get("revision") or LATEST_REVISION)]


def save(net: Net, path: str | os.PathLike, *, command: str, env_id: str, objective: str = "period",
         extra: dict[str, Any] | None = None) -> None:
    """Write ``net`` with its config (and kind, for a cut or order net), the env id it was trained on
    and that env's cost-model version, the objective and ``command``."""
    kind = next(name for name, (net_class, *_) in NETS.items() if isinstance(net, net_class))
    config = net.config.to_dict() if kind == "graph" else {"kind": kind, **net.config.to_dict()}
    meta = {"env_id": env_id, "cost_model_version": env_cost_model_version(env_id), "objective": objective,
            "command": command, "net": config, **(extra or {})}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"meta": meta, "state_dict": net.state_dict()}, path)


def load(path: str | os.PathLike) -> tuple[Net, dict[str, Any]]:
    """The net and metadata of a checkpoint; refuses one trained for a cost model this respect-gym
    does not have (the solvers then check that its revision is the problem's).

    :raises CheckpointError: one line naming the file (module docstring); ``FileNotFoundError``
        when nothing is at ``path``.
    """
    data = read(path)
    meta = data["meta"]
    if meta["cost_model_version"] not in COST_MODEL_VERSIONS.values():
        raise CheckpointError(
            f"{path} was trained for cost model {excerpt(meta['cost_model_version'])} "
            f"({excerpt(meta['env_id'])}), which this respect-gym does not have (its versions: "
            f"{', '.join(COST_MODEL_VERSIONS.values())}); retrain it (the checkpoint records its training "
            "command in meta['command']; check it before running it)"
        )
    return build_net(path, data), meta


def read(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint's ``{"meta", "state_dict"}`` with the metadata checked (module docstring), any
    cost-model version; the net is not built."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such checkpoint: {path}")
    if not path.is_file():
        raise CheckpointError(f"{path}: not a checkpoint file (a folder or a device)")
    if path.stat().st_size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{path}: {path.stat().st_size:,} bytes, above the {MAX_CHECKPOINT_BYTES:,}-byte cap "
                              "for a checkpoint")
    try:
        with warnings.catch_warnings():  # torch warns about the file's contents before refusing it
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds; its text advises unsafe loading
        raise CheckpointError(f"{path} is not a respect-gym-agents checkpoint: torch's safe loader refused it "
                              f"({type(exc).__name__}; a pickle payload or a damaged file; nothing was unpickled)") from None
    if not isinstance(data, dict) or not isinstance(data.get("meta"), dict) or not isinstance(data.get("state_dict"), dict):
        raise CheckpointError(f"{path} is not a respect-gym-agents checkpoint (no 'meta' and 'state_dict' dicts)")
    meta = data["meta"]
    for key in _META_TEXT:
        value = meta.get(key)
        if value is None and key in _OPTIONAL:
            continue
        if not isinstance(value, str):
            raise CheckpointError(f"{path}: bad checkpoint metadata: meta[{key!r}] must be a string, got "
                                  f"{type(value).__name__}")
        problem = text_problem(value, 4096)
        if problem:
            raise CheckpointError(f"{path}: bad checkpoint metadata: meta[{key!r}] {excerpt(value)} {problem}")
    net = meta.get("net")
    kind = net.get("kind", "graph") if isinstance(net, dict) else None
    if kind not in NETS:
        raise CheckpointError(f"{path}: bad checkpoint metadata: meta['net'] must be a dict whose 'kind' is one of "
                              f"{sorted(NETS)}")
    _, config, keys, flags = NETS[kind]
    if set(net) - {"kind", *keys, *flags}:
        raise CheckpointError(f"{path}: bad checkpoint metadata: meta['net'] of a {kind} net takes only "
                              f"{keys + flags}")
    for key in flags:
        if type(net.get(key, False)) is not bool:
            raise CheckpointError(f"{path}: bad checkpoint metadata: meta['net'][{key!r}] must be true or false, "
                                  f"got {excerpt(net[key])}")
    for key in keys:
        value, bound = net.get(key, getattr(config(), key)), BOUNDS.get(key, MAX_ROUNDS)
        if type(value) is not int or not 1 <= value <= bound:
            raise CheckpointError(f"{path}: bad checkpoint metadata: meta['net'][{key!r}] must be a whole number "
                                  f"from 1 to {bound}, got {excerpt(value)}")
    return data


def build_net(path: str | os.PathLike, data: dict[str, Any]) -> Net:
    """The eval-mode net of checked checkpoint ``data`` (:func:`read`); refuses weights of another shape."""
    sizes = dict(data["meta"]["net"])
    net_class, config, _, _ = NETS[sizes.pop("kind", "graph")]
    net = net_class(config(**sizes))
    try:
        net.load_state_dict(data["state_dict"])
    except (RuntimeError, TypeError, KeyError, ValueError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: the weights do not fit the net its metadata describes ({excerpt(first, 120)})") from None
    net.eval()
    return net


def shipped(name: str, objective: str = "period") -> Path:
    """Path of a checkpoint shipped with the package (``"imitation"``; ``imitation_paper`` for the
    paper objective)."""
    return SHIPPED / (f"{name}.pt" if objective == "period" else f"{name}_{objective}.pt")


def revision_of(meta: dict[str, Any]) -> int:
    """The cost-model revision a checkpoint was trained for (its version is ``"<revision>.<hash>"``)."""
    head = str(meta["cost_model_version"]).split(".")[0]
    if not head.isdigit() or len(head) > 3:
        raise CheckpointError(f"bad checkpoint metadata: cost_model_version {excerpt(meta['cost_model_version'])} "
                              "is not '<revision>.<hash>'")
    return int(head)


def problem_instance(problem: Problem, solver: str, checkpoint: str, revision: int) -> Instance:
    """The solver's problem as an :class:`~respect_gym.problem.instance.Instance` (its graph, K,
    hardware and cost model), refused unless it uses the cost-model ``revision`` the checkpoint was
    trained for: a policy's inputs and values mean nothing under another cost model."""
    if problem.cost_model.revision != revision:
        raise SolverError(f"{solver} checkpoint {checkpoint} was trained for cost-model revision {revision}, "
                          f"this problem uses revision {problem.cost_model.revision}; solve with revision={revision}")
    return Instance.build(problem.graph, problem.num_stages, problem.cost_model.hardware, revision,
                          problem.objective, problem.cost_model)
