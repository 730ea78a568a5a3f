"""Strict JSON in, diff-friendly JSON out: the file format of suites and submissions.

Reading refuses what ``json.loads`` lets through silently and a verifier must not: files above a
size cap, ``NaN``/``Infinity`` (not JSON) and numbers that overflow a double (``1e400``), objects
with a repeated key (two parsers could disagree on which value counts), nesting deeper than 64,
and strings with control or bidi characters or lone surrogates (:mod:`respect_gym.safe_io`). Writing puts one record per line so a rebuilt suite or a new
submission shows up in ``git diff`` line by line, and is byte-identical for equal content (keys keep the order they were built in).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from respect_gym.leaderboard.errors import LeaderboardError
from respect_gym.safe_io import atomic_write, read_json as safe_read_json

MAX_FILE_BYTES = 8 * 2**20  # the largest committed submission is ~0.3 MiB


def read_json(path: str | os.PathLike, max_bytes: int = MAX_FILE_BYTES) -> Any:
    """Parse a JSON file under the bounds of :mod:`respect_gym.safe_io` (size, nesting depth,
    finite numbers, clean strings, no repeated key); every failure is one :class:`LeaderboardError`
    naming the file."""
    try:
        return safe_read_json(path, max_bytes, LeaderboardError, bad_json="malformed JSON")
    except FileNotFoundError:
        raise LeaderboardError(f"{path}: no such file") from None


def dumps_records(header: dict[str, Any], key: str, records: list[dict[str, Any]]) -> str:
    """``header`` as an indented object whose ``key`` holds ``records``, one compact line each."""
    lines = [f" {json.dumps(name)}: {json.dumps(value)}," for name, value in header.items()]
    items = ",\n".join("  " + json.dumps(r, separators=(",", ":")) for r in records)
    return "{\n" + "\n".join(lines) + f"\n {json.dumps(key)}: [\n{items}\n ]\n}}\n"


def write_text(path: Path, text: str) -> None:
    """Write atomically (:func:`respect_gym.safe_io.atomic_write`), so an interrupted build or a
    string that cannot be encoded never leaves a truncated suite, submission or README."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text)
