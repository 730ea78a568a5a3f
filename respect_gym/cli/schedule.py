"""``respect-gym schedule``: solve a model's pipeline schedule and show it stage by stage."""

from __future__ import annotations

import argparse
from typing import Any

from respect_gym.cli import add_cost_model_arguments, make_console
from respect_gym.cli.evaluate import stage_table
from respect_gym.cli.import_ import add_cpu_ops_argument
from respect_gym.cli.outputs import add_force_argument, check_outputs, write_json
from respect_gym.graph import Graph
from respect_gym.importers import export_segments
from respect_gym.solvers import SolveResult, list_solvers, solve
from respect_gym.zoo import GRANULARITIES, load_graph


def add_problem_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by ``schedule`` and ``compare``: the model and the hardware setting."""
    parser.add_argument("model", help="zoo model name, or path to a graph .json / .json.gz or a .tflite / .onnx model")
    parser.add_argument("--tpus", type=int, default=4, metavar="K", help="number of Edge TPUs / stages (default 4)")
    parser.add_argument("--granularity", choices=GRANULARITIES, default="fused",
                        help="fused: ops as the Edge TPU runs them (default); layers: one node per Keras layer")
    add_cost_model_arguments(parser)
    parser.add_argument("--time-limit", type=float, default=60.0, metavar="S",
                        help="seconds per solver; exact then reports its proven gap (default 60)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="OUT", help="also write the result(s) as JSON to OUT")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "schedule",
        help="find a pipeline schedule of a model",
        description="Split a zoo model or graph file into K pipeline stages with a solver (default: the "
        "exact expert, which proves optimality) and print the per-stage costs.",
    )
    add_problem_arguments(parser)
    parser.add_argument("--solver", choices=list_solvers(), default="exact")
    parser.add_argument("--plot", metavar="OUT.png", help="draw the stages and the graph coloured by stage (needs the viz extra)")
    parser.add_argument("--export-segments", metavar="DIR",
                        help="for a .tflite model: write one .tflite per stage and manifest.json to DIR")
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


def summary_line(result: SolveResult) -> str:
    """One sentence with the figures a schedule is judged on, and whether optimality is proven."""
    report = result.report
    proof = "optimal (proven)" if result.optimal else f"not proven, gap <= {100 * result.gap:.2f}%"
    text = (f"solver {result.solver}: period {report.period_ms:.3f} ms (throughput "
            f"{report.throughput:.1f}/s), one-input latency {report.latency_ms:.3f} ms, period lower bound "
            f"{result.lower_bound_ms:.3f} ms, {result.objective} {proof}, solved in {result.seconds:.2f} s "
            f"(cost model rev {report.revision})")
    if result.objective == "paper":
        text += f", paper cost {result.objective_value:.4g} (bound {result.objective_bound:.4g})"
    return text


def run(args: argparse.Namespace) -> int:
    if args.export_segments and not args.model.lower().endswith(".tflite"):
        raise ValueError(f"--export-segments needs a .tflite model, got {args.model!r}")
    check_outputs(args, inputs=[args.model])  # before the solve: never an input, no overwrite without --force
    graph = load_graph(args.model, granularity=args.granularity, cpu_ops=args.cpu_ops)
    result = solve(graph, args.tpus, solver=args.solver, hardware=args.hardware, time_limit=args.time_limit,
                   seed=args.seed, objective=args.objective, revision=args.revision)
    console = make_console()
    title = f"{graph.meta.model} ({graph.num_nodes} nodes) on {args.tpus} x Edge TPU ({args.hardware})"
    console.print(stage_table(result.report, title))
    console.print(summary_line(result))
    if args.json:
        write_json(args.json, result_record(graph, result, args.granularity))
    if args.plot:
        plot_schedule(graph, result, args.plot)
        console.print(f"plot written to {args.plot}")
    if args.export_segments:
        manifest = export_segments(args.model, result.stages, args.tpus, args.export_segments)
        for seg in manifest["segments"]:
            console.print(f"stage {seg['stage']}: {seg['file']} ({seg['num_ops']} ops, {seg['param_bytes']} parameter "
                          f"bytes, {len(seg['inputs'])} input(s), {len(seg['outputs'])} output(s))")
        console.print(f"segments and manifest.json written to {args.export_segments}")
    return 0


def plot_schedule(graph: Graph, result: SolveResult, path: str) -> None:
    """Stage latency bars (compute / streaming / transfers) beside the graph coloured by stage."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'respect-gym[viz]'") from None
    import numpy as np

    report, k = result.report, result.num_stages
    fig, (bars, drawing) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [1, 2]})
    x = np.arange(k)
    bottom = np.full(k, 0.0)
    overhead = np.asarray(report.stage_ms) - report.stage_compute_ms - report.stage_stream_ms - report.stage_transfer_ms
    for label, part in (("compute", report.stage_compute_ms), ("streaming", report.stage_stream_ms),
                        ("transfers", report.stage_transfer_ms), ("invoke", overhead)):
        bars.bar(x, part, bottom=bottom, label=label)
        bottom = bottom + np.asarray(part)
    bars.axhline(result.lower_bound_ms, color="k", ls="--", lw=1, label="lower bound")
    bars.set(xlabel="stage (TPU)", ylabel="latency (ms)", xticks=x, title=f"{result.solver}: bottleneck {report.bottleneck_ms:.2f} ms")
    bars.legend(fontsize=8)
    level = graph.levels
    row = np.zeros(graph.num_nodes)
    for lv in np.unique(level):
        members = np.flatnonzero(level == lv)
        row[members] = np.arange(members.size) - (members.size - 1) / 2
    for u, v in graph.edges.tolist():
        drawing.plot([level[u], level[v]], [row[u], row[v]], color="0.8", lw=0.5, zorder=1)
    colours = plt.get_cmap("Dark2")(result.stages % 8)
    drawing.scatter(level, row, c=colours, s=14, zorder=2)
    for s in range(k):
        drawing.scatter([], [], color=plt.get_cmap("Dark2")(s % 8), label=f"stage {s}")
    drawing.legend(fontsize=8, loc="upper right", ncol=min(k, 4))
    drawing.set(xlabel="topological level", yticks=[], title=f"{graph.meta.model}: nodes coloured by stage")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
