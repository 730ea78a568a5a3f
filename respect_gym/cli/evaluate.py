"""``respect-gym evaluate``: rescore a given schedule with the Edge TPU cost model."""

from __future__ import annotations

import argparse
import os

from respect_gym.cli import add_cost_model_arguments, make_console
from respect_gym.cli.outputs import add_force_argument, check_outputs, write_json
from respect_gym.cli.tables import stage_table
from respect_gym.cost import ScheduleError
from respect_gym.graph import Graph, read_json_file
from respect_gym.importers import is_model_file
from respect_gym.problem.objectives import evaluate
from respect_gym.safe_io import excerpt
from respect_gym.zoo import GRANULARITIES, load_graph


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a pipeline schedule of a model",
        description="Evaluate a schedule (one stage per node, in graph node order) of a zoo model or a "
        "graph JSON file on K Edge TPUs and print per-stage latency, memory and transfers.",
    )
    parser.add_argument("model", help="zoo model name or path to a graph .json / .json.gz file")
    parser.add_argument("--stages", required=True, metavar="FILE.json",
                        help='a JSON list of stages, or {"stages": [...], "num_stages": K}')
    parser.add_argument("--tpus", type=int, metavar="K", help="number of stages (default: the file's num_stages)")
    parser.add_argument("--granularity", choices=GRANULARITIES, default=None,
                        help="zoo granularity (default: the schedule file's, else fused)")
    add_cost_model_arguments(parser)
    parser.add_argument("--json", metavar="OUT", help="also write the full report as JSON to OUT")
    add_force_argument(parser)
    parser.set_defaults(func=run)


MAX_STAGES = 1024  # K read from a schedule file (or --tpus here): far above any Edge TPU pipeline


def read_schedule(path: str, tpus: int | None) -> tuple[list, int, dict]:
    """Stages, K and the whole record from a schedule file (a list, or an object such as
    ``respect-gym schedule --json`` writes); ``tpus`` fills a missing K and must match a given one."""
    data = read_json_file(path)  # .json or .json.gz, size-capped, errors name the file
    if isinstance(data, dict):
        if "stages" not in data:
            raise ScheduleError(f"{path}: a schedule object needs a 'stages' list")
        stages, k, record = data["stages"], data.get("num_stages"), data
    else:
        stages, k, record = data, None, {}
    if not isinstance(stages, list):
        raise ScheduleError(f"{path}: 'stages' must be a list of integers")
    if k is not None and (type(k) is not int or not 1 <= k <= MAX_STAGES):
        raise ScheduleError(f"{path}: num_stages must be a whole number from 1 to {MAX_STAGES}, got {excerpt(k)}")
    if k is not None and tpus is not None and k != tpus:
        raise ScheduleError(f"{path} says num_stages={k} but --tpus {tpus} was given")
    k = tpus if tpus is not None else k
    if k is None:
        raise ScheduleError(f"{path} gives no num_stages: pass --tpus K")
    if not 1 <= k <= MAX_STAGES:
        raise ScheduleError(f"--tpus must be from 1 to {MAX_STAGES}, got {k}")
    return stages, k, record


def run(args: argparse.Namespace) -> int:
    check_outputs(args, inputs=[args.model, args.stages])
    stages, k, record = read_schedule(args.stages, args.tpus)
    granularity = args.granularity or record.get("granularity", "fused")
    if granularity not in GRANULARITIES:
        raise ScheduleError(f"{args.stages}: unknown granularity {excerpt(granularity)}")
    if os.path.exists(args.model) and not is_model_file(args.model):
        graph = Graph.from_json(args.model)  # a graph file as stored (its schedule indexes its nodes)
    else:
        graph = load_graph(args.model, granularity)
    expected = record.get("graph_sha256")
    if expected is not None and expected != graph.sha256():
        raise ScheduleError(f"{args.stages} was made for a different graph (graph_sha256 {excerpt(str(expected)[:12])}..., "
                            f"{graph.meta.model} {graph.meta.granularity} is {graph.sha256()[:12]}...)")
    report = evaluate(graph, stages, k, hardware=args.hardware, objective=args.objective, revision=args.revision)
    console = make_console()
    console.print(stage_table(report, f"{graph.meta.model} on {k} x Edge TPU ({report.hardware})"))
    summary = (f"period {report.period_ms:.3f} ms (throughput {report.throughput:.1f}/s), one-input latency "
               f"{report.latency_ms:.3f} ms, slowest stage {report.bottleneck_ms:.3f} ms")
    if report.empty_stages:
        summary += f", empty stages {report.empty_stages}"
    if report.paper_cost is not None:
        summary += f", paper cost {report.paper_cost:.4g}"
    console.print(f"{summary} (cost model {report.cost_model_version})")
    if args.json:
        write_json(args.json, report.to_dict())
    return 0
