"""Time to proof of ``exact`` against graph size: seeded ``dnn`` graphs of 500 to 100,000 nodes.

For each size and K in {4, 8}: one ``DnnGraphGenerator(seed=0, num_nodes=N)(0)`` graph, solved by
``exact`` with a 30 s limit; the table gives the method, the status, the proven gap, the solve time
and the process's peak memory after the solve. Instances run one at a time in this process, one
thread; the memory column is the peak so far (it only grows with the sizes).

    python benchmarks/exact_scale.py                     # table, JSON and log-log plot in benchmarks/results/
    python benchmarks/exact_scale.py --sizes 2000 10000 --ks 4
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from respect_gym.generators import DnnGraphGenerator
from respect_gym.solvers import solve

SIZES = (500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000)
RESULTS = Path(__file__).resolve().parent / "results"


def measure(sizes: list[int], ks: list[int], time_limit: float) -> list[dict]:
    rows = []
    for n in sizes:
        graph = DnnGraphGenerator(seed=0, num_nodes=n)(0)
        for k in ks:
            start = time.perf_counter()
            result = solve(graph, k, time_limit=time_limit)
            seconds = time.perf_counter() - start
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rows.append({"num_nodes": graph.num_nodes, "num_stages": k, "method": result.info.get("method"),
                         "status": result.status, "gap": result.gap, "period_ms": result.objective_value,
                         "bound_ms": result.objective_bound, "seconds": seconds, "peak_rss_mb": peak})
            print(f"{n:>7} K={k}: {result.status} ({result.info.get('method')}) gap {100 * result.gap:.2f}% "
                  f"in {seconds:.2f} s, peak {peak:.0f} MB", flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| nodes | K | method | status | gap | seconds | peak RSS MB |", "|---:|---:|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['num_nodes']:,} | {r['num_stages']} | {r['method']} | {r['status']} | "
                     f"{100 * r['gap']:.2f}% | {r['seconds']:.2f} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for k in sorted({r["num_stages"] for r in rows}):
        sel = [r for r in rows if r["num_stages"] == k]
        ax.loglog([r["num_nodes"] for r in sel], [r["seconds"] for r in sel], "o-", label=f"K={k}")
    ax.set_xlabel("graph nodes (dnn generator)")
    ax.set_ylabel("exact: time to proof (s)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--ks", nargs="+", type=int, default=[4, 8])
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "exact_scale", help="prefix of the .json and .png written")
    args = parser.parse_args(argv)
    rows = measure(args.sizes, args.ks, args.time_limit)
    print(markdown(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    plot(rows, args.out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
