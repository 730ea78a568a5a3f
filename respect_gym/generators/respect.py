"""The RESPECT paper's synthetic training distribution: small random layered DAGs.

RESPECT (DAC 2023) trains its scheduler on 30-node graphs with 10-25 topological levels, in-degree
up to 6 and node weights uniform(0, 5), and validates on 50-node graphs with 16-40 levels. This
module reproduces that distribution and gives each node the sizes the Edge TPU cost model needs.
"""

from __future__ import annotations

import bisect
import math
from typing import Sequence

import numpy as np

from respect_gym.generators.base import (
    GeneratorConfigError,
    GraphGenerator,
    draw,
    int_range,
)
from respect_gym.graph import Graph, GraphMeta

WEIGHT_UNIT_BYTES = 256 * 1024
"""int8 parameter bytes per unit of RESPECT weight. The paper caps a stage at 35 units; at 256 KiB
a unit that cap is 8.75 MiB, about one Edge TPU's parameter cache (Coral's "~8 MB" of on-chip
memory, https://coral.ai/docs/edgetpu/compiler/; the cost model's 7.68 MiB, docs/cost_model.md).
A 30-node graph then holds ~19 MiB on average: it overflows one or two TPUs and fits three or
four, so the number of stages and the balance between them both matter."""

INPUT_SHAPE = (224, 224, 3)
FIRST_LEVEL_SIZE = 56  # spatial size of level 1: a 224 input after a folded stride-4 stem


