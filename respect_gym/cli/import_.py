"""``respect-gym import``: convert a ``.tflite`` or ONNX model file to the project's graph JSON."""

from __future__ import annotations

import argparse
from collections import Counter

from respect_gym.cli import make_console
from respect_gym.cli.outputs import add_force_argument, check_outputs
from respect_gym.importers import CPU_OPS, MODEL_SUFFIXES, ModelFileError, is_model_file
from respect_gym.importers.common import CPU_PREFIX
from respect_gym.zoo import GRANULARITIES, load_graph


MAX_LISTED = 30  # op types named in the summary line


def add_cpu_ops_argument(parser: argparse.ArgumentParser) -> None:
    """``--cpu-ops``, shared with ``schedule``: the policy for ops the Edge TPU cannot run."""
    parser.add_argument("--cpu-ops", choices=CPU_OPS, default="error",
                        help="ops the Edge TPU cannot run (float, unsupported): error (default) or keep them, "
                             f"marked {CPU_PREFIX}<op> and priced as TPU ops")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="convert a .tflite / .onnx model to a graph JSON file",
        description="Read a model file (one node per operator, exact parameter bytes and MACs, int8 sizes as "
        "deployed), print what it holds and optionally write it as a respect-gym graph JSON file.",
    )
    parser.add_argument("file", help=f"model file ({', '.join(MODEL_SUFFIXES)})")
    parser.add_argument("--out", metavar="GRAPH.json", help="write the graph here (.json or .json.gz)")
    parser.add_argument("--granularity", choices=GRANULARITIES, default="fused",
                        help="ONNX graphs: fused (default, folded as the TFLite converter does) or layers (one "
                             "node per ONNX op); .tflite graphs are already fused")
    add_cpu_ops_argument(parser)
    add_force_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not is_model_file(args.file):
        raise ModelFileError(f"{args.file}: not a model file; expected one of {', '.join(MODEL_SUFFIXES)}")
    check_outputs(args, inputs=[args.file])
    graph = load_graph(args.file, granularity=args.granularity, cpu_ops=args.cpu_ops)
    console = make_console()
    kinds = Counter(graph.op_types)
    console.print(f"{graph.meta.model}: {graph.num_nodes} nodes, {graph.num_edges} edges, "
                  f"{graph.total_param_bytes / 1e6:.3f} MB int8 parameters, {graph.total_macs / 1e9:.4f} GMACs "
                  f"({graph.meta.granularity}; {graph.meta.source})", markup=False, highlight=False)
    listed = ", ".join(f"{t} x{n}" for t, n in kinds.most_common(MAX_LISTED))
    more = f" and {len(kinds) - MAX_LISTED} more" if len(kinds) > MAX_LISTED else ""
    console.print(f"op types: {listed}{more}", markup=False, highlight=False)
    if args.out:
        graph.to_json(args.out)
        console.print(f"graph written to {args.out}", markup=False, highlight=False)
    return 0
