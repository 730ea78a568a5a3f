"""Peak memory of ``exact``'s CP-SAT path against the model's size in node-stage cells.

Each solve runs in a fresh process (``method="cpsat"``, the period under ``--time-limit``, so the
minimisation, its restarts and the targets' race all run); the table gives the process's peak
resident memory before the solve (Python, the package, the graph) and after it, and the growth per
(node, stage) cell, which sets :data:`respect_gym.solvers.exact_cpsat.MAX_MODEL_CELLS`.

    python benchmarks/exact_memory.py                              # dnn graphs of 1,000 and 2,500 nodes, K=8
    python benchmarks/exact_memory.py --nodes 3000 --ks 4 8 --time-limit 60
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

from rich.console import Console
from rich.table import Table


def child(num_nodes: int, k: int, time_limit: float) -> None:
    from respect_gym.generators import DnnGraphGenerator
    from respect_gym.solvers import solve

    graph = DnnGraphGenerator(seed=0, num_nodes=num_nodes)(0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    result = solve(graph, k, "exact", time_limit=time_limit, method="cpsat")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps({"nodes": graph.num_nodes, "before_mb": before, "after_mb": after,
                      "method": result.info.get("method"), "status": result.status}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", nargs="+", type=int, default=[1000, 2500])
    parser.add_argument("--ks", nargs="+", type=int, default=[8])
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(int(args.child[0]), int(args.child[1]), float(args.child[2]))
        return
    table = Table(title=f"exact's CP-SAT path, {args.time_limit:g} s per solve, one process each")
    for name in ("nodes", "K", "cells", "method", "peak before MB", "peak after MB", "KB per cell"):
        table.add_column(name)
    for n in args.nodes:
        for k in args.ks:
            out = subprocess.run([sys.executable, __file__, "--child", str(n), str(k), str(args.time_limit)],
                                 check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            cells = r["nodes"] * k
            table.add_row(str(r["nodes"]), str(k), f"{cells:,}", str(r["method"]), str(r["before_mb"]),
                          str(r["after_mb"]), f"{(r['after_mb'] - r['before_mb']) * 1024 / cells:.0f}")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
