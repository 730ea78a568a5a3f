"""``respect-gym models``: list the shipped model zoo with its sizes at both granularities."""

from __future__ import annotations

import argparse

from rich.table import Table

from respect_gym.cli import make_console
from respect_gym.cli.tables import compact_table
from respect_gym.zoo import PAPER_PREFIX, list_models, load_graph


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the shipped model graphs",
        description="List the model zoo: node and edge counts (fused and per Keras layer), deployed int8 "
        "parameter size and MACs. The authors' respect/ graphs carry no MACs and have no fused form.",
    )
    parser.add_argument("--no-paper", action="store_true", help="hide the RESPECT authors' respect/ graphs")
    parser.set_defaults(func=run)


def models_table(include_paper: bool = True) -> Table:
    """One row per zoo model; a ``-`` where a granularity or a figure does not exist."""
    table = compact_table("respect-gym model zoo", "fused, layers: node counts; edges: of the layers graph; "
                          "MB int8: parameters as deployed (fused)")
    table.add_column("model", no_wrap=True)
    table.add_column("input")
    for column in ("fused", "layers", "edges", "MB int8", "GMACs"):
        table.add_column(column, justify="right")
    for name in list_models():
        paper = name.startswith(PAPER_PREFIX)
        if paper and not include_paper:
            continue
        layers = load_graph(name, granularity="layers")
        deployed = layers if paper else load_graph(name)  # int8 bytes as the TPU holds them
        table.add_row(
            name,
            "x".join(map(str, layers.meta.input_shape)) or "-",
            "-" if paper else str(deployed.num_nodes),
            str(layers.num_nodes),
            str(layers.num_edges),
            f"{deployed.total_param_bytes / 1e6:.2f}",
            "-" if paper else f"{layers.total_macs / 1e9:.2f}",
        )
    return table


def run(args: argparse.Namespace) -> int:
    make_console().print(models_table(include_paper=not args.no_paper))
    return 0
