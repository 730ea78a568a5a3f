"""Fit the Edge TPU cost model's free constants and print predicted vs measured latencies.

Usage: ``python scripts/calibrate_cost_model.py [--fit]``

Without ``--fit`` it scores the constants stored in ``respect_gym/cost/hardware.py``; with it, it
first refits the constants named in ``respect_gym.cost.calibration.FITTED`` on the six published
Coral rows (starting from the stored values; ``TIED`` constants follow their source) and prints the
literals to paste into hardware.py.
Then it prints the published table, the thesis validation table (never fitted) and the
qualitative checks of issue 3.
"""

from __future__ import annotations

import argparse

import numpy as np

from respect_gym.cost import CostModel
from respect_gym.cost.calibration import FITTED, TIED, Row, best_order_cut, fit, published_rows, thesis_rows
from respect_gym.cost.hardware import USB3, EdgeTPU
from respect_gym.zoo import load_graph


def table(title: str, rows: list[Row]) -> None:
    print(f"\n{title}\n| row | measured ms | predicted ms | error | note |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.label} | {r.measured_ms:.3g} | {r.predicted_ms:.3g} | {r.error:+.1%} | {r.note} |")
    errors = np.abs([r.error for r in rows])
    print(f"median |error| {np.median(errors):.1%}, max |error| {errors.max():.1%}")


def qualitative(hw: EdgeTPU) -> None:
    print("\nQualitative checks")
    for name in ("vgg16", "mobilenet_v2", "resnet152"):
        model = CostModel(load_graph(name), hw)
        one = model.evaluate(np.zeros(model.graph.num_nodes, dtype=np.int64), 1)
        four = model.evaluate(best_order_cut(model, 4), 4)
        print(f"- {name}: 1 TPU {one.bottleneck_ms:.1f} ms (streaming {one.stage_stream_ms[0] / one.bottleneck_ms:.0%}"
              f" of it, {one.stage_streamed_bytes[0] / 2**20:.1f} MiB streamed); best cut of the topological order"
              f" over 4 TPUs: bottleneck {four.bottleneck_ms:.1f} ms, throughput x{one.bottleneck_ms / four.bottleneck_ms:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="refit the free constants first")
    args = parser.parse_args()
    hw = USB3
    if args.fit:
        hw = fit(USB3)
        print("Fitted constants (paste into respect_gym/cost/hardware.py, 3 significant digits):")
        for name in FITTED + tuple(TIED):
            print(f"    {name}={getattr(hw, name):.3g},")
    table("Published single-TPU latencies (Coral, USB Accelerator): fitted", published_rows(hw))
    thesis = thesis_rows(hw)
    table("Thesis pipelines (best cut into K non-empty segments; predicted = end-to-end latency): not fitted", thesis)
    for tag in ("FC", "conv"):
        errors = np.abs([r.error for r in thesis if r.label.startswith(tag)])
        print(f"{tag} rows: median |error| {np.median(errors):.1%}, max |error| {errors.max():.1%}")
    qualitative(hw)


if __name__ == "__main__":
    main()
