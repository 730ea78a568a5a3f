"""Single CP-SAT targets on a suite instance: is there a schedule with period <= t? (issue 25).

Each target is the query ``exact``'s targets ask (:func:`respect_gym.solvers.exact_cpsat._target_model`:
the model ``exact`` builds, with its boundary cuts, bounded by ``t``), searched alone by the single
search at each CP-SAT ``linearization_level`` and presolve ``cp_model_probing_level`` given (0 and 0:
``exact``'s own; 2 and 2: the full LP relaxation with probing, the other half of its targets' race).
INFEASIBLE proves the optimum exceeds ``t``. A query's CP-SAT seed (``--seeds``, default 0, exact's
own) changes its search path, and its time with it: compare settings over several seeds, in
deterministic seconds, which unlike wall seconds do not follow the machine's load. ``--prefix-cuts
closure`` leaves out the prefix / suffix cuts that price transfers
(:meth:`~respect_gym.solvers.exact_cpsat._StageTimeModel.add_flow_cuts`, ``flow``: ``exact``'s targets
add them), keeping only those on the compute of each node's ancestors and descendants.

    python benchmarks/exact_targets.py --instance respect-7-300/k6 --targets 150 210 --lp 0 2
    python benchmarks/exact_targets.py --instance respect-7-300/k8 --targets 107.8 --lp 2
    python benchmarks/exact_targets.py --instance nasnet_mobile/k6 --targets 4.4 --lp 2 --probing 0 2 --seeds 0 1 2 3
    python benchmarks/exact_targets.py --instance nasnet_mobile/k6 --targets 4.4857311 --lp 2 --probing 2 \
        --seeds 0 1 2 3 4 --prefix-cuts closure flow
    python benchmarks/exact_targets.py --instance respect-7-1000/k6 --solve 60   # exact itself, its targets listed

``--solve SECONDS`` runs ``exact`` on the instance with that time limit instead, and prints its
period, its proven bound and the targets it asked (``info["targets"]``).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

from rich.console import Console
from rich.table import Table

from respect_gym.cost.model import CostModel
from respect_gym.leaderboard.suite import load_suite
from respect_gym.solvers import solve
from respect_gym.solvers.base import Problem
from respect_gym.solvers.exact_cpsat import _Run, _StageTimeModel, _target_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="hard-v3")
    parser.add_argument("--instance", required=True, help="instance id, e.g. respect-7-300/k6")
    parser.add_argument("--targets", nargs="+", type=float, metavar="MS")
    parser.add_argument("--solve", type=float, metavar="SECONDS", help="run exact with this time limit instead")
    parser.add_argument("--lp", nargs="+", type=int, choices=(0, 1, 2), default=[0, 2])
    parser.add_argument("--probing", nargs="+", type=int, choices=(0, 1, 2), default=[0],
                        help="cp_model_probing_level(s) (default 0)")
    parser.add_argument("--prefix-cuts", nargs="+", choices=("flow", "closure"), default=["flow"],
                        help="with the flow cuts (exact's targets', default) or the closure cuts alone")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="CP-SAT random seeds (default 0)")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds per query (default 60)")
    args = parser.parse_args()
    suite = load_suite(args.suite)
    inst = next((i for i in suite.instances if i.id == args.instance), None)
    if inst is None:
        parser.error(f"{args.suite} has no instance {args.instance!r}: {', '.join(i.id for i in suite.instances)}")
    graph = suite.graph(inst)
    problem = Problem(graph=graph, num_stages=inst.num_stages,
                      cost_model=CostModel(graph, inst.hardware, inst.cost_model_revision))
    if args.solve is not None:
        result = solve(graph, inst.num_stages, solver="exact", time_limit=args.solve, cost_model=problem.cost_model)
        print(f"exact at {args.solve:g} s: period {result.period_ms:.4f} ms, proven bound {result.lower_bound_ms:.4f} ms "
              f"(suite: best known {inst.reference.value:.4f}, bound {inst.lower_bound:.4f}); targets:")
        for t in result.info.get("targets", []):
            print(f"  T <= {t['target_ms']:.4f}: {t['status']} in {t['seconds']:.1f} s")
        return
    if not args.targets:
        parser.error("give --targets or --solve")
    models = {}
    for cuts in args.prefix_cuts:
        models[cuts] = _StageTimeModel(problem)
        models[cuts].add_boundary_cuts()
        if cuts == "flow":
            start = time.perf_counter()
            models[cuts].add_flow_cuts()
            print(f"the flow cuts' maximum flows and constraints: {time.perf_counter() - start:.2f} s")
    table = Table(title=f"{args.suite} {inst.id}: best known {inst.reference.value:.4f} ms, "
                  f"proven bound {inst.lower_bound:.4f} ms")
    for name in ("target ms", "LP", "probing", "cuts", "seed", "status", "seconds", "deterministic s"):
        table.add_column(name)
    for target in args.targets:
        for lp in args.lp:
            for probing in args.probing:
                for cuts, built in models.items():
                    row = (f"{target:g}", str(lp), str(probing), cuts)
                    dtimes = []
                    for seed in args.seeds:
                        start = time.perf_counter()
                        run = _Run(dataclasses.replace(problem, seed=seed), built, "single", False, args.limit, None,
                                   _target_model(built, target), target, lp, probing=probing)
                        dtimes.append(run.dtime_used)
                        table.add_row(*row, str(seed), run.status_name, f"{time.perf_counter() - start:.1f}",
                                      f"{run.dtime_used:.2f}")
                    if len(dtimes) > 1:
                        table.add_row(*row, "median", "", "", f"{statistics.median(dtimes):.2f}", end_section=True)
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
