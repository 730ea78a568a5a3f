"""Benchmark every solver on the model zoo, plus a 10,000-node synthetic graph.

For each zoo model (fused and layers) and K in {2, 3, 4, 5, 6, 8}: the exact solver's time and
status (proven optimal, or the proven gap at the time limit), every solver's period (cost-model revision ``--revision``), and the
exact schedule's speedup over the vendor compiler's split. Then ``exact`` (the segment DP),
``compiler``, ``greedy`` and ``slicegraph`` on a 10,000-node synthetic graph, where each must
finish within 10 s (``benchmarks/exact_scale.py`` takes exact up to 100,000 nodes).

    python benchmarks/solvers.py                           # everything (tens of minutes)
    python benchmarks/solvers.py --models resnet50 --ks 2 4 --granularity fused
    python benchmarks/solvers.py --time-limit 30 --json bench.json
    python benchmarks/solvers.py --ray auto                # instances as Ray tasks on a cluster
    python benchmarks/solvers.py --granularity layers --models inception_v3 inception_resnet_v2 nasnet_mobile \
        --solvers exact --large-nodes 0 --search portfolio  # exact's other CP-SAT search, on the graphs that reach it

Instances run one per task (:mod:`respect_gym.parallel`): one at a time by default (solve times
are then those of an otherwise idle machine), in ``--workers`` processes, or on Ray.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from rich.console import Console
from rich.table import Table

from respect_gym.cost import LATEST_REVISION, REVISIONS
from respect_gym.cost.model import CostModel
from respect_gym.generators import DnnGraphGenerator
from respect_gym.parallel import map_tasks
from respect_gym.solvers import list_solvers, solve
from respect_gym.solvers.exact import SEARCHES
from respect_gym.zoo import GRANULARITIES, PAPER_PREFIX, list_models, load_graph

KS = (2, 3, 4, 5, 6, 8)
LARGE_SOLVERS = ("exact", "compiler", "greedy", "slicegraph")


def bench_instance(model: str, granularity: str, k: int, solvers: list[str], time_limit: float,
                   revision: int | None = None, search: str = "single") -> dict:
    graph = load_graph(model, granularity=granularity)
    cost_model = CostModel(graph, revision=revision)
    record = {"model": model, "granularity": granularity, "num_nodes": graph.num_nodes, "num_stages": k,
              "graph_sha256": graph.sha256(), "cost_model_version": cost_model.version, "solvers": {}}
    for name in solvers:
        options = {"search": search} if name == "exact" else {}
        result = solve(graph, k, solver=name, time_limit=time_limit, cost_model=cost_model, **options)
        record["solvers"][name] = {"period_ms": result.period_ms, "lower_bound_ms": result.lower_bound_ms,
                                   "optimal": result.optimal, "status": result.status, "gap": result.gap,
                                   "seconds": result.seconds, "method": result.info.get("method"),
                                   "search": result.info.get("search")}
    return record


def _bench(task: tuple[str, str, int, list[str], float, int | None, str]) -> dict:
    return bench_instance(*task)


def zoo_table(records: list[dict], solvers: list[str]) -> Table:
    table = Table(title="solvers on the model zoo (period ms)")
    for column in ("model", "gran", "n", "K", "exact", "s", *solvers, "speedup"):
        table.add_column(column, justify="left" if column in ("model", "gran", "exact") else "right")
    for rec in records:
        sol = rec["solvers"]
        exact = sol.get("exact")
        status = "-" if exact is None else (f"opt ({exact['method']})" if exact["optimal"] else f"gap {100 * exact['gap']:.1f}%")
        speedup = ("-" if exact is None or "compiler" not in sol
                   else f"{sol['compiler']['period_ms'] / exact['period_ms']:.2f}x")
        table.add_row(rec["model"], rec["granularity"], str(rec["num_nodes"]), str(rec["num_stages"]), status,
                      "-" if exact is None else f"{exact['seconds']:.2f}",
                      *(f"{sol[s]['period_ms']:.3f}" for s in solvers), speedup)
    return table


def summary(records: list[dict]) -> list[str]:
    lines = []
    for granularity in GRANULARITIES:
        exact = [r["solvers"]["exact"] for r in records if r["granularity"] == granularity and "exact" in r["solvers"]]
        if not exact:
            continue
        times = [e["seconds"] for e in exact]
        proven = sum(e["optimal"] for e in exact)
        gaps = [e["gap"] for e in exact if not e["optimal"]]
        speedups = [r["solvers"]["compiler"]["period_ms"] / r["solvers"]["exact"]["period_ms"]
                    for r in records if r["granularity"] == granularity and {"exact", "compiler"} <= set(r["solvers"])]
        line = (f"{granularity}: exact proved {proven}/{len(exact)}; solve time median {statistics.median(times):.2f} s, "
                f"max {max(times):.2f} s")
        if gaps:
            line += f"; unproven gaps median {100 * statistics.median(gaps):.1f}%, max {100 * max(gaps):.1f}%"
        if speedups:
            line += (f"; exact over compiler: median {statistics.median(speedups):.2f}x, "
                     f"max {max(speedups):.2f}x")
        lines.append(line)
    return lines


def bench_large(num_nodes: int, k: int, revision: int | None = None) -> list[dict]:
    graph = DnnGraphGenerator(seed=0, num_nodes=num_nodes)(0)
    cost_model = CostModel(graph, revision=revision)
    rows = []
    for name in LARGE_SOLVERS:
        start = time.perf_counter()
        result = solve(graph, k, solver=name, cost_model=cost_model)
        rows.append({"solver": name, "num_nodes": graph.num_nodes, "num_stages": k, "optimal": result.optimal,
                     "period_ms": result.period_ms, "seconds": time.perf_counter() - start})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", help="zoo models (default: every Keras model of the zoo)")
    parser.add_argument("--ks", nargs="+", type=int, default=list(KS), metavar="K")
    parser.add_argument("--granularity", nargs="+", choices=GRANULARITIES, default=list(GRANULARITIES))
    parser.add_argument("--solvers", nargs="+", choices=list_solvers(), default=list_solvers())
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per solve (default 30)")
    parser.add_argument("--search", choices=SEARCHES, default="single", help="exact's CP-SAT search (default single)")
    parser.add_argument("--large-nodes", type=int, default=10_000, help="synthetic graph size (0 to skip)")
    parser.add_argument("--json", metavar="OUT", help="write all records as JSON")
    parser.add_argument("--revision", type=int, choices=REVISIONS, default=LATEST_REVISION,
                        help="cost-model revision (objective: its period)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="instances at once: local processes (default 1), or Ray tasks in flight with --ray")
    parser.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                        help="run instances as Ray tasks: 'auto' (the cluster joined with `ray start`) or HOST:PORT")
    args = parser.parse_args(argv)
    models = args.models or [m for m in list_models() if not m.startswith(PAPER_PREFIX)]
    console = Console(width=200)
    todo = [(m, g, k) for m in models for g in args.granularity for k in args.ks]
    tasks = [(m, g, k, args.solvers, args.time_limit, args.revision, args.search) for m, g, k in todo]
    records = map_tasks(_bench, tasks,
                        names=[f"{m}/{g}/K={k}" for m, g, k in todo], workers=args.workers or (None if args.ray else 1),
                        ray_address=args.ray, description="benchmarking")
    for (model, granularity, k), record in zip(todo, records):
        rec = record["solvers"].get("exact")
        if rec is not None:
            console.print(f"{model} {granularity} K={k}: exact {rec['status']} in {rec['seconds']:.2f} s", highlight=False)
    console.print(zoo_table(records, args.solvers))
    for line in summary(records):
        console.print(line, highlight=False)
    large = bench_large(args.large_nodes, 4, args.revision) if args.large_nodes else []
    for row in large:
        console.print(f"{row['num_nodes']}-node synthetic graph, K={row['num_stages']}: {row['solver']} "
                      f"period {row['period_ms']:.1f} ms in {row['seconds']:.2f} s", highlight=False)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"zoo": records, "large": large}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
