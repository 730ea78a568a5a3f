"""``respect-gym compare``: every registered solver on one model, side by side."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from respect_gym.cli import check_tpus, load_model_arg, make_console, say
from respect_gym.cli.outputs import add_force_argument, check_outputs, write_json
from respect_gym.cli.schedule import add_problem_arguments, result_record
from respect_gym.cli.tables import compact_table
from respect_gym.cost.model import CostModel
from respect_gym.solvers import SolveResult, SolverError, list_solvers, solve


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="run every solver on a model and compare",
        description="Schedule a model with every registered solver and print each one's period (time between "
        "outputs while inputs stream), one input's latency, speed-up over the vendor compiler's split, the proven "
        "lower bound on the period and solve time.",
    )
    add_problem_arguments(parser)
    parser.add_argument("--solvers", nargs="+", choices=list_solvers(), default=list_solvers(), metavar="NAME",
                        help=f"solvers to run (default: all of {', '.join(list_solvers())})")
    add_force_argument(parser)
    parser.set_defaults(func=run)


OPTIMAL_RTOL = 1e-9  # a value within this of the best proven bound is optimal (float noise between schedules)


def run_gaps(results: list[SolveResult]) -> tuple[float, list[float], list[bool]]:
    """The best lower bound on the objective proven in this run (by any solver), each result's gap
    to it, and whether it is proven optimal (its own proof, or a value that meets that bound)."""
    bound = max((r.objective_bound for r in results), default=0.0)
    gaps, optimal = [], []
    for r in results:
        meets = bound > 0 and r.objective_value <= bound * (1 + OPTIMAL_RTOL)
        optimal.append(r.optimal or meets)
        gaps.append(0.0 if optimal[-1] or r.objective_value <= 0 else max(0.0, 1 - bound / r.objective_value))
    return bound, gaps, optimal


def compare_table(title: str, results: list[SolveResult]) -> Table:
    """One row per solver; speed-up is the compiler's objective value over the solver's; gaps are on
    the objective, to the best bound any solver proved in the run."""
    reference = next((r.objective_value for r in results if r.solver == "compiler"), None)
    objective = results[0].objective if results else "period"
    bound, gaps, optimal = run_gaps(results)
    table = compact_table(title, f"times in ms; speed-up: compiler's {objective} / solver's; gap: the {objective}'s\n"
                          f"distance to the best lower bound proven in this run ({bound:.3f})")
    for column in ("solver", "period", "latency", "inf/s", "speed-up", "gap", "optimal", "seconds"):
        table.add_column(column, justify="left" if column == "solver" else "right", no_wrap=True)
    for r, gap, proven in zip(results, gaps, optimal):
        table.add_row(
            r.solver, f"{r.period_ms:.3f}", f"{r.report.latency_ms:.3f}", f"{r.report.throughput:.1f}",
            "-" if reference is None else f"{reference / r.objective_value:.2f}x",
            f"{100 * gap:.1f}%", "yes" if proven else "no", f"{r.seconds:.2f}",
        )
    return table


def run(args: argparse.Namespace) -> int:
    check_outputs(args, inputs=[args.model])  # before the solves: never an input, no overwrite without --force
    if len(args.tpus) > 1:
        raise ValueError("--tpus: compare takes one K; a range such as 1-8 is for `respect-gym schedule`")
    (k,) = args.tpus
    graph = load_model_arg(args.model, granularity=args.granularity)
    check_tpus(graph, k)
    cost_model = CostModel(graph, args.hardware, args.revision)
    results, skipped = [], []
    with Progress(transient=True, console=Console(stderr=True)) as progress:
        task = progress.add_task("solving", total=len(args.solvers))
        for name in args.solvers:
            progress.update(task, description=f"solving with {name}")
            try:
                results.append(solve(graph, k, solver=name, hardware=args.hardware, time_limit=args.time_limit,
                                     seed=args.seed, objective=args.objective, cost_model=cost_model))
            except SolverError as exc:  # a heuristic asked for an objective it cannot optimise, a missing extra
                skipped.append(f"{name}: {exc}")
            progress.advance(task)
    title = f"{graph.meta.model} ({graph.num_nodes} nodes) on {k} x Edge TPU ({args.hardware})"
    console = make_console()
    console.print(compare_table(title, results))
    for line in skipped:
        say(console, f"skipped {line}")
    if args.json:
        write_json(args.json, [result_record(graph, r, args.granularity) for r in results])
    return 0
