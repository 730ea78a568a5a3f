"""Task functions for tests/test_parallel.py, in a module of their own so that worker processes
and Ray workers (given this folder on their PYTHONPATH) import them by name."""

from __future__ import annotations

from pathlib import Path

RESNET50_FUSED_NODES = 74


def square(x: int) -> int:
    return x * x


def fails_first_time(task: tuple[int, str]) -> int:
    """Raises on the first call for ``x == 3`` (a marker file remembers it across processes)."""
    x, marker = task
    if x == 3 and not Path(marker).exists():
        Path(marker).touch()
        raise OSError("transient failure")
    return x


def fails_on_two(x: int) -> int:
    if x == 2:
        raise ValueError(f"cannot handle {x}")
    return x


def one_stage_except_resnet50_k3(graph, num_stages, hardware, objective) -> list[int]:
    """A leaderboard policy that crashes on exactly one instance of the test suite."""
    if graph.num_nodes == RESNET50_FUSED_NODES and num_stages == 3:
        raise ZeroDivisionError("division by zero")
    return [0] * graph.num_nodes
