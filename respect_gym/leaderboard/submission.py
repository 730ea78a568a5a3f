"""Submission files: reading one with every structural problem named, and writing one.

A submission (``leaderboards/submissions/<suite>/<name>.json``) is plain JSON, never a pickle:
metadata about the method and one schedule per suite instance, in the shape fixed by
``leaderboards/submission.schema.json`` (JSON Schema 2020-12, checked with ``jsonschema``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from respect_gym.leaderboard.errors import LeaderboardError
from respect_gym.leaderboard.jsonio import dumps_records, read_json
from respect_gym.leaderboard.suite import ROOT

SCHEMA = "respect-gym/leaderboard-submission"
SCHEMA_VERSION = 1
SCHEMA_FILE = "submission.schema.json"


@dataclass(frozen=True)
class Submission:
    """A schema-valid submission: ``meta`` is every top-level field but ``results``."""

    path: Path
    meta: dict[str, Any]
    results: list[dict[str, Any]]

    @property
    def suite(self) -> str:
        return self.meta["suite"]

    @property
    def method(self) -> str:
        return self.meta["method"]["name"]


@lru_cache(maxsize=None)
def _validator(schema_path: Path) -> Any:
    try:
        import jsonschema
    except ImportError:
        raise LeaderboardError("verifying submissions needs jsonschema: pip install 'respect-gym[leaderboard]'") from None
    schema = read_json(schema_path)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _where(path: Any, data: dict[str, Any]) -> str:
    """``results[3] (resnet50/k4).stages[17]`` for a jsonschema error path."""
    parts = list(path)
    text = ""
    for i, part in enumerate(parts):
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + str(part)
        if i == 1 and parts[0] == "results" and isinstance(part, int):
            entry = data["results"][part]
            if isinstance(entry, dict) and isinstance(entry.get("instance"), str):
                text += f" ({entry['instance']})"
    return text or "top level"


def read_submission(path: str | Path, root: Path = ROOT) -> Submission:
    """Read and schema-check a submission; raises one :class:`LeaderboardError` listing every problem."""
    path = Path(path)
    data = read_json(path)
    errors = sorted(_validator(root / SCHEMA_FILE).iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise LeaderboardError(*(f"{path}: {_where(e.absolute_path, data)}: {e.message}" for e in errors))
    meta = {key: value for key, value in data.items() if key != "results"}
    return Submission(path, meta, data["results"])


def submission_json(meta: dict[str, Any], results: list[dict[str, Any]]) -> str:
    """The file text of a submission: metadata, then one result per line (see :mod:`jsonio`)."""
    return dumps_records({"schema": SCHEMA, "version": SCHEMA_VERSION, **meta}, "results", results)
