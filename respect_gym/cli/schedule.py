"""``respect-gym schedule``: solve a model's pipeline schedule, show it stage by stage and against
the vendor compiler's split; with ``--tpus A-B``, how the period falls as TPUs are added."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from rich.console import Console
from rich.table import Table

from respect_gym.cli import (
    add_cost_model_arguments,
    check_tpus,
    load_model_arg,
    make_console,
    positive_float,
    say,
    sniff_model_file,
    tpu_range,
)
from respect_gym.cli.import_ import add_cpu_ops_argument
from respect_gym.cli.outputs import add_force_argument, check_outputs, write_json
from respect_gym.cli.tables import compact_table, stage_table
from respect_gym.graph import Graph
from respect_gym.importers import export_segments
from respect_gym.solvers import SolveResult, SolverError, list_solvers, solve
from respect_gym.zoo import GRANULARITIES

VENDOR = "compiler"  # the registry's replica of edgetpu_compiler's parameter-count split
DEFAULT_MIN_GAIN_PCT = 10.0


def percent(text: str) -> float:
    """``--min-gain``: a percentage above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a percentage above 0, got {text}")
    return value


def add_problem_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by ``schedule`` and ``compare``: the model and the hardware setting."""
    parser.add_argument("model", help="zoo model name (respect-gym models), or a graph .json / .json.gz or a "
                        ".tflite / .onnx model file (a file with another extension is recognised by its content)")
    parser.add_argument("--tpus", type=tpu_range, default=(4,), metavar="K",
                        help="number of Edge TPUs / pipeline stages, 1 to 32 (default 4); `schedule` also takes "
                        "a range A-B such as 1-8 and solves every K in it")
    parser.add_argument("--granularity", choices=GRANULARITIES, default="fused",
                        help="fused: ops as the Edge TPU runs them (default); layers: one node per Keras layer")
    add_cost_model_arguments(parser)
    parser.add_argument("--time-limit", type=positive_float("--time-limit"), default=60.0, metavar="S",
                        help="seconds per solve; exact then reports its proven gap (default 60)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the randomised solvers (random, slicegraph, ...; default 0)")
    parser.add_argument("--json", metavar="OUT", help="also write the result(s) as JSON to OUT")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "schedule",
        help="find a pipeline schedule of a model",
        description="Split a zoo model or a model file into K pipeline stages, one per Edge TPU, with a solver "
        "(default: the exact expert, which proves optimality), print the per-stage costs and compare the "
        "period and one input's latency with the vendor compiler's split. With --tpus A-B (e.g. 1-8), "
        "solve every K and show what each added TPU gains.",
    )
    add_problem_arguments(parser)
    parser.add_argument("--solver", choices=list_solvers(), default="exact", metavar="NAME",
                        help=f"one of {', '.join(list_solvers())} (default exact)")
    parser.add_argument("--min-gain", type=percent, default=DEFAULT_MIN_GAIN_PCT, metavar="PCT",
                        help="with a --tpus range: name the K beyond which each added TPU raises the throughput "
                        f"by less than PCT percent (default {DEFAULT_MIN_GAIN_PCT:g})")
    parser.add_argument("--plot", metavar="OUT.png", help="draw the stages beside the vendor split's and the graph "
                        "cut into stages; with a --tpus range, throughput and latency against K (needs the viz extra)")
    parser.add_argument("--export-segments", metavar="DIR",
                        help="for a .tflite model and one K: write one .tflite per used stage and manifest.json to DIR")
    add_cpu_ops_argument(parser)
    add_force_argument(parser)
    parser.set_defaults(func=run)


def result_record(graph: Graph, result: SolveResult, granularity: str) -> dict[str, Any]:
    """The JSON record of one solve: the result plus what identifies the instance."""
    return {
        "model": graph.meta.model,
        "granularity": graph.meta.granularity or granularity,
        "graph_sha256": graph.sha256(),
        "hardware": result.report.hardware,
        "cost_model_version": result.report.cost_model_version,
        **result.to_dict(),
    }


def ordinal(n: int) -> str:
    return {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}.get(n, f"{n}th")


def summary_lines(result: SolveResult, vendor: SolveResult | None, graph: Graph | None = None,
                  split: tuple[float, int, int] | None = None) -> list[str]:
    """Short sentences (each under 80 characters for the usual figures) answering: how fast, is it
    proven, how much faster than the vendor split, at what cost in one input's latency, and why
    stages are empty if some are."""
    report, k = result.report, result.num_stages
    lines = [f"period {report.period_ms:.3f} ms ({report.throughput:.1f} inferences/s), "
             f"one input's latency {report.latency_ms:.3f} ms"]
    if result.optimal:
        lines.append(f"{result.objective} optimal (proven) by {result.solver} in {result.seconds:.2f} s, "
                     f"cost model revision {report.revision}")
    else:
        lines.append(f"{result.solver} in {result.seconds:.2f} s: not proven optimal ({result.objective} within "
                     f"{100 * result.gap:.2f}% of its lower bound), cost model revision {report.revision}")
    used = k - len(report.empty_stages)
    host_ms = host_stage_ms(report)
    if host_ms is not None:
        lines.append(f"host-bound: {used} stage{'s' if used > 1 else ''} x {host_ms:.3f} ms of host work per input "
                     f"(slowest stage {report.bottleneck_ms:.3f} ms)")
    if result.objective == "paper":
        lines.append(f"paper cost {result.objective_value:.4g} (lower bound {result.objective_bound:.4g})")
    if vendor is not None and result.solver != VENDOR:
        speedup = vendor.report.period_ms / report.period_ms
        lines.append(f"{speedup:.2f}x the throughput of the vendor split (edgetpu_compiler's, period "
                     f"{vendor.report.period_ms:.3f} ms)")
        change = report.latency_ms / vendor.report.latency_ms - 1
        if abs(change) < 0.005:
            lines.append(f"one input's latency as the vendor split's ({vendor.report.latency_ms:.3f} ms)")
        else:
            lines.append(f"trade-off: one input's latency {report.latency_ms:.2f} ms, {100 * abs(change):.0f}% "
                         f"{'more' if change > 0 else 'less'} than the vendor's {vendor.report.latency_ms:.2f} ms")
    empty = report.empty_stages
    if empty:
        if result.optimal and result.objective == "period":
            lines.append(f"uses {used} of {k} TPUs: proven, no schedule on more TPUs has a shorter period")
            if host_ms is not None:
                lines.append(f"(a {ordinal(used + 1)} stage adds {host_ms:.3f} ms of host work per input: "
                             f"period >= {host_ms * (used + 1):.3f} ms)")
            else:
                lines.append(f"(a {ordinal(used + 1)} stage adds an invoke and host transfers of the tensors "
                             "it cuts)")
            if split is not None and graph is not None:
                period, stage, last = split
                name = graph.names[last].split(";")[0]  # TFLite joins the names of fused ops with ';'
                lines.append(f"best cut of one stage in two: period {period:.3f} ms (stage {stage}, after {name})")
        else:
            lines.append(f"uses {used} of {k} TPUs: {result.solver} left stage(s) "
                         f"{', '.join(map(str, empty))} empty")
    return lines


MAX_SPLIT_NODES = 2000  # best_extra_split evaluates one schedule per node: skipped above this


def best_extra_split(graph: Graph, result: SolveResult, hardware: str, revision: int | None
                     ) -> tuple[float, int, int] | None:
    """The best schedule with one more used stage obtained by cutting one used stage in two along
    the topological order (its tail moves to the next stage, later stages shift by one): ``(period,
    stage, last node kept)``, or None (no empty stage to use, or the graph is too large). Only an
    illustration of what one more TPU does: the exact solver's proof covers every schedule."""
    from respect_gym import evaluate

    stages = np.asarray(result.stages)
    k = result.num_stages
    if not result.report.empty_stages or graph.num_nodes > MAX_SPLIT_NODES:
        return None
    position = np.empty(graph.num_nodes, dtype=np.int64)
    position[np.asarray(graph.topological_order)] = np.arange(graph.num_nodes)
    used = sorted(set(stages.tolist()))
    relabel = {s: i for i, s in enumerate(used)}  # used stages first, empty ones after
    compact = np.array([relabel[s] for s in stages.tolist()])
    is_input = np.asarray(graph.is_input, dtype=bool)  # host-side nodes: a stage of them alone is empty
    best = None
    for s in range(len(used)):
        members = np.flatnonzero(compact == s)
        members = members[np.argsort(position[members])]
        ops = np.cumsum(~is_input[members])  # ops up to each position: both halves need one
        for cut in range(1, members.size):
            if ops[cut - 1] == 0 or ops[-1] - ops[cut - 1] == 0:
                continue
            trial = np.where(compact > s, compact + 1, compact)
            trial[members[cut:]] = s + 1
            period = evaluate(graph, trial, k, hardware=hardware, revision=revision).period_ms
            if best is None or period < best[0]:
                best = (period, s, int(members[cut - 1]))
    return best


