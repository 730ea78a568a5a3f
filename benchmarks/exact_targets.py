"""Single CP-SAT targets on a suite instance: is there a schedule with period <= t? (issue 25).

Each target is the query ``exact``'s targets ask (:func:`respect_gym.solvers.exact_cpsat._target_model`:
the model ``exact`` builds, with its boundary cuts, bounded by ``t``), searched alone by the single
search at each CP-SAT ``linearization_level`` and presolve ``cp_model_probing_level`` given (0 and 0:
``exact``'s own; 2 and 2: the full LP relaxation with probing, the other half of its targets' race).
INFEASIBLE proves the optimum exceeds ``t``.

    python benchmarks/exact_targets.py --instance respect-7-300/k6 --targets 150 210 --lp 0 2
    python benchmarks/exact_targets.py --instance respect-7-300/k8 --targets 107.8 --lp 2
    python benchmarks/exact_targets.py --instance nasnet_mobile/k6 --targets 4.4 --lp 2 --probing 0 2
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from respect_gym.cost.model import CostModel
from respect_gym.leaderboard.suite import load_suite
from respect_gym.solvers.base import Problem
from respect_gym.solvers.exact_cpsat import _Run, _StageTimeModel, _target_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="hard-v3")
    parser.add_argument("--instance", required=True, help="instance id, e.g. respect-7-300/k6")
    parser.add_argument("--targets", nargs="+", type=float, required=True, metavar="MS")
    parser.add_argument("--lp", nargs="+", type=int, choices=(0, 1, 2), default=[0, 2])
    parser.add_argument("--probing", nargs="+", type=int, choices=(0, 1, 2), default=[0],
                        help="cp_model_probing_level(s) (default 0)")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds per query (default 60)")
    args = parser.parse_args()
    suite = load_suite(args.suite)
    inst = next((i for i in suite.instances if i.id == args.instance), None)
    if inst is None:
        parser.error(f"{args.suite} has no instance {args.instance!r}: {', '.join(i.id for i in suite.instances)}")
    graph = suite.graph(inst)
    problem = Problem(graph=graph, num_stages=inst.num_stages,
                      cost_model=CostModel(graph, inst.hardware, inst.cost_model_revision))
    built = _StageTimeModel(problem)
    built.add_boundary_cuts()
    table = Table(title=f"{args.suite} {inst.id}: best known {inst.reference.value:.4f} ms, "
                  f"proven bound {inst.lower_bound:.4f} ms")
    for name in ("target ms", "LP", "probing", "status", "seconds"):
        table.add_column(name)
    for target in args.targets:
        for lp in args.lp:
            for probing in args.probing:
                start = time.perf_counter()
                run = _Run(problem, built, "single", False, args.limit, None, _target_model(built, target), target, lp,
                           probing=probing)
                table.add_row(f"{target:g}", str(lp), str(probing), run.status_name, f"{time.perf_counter() - start:.1f}")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