class RespectLayeredGenerator(GraphGenerator):
    """Random layered DAGs with exact topological levels, after the RESPECT paper.

    Structure of one graph:

    - Node 0 is an ``"Input"`` node (level 0, no parameters), like the input layer of the Keras
      graphs the paper evaluates on; it is counted in ``num_nodes``. It lets the cost model charge
      the input transfer and makes every graph single-source.
    - The number of levels ``L`` (counting level 0) is uniform in ``levels``; every level
      1..L-1 gets one node, and the remaining nodes get a uniform level in 1..L-1.
    - A node at level ``l`` reads one uniformly chosen node of level ``l-1`` (so its level is
      exactly ``l``) plus ``d-1`` distinct nodes of lower levels, ``d`` uniform in
      ``1..min(max_in_degree, nodes below)``. A node left without consumers below the last level
      then feeds a random later-level node with spare in-degree, so that, as in a real DNN, only
      the last levels produce graph outputs (when in-degree allows).
    - Nodes are in level order, so index order is a topological order.

    Sizes (the cost model needs more than the paper's weight): node weight ``w`` is uniform in
    ``weight_range``; ``param_bytes = round(w * weight_unit_bytes)``. Each non-input node is read
    as a fused 3x3 "same" ``Conv2D`` with ``C`` in and out channels, ``C = isqrt(param_bytes/9)``
    (at least 1), at spatial size 56 halved every quarter of the depth (56, 28, 14, 7):
    ``macs = H*H*param_bytes`` (each weight is used once per output pixel) and
    ``out_bytes = H*H*C``.

    :param seed: stream seed (see :class:`GraphGenerator`).
    :param num_nodes: nodes per graph including the input, exact or an inclusive ``(lo, hi)``.
    :param levels: inclusive range of the number of levels (level 0 included).
    :param max_in_degree: largest number of predecessors of a node.
    :param weight_range: ``(lo, hi)`` of the uniform node weight, in units.
    :param weight_unit_bytes: int8 parameter bytes per weight unit.
    :param name: prefix of ``meta.model``.
    """

    name = "respect"

    def __init__(
        self,
        seed: int | None = None,
        num_nodes: int | Sequence[int] = 30,
        levels: int | Sequence[int] = (10, 25),
        max_in_degree: int = 6,
        weight_range: Sequence[float] = (0.0, 5.0),
        weight_unit_bytes: int = WEIGHT_UNIT_BYTES,
        name: str | None = None,
    ) -> None:
        super().__init__(seed, name)
        self.num_nodes = int_range("num_nodes", num_nodes, minimum=2)
        self.levels = int_range("levels", levels, minimum=2)
        if self.levels[0] > self.num_nodes[0]:
            raise GeneratorConfigError(
                f"levels minimum {self.levels[0]} exceeds the smallest graph ({self.num_nodes[0]} nodes): "
                "every level needs a node"
            )
        self.max_in_degree = int_range("max_in_degree", max_in_degree, minimum=1)[0]
        lo, hi = (float(w) for w in weight_range)
        if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo <= hi):
            raise GeneratorConfigError(f"weight_range must satisfy 0 <= lo <= hi, got {tuple(weight_range)}")
        self.weight_range = (lo, hi)
        self.weight_unit_bytes = int_range("weight_unit_bytes", weight_unit_bytes, minimum=1)[0]

    @classmethod
    def validation(cls, seed: int | None = None, **overrides) -> "RespectLayeredGenerator":
        """The paper's validation preset: 50 nodes with 16-40 levels."""
        kwargs = {"num_nodes": 50, "levels": (16, 40), "name": "respect-val", **overrides}
        return cls(seed, **kwargs)

    def config(self) -> dict:
        return {
            "num_nodes": list(self.num_nodes),
            "levels": list(self.levels),
            "max_in_degree": self.max_in_degree,
            "weight_range": list(self.weight_range),
            "weight_unit_bytes": self.weight_unit_bytes,
            "name": self.name,
        }

    def _generate(self, rng: np.random.Generator, model: str) -> Graph:
        n = draw(rng, self.num_nodes)
        num_levels = draw(rng, (self.levels[0], min(self.levels[1], n)))
        extra = sorted(int(x) for x in rng.integers(1, num_levels, size=n - num_levels))
        level = [0, *sorted([*range(1, num_levels), *extra])]
        first_at = [bisect.bisect_left(level, l) for l in range(num_levels)]  # level l starts here

        preds: list[list[int]] = [[] for _ in range(n)]
        for v in range(1, n):
            lvl = level[v]
            prev_lo, below = first_at[lvl - 1], first_at[lvl]
            parent = draw(rng, (prev_lo, below - 1))
            degree = draw(rng, (1, min(self.max_in_degree, below)))
            chosen = {parent}
            while len(chosen) < degree:  # rejection sampling: degree <= below, and it is small
                chosen.add(int(rng.integers(below)))
            preds[v] = sorted(chosen)
        self._feed_dangling(rng, level, first_at, preds)

        weights = self.weight_range[0] + (self.weight_range[1] - self.weight_range[0]) * rng.random(n)
        param_bytes = [0] + [int(round(float(w) * self.weight_unit_bytes)) for w in weights[1:]]
        spatial = [INPUT_SHAPE[0]] + [
            FIRST_LEVEL_SIZE >> (4 * (level[v] - 1) // max(1, num_levels - 1)) for v in range(1, n)
        ]
        shapes = [INPUT_SHAPE] + [(spatial[v], spatial[v], max(1, math.isqrt(param_bytes[v] // 9))) for v in range(1, n)]
        return Graph(
            names=["input"] + [f"n{v}_l{level[v]}" for v in range(1, n)],
            op_types=["Input"] + ["Conv2D"] * (n - 1),
            macs=[spatial[v] * spatial[v] * param_bytes[v] for v in range(n)],
            param_bytes=param_bytes,
            out_bytes=[math.prod(s) for s in shapes],
            edges=[(u, v) for v in range(n) for u in preds[v]],
            out_shapes=shapes,
            meta=GraphMeta(model=model, input_shape=INPUT_SHAPE, granularity="synthetic",
                           source=f"respect_gym.generators.{self!r}"),
        )

    def _feed_dangling(self, rng: np.random.Generator, level: list[int], first_at: list[int],
                       preds: list[list[int]]) -> None:
        """Give each consumer-less node below the last level a later consumer with spare in-degree."""
        n = len(level)
        consumed = [False] * n
        for v in range(n):
            for u in preds[v]:
                consumed[u] = True
        for u in range(n):
            if consumed[u] or level[u] == level[-1]:
                continue
            later = [v for v in range(first_at[level[u] + 1], n) if len(preds[v]) < self.max_in_degree]
            if later:
                v = later[int(rng.integers(len(later)))]
                preds[v] = sorted([*preds[v], u])
