"""The ``respect-gym`` command line. Each sub-command lives in its own module of this package and
exposes ``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed
arguments, returning an exit code)."""

from __future__ import annotations

import argparse
import gzip
import importlib
import os
import sys
import tempfile
from pathlib import Path

from rich.console import Console

from respect_gym.graph import GraphError
from respect_gym.importers.errors import MissingExtraError
from respect_gym.safe_io import printable

COMMANDS = ("models", "evaluate", "schedule", "compare", "leaderboard", "import_")  # module names; import_ is `import`
MIN_PIPED_WIDTH = 140  # piped output without COLUMNS: wide enough for every table (sentences never wrap)
MAX_TPUS = 32  # bound of --tpus: more Edge TPUs than one host drives in practice
KNOWN_SUFFIXES = (".json", ".json.gz", ".tflite", ".onnx")


def add_cost_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--hardware``, ``--objective`` and ``--revision``: how a schedule is scored."""
    from respect_gym.cost import HARDWARE, LATEST_REVISION, REVISIONS
    from respect_gym.problem.objectives import OBJECTIVES

    parser.add_argument("--hardware", choices=sorted(HARDWARE), default="usb3",
                        help="host link of the Edge TPUs: usb3 (USB Accelerator, default) or pcie "
                        "(M.2 / mini-PCIe module, PCIe Gen2 x1)")
    parser.add_argument("--objective", choices=OBJECTIVES, default="period",
                        help="period: time between outputs while inputs stream (throughput); latency: one input")
    parser.add_argument("--revision", type=int, choices=REVISIONS, default=LATEST_REVISION,
                        help="cost-model revision (2: RespectPipeline-v0's)")


def positive_int(flag: str, maximum: int | None = None):
    """An argparse ``type`` for a positive integer (at most ``maximum``); errors name ``flag``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < 1 or (maximum is not None and value > maximum):
            bound = f"from 1 to {maximum}" if maximum is not None else "at least 1"
            raise argparse.ArgumentTypeError(f"{flag} must be {bound}, got {value}")
        return value
    return parse


def positive_float(flag: str):
    """An argparse ``type`` for a number of seconds above 0 (argparse's error names the flag)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, got {text}")
        return value
    return parse


def tpu_range(text: str) -> tuple[int, ...]:
    """``--tpus``: one K (``"4"``) or an inclusive range (``"1-8"``), each K in 1..MAX_TPUS."""
    low, sep, high = text.partition("-")
    one = positive_int("K", MAX_TPUS)
    try:
        first, last = one(low), one(high) if sep else one(low)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (give K, or a range such as 1-8)") from None
    if last < first:
        raise argparse.ArgumentTypeError(f"the range {text!r} runs backwards; write {last}-{first}")
    return tuple(range(first, last + 1))


def check_tpus(graph, tpus: int) -> None:
    """``--tpus K`` against the graph: more stages than nodes leave stages empty by construction."""
    if tpus > graph.num_nodes:
        raise ValueError(f"--tpus {tpus}: {graph.meta.model} has only {graph.num_nodes} nodes, so at most "
                         f"{graph.num_nodes} stages can hold one")


def sniff_model_file(path: Path) -> str | None:
    """The suffix a file's content says it has (``".json"``, ``".json.gz"``, ``".tflite"``,
    ``".onnx"``), or None: for files whose name does not say (``g.txt``, ``model.bin``)."""
    with open(path, "rb") as fh:
        head = fh.read(64)
    if head[4:8] == b"TFL3":  # the flatbuffers file identifier of a .tflite
        return ".tflite"
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as fh:
                inner = fh.read(64)
        except (OSError, EOFError):
            return None
        return ".json.gz" if inner.lstrip()[:1] in (b"{", b"[") else None
    if head.lstrip()[:1] in (b"{", b"["):
        return ".json"
    if head[:1] == b"\x08":  # protobuf field 1 (ir_version), how every ONNX ModelProto starts
        return ".onnx"
    return None


def load_model_arg(text: str, granularity: str = "fused", cpu_ops: str = "error"):
    """:func:`respect_gym.load_graph` of a CLI model argument; an existing file whose extension says
    nothing is recognised by its content (read through a link named with the right suffix, so every
    check of the loaders applies; errors name the user's file)."""
    from respect_gym.zoo import load_graph

    path = Path(text)
    if not path.is_file() or text.lower().endswith(KNOWN_SUFFIXES):
        return load_graph(text, granularity=granularity, cpu_ops=cpu_ops)
    suffix = sniff_model_file(path)
    if suffix is None:
        raise ValueError(f"{text}: a file that is neither a graph JSON (.json / .json.gz) nor a .tflite / "
                         f".onnx model by its content; or give a zoo model name (respect-gym models)")
    with tempfile.TemporaryDirectory() as folder:
        link = Path(folder) / (path.name.split(".")[0] + suffix)
        os.symlink(path.resolve(), link)
        try:
            return load_graph(link, granularity=granularity, cpu_ops=cpu_ops)
        except Exception as exc:
            if exc.args and isinstance(exc.args[0], str):
                exc.args = (exc.args[0].replace(str(link), text),) + exc.args[1:]
            raise


def make_console() -> Console:
    """A rich console for command output: the terminal's width (or ``COLUMNS``); piped output
    without ``COLUMNS`` gets a width that fits every table."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit():
        return Console()
    return Console(width=MIN_PIPED_WIDTH)


def say(console: Console, text: str) -> None:
    """Print a sentence as one line: never wrapped mid-sentence, no markup or highlighting."""
    console.print(text, soft_wrap=True, markup=False, highlight=False)


class OneLineParser(argparse.ArgumentParser):
    """argparse with usage errors on one line (escaped: an argument's own control characters never
    reach the terminal) and a pointer to ``--help`` instead of the usage block; its sub-parsers too."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {printable(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser, with one sub-parser per module named in :data:`COMMANDS`."""
    parser = OneLineParser(
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
    except (GraphError, ValueError, KeyError, FileNotFoundError, MissingExtraError,
            OSError, OverflowError, RecursionError, MemoryError) as exc:
        # Bad input is reported as one line naming the problem, never as a traceback (OSError and
        # the last three: an unreadable file, a full disk, input beyond what a check foresaw).
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else (str(exc) or type(exc).__name__)
        print(f"respect-gym {args.command}: error: {printable(str(message))}", file=sys.stderr)  # no raw escapes
        return 2


if __name__ == "__main__":
    sys.exit(main())
