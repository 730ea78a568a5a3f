"""The result of evaluating a pipeline schedule: per-stage figures and pipeline totals."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

_STAGE_FIELDS = (
    "stage_ms", "stage_compute_ms", "stage_stream_ms", "stage_transfer_ms", "stage_param_bytes",
    "stage_cached_bytes", "stage_streamed_bytes", "stage_in_bytes", "stage_out_bytes", "stage_num_ops",
)
_INT_FIELDS = {"stage_param_bytes", "stage_cached_bytes", "stage_streamed_bytes", "stage_in_bytes",
               "stage_out_bytes", "stage_num_ops"}


class ReportError(ValueError):
    """A serialised report is malformed."""


def pipeline_figures(stage_ms: np.ndarray, used: int, host_stage_ms: float = 0.0,
                     handoff_ms: float = 0.0) -> tuple[float, float]:
    """``(period_ms, latency_ms)`` of a pipeline: the period is the slowest stage, or the host's
    serial per-stage work when that is longer; one input's latency is every stage in turn plus a
    hand-off per stage. ``used`` counts the non-empty stages (revision 2: both terms are 0)."""
    stage_ms = np.asarray(stage_ms, dtype=np.float64)
    period = max(float(stage_ms.max(initial=0.0)), host_stage_ms * used)
    return period, float(stage_ms.sum()) + handoff_ms * used


@dataclass
class PipelineReport:
    """Per-stage costs of a schedule and the pipeline figures derived from them.

    Stage arrays are numpy arrays of length ``num_stages`` (ms as float, bytes and counts as int).
    ``period_ms`` is the steady-state time between outputs while inputs stream through the
    pipeline (``throughput`` = 1000 / ``period_ms`` inferences per second), ``latency_ms`` the time
    of one input through an idle pipeline, ``bottleneck_ms`` the slowest stage (revision 2: the
    period). ``empty_stages`` lists stages without TPU ops (fewer TPUs used). ``objective`` names
    the figure the schedule was asked to minimise (``"period"``, ``"latency"`` or ``"paper"``:
    the RESPECT authors' cost, in ``paper_cost``); ``revision`` the cost-model formula revision.
    """

    num_stages: int
    stage_ms: np.ndarray
    stage_compute_ms: np.ndarray
    stage_stream_ms: np.ndarray
    stage_transfer_ms: np.ndarray
    stage_param_bytes: np.ndarray
    stage_cached_bytes: np.ndarray
    stage_streamed_bytes: np.ndarray
    stage_in_bytes: np.ndarray
    stage_out_bytes: np.ndarray
    stage_num_ops: np.ndarray
    empty_stages: list[int]
    bottleneck_ms: float
    latency_ms: float
    throughput: float
    hardware: str
    cost_model_version: str
    objective: str = "period"
    paper_cost: float | None = None
    period_ms: float = math.nan
    revision: int = 2

    @classmethod
    def build(cls, hardware: str, cost_model_version: str, revision: int = 2, host_stage_ms: float = 0.0,
              handoff_ms: float = 0.0, **stage_arrays: np.ndarray) -> "PipelineReport":
        """Derive the totals from the per-stage arrays (the only place they are computed)."""
        arrays = {
            name: np.asarray(stage_arrays[name], dtype=np.int64 if name in _INT_FIELDS else np.float64)
            for name in _STAGE_FIELDS
        }
        stage_ms = arrays["stage_ms"]
        used = int((arrays["stage_num_ops"] > 0).sum())
        period, latency = pipeline_figures(stage_ms, used, host_stage_ms, handoff_ms)
        return cls(
            num_stages=int(stage_ms.shape[0]),
            **arrays,
            empty_stages=np.flatnonzero(arrays["stage_num_ops"] == 0).tolist(),
            bottleneck_ms=float(stage_ms.max()),
            latency_ms=latency,
            throughput=1e3 / period if period > 0 else math.inf,
            hardware=hardware,
            cost_model_version=cost_model_version,
            period_ms=period,
            revision=int(revision),
        )

    @property
    def objective_value(self) -> float:
        """The number the requested objective minimises."""
        if self.objective == "paper":
            return float(self.paper_cost)
        return self.latency_ms if self.objective == "latency" else self.period_ms

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (plain lists; an infinite throughput becomes ``None``)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.tolist() if isinstance(value, np.ndarray) else value
        if math.isinf(self.throughput):
            out["throughput"] = None
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PipelineReport":
        """Inverse of :meth:`to_dict`."""
        names = [f.name for f in fields(cls)]
        optional = ("objective", "paper_cost", "period_ms", "revision")  # absent from early revision-2 reports
        missing = [n for n in names if n not in data and n not in optional]
        if missing:
            raise ReportError(f"report is missing field(s): {', '.join(missing)}")
        kwargs = {n: data[n] for n in names if n in data}
        if "revision" not in data:  # written before revisions were recorded: revision 2, whose
            kwargs["period_ms"] = data["bottleneck_ms"]  # period is the bottleneck and whose
            kwargs["objective"] = {"latency": "period"}.get(data.get("objective", "period"), data.get("objective"))
        for name in _STAGE_FIELDS:
            kwargs[name] = np.asarray(kwargs[name], dtype=np.int64 if name in _INT_FIELDS else np.float64)
        if kwargs["throughput"] is None:
            kwargs["throughput"] = math.inf
        kwargs["empty_stages"] = [int(x) for x in kwargs["empty_stages"]]
        return cls(**kwargs)