def host_stage_ms(report) -> float | None:
    """The host's serial work per used stage when it sets the period (revision 3: ``period =
    max(slowest stage, host_stage_ms x used stages)``), else None."""
    used = report.num_stages - len(report.empty_stages)
    if used and report.period_ms > report.bottleneck_ms * (1 + 1e-9):
        return report.period_ms / used
    return None


def solve_with_vendor(graph: Graph, k: int, args: argparse.Namespace) -> tuple[SolveResult, SolveResult | None]:
    """The requested solver's result and the vendor compiler's split (None if it cannot score it)."""
    options = dict(hardware=args.hardware, time_limit=args.time_limit, seed=args.seed, objective=args.objective,
                   revision=args.revision)
    result = solve(graph, k, solver=args.solver, **options)
    if args.solver == VENDOR:
        return result, result
    try:
        return result, solve(graph, k, solver=VENDOR, **options)
    except SolverError:
        return result, None


def run(args: argparse.Namespace) -> int:
    if args.export_segments and len(args.tpus) > 1:
        raise ValueError("--export-segments needs one K (--tpus 4), not a range")
    if args.export_segments and not (Path(args.model).is_file() and
                                     (args.model.lower().endswith(".tflite") or sniff_model_file(Path(args.model)) == ".tflite")):
        raise ValueError(f"--export-segments needs a .tflite model file, got {args.model!r}")
    check_outputs(args, inputs=[args.model])  # before the solve: never an input, no overwrite without --force
    graph = load_model_arg(args.model, granularity=args.granularity, cpu_ops=args.cpu_ops)
    for k in args.tpus:
        check_tpus(graph, k)
    if len(args.tpus) > 1:
        return run_sweep(graph, args)
    (k,) = args.tpus
    result, vendor = solve_with_vendor(graph, k, args)
    console = make_console()
    title = f"{graph.meta.model} ({graph.num_nodes} nodes) on {k} x Edge TPU ({args.hardware}), {result.solver}"
    console.print(stage_table(result.report, title))
    split = None
    if result.report.empty_stages and result.optimal and result.objective == "period":
        split = best_extra_split(graph, result, args.hardware, args.revision)
    for line in summary_lines(result, vendor, graph, split):
        say(console, line)
    if args.json:
        record = result_record(graph, result, args.granularity)
        if vendor is not None:
            record["vendor"] = {"solver": VENDOR, "period_ms": vendor.report.period_ms,
                                "latency_ms": vendor.report.latency_ms,
                                "speedup": vendor.report.period_ms / result.report.period_ms}
        write_json(args.json, record)
    if args.plot:
        from respect_gym.cli.plot import plot_schedule

        plot_schedule(graph, result, vendor, args.plot)
        say(console, f"plot written to {args.plot}")
    if args.export_segments:
        model = args.model
        manifest = export_segments(model, result.stages, k, args.export_segments)
        for seg in manifest["segments"]:
            say(console, f"stage {seg['stage']}: {seg['file']} ({seg['num_ops']} ops, "
                         f"{seg['param_bytes'] / 2**20:.2f} MiB parameters, {len(seg['inputs'])} input(s), "
                         f"{len(seg['outputs'])} output(s))")
        say(console, f"{len(manifest['segments'])} segment(s) and manifest.json written to {args.export_segments}")
    return 0


