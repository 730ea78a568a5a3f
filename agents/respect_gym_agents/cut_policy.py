"""The cut policy: an MLP that decides, node by node, whether to open the next pipeline stage.

It plays ``RespectPipeline-v1`` with ``observation="decision-v2"`` and ``action="cut"``: at each node
of the visit order, stay on the open stage (0) or open the next one (1), seeing the numbers the
exact cut DP compares (:data:`respect_gym.problem.features.DECISION_FEATURES`: the open stage's
latency with and without the node, the slowest closed stage, the work left per stage left, what a
cut here or a little further would transfer). The same small MLP runs on any graph size and K.

Inference never touches torch: :class:`NumpyCutPolicy` holds the weights as arrays and
:func:`greedy_schedules` steps a batch of episodes on the problem kernel, one masked argmax per
node (the torch net and the numpy scorer give the same actions: tested).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numba
import numpy as np
import torch
from torch import nn

from respect_gym.problem.features import NUM_DECISION_FEATURES
from respect_gym.problem.instance import Instance
from respect_gym.problem.observe import DecisionView, compiled_decision
from respect_gym.problem.state import State, compiled_cut_choices, compiled_step, cut_choices, reset, step, step_arrays
from respect_gym_agents.policies import MASKED_LOGIT


@dataclass(frozen=True)
class CutNetConfig:
    """Sizes of :class:`CutPolicyNet` (stored in every checkpoint).

    ``squash``: the net reads ``symlog(x) = sign(x) log(1 + |x|)`` of each feature, not ``x``. A
    ReLU net extrapolates linearly, and a real model can put a feature far outside anything the
    training graphs showed (VGG's 102 MB ``fc1`` is 12.8 caches; no synthetic layer reached 0.3):
    squashed, that is 2.6 against 0.26, and the decision stays where the net was trained.
    Checkpoints written before it existed read ``False``.

    ``view``: the version of the decision view the net reads
    (:data:`respect_gym.problem.observe.DECISION_VERSIONS`; checkpoints before version 2 read 1).
    """

    hidden: int = 64
    layers: int = 2
    members: int = 1
    view: int = 1
    squash: bool = False

    def to_dict(self) -> dict[str, int | bool]:
        return asdict(self)


class CutPolicyNet(nn.Module):
    """Decision features -> two logits (stay, cut): the mean of ``members`` MLPs of ``layers`` ReLU
    layers of ``hidden`` units (members trained from different seeds: an ensemble's mean logit
    flips on fewer states than any one member's, and a flipped cut decision is what derails a
    greedy episode)."""

    def __init__(self, config: CutNetConfig = CutNetConfig()) -> None:
        super().__init__()
        self.config = config
        sizes = [NUM_DECISION_FEATURES] + [config.hidden] * config.layers

        def body() -> nn.Sequential:
            blocks: list[nn.Module] = []
            for a, b in zip(sizes, sizes[1:]):
                blocks += [nn.Linear(a, b), nn.ReLU()]
            return nn.Sequential(*blocks, nn.Linear(sizes[-1], 2))

        self.members = nn.ModuleList(body() for _ in range(config.members))

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Masked logits ``(B, 2)`` of ``(B, NUM_DECISION_FEATURES)`` features and ``(B, 2)`` bool masks."""
        if self.config.squash:
            features = symlog(features)
        logits = torch.stack([member(features) for member in self.members]).mean(0)
        return logits.masked_fill(~mask, MASKED_LOGIT)


def symlog(x: torch.Tensor) -> torch.Tensor:
    """``sign(x) log(1 + |x|)``: the identity near 0, logarithmic far from it (:class:`CutNetConfig`)."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


class NumpyCutPolicy:
    """The net's weights as numpy arrays, scored by a compiled loop: the same greedy actions
    without torch's (or numpy's) per-call overhead, which dominates at one state per call."""

    def __init__(self, net: CutPolicyNet) -> None:
        def stacked(index: int, part: str) -> np.ndarray:  # one layer's weights (transposed) or biases, per member
            arrays = [getattr([m for m in member if isinstance(m, nn.Linear)][index], part).detach().numpy()
                      for member in net.members]
            return np.ascontiguousarray([a.T if part == "weight" else a for a in arrays], dtype=np.float64)

        layers = net.config.layers
        self.first, self.first_bias = stacked(0, "weight"), stacked(0, "bias")
        hidden = [(stacked(i, "weight"), stacked(i, "bias")) for i in range(1, layers)]
        h, m = net.config.hidden, net.config.members
        self.hidden = np.stack([w for w, _ in hidden], 1) if hidden else np.zeros((m, 0, h, h))
        self.hidden_bias = np.stack([b for _, b in hidden], 1) if hidden else np.zeros((m, 0, h))
        self.last, self.last_bias = stacked(layers, "weight"), stacked(layers, "bias")
        self.squash, self.view = net.config.squash, net.config.view

    def logits(self, features: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Masked logits ``(B, 2)``, the members' mean (``MASKED_LOGIT`` where masked out)."""
        return _mlp(features, mask, *self.weights())

    def weights(self) -> tuple:
        """:func:`_mlp`'s arguments after the features and the mask."""
        return (self.first, self.first_bias, self.hidden, self.hidden_bias, self.last, self.last_bias, self.squash,
                MASKED_LOGIT)


