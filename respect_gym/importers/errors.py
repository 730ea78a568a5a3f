"""Errors of the model-file importers, and the lazy import of their optional dependencies."""

from __future__ import annotations

import importlib
from types import ModuleType

from respect_gym.graph import GraphError


class ModelFileError(GraphError):
    """A model file cannot be imported: the message names the file and the problem.

    A :class:`~respect_gym.graph.GraphError`, so every caller that reports bad graph input (the CLI,
    the env) reports this too, as one line.
    """


class UnsupportedOpsError(ModelFileError):
    """The model holds ops the Edge TPU cannot run; ``ops`` lists ``(index, op_type, reason)``."""

    def __init__(self, message: str, ops: list[tuple[int, str, str]]) -> None:
        super().__init__(message)
        self.ops = ops


class MissingExtraError(ImportError):
    """An optional dependency of an importer is not installed; the message names the extra."""


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or say which extra to install (the core package never needs it)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"reading this model file needs the {module!r} package: pip install 'respect-gym[{extra}]'"
        ) from None
