"""The ``respect-gym`` command line. Each sub-command lives in its own module of this package and
exposes ``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed
arguments, returning an exit code)."""

from __future__ import annotations

import argparse
import importlib
import sys

from rich.console import Console

from respect_gym.graph import GraphError
from respect_gym.importers.errors import MissingExtraError

COMMANDS = ("models", "evaluate", "schedule", "compare", "leaderboard", "import_")  # module names; import_ is `import`
MIN_PIPED_WIDTH = 140  # rich falls back to 80 columns when piped, which truncates the stage tables


def add_cost_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--hardware``, ``--objective`` and ``--revision``: how a schedule is scored."""
    from respect_gym.cost import HARDWARE, LATEST_REVISION, OBJECTIVES, REVISIONS

    parser.add_argument("--hardware", choices=sorted(HARDWARE), default="usb3")
    parser.add_argument("--objective", choices=OBJECTIVES, default="period",
                        help="period: time between outputs while inputs stream (throughput); latency: one input")
    parser.add_argument("--revision", type=int, choices=REVISIONS, default=LATEST_REVISION,
                        help="cost-model revision (2: RespectPipeline-v0's)")


def make_console() -> Console:
    """A rich console for command output; piped output gets a width that fits every table."""
    return Console() if sys.stdout.isatty() else Console(width=MIN_PIPED_WIDTH)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser, with one sub-parser per module named in :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="respect-gym",
        description="Pipeline scheduling of DNN graphs on multiple Coral Edge TPUs.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"respect_gym.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run one sub-command and return its exit code (2 for bad input)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (GraphError, ValueError, KeyError, FileNotFoundError, MissingExtraError) as exc:
        # Bad input is reported as one line naming the problem, never as a traceback.
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"respect-gym {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