@numba.njit(cache=True)
def _mlp(features, mask, first, first_bias, hidden, hidden_bias, last, last_bias, squash, masked):
    members = first.shape[0]
    out = np.empty((features.shape[0], 2))
    for i in range(features.shape[0]):
        total = np.zeros(2)
        inputs = features[i].astype(np.float64)
        if squash:
            inputs = np.sign(inputs) * np.log1p(np.abs(inputs))
        for m in range(members):
            x = np.maximum(inputs @ first[m] + first_bias[m], 0.0)
            for layer in range(hidden.shape[1]):
                x = np.maximum(x @ hidden[m, layer] + hidden_bias[m, layer], 0.0)
            total += x @ last[m] + last_bias[m]
        for a in range(2):
            out[i, a] = total[a] / members if mask[i, a] else masked
    return out


def greedy_schedules(policy: NumpyCutPolicy, instances: list[Instance]) -> list[np.ndarray]:
    """The policy's greedy schedule (stage per node) of each instance, all stepped as one batch.

    The episodes run in one compiled loop over the kernel's compiled pieces (the transition, the
    decision view, the cut mask) and the policy's MLP: what :func:`cut_schedules` plays with the
    policy's argmax (tested), without a Python round trip per step, which would cost more than
    the step itself. Instances must share K, hardware and revision (one kernel state).
    """
    state, rows, decision = _start(instances, policy.view)
    _greedy(rows, state.stage_nodes, step_arrays(state), decision.arrays(), policy.weights())
    return [state.schedule(r) for r in rows.tolist()]


@numba.njit(cache=True)
def _greedy(rows, stage_nodes, kernel, view, weights):
    count = rows.shape[0]
    features = np.zeros((count, NUM_DECISION_FEATURES), dtype=np.float32)
    node, stage = np.empty(count, dtype=np.int64), np.empty(count, dtype=np.int64)
    illegal, done = np.empty(count, dtype=np.bool_), np.empty(count, dtype=np.bool_)
    live = rows.copy()
    while live.shape[0] > 0:
        m = live.shape[0]
        open_stage, mask = compiled_cut_choices(stage_nodes, live)
        compiled_decision(live, features[:m], *view)
        logits = _mlp(features[:m], mask, *weights)
        actions = open_stage + (logits[:, 1] > logits[:, 0])  # argmax: "stay" on a tie
        compiled_step(live, actions, node[:m], stage[:m], illegal[:m], done[:m], *kernel)
        live = live[~done[:m]]


def cut_schedules(choose: Callable[[np.ndarray, np.ndarray], np.ndarray], instances: list[Instance],
                  view: int = 2) -> list[np.ndarray]:
    """The schedule of each instance when ``choose(features, mask)`` picks the cut actions of a
    batch of live episodes from their decision views (of version ``view``) and masks (it must pick
    legal ones).

    Instances must share K, hardware and revision (one kernel state).
    """
    state, live, decision = _start(instances, view)
    while live.size:
        open_stage, mask = cut_choices(state, live)
        actions = np.asarray(choose(decision.observe(live), mask), dtype=np.int64)
        transition = step(state, live, open_stage + actions)
        live = live[~transition.done]
    return [state.schedule(r) for r in range(len(instances))]


def _start(instances: list[Instance], view: int) -> tuple[State, np.ndarray, DecisionView]:
    """One kernel state holding an episode of each instance, reset, and its decision view."""
    state = State.for_instance(instances[0], len(instances), max(i.graph.num_nodes for i in instances))
    rows = np.arange(len(instances))
    reset(state, rows, instances)
    decision = DecisionView(state, view)
    decision.reset(rows)
    return state, rows, decision
