"""Long CP-SAT runs that settle the layers instances a 30 s ``exact`` leaves open (issue 25).

For each instance, ``exact`` with a 30 s limit gives the incumbent; then the single search
(``exact``'s own CP-SAT parameters, one worker) runs without a time limit on the model ``exact``
builds, with or without its boundary cuts (:meth:`_StageTimeModel.add_boundary_cuts`):

- ``refute``: one target just below the incumbent (``exact``'s last target); INFEASIBLE proves the
  incumbent optimal;
- ``minimise``: the minimisation, hinted and bounded by the incumbent as ``exact`` does; OPTIMAL
  proves the period it returns.

Minutes per instance; ``--limit`` caps each run (a capped run reports UNKNOWN or FEASIBLE).
``--lp 0 2`` also runs each with CP-SAT's full LP relaxation (``linearization_level`` 2; ``exact``
uses 0, see :mod:`respect_gym.solvers.exact_cpsat`).

    python benchmarks/exact_long.py                        # nasnet_mobile layers K=6 refute, K=8 minimise, with cuts
    python benchmarks/exact_long.py --cuts with without    # each instance with and without the cuts
    python benchmarks/exact_long.py --lp 0 2               # each instance without and with the LP relaxation
"""

from __future__ import annotations

import argparse
import json
import time

from rich.console import Console
from rich.table import Table

from respect_gym.cost.model import CostModel
from respect_gym.solvers import solve
from respect_gym.solvers.base import Problem
from respect_gym.solvers.exact_cpsat import _Run, _StageTimeModel, _targets
from respect_gym.zoo import load_graph

# (model, granularity, K, mode)
INSTANCES = (("nasnet_mobile", "layers", 6, "refute"), ("nasnet_mobile", "layers", 8, "minimise"))


def run(model: str, granularity: str, k: int, mode: str, cuts: bool, limit: float, lp: int = 0) -> dict:
    graph = load_graph(model, granularity=granularity)
    first = solve(graph, k, "exact", time_limit=30)
    start = time.perf_counter()
    problem = Problem(graph=graph, num_stages=k, cost_model=CostModel(graph), time_limit=limit,
                      deadline=start + limit)
    built = _StageTimeModel(problem)
    if cuts:
        built.add_boundary_cuts()
    incumbent = first.objective_value
    if mode == "refute":  # a bound 1% below the incumbent makes _targets ask its last target at once
        _, value, bound, runs = _targets(problem, built, False, first.stages, incumbent, 0.99 * incumbent, None, 0.0,
                                         linearization=lp)
        status, value = runs[-1].status_name, min(value, incumbent)
        if status not in ("INFEASIBLE", "OPTIMAL"):  # the 1% start is no proof; keep the 30 s bound
            bound = first.objective_bound
    else:
        built.add_hints(first.stages)
        built.bound_above(incumbent)
        minimised = _Run(problem, built, "single", False, seconds=limit, dtime=None, linearization=lp)
        status, value, bound = minimised.status_name, min(minimised.value, incumbent), minimised.bound
    return {"model": model, "granularity": granularity, "num_stages": k, "mode": mode, "cuts": cuts, "lp": lp,
            "incumbent_30s_ms": incumbent, "status": status, "period_ms": value, "bound_ms": bound,
            "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuts", nargs="+", choices=("with", "without"), default=["with"])
    parser.add_argument("--lp", nargs="+", type=int, choices=(0, 1, 2), default=[0],
                        help="CP-SAT linearization levels to run each instance with (default 0, exact's)")
    parser.add_argument("--limit", type=float, default=900.0, help="seconds per run (default 900)")
    parser.add_argument("--json", metavar="OUT", help="write the records as JSON")
    args = parser.parse_args()
    records = []
    table = Table(title="long CP-SAT runs on the open instances")
    for name in ("instance", "mode", "cuts", "LP", "30 s incumbent", "status", "period ms", "bound ms", "seconds"):
        table.add_column(name)
    for model, granularity, k, mode in INSTANCES:
        for cuts in args.cuts:
            for lp in args.lp:
                r = run(model, granularity, k, mode, cuts == "with", args.limit, lp)
                records.append(r)
                table.add_row(f"{model} {granularity} K={k}", mode, cuts, str(lp), f"{r['incumbent_30s_ms']:.4f}",
                              r["status"], f"{r['period_ms']:.4f}", f"{r['bound_ms']:.4f}", f"{r['seconds']:.1f}")
    Console(width=160).print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)


if __name__ == "__main__":
    main()