def knee(periods: dict[int, float], min_gain: float) -> int:
    """The smallest K beyond which every larger K in the sweep gains less than ``min_gain`` (a
    fraction) of throughput per added TPU: ``(period(K) / period(K')) ** (1 / (K' - K)) - 1 <
    min_gain`` for every K' > K. Per added TPU, so a later jump (a stage's weights suddenly fitting
    a cache) still counts."""
    ks = sorted(periods)
    for k in ks:
        if all((periods[k] / periods[j]) ** (1 / (j - k)) - 1 < min_gain for j in ks if j > k):
            return k
    return ks[-1]


def sweep_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = compact_table(title, "in ms; gain: throughput vs one TPU fewer; vendor: compiler's split")
    for column in ("TPUs", "used", "period", "inferences/s", "gain", "latency", "vendor", "speed-up", "proven"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(str(row["tpus"]), str(row["used"]), f"{row['period_ms']:.3f}", f"{row['throughput']:.1f}",
                      "-" if row["gain"] is None else f"{100 * row['gain']:+.1f}%", f"{row['latency_ms']:.3f}",
                      "-" if row["vendor_period_ms"] is None else f"{row['vendor_period_ms']:.3f}",
                      "-" if row["speedup"] is None else f"{row['speedup']:.2f}x", "yes" if row["optimal"] else "no")
    return table


def sweep_conclusion(rows: list[dict[str, Any]], min_gain_pct: float) -> list[str]:
    """Which K to buy: the knee at the stated threshold, in sentences."""
    periods = {row["tpus"]: row["period_ms"] for row in rows}
    best = knee(periods, min_gain_pct / 100)
    chosen = next(row for row in rows if row["tpus"] == best)
    last = rows[-1]
    lines = []
    if best == last["tpus"] and last["gain"] is not None and last["gain"] >= min_gain_pct / 100:
        lines.append(f"every TPU up to {best} still gains {min_gain_pct:g}% or more (--min-gain): "
                     "try a larger range")
    else:
        lines.append(f"beyond {best} TPUs, each added TPU gains less than {min_gain_pct:g}% throughput (--min-gain)")
    lines.append(f"{best} TPUs: period {chosen['period_ms']:.3f} ms ({chosen['throughput']:.1f} inferences/s), "
                 f"one input's latency {chosen['latency_ms']:.3f} ms")
    if chosen["used"] < chosen["tpus"]:
        lines.append(f"(the schedule for {best} uses {chosen['used']}: more stages would be slower)")
    return lines


def run_sweep(graph: Graph, args: argparse.Namespace) -> int:
    """``--tpus A-B``: solve every K and show the period, throughput, latency and marginal gain."""
    from rich.progress import Progress

    rows: list[dict[str, Any]] = []
    records = []
    with Progress(transient=True, console=Console(stderr=True)) as progress:
        task = progress.add_task("solving", total=len(args.tpus))
        for k in args.tpus:
            progress.update(task, description=f"solving K={k}")
            result, vendor = solve_with_vendor(graph, k, args)
            report = result.report
            previous = rows[-1]["period_ms"] if rows and rows[-1]["tpus"] == k - 1 else None
            rows.append({
                "tpus": k, "used": k - len(report.empty_stages), "period_ms": report.period_ms,
                "throughput": report.throughput, "latency_ms": report.latency_ms,
                "gain": None if previous is None else previous / report.period_ms - 1,
                "vendor_period_ms": None if vendor is None else vendor.report.period_ms,
                "vendor_latency_ms": None if vendor is None else vendor.report.latency_ms,
                "speedup": None if vendor is None else vendor.report.period_ms / report.period_ms,
                "optimal": result.optimal,
            })
            records.append({**result_record(graph, result, args.granularity), "sweep": rows[-1]})
            progress.advance(task)
    console = make_console()
    title = f"{graph.meta.model} ({graph.num_nodes} nodes), {args.solver}, {args.hardware}"
    console.print(sweep_table(title, rows))
    for line in sweep_conclusion(rows, args.min_gain):
        say(console, line)
    if args.json:
        write_json(args.json, records)
    if args.plot:
        from respect_gym.cli.plot import plot_sweep

        plot_sweep(graph.meta.model, args.solver, rows, knee({r["tpus"]: r["period_ms"] for r in rows},
                                                                  args.min_gain / 100), args.plot, args.min_gain)
        say(console, f"plot written to {args.plot}")
    return 0
