"""Strict JSON in, diff-friendly JSON out: the file format of suites and submissions.

Reading refuses what ``json.loads`` lets through silently and a verifier must not: files above a
size cap, ``NaN``/``Infinity`` (not JSON), and objects with a repeated key (two parsers could
disagree on which value counts). Writing puts one record per line so a rebuilt suite or a new
submission shows up in ``git diff`` line by line, and is byte-identical for equal content (keys keep the order they were built in).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from respect_gym.leaderboard.errors import LeaderboardError

MAX_FILE_BYTES = 8 * 2**20  # the largest committed submission is ~0.3 MiB


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise LeaderboardError(f"key {key!r} appears twice in one object")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise LeaderboardError(f"{name} is not a JSON number")


def read_json(path: str | os.PathLike, max_bytes: int = MAX_FILE_BYTES) -> Any:
    """Parse a JSON file; every failure is one :class:`LeaderboardError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise LeaderboardError(f"{path}: no such file")
    size = path.stat().st_size
    if size > max_bytes:
        raise LeaderboardError(f"{path}: file is {size:,} bytes, above the {max_bytes:,}-byte cap")
    try:
        return json.loads(path.read_bytes(), object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LeaderboardError(f"{path}: malformed JSON ({exc})") from None
    except LeaderboardError as exc:
        raise LeaderboardError(f"{path}: malformed JSON ({exc})") from None


def dumps_records(header: dict[str, Any], key: str, records: list[dict[str, Any]]) -> str:
    """``header`` as an indented object whose ``key`` holds ``records``, one compact line each."""
    lines = [f" {json.dumps(name)}: {json.dumps(value)}," for name, value in header.items()]
    items = ",\n".join("  " + json.dumps(r, separators=(",", ":")) for r in records)
    return "{\n" + "\n".join(lines) + f"\n {json.dumps(key)}: [\n{items}\n ]\n}}\n"


def write_text(path: Path, text: str) -> None:
    """Write atomically, so an interrupted build never leaves a truncated suite or submission."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
