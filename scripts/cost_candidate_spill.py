"""A revision-4 candidate of the cost model, priced on the calibration rows (issue 24): not a revision.

Revision 3 plus two per-node mechanisms (docs/cost_model.md, "Spill plus overlapped streaming"):

- spill: an op whose working set (input + output activation bytes) exceeds ``spill_bytes`` pays
  ``max(0, in + out - spill_bytes)`` per MB at ``spill_ms_per_mb``;
- overlapped streaming: a streamed conv / depthwise layer costs ``max(compute, streaming)``
  instead of their sum;
- with ``--spill overlap``, the spill overlaps the op's compute too: ``max(compute, spill)``;
- with ``--elementwise tied``, an elementwise op (class "other": add, batch norm, concatenation,
  pooling) is priced like a conv's activations, ``activation_ms_per_mb`` per MB of its input +
  output, instead of its output at ``elementwise_bytes_per_s`` (which then leaves the fit): the
  price rests on every conv row, not on DenseNet-121 alone;
- with ``--hub H``, the first H devices share one upstream USB link (a hub): a period is at least
  ``hub_ms_per_mb`` (fitted) per MB that their stages move over USB (tensors in and out, streamed
  weights), and the script also prints, per K, what the conv period rows measure per such MB.

The candidate lives in this process only: it wraps revision 3's per-node costs
(``model._rev3_node_costs``) for :class:`Candidate` hardware, so nothing published changes. The
fits are :func:`respect_gym.cost.calibration.fit` over revision 3's fitted constants plus the two
spill constants, from revision 3's values; ``--loss cauchy`` swaps in the bounded loss the docs
describe (``log(1 + (log error / 0.25)^2)`` per row, groups weighted alike). Prints the full fit's
table, the larger half fitted on the smaller (family x mode x K, and family x mode), and the
Coral leave-one-out. About 5 minutes per loss here.

    python scripts/cost_candidate_spill.py --loss squared
    python scripts/cost_candidate_spill.py --loss cauchy
    python scripts/cost_candidate_spill.py --loss cauchy --spill overlap   # max(compute, spill) per op
    python scripts/cost_candidate_spill.py --loss cauchy --spill overlap --elementwise tied
    python scripts/cost_candidate_spill.py --loss cauchy --spill overlap --elementwise tied --hub 3
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

import respect_gym.cost.model as model
from respect_gym.cost import calibration
from respect_gym.cost.hardware import USB3_R3, EdgeTPU3


@dataclass(frozen=True)
class Candidate(EdgeTPU3):
    """Revision 3's constants plus the spill's two (starting values of the fits)."""

    spill_bytes: float = 1.5e6
    spill_ms_per_mb: float = 0.9
    hub_ms_per_mb: float = 3.0  # --hub only


_rev3_node_costs = model._rev3_node_costs


SPILL_OVERLAPS = False  # --spill overlap: the spill's transfer overlaps the op's compute
ELEMENTWISE_TIED = False  # --elementwise tied: elementwise ops at the conv activations' price per MB
HUB_DEVICES: int | None = None  # --hub H: the first H devices share one upstream link
_thesis_rows, _predict_ms = calibration.thesis_rows, calibration.predict_ms
_priced = {}  # the hardware calibration.thesis_rows is pricing now (read by _hub_predict_ms)


def _candidate_node_costs(graph, hw, classes, is_op, in_act):
    compute, stream, stored = _rev3_node_costs(graph, hw, classes, is_op, in_act)
    if isinstance(hw, Candidate):
        act = (graph.out_bytes + in_act).astype(np.float64)
        if ELEMENTWISE_TIED:
            other = (classes == "other") & is_op
            compute = np.where(other, hw.op_overhead_ms + act / 1e6 * hw.activation_ms_per_mb, compute)
        spill = np.where(is_op, np.maximum(0.0, act - hw.spill_bytes) / 1e6 * hw.spill_ms_per_mb, 0.0)
        compute = np.maximum(compute, spill) if SPILL_OVERLAPS else compute + spill
        convish = (classes == "conv") | (classes == "depthwise")
        stream = np.where(convish, np.maximum(0.0, stream - compute), stream)
    return compute, stream, stored


def hub_mb(row, report) -> float:
    """The MB per inference that the stages on the hub's devices move over USB."""
    k = min(row.segments, HUB_DEVICES)
    return float((report.stage_in_bytes[:k] + report.stage_out_bytes[:k] + report.stage_streamed_bytes[:k]).sum()) / 1e6


def _hub_predict_ms(row, report) -> float:
    """predict_ms with the pipeline's period at least the hub's (only period rows read it)."""
    period = max(report.period_ms, _priced["hw"].hub_ms_per_mb * hub_mb(row, report))
    return _predict_ms(row, dataclasses.replace(report, period_ms=period))


