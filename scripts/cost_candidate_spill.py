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
  price rests on every conv row, not on DenseNet-121 alone.

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
"""

from __future__ import annotations

import argparse
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


_rev3_node_costs = model._rev3_node_costs


SPILL_OVERLAPS = False  # --spill overlap: the spill's transfer overlaps the op's compute
ELEMENTWISE_TIED = False  # --elementwise tied: elementwise ops at the conv activations' price per MB


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
    args = parser.parse_args()
    global SPILL_OVERLAPS, ELEMENTWISE_TIED
    SPILL_OVERLAPS = args.spill == "overlap"
    ELEMENTWISE_TIED = args.elementwise == "tied"
    model._rev3_node_costs = _candidate_node_costs
    if args.loss == "cauchy":
        calibration.log_loss = cauchy_loss  # what calibration.fit minimises
    names = calibration.FITTED + ("spill_bytes", "spill_ms_per_mb")
    if ELEMENTWISE_TIED:
        names = tuple(n for n in names if n != "elementwise_bytes_per_s")
    start = Candidate(**USB3_R3.to_dict())

    full = calibration.fit(start, names, rounds=args.rounds)
    print("full fit:", {n: float(f"{getattr(full, n):.4g}") for n in names})
    rows = calibration.all_rows(full, 3)
    show("full fit, family x mode x K", rows)
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
