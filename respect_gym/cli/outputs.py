"""Output paths of the commands, checked before any long work and written atomically.

Every command that writes files calls :func:`check_outputs` first: an output that would replace
one of the command's inputs is refused even with ``--force``; an existing file is replaced only
with ``--force``; a folder given where a file is expected, a missing folder, and a non-empty
``--export-segments`` folder are refused, all as one line and before the solve
(:mod:`respect_gym.safe_io`). Files are then written with :func:`write_json` (atomic).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Iterable

from respect_gym.safe_io import OutputPathError, atomic_write, check_output_dir, check_output_path

FILE_FLAGS = ("json", "plot", "out")  # argparse dests of file outputs, where a command has them
DIR_FLAGS = ("export_segments",)


def add_force_argument(parser: argparse.ArgumentParser) -> None:
    """``--force``: replace existing output files (never an input, never a non-empty folder)."""
    parser.add_argument("--force", action="store_true",
                        help="overwrite existing output files (an input is never overwritten)")


def check_outputs(args: argparse.Namespace, inputs: Iterable[str | os.PathLike | None] = ()) -> None:
    """Check every output flag ``args`` has (see :data:`FILE_FLAGS`, :data:`DIR_FLAGS`).

    :raises OutputPathError: (a ``ValueError``: one line from the CLI) on the first refused path.
    """
    inputs = [x for x in inputs if x is not None]
    force = bool(getattr(args, "force", False))
    files = []
    for dest in FILE_FLAGS:
        path = getattr(args, dest, None)
        if path is not None and not isinstance(path, bool):
            check_output_path(path, inputs=inputs, force=force, what=f"--{dest.replace('_', '-')}")
            if dest == "plot":
                _check_figure_format(path)
            files.append(path)
    for dest in DIR_FLAGS:
        path = getattr(args, dest, None)
        if path:
            flag = f"--{dest.replace('_', '-')}"
            folder = check_output_dir(path, f"{flag} folder", inputs=[*inputs, *files]).resolve()
            inside = [f for f in files if folder in Path(os.path.abspath(f)).parents]
            if inside:
                raise OutputPathError(f"{inside[0]}: an output inside the {flag} folder {path}, which holds the "
                                      "segments only; write it elsewhere")
    if len({os.path.abspath(os.fspath(f)) for f in files}) < len(files):
        raise ValueError("two outputs name the same file")


def _check_figure_format(path: str | os.PathLike) -> None:
    """Refuse a ``--plot`` suffix matplotlib cannot write, before the solve (skipped without the viz extra)."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        return
    suffix = _suffix(path)
    supported = FigureCanvasBase.get_supported_filetypes()
    if suffix not in supported:
        raise OutputPathError(f"{path}: --plot format {suffix!r} is not one matplotlib writes "
                              f"({', '.join(sorted(supported))})")


def _suffix(path: str | os.PathLike) -> str:
    name = os.path.basename(os.fspath(path))
    return name.rpartition(".")[2].lower() if "." in name else "png"


def write_json(path: str | os.PathLike, data: Any) -> None:
    """``data`` as indented JSON at ``path``, atomically."""
    atomic_write(path, json.dumps(data, indent=1))


def save_figure(fig: Any, path: str | os.PathLike, **kwargs: Any) -> None:
    """A matplotlib figure saved atomically, in the format its suffix names (``.png``, ``.svg``, ...)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format=_suffix(path), **kwargs)
    atomic_write(path, buffer.getvalue())
