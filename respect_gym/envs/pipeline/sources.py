"""Where the env's graphs come from: the ``model`` argument turned into a seeded graph sampler.

``model`` may be a zoo model name, a generator name (a key of :data:`respect_gym.generators.GENERATORS`),
a path to a graph JSON file, a :class:`~respect_gym.graph.Graph`, a generator object (any callable
mapping a ``numpy.random.Generator`` to a Graph, such as a
:class:`~respect_gym.generators.base.GraphGenerator`), or a list of any of these (one is drawn
uniformly per episode). ``None`` means synthetic DNN-like graphs that fit ``max_nodes``.
Names and files are loaded once, when the env is built, so mistakes surface there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from respect_gym.graph import Graph

GraphSampler = Callable[[np.random.Generator], Graph]


class GraphSourceError(ValueError):
    """The ``model`` argument names no zoo model, generator or file."""


DEFAULT_GENERATOR_SEED = 0  # the default distribution is fixed; the env seed picks graphs from it
DEFAULT_NUM_NODES = (20, 400)  # default synthetic graph sizes, capped at max_nodes


@dataclass(frozen=True)
class FixedGraph:
    """Always the same graph."""

    graph: Graph

    def __call__(self, rng: np.random.Generator) -> Graph:
        return self.graph


@dataclass(frozen=True)
class OneOf:
    """A uniform draw among several sources."""

    sources: tuple[GraphSampler, ...]

    def __call__(self, rng: np.random.Generator) -> Graph:
        return self.sources[int(rng.integers(len(self.sources)))](rng)


def default_generator(max_nodes: int) -> GraphSampler:
    """Synthetic DNN-like graphs (:class:`DnnGraphGenerator`) no larger than ``max_nodes``."""
    from respect_gym.generators import DnnGraphGenerator

    low, high = DEFAULT_NUM_NODES
    return DnnGraphGenerator(seed=DEFAULT_GENERATOR_SEED, num_nodes=(min(low, max_nodes), min(high, max_nodes)))


def _from_name(name: str, granularity: str) -> GraphSampler:
    from respect_gym.generators import GENERATORS, make_generator
    from respect_gym.zoo import UnknownModelError, load_graph

    if name in GENERATORS:
        return make_generator(name, seed=DEFAULT_GENERATOR_SEED)
    try:
        return FixedGraph(load_graph(name, granularity))  # zoo names in any spelling, or a graph file
    except UnknownModelError as exc:
        raise GraphSourceError(f"{exc}; nor is it a generator ({', '.join(GENERATORS)})") from None


def make_graph_source(model: Any, granularity: str, max_nodes: int) -> GraphSampler:
    """Resolve the env's ``model`` argument (see the module docstring)."""
    if model is None:
        return default_generator(max_nodes)
    if isinstance(model, Graph):
        return FixedGraph(model)
    if isinstance(model, (str, os.PathLike)):
        return _from_name(os.fspath(model), granularity)
    if isinstance(model, Sequence):
        if not model:
            raise GraphSourceError("model is an empty list; give at least one model")
        return OneOf(tuple(make_graph_source(m, granularity, max_nodes) for m in model))
    if callable(model):
        return model
    raise GraphSourceError(
        f"model must be a name, a path, a Graph, a generator or a list of these; got {type(model).__name__}"
    )


def as_graph(value: Any, granularity: str) -> Graph:
    """A single graph from ``reset(options={"graph": value})``: a Graph, a zoo name or a file."""
    if isinstance(value, Graph):
        return value
    if isinstance(value, (str, os.PathLike)):
        source = _from_name(os.fspath(value), granularity)
        if isinstance(source, FixedGraph):
            return source.graph
    raise GraphSourceError(f"options['graph'] must be a Graph, a zoo model name or a graph file; got {value!r}")
