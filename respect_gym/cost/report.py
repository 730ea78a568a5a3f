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


@dataclass
class PipelineReport:
    """Per-stage costs of a schedule and the pipeline figures derived from them.

    Stage arrays are numpy arrays of length ``num_stages`` (ms as float, bytes and counts as int).
    ``bottleneck_ms`` is the slowest stage, ``latency_ms`` the end-to-end latency (sum of stages),
    ``throughput`` = 1000 / ``bottleneck_ms`` inferences per second. ``empty_stages`` lists stages
    without TPU ops (fewer TPUs used). ``objective`` names the score the schedule was asked for;
    with ``"paper"`` the RESPECT authors' cost is in ``paper_cost`` while bottleneck and throughput
    stay the latency figures.
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
    objective: str = "latency"
    paper_cost: float | None = None

    @classmethod
    def build(cls, hardware: str, cost_model_version: str, **stage_arrays: np.ndarray) -> "PipelineReport":
        """Derive the totals from the per-stage arrays (the only place they are computed)."""
        arrays = {
            name: np.asarray(stage_arrays[name], dtype=np.int64 if name in _INT_FIELDS else np.float64)
            for name in _STAGE_FIELDS
        }
        stage_ms = arrays["stage_ms"]
        bottleneck = float(stage_ms.max())
        return cls(
            num_stages=int(stage_ms.shape[0]),
            **arrays,
            empty_stages=np.flatnonzero(arrays["stage_num_ops"] == 0).tolist(),
            bottleneck_ms=bottleneck,
            latency_ms=float(stage_ms.sum()),
            throughput=1e3 / bottleneck if bottleneck > 0 else math.inf,
            hardware=hardware,
            cost_model_version=cost_model_version,
        )

    @property
    def objective_value(self) -> float:
        """The number the requested objective minimises."""
        return float(self.paper_cost) if self.objective == "paper" else self.bottleneck_ms

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
        missing = [n for n in names if n not in data and n not in ("objective", "paper_cost")]
        if missing:
            raise ReportError(f"report is missing field(s): {', '.join(missing)}")
        kwargs = {n: data[n] for n in names if n in data}
        for name in _STAGE_FIELDS:
            kwargs[name] = np.asarray(kwargs[name], dtype=np.int64 if name in _INT_FIELDS else np.float64)
        if kwargs["throughput"] is None:
            kwargs["throughput"] = math.inf
        kwargs["empty_stages"] = [int(x) for x in kwargs["empty_stages"]]
        return cls(**kwargs)
