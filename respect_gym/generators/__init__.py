"""Seeded synthetic graph generators and their registry.

``make_generator("respect", seed=0)`` builds a generator by name; the names are the keys of
:data:`GENERATORS`: ``"respect"`` (the RESPECT paper's training distribution), ``"respect-val"``
(its validation preset) and ``"dnn"`` (CNN-like graphs of 10 to 10,000 nodes).
"""

from __future__ import annotations

from typing import Callable

from respect_gym.generators.base import GeneratorConfigError, GraphGenerator
from respect_gym.generators.dnn import DnnGraphGenerator
from respect_gym.generators.respect import RespectLayeredGenerator

GENERATORS: dict[str, Callable[..., GraphGenerator]] = {
    "respect": RespectLayeredGenerator,
    "respect-val": RespectLayeredGenerator.validation,
    "dnn": DnnGraphGenerator,
}


def make_generator(name: str, **kwargs) -> GraphGenerator:
    """Build the generator registered as ``name``; ``kwargs`` go to its constructor."""
    try:
        factory = GENERATORS[name]
    except KeyError:
        raise GeneratorConfigError(f"unknown generator {name!r}; choose one of {', '.join(GENERATORS)}") from None
    return factory(**kwargs)


__all__ = [
    "GENERATORS",
    "DnnGraphGenerator",
    "GeneratorConfigError",
    "GraphGenerator",
    "RespectLayeredGenerator",
    "make_generator",
]
