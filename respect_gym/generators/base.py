"""The seeded graph-generator interface shared by every synthetic graph distribution.

Jumanji-style: a generator is an object that holds a configuration and a seed, and is called to
produce problem instances. Every graph it can produce is addressed by an integer ``index``: graph
``index`` of a generator with seed ``seed`` is drawn from its own PCG64 stream seeded with
``SeedSequence([seed, index])``, so it is a pure function of (configuration, seed, index), can be
regenerated from the name in its metadata (``"<name>-<seed>-<index>"``), and does not depend on
how many graphs were drawn before it.

Only ``Generator.integers`` and ``Generator.random`` are used, and sizes are computed with integer
arithmetic, so the same seed gives the same graphs (the same ``Graph.sha256()``) on any machine.
"""

from __future__ import annotations

import abc
import bisect
import itertools
from typing import Sequence

import numpy as np

from respect_gym.graph import Graph


class GeneratorConfigError(ValueError):
    """A generator was configured with impossible sizes: the message names the argument."""


class GraphGenerator(abc.ABC):
    """A seeded distribution over graphs.

    Call it to draw a graph::

        gen = DnnGraphGenerator(seed=7)
        g0 = gen()                 # graph 0 of the stream, then 1, 2, ... on later calls
        g5 = gen(5)                # graph 5, whatever was drawn before
        g = gen(env.np_random)     # an index drawn from a caller's numpy Generator

    :param seed: seed of the stream; ``None`` takes fresh OS entropy (kept in ``self.seed``, so
        the graphs can still be regenerated).
    :param name: prefix of the generated graphs' ``meta.model``; defaults to the class's ``name``.
    """

    name: str = "synthetic"

    def __init__(self, seed: int | None = None, name: str | None = None) -> None:
        if seed is None:
            seed = int(np.random.SeedSequence().entropy)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise GeneratorConfigError(f"seed must be a non-negative int or None, got {seed!r}")
        self.seed = int(seed)
        if name is not None:
            self.name = str(name)
        self._next_index = 0

    def __call__(self, rng_or_index: np.random.Generator | int | None = None) -> Graph:
        """Draw a graph.

        :param rng_or_index: ``None`` for the next graph of this generator's own stream; an int
            for that graph index; a ``numpy.random.Generator`` (e.g. an env's ``np_random``) to
            draw the index from it, so the caller's seed alone fixes the graph.
        """
        if rng_or_index is None:
            index = self._next_index
            self._next_index += 1
        elif isinstance(rng_or_index, np.random.Generator):
            index = int(rng_or_index.integers(2**63 - 1))
        elif isinstance(rng_or_index, (int, np.integer)) and not isinstance(rng_or_index, bool):
            index = int(rng_or_index)
            if index < 0:
                raise GeneratorConfigError(f"graph index must be >= 0, got {index}")
        else:
            raise TypeError(f"expected None, an int index or a numpy Generator, got {type(rng_or_index).__name__}")
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, index])))
        return self._generate(rng, f"{self.name}-{self.seed}-{index}")

    @abc.abstractmethod
    def _generate(self, rng: np.random.Generator, model: str) -> Graph:
        """Build one graph from ``rng``; ``model`` is its ``meta.model``."""

    @abc.abstractmethod
    def config(self) -> dict:
        """Constructor arguments (JSON-friendly) that, with ``seed``, reproduce this generator."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}(seed={self.seed}, {args})"


def int_range(label: str, value: int | Sequence[int], minimum: int) -> tuple[int, int]:
    """Normalise an exact size or an inclusive ``(lo, hi)`` range, naming ``label`` on error."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        lo = hi = int(value)
    else:
        try:
            lo, hi = (int(v) for v in value)
        except (TypeError, ValueError):
            raise GeneratorConfigError(f"{label} must be an int or an (lo, hi) pair, got {value!r}") from None
    if lo < minimum:
        raise GeneratorConfigError(f"{label} must be >= {minimum}, got {lo}")
    if hi < lo:
        raise GeneratorConfigError(f"{label} range ({lo}, {hi}) is empty: hi < lo")
    return lo, hi


def draw(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    """Uniform integer in the inclusive range ``bounds``."""
    return int(rng.integers(bounds[0], bounds[1] + 1))


def weighted_index(rng: np.random.Generator, weights: Sequence[int]) -> int:
    """Index ``i`` with probability ``weights[i] / sum(weights)``, by integer arithmetic only."""
    total = sum(weights)
    if total <= 0:
        raise GeneratorConfigError(f"weights {list(weights)} must hold a positive entry")
    return bisect.bisect_right(list(itertools.accumulate(weights)), int(rng.integers(total)))