def _hub_thesis_rows(hardware, revision=3, data=None):
    _priced["hw"] = hardware
    return _thesis_rows(hardware, revision, data)


def show_hub_rates(hw) -> None:
    """Per K, the conv period rows' measured ms per MB through the hub: a shared link of fixed
    bandwidth would give one rate for every K."""
    rates = defaultdict(list)
    for r in calibration.load_rows():
        if r.family == "conv" and r.batch >= 50:  # batch > 1: a period row
            rates[r.segments].append(r.ms / hub_mb(r, calibration.row_report(r, hw, revision=3)))
    print(f"conv period rows (batch >= 50), measured ms per MB through the first {HUB_DEVICES} devices' hub")
    for k, v in sorted(rates.items()):
        print(f"  K={k} n={len(v):3d}  median {np.median(v):5.2f}  p10 {np.percentile(v, 10):5.2f}  p90 {np.percentile(v, 90):5.2f}")


def cauchy_loss(rows: list[calibration.Row], scale: float = 0.25) -> float:
    """Group-balanced bounded loss: a row's weight stops growing once it is off by much more than ``scale``."""
    groups: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        groups[r.group].append(math.log1p((math.log(r.predicted_ms / r.measured_ms) / scale) ** 2))
    return float(sum(np.mean(v) for v in groups.values()))


def show(title: str, rows: list[calibration.Row], by=lambda r: r.group) -> None:
    print(title)
    for group, n, med, p90, signed in calibration.error_table(rows, by):
        print(f"  {group:24s} n={n:4d}  median {100 * med:5.1f}%  p90 {100 * p90:5.1f}%  signed {100 * signed:+6.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loss", choices=("squared", "cauchy"), default="cauchy")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--spill", choices=("add", "overlap"), default="add",
                        help="the spill's time adds to the op's compute (default), or overlaps it (the longer of the two)")
    parser.add_argument("--elementwise", choices=("rate", "tied"), default="rate",
                        help="elementwise ops at their own fitted rate (default), or at the conv activations' price")
    parser.add_argument("--hub", type=int, metavar="H", help="the first H devices share one upstream USB link")
    args = parser.parse_args()
    global SPILL_OVERLAPS, ELEMENTWISE_TIED, HUB_DEVICES
    SPILL_OVERLAPS = args.spill == "overlap"
    ELEMENTWISE_TIED = args.elementwise == "tied"
    HUB_DEVICES = args.hub
    model._rev3_node_costs = _candidate_node_costs
    if HUB_DEVICES is not None:
        calibration.thesis_rows, calibration.predict_ms = _hub_thesis_rows, _hub_predict_ms
    if args.loss == "cauchy":
        calibration.log_loss = cauchy_loss  # what calibration.fit minimises
    names = calibration.FITTED + ("spill_bytes", "spill_ms_per_mb")
    if ELEMENTWISE_TIED:
        names = tuple(n for n in names if n != "elementwise_bytes_per_s")
    if HUB_DEVICES is not None:
        names += ("hub_ms_per_mb",)
    start = Candidate(**USB3_R3.to_dict())

    full = calibration.fit(start, names, rounds=args.rounds)
    print("full fit:", {n: float(f"{getattr(full, n):.4g}") for n in names})
    rows = calibration.all_rows(full, 3)
    show("full fit, family x mode x K", rows)
    show("full fit, by K", rows, by=lambda r: f"{r.group.split()[0]} {r.group.split()[1]} {r.label.split()[2]}"
         if r.group != calibration.CORAL else r.group)
    if HUB_DEVICES is not None:
        show_hub_rates(full)
    coral = [r for r in rows if r.group == calibration.CORAL]
    for (name, _, _), r in zip(calibration.PUBLISHED, coral):
        act = np.asarray(model.CostModel(calibration.calibration_graph(name), full, 3).act_bytes, dtype=np.float64)
        print(f"  {r.label:28s} {100 * r.error:+6.1f}%   largest working set {act.max() / 1e6:.2f} MB, "
              f"{np.maximum(0.0, act - full.spill_bytes).sum() / 1e6:.1f} MB above the budget")

    small, large = calibration.size_halves()
    half = calibration.fit(start, names, rounds=args.rounds, data=small)
    print("fitted on the smaller half:", {n: float(f"{getattr(half, n):.4g}") for n in names})
    rows = calibration.thesis_rows(half, 3, large)
    show("larger half, family x mode x K", rows)
    show("larger half, family x mode", rows, by=lambda r: " ".join(r.group.split()[:2]))

    print("Coral leave-one-out")
    for held in calibration.PUBLISHED:
        hw = calibration.fit(start, names, rounds=args.rounds, coral=tuple(p for p in calibration.PUBLISHED if p != held))
        r = calibration.published_rows(hw, 3, (held,))[0]
        print(f"  {r.label:28s} {100 * r.error:+6.1f}%")


if __name__ == "__main__":
    main()
