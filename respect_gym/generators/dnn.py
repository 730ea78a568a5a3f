"""CNN-like synthetic graphs: an input, a stem, four stages of blocks, and a classifier head.

The blocks are the motifs of the zoo's ImageNet models, fused as the Edge TPU runs them
(BatchNorm and activations folded into the convs):

- ``plain``: one ``Conv2D`` (VGG).
- ``separable``: depthwise-separable (MobileNet v1: ``DepthwiseConv2D`` + 1x1) or inverted
  residual (MobileNet v2: 1x1 expand, depthwise, 1x1 project, ``Add`` when shapes allow).
- ``residual``: basic (3x3, 3x3) or bottleneck (1x1, 3x3, 1x1) branch + ``Add``, with a 1x1
  projection shortcut when the block changes shape (ResNet).
- ``inception``: 2-4 parallel branches (1x1; 1x1-3x3; 1x1-5x5 or 1x1-3x3-3x3; pool-1x1) joined
  by ``Concatenate`` (Inception).
- ``dense``: DenseNet-style: every layer (1x1 then 3x3, growth g) reads the concatenation of the
  block input and all earlier layers' outputs, kept as a chain of two-input ``Concatenate`` nodes
  as in the Keras/TFLite DenseNets; a 1x1 transition (and a stride-2 ``AveragePooling2D`` when the
  block downsamples) brings it back to the stage width.

Each stage after the first starts with a block that halves the spatial size (stride 2); stage
widths double from a base of 16-128 channels up to ``max_channels / 4`` (512 by default, the
widest 3x3 convs of ResNet and VGG); bottleneck outputs, expansions and dense concatenations may
grow to ``max_channels`` (2048 by default, ResNet-50's widest tensor). With the stride-2 stem and
its max-pool the last stage runs at 1/32 of the input, as in real ImageNet CNNs. Sizes come from
the shapes (see :mod:`respect_gym.generators.layers`).
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, Sequence

import numpy as np

from respect_gym.generators.base import GeneratorConfigError, GraphGenerator, draw, int_range, weighted_index
from respect_gym.generators.layers import NetBuilder
from respect_gym.graph import Graph, GraphMeta

NUM_STAGES = 4
STEM_WIDTHS = (16, 24, 32, 48, 64)
DENSE_GROWTHS = (12, 16, 24, 32)  # DenseNet uses 32; smaller growths keep narrow stages narrow
HEADS = {"gap": 2, "fc": 3}  # classifier head -> its nodes: GlobalAveragePooling2D + Dense, or VGG's three Dense
FC_UNITS = 4096  # the hidden Dense width of VGG's and AlexNet's classifier
INPUT_STEP = 32  # drawn input sizes are multiples of the network's total stride


def _round8(channels: int) -> int:
    """Channel counts are multiples of 8, at least 8 (as in real networks' width multipliers)."""
    return max(8, (channels + 4) // 8 * 8)


def _needs_projection(b: NetBuilder, x: int, width: int, stride: int) -> bool:
    """Whether a residual connection around a block on ``x`` needs a 1x1 shortcut conv."""
    return stride > 1 or b.channels(x) != width


# --------------------------------------------------------------------------- blocks
# A block is built by fn(builder, rng, x, width, stride, budget, prefix) -> output node, using at
# most `budget` nodes; see BLOCKS for the fewest nodes each kind needs.

BlockFn = Callable[[NetBuilder, np.random.Generator, int, int, int, int, str], int]


def _plain(b: NetBuilder, rng: np.random.Generator, x: int, width: int, stride: int, budget: int, p: str) -> int:
    kernel = (1, 3, 3, 3, 5)[int(rng.integers(5))]
    return b.conv(f"{p}_conv", x, width, kernel, stride)


def _separable(b: NetBuilder, rng: np.random.Generator, x: int, width: int, stride: int, budget: int, p: str) -> int:
    cin = b.channels(x)
    residual = not _needs_projection(b, x, width, stride)
    if budget < 3 + residual or rng.integers(2) == 0:  # MobileNet v1 style
        y = b.depthwise(f"{p}_dw", x, 3, stride)
        return b.conv(f"{p}_pw", y, width, 1)
    expand = max(cin, b.cap(_round8(cin * (3, 4, 6)[int(rng.integers(3))])))
    y = b.conv(f"{p}_expand", x, expand, 1)
    y = b.depthwise(f"{p}_dw", y, (3, 5)[int(rng.integers(2))], stride)
    y = b.conv(f"{p}_project", y, width, 1)
    return b.add(f"{p}_add", [x, y]) if residual else y


def _residual(b: NetBuilder, rng: np.random.Generator, x: int, width: int, stride: int, budget: int, p: str) -> int:
    wide = b.cap(4 * width)  # a bottleneck's output is 4x its inner width (ResNet-50: 64 -> 256)
    if budget >= 4 + _needs_projection(b, x, wide, stride) and rng.integers(2):
        y = b.conv(f"{p}_conv1", x, width, 1)
        y = b.conv(f"{p}_conv2", y, width, 3, stride)
        y = b.conv(f"{p}_conv3", y, wide, 1)
    else:
        y = b.conv(f"{p}_conv1", x, width, 3, stride)
        y = b.conv(f"{p}_conv2", y, width, 3)
    out = b.channels(y)
    shortcut = b.conv(f"{p}_proj", x, out, 1, stride) if _needs_projection(b, x, out, stride) else x
    return b.add(f"{p}_add", [shortcut, y])


def _inception(b: NetBuilder, rng: np.random.Generator, x: int, width: int, stride: int, budget: int, p: str) -> int:
    # Branch kernels after a 1x1 (the 3rd branch: a 5x5 or two 3x3); None: avg-pool then 1x1.
    branches: list[tuple[int, ...] | None] = [(), (3,), (3, 3) if rng.integers(2) else (5,), None]
    sizes = [1, 2, 1 + len(branches[2]), 2]
    count = 2
    while count < 4 and 1 + sum(sizes[: count + 1]) <= budget and rng.integers(3):
        count += 1
    out = max(8, width // count // 8 * 8)  # the concatenation is at most the stage width
    ends = []
    for i, kernels in enumerate(branches[:count]):
        q = f"{p}_br{i}"
        if kernels is None:
            y = b.pool(f"{q}_pool", x, 3, stride, op="AveragePooling2D")
            ends.append(b.conv(f"{q}_conv", y, out, 1))
            continue
        y = b.conv(f"{q}_conv0", x, _round8(out * 3 // 4) if kernels else out, 1, 1 if kernels else stride)
        for j, k in enumerate(kernels):
            y = b.conv(f"{q}_conv{j + 1}", y, out, k, stride if j == 0 else 1)
        ends.append(y)
    return b.concat(f"{p}_concat", ends)


def _dense(b: NetBuilder, rng: np.random.Generator, x: int, width: int, stride: int, budget: int, p: str) -> int:
    pool = stride > 1
    growths = [g for g in DENSE_GROWTHS if b.channels(x) + g <= b.max_channels]
    growth = growths[int(rng.integers(len(growths)))]
    room = (b.max_channels - b.channels(x)) // growth  # the concatenation stays within the cap
    layers = draw(rng, (1, min(6, room, (budget - 1 - pool) // 3)))  # 3 nodes a layer + transition
    for i in range(layers):
        y = b.conv(f"{p}_l{i}_conv1", x, 4 * growth, 1)
        y = b.conv(f"{p}_l{i}_conv2", y, growth, 3)
        x = b.concat(f"{p}_l{i}_concat", [x, y])
    y = b.conv(f"{p}_transition", x, width, 1)
    return b.pool(f"{p}_pool", y, 2, 2, op="AveragePooling2D") if pool else y


def _dense_min(b: NetBuilder, x: int, width: int, stride: int) -> float:
    return 4 + (stride > 1) if b.channels(x) + DENSE_GROWTHS[0] <= b.max_channels else math.inf


BLOCKS: dict[str, tuple[BlockFn, Callable[[NetBuilder, int, int, int], float]]] = {
    "plain": (_plain, lambda b, x, width, stride: 1),
    "separable": (_separable, lambda b, x, width, stride: 2),
    "residual": (_residual, lambda b, x, width, stride: 3 + _needs_projection(b, x, width, stride)),
    "inception": (_inception, lambda b, x, width, stride: 4),
    "dense": (_dense, _dense_min),
}
"""Block kind -> (builder, fewest nodes it can use on input ``x``, or inf if it cannot be built)."""


class DnnGraphGenerator(GraphGenerator):
    """Random CNN-like graphs of a chosen size, with sizes derived from real layer shapes.

    One graph: ``Input`` (``S x S x 3``, ``S`` a multiple of 32 in ``input_size``), a stride-2
    ``Conv2D`` stem (3x3 or 7x7, 16-64 channels), a stride-2 ``MaxPooling2D`` (when the size
    allows), four stages of blocks and a classifier head: ``head="gap"`` (``GlobalAveragePooling2D``
    and ``Dense(num_classes)``, as in ResNet, Inception, MobileNet, DenseNet) or ``head="fc"``
    (VGG's and AlexNet's ``Dense(4096)``, ``Dense(4096)``, ``Dense(num_classes)`` on the flattened
    last feature map: one layer of 100 MB or more, ten times the on-chip cache). The
    node count is drawn uniformly from ``num_nodes`` and met exactly: each stage gets a share of
    the budget and fills it with blocks drawn from a per-graph mix of ``blocks`` (so graphs have a
    dominant style, like real families), topping up with single convs when no block fits.

    :param seed: stream seed (see :class:`GraphGenerator`).
    :param num_nodes: exact node count or inclusive ``(lo, hi)``, 4 to 100,000.
    :param input_size: input side, exact or an inclusive ``(lo, hi)`` range of multiples of 32.
    :param blocks: block kinds to draw from, a subset of :data:`BLOCKS`.
    :param num_classes: width of the final ``Dense``.
    :param head: the classifier head, ``"gap"`` or ``"fc"`` (above).
    :param max_channels: widest tensor; stage widths are capped at a quarter of it.
    :param name: prefix of ``meta.model``.
    """

    name = "dnn"
    max_in_degree = 4  # an inception concatenation of 4 branches; Add and dense concatenations have 2

    def __init__(
        self,
        seed: int | None = None,
        num_nodes: int | Sequence[int] = (20, 400),
        input_size: int | Sequence[int] = (160, 320),
        blocks: Sequence[str] = tuple(BLOCKS),
        num_classes: int = 1000,
        max_channels: int = 2048,
        name: str | None = None,
        head: str = "gap",
    ) -> None:
        super().__init__(seed, name)
        if head not in HEADS:
            raise GeneratorConfigError(f"head must be one of {list(HEADS)}, got {head!r}")
        self.head = head
        self.num_nodes = int_range("num_nodes", num_nodes, minimum=2 + HEADS[head])
        if self.num_nodes[1] > 100_000:
            raise GeneratorConfigError(f"num_nodes must be <= 100000, got {self.num_nodes[1]}")
        self.input_size = int_range("input_size", input_size, minimum=INPUT_STEP)
        if self.input_size[0] != self.input_size[1] and self._input_choices() == range(0):
            raise GeneratorConfigError(f"input_size range {self.input_size} holds no multiple of {INPUT_STEP}")
        unknown = [k for k in blocks if k not in BLOCKS]
        if unknown or not blocks:
            raise GeneratorConfigError(f"blocks must be a non-empty subset of {list(BLOCKS)}, got {list(blocks)}")
        self.blocks = tuple(dict.fromkeys(blocks))
        self.num_classes = int_range("num_classes", num_classes, minimum=1)[0]
        self.max_channels = int_range("max_channels", max_channels, minimum=32)[0]

    def config(self) -> dict:
        return {
            "num_nodes": list(self.num_nodes),
            "input_size": list(self.input_size),
            "blocks": list(self.blocks),
            "num_classes": self.num_classes,
            "max_channels": self.max_channels,
            "name": self.name,
            **({"head": self.head} if self.head != "gap" else {}),  # configs of "gap" graphs read as before
        }

    def _input_choices(self) -> range:
        lo, hi = self.input_size
        return range(-(-lo // INPUT_STEP), hi // INPUT_STEP + 1)

    def _generate(self, rng: np.random.Generator, model: str) -> Graph:
        total = draw(rng, self.num_nodes)
        choices = self._input_choices()
        side = self.input_size[0] if self.input_size[0] == self.input_size[1] else (
            INPUT_STEP * choices[int(rng.integers(len(choices)))])
        b = NetBuilder(self.max_channels)
        x = b.input(side, side, 3)
        stem = STEM_WIDTHS[int(rng.integers(len(STEM_WIDTHS)))]
        x = b.conv("stem_conv", x, b.cap(stem), (3, 7)[int(rng.integers(2))], 2)
        body = total - len(b) - HEADS[self.head]
        if body > NUM_STAGES:
            x = b.pool("stem_pool", x, 3, 2)
            body -= 1
        mix = [int(w) for w in rng.integers(0, 4, size=len(self.blocks))]
        if not any(mix):
            mix = [1] * len(self.blocks)
        base = b.cap(stem << int(rng.integers(2)))
        for stage, budget in enumerate(self._stage_budgets(rng, body)):
            width = min(base << stage, self.max_channels // 4)
            x = self._fill_stage(b, rng, x, stage, width, budget, mix)
        if self.head == "gap":
            x = b.dense("fc", b.global_pool("gap", x), self.num_classes)
        else:
            x = b.dense("fc2", b.dense("fc1", x, FC_UNITS), FC_UNITS)
            b.dense("predictions", x, self.num_classes)
        return b.build(GraphMeta(model=model, input_shape=(side, side, 3), granularity="synthetic",
                                 source=f"respect_gym.generators.{self!r}"))

    @staticmethod
    def _stage_budgets(rng: np.random.Generator, body: int) -> list[int]:
        """Split ``body`` nodes over the stages: one each, the rest by random integer shares."""
        stages = min(NUM_STAGES, body)
        shares = [int(s) for s in rng.integers(1, 4, size=stages)]
        spare = body - stages
        cuts = [spare * c // sum(shares) for c in itertools.accumulate(shares)]
        return [1 + hi - lo for lo, hi in zip([0, *cuts[:-1]], cuts)]

    def _fill_stage(self, b: NetBuilder, rng: np.random.Generator, x: int, stage: int, width: int,
                    budget: int, mix: list[int]) -> int:
        """Append blocks using exactly ``budget`` nodes; the first one downsamples after stage 0."""
        index = 0
        while budget > 0:
            stride = 2 if stage > 0 and index == 0 else 1
            weights = [w if BLOCKS[k][1](b, x, width, stride) <= budget else 0 for k, w in zip(self.blocks, mix)]
            kind = self.blocks[weighted_index(rng, weights)] if any(weights) else "plain"
            before = len(b)
            x = BLOCKS[kind][0](b, rng, x, width, stride, budget, f"s{stage}b{index}_{kind}")
            budget -= len(b) - before
            index += 1
        return x
