"""Schedules: an integer pipeline stage per node, validated against the graph."""

from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np

from respect_gym.graph import Graph
from respect_gym.safe_io import excerpt


class ScheduleError(ValueError):
    """A schedule is malformed: the message names the offending node, edge or value."""


def check_num_stages(num_stages: object) -> int:
    """Return ``num_stages`` as an int, refusing bools, non-integers and values below 1."""
    if isinstance(num_stages, bool) or not isinstance(num_stages, numbers.Integral) or num_stages < 1:
        raise ScheduleError(f"num_stages must be an integer >= 1, got {num_stages!r}")
    return int(num_stages)


def validate_schedule(graph: Graph, stages: Sequence[int] | np.ndarray, num_stages: int) -> np.ndarray:
    """Check a schedule and return it as a fresh int64 array.

    :param graph: the graph the schedule is for.
    :param stages: stage of every node, in graph node order.
    :param num_stages: number of pipeline stages K; stages are ``0..K-1`` and may be empty.
    :raises ScheduleError: wrong length, non-integer values, a stage outside ``0..K-1``, or an edge
        ``u -> v`` with ``stage[u] > stage[v]`` (named with both node names).
    """
    k = check_num_stages(num_stages)
    try:
        raw = np.asarray(stages)
    except (TypeError, ValueError):
        raise ScheduleError("stages must be a flat list of integers") from None
    if raw.ndim != 1 or raw.shape[0] != graph.num_nodes:
        raise ScheduleError(f"stages has shape {raw.shape}, expected ({graph.num_nodes},): one stage per node")
    if raw.dtype == bool or not (np.issubdtype(raw.dtype, np.integer) or np.issubdtype(raw.dtype, np.floating)):
        raise ScheduleError(f"stages must hold integers, got values of type {raw.dtype}")
    if np.issubdtype(raw.dtype, np.floating):
        bad = np.flatnonzero(~np.isfinite(raw) | (raw != np.round(raw)))
        if bad.size:
            i = int(bad[0])
            raise ScheduleError(f"node {i} ({excerpt(graph.names[i])}): stage {raw[i]!r} is not an integer")
        bad = np.flatnonzero((raw < 0) | (raw >= k))  # before the cast: 1e300 does not fit an int64
        if bad.size:
            i = int(bad[0])
            raise ScheduleError(f"node {i} ({excerpt(graph.names[i])}): stage {raw[i]:g} is outside 0..{k - 1}")
    out = raw.astype(np.int64)
    bad = np.flatnonzero((out < 0) | (out >= k))
    if bad.size:
        i = int(bad[0])
        raise ScheduleError(f"node {i} ({excerpt(graph.names[i])}): stage {int(out[i])} is outside 0..{k - 1}")
    u, v = graph.edges[:, 0], graph.edges[:, 1]
    bad = np.flatnonzero(out[u] > out[v])
    if bad.size:
        a, b = int(u[bad[0]]), int(v[bad[0]])
        raise ScheduleError(
            f"precedence violated on edge {a} -> {b} ({excerpt(graph.names[a])} -> {excerpt(graph.names[b])}): "
            f"stage {int(out[a])} > stage {int(out[b])}"
        )
    return out
