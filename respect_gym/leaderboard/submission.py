"""Submission files: reading one with every structural problem named, and writing one.

A submission (``leaderboards/submissions/<suite>/<name>.json``) is plain JSON, never a pickle:
metadata about the method and one schedule per suite instance, in the shape fixed by
``leaderboards/submission.schema.json`` (JSON Schema 2020-12, checked with ``jsonschema``).
The file is read under the bounds of :mod:`respect_gym.safe_io` (size, depth, finite numbers, no
control or bidi characters in any string); the link must be an http(s) URL and claimed times at
most a week per instance. Times are claims: the verifier recomputes values, never times.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from respect_gym.leaderboard.errors import LeaderboardError
from respect_gym.leaderboard.jsonio import dumps_records, read_json
from respect_gym.leaderboard.suite import ROOT
from respect_gym.safe_io import excerpt, text_problem

SCHEMA = "respect-gym/leaderboard-submission"
SCHEMA_VERSION = 1
SCHEMA_FILE = "submission.schema.json"
MAX_SCHEMA_ERRORS = 5  # listed per file; validation stops there, so a file of 4M bad results stays cheap
MAX_SECONDS = 7 * 86_400.0  # a claimed solve time above a week per instance is refused
_LINK = re.compile(r"^https?://[A-Za-z0-9._~:/?#@!$&'*+,;=%-]+$")  # no spaces, brackets, pipes or quotes


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
    """Read and schema-check a submission; raises one :class:`LeaderboardError` listing its first
    :data:`MAX_SCHEMA_ERRORS` problems (bounded work and memory whatever the file holds)."""
    path = Path(path)
    data = read_json(path)
    errors = list(itertools.islice(_validator(root / SCHEMA_FILE).iter_errors(data), MAX_SCHEMA_ERRORS + 1))
    if errors:
        errors.sort(key=lambda e: list(map(str, e.absolute_path)))
        shown = [f"{path}: {_where(e.absolute_path, data)}: {_message(e)}" for e in errors[:MAX_SCHEMA_ERRORS]]
        if len(errors) > MAX_SCHEMA_ERRORS:
            shown.append(f"{path}: more schema errors not listed (the first {MAX_SCHEMA_ERRORS} are above)")
        raise LeaderboardError(*shown)
    _check_fields(path, data)
    meta = {key: value for key, value in data.items() if key != "results"}
    return Submission(path, meta, data["results"])


def check_method(name: str, authors: tuple[str, ...], link: str, description: str) -> None:
    """Refuse, before a run, method metadata the verifier would refuse after it (the schema's
    lengths, clean strings, an http(s) link)."""
    fields = [("--method", name, 60), ("--link", link, 300), ("--description", description, 500)]
    fields += [("--authors", author, 100) for author in authors]
    if not name or not authors:
        raise LeaderboardError("--method and --authors must not be empty")
    for flag, text, limit in fields:
        if not isinstance(text, str) or (flag == "--authors" and not text):
            raise LeaderboardError(f"{flag} {excerpt(text)} must be a non-empty string")
        problem = text_problem(text, limit)
        if problem:
            raise LeaderboardError(f"{flag} {excerpt(text)} {problem}")
    if link and not _LINK.match(link):
        raise LeaderboardError(f"--link {excerpt(link)} is not an http(s) URL without spaces, brackets, pipes or quotes")


def _message(error: Any) -> str:
    """jsonschema's message, cut: it quotes the offending value, which may be long."""
    text = error.message
    return text if len(text) <= 200 else text[:197] + "..."


def _check_fields(path: Path, data: dict[str, Any]) -> None:
    """What the schema cannot say: the link is an http(s) URL, claimed times are bounded."""
    link = data["method"]["link"]
    if link and not _LINK.match(link):
        raise LeaderboardError(f"{path}: method.link {excerpt(link)} is not an http(s) URL without spaces, "
                               "brackets, pipes or quotes")
    for i, entry in enumerate(data["results"]):
        seconds = entry["seconds"]
        if seconds is not None and seconds > MAX_SECONDS:
            raise LeaderboardError(f"{path}: results[{i}].seconds: {seconds!r} is above the bound of "
                                   f"{MAX_SECONDS:g} s (a week)")


def submission_json(meta: dict[str, Any], results: list[dict[str, Any]]) -> str:
    """The file text of a submission: metadata, then one result per line (see :mod:`jsonio`)."""
    return dumps_records({"schema": SCHEMA, "version": SCHEMA_VERSION, **meta}, "results", results)
