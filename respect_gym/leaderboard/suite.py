"""Suites: versioned, committed lists of scheduling instances with their reference values.

A suite manifest ``leaderboards/suites/<name>.json`` (``<name>`` = ``<family>-v<N>``) holds, per
instance: the graph (a zoo name with its granularity, or a graph file beside the manifest), its
SHA-256, K, hardware, objective, the cost-model revision and version it is scored with, the
reference (the proven optimum, or the best known value with the proven lower bound and the solver
that found it) and the vendor compiler's value, each with the schedule that achieves it, so the
manifest re-checks itself (:func:`check_suite`). Manifests are written by
:mod:`respect_gym.leaderboard.build`; a change of the cost model means a new suite version, never
an edited manifest.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from respect_gym.graph import Graph, GraphError
from respect_gym.leaderboard.costs import score_schedule
from respect_gym.leaderboard.errors import LeaderboardError
from respect_gym.leaderboard.jsonio import dumps_records, read_json
from respect_gym.safe_io import excerpt
from respect_gym.zoo import load_graph

SCHEMA = "respect-gym/leaderboard-suite"
SCHEMA_VERSION = 1
# The suites and the submission schema ship inside the package (data/, also linked from the
# repository's leaderboards/ folder, which adds the submissions and the ranked README). ROOT is that
# folder in a checkout, and the package data in an installed wheel: verifying and running work in both.
PACKAGE_DATA = Path(__file__).resolve().parent / "data"
_REPOSITORY = Path(__file__).resolve().parents[2] / "leaderboards"
ROOT = _REPOSITORY if (_REPOSITORY / "submissions").is_dir() else PACKAGE_DATA
REL_TOL = 1e-9  # recomputed values agree to float rounding
PROOF_TOL = 1e-6  # exact proves optima within this relative tolerance (see solvers/exact_cpsat.py)
_NAME = re.compile(r"^(?P<family>[a-z0-9]+(?:-[a-z0-9]+)*)-v(?P<version>\d+)$")


@dataclass(frozen=True)
class Scored:
    """A schedule and its objective value; ``solver`` names who found it."""

    value: float
    solver: str
    stages: list[int]


@dataclass(frozen=True)
class Instance:
    """One scheduling problem of a suite. ``lower_bound`` equals ``reference.value`` when optimal."""

    id: str
    graph: str
    granularity: str
    graph_sha256: str
    num_nodes: int
    num_stages: int
    hardware: str
    objective: str
    cost_model_revision: int
    cost_model_version: str
    optimal: bool
    lower_bound: float
    reference: Scored
    compiler: Scored

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Instance":
        return cls(**{**data, "reference": Scored(**data["reference"]), "compiler": Scored(**data["compiler"])})


@dataclass(frozen=True)
class Suite:
    """A loaded manifest; ``path`` is where it was read from (graph files are relative to its folder)."""

    name: str
    description: str
    built_with: dict[str, Any]
    instances: tuple[Instance, ...]
    path: Path

    @property
    def revision(self) -> int:
        """The cost-model revision every instance is scored with."""
        return self.instances[0].cost_model_revision

    def graph(self, instance: Instance) -> Graph:
        """The instance's graph, refused if its hash is not the one the suite was built on."""
        graph = suite_graph(self.path.parent, instance.graph, instance.granularity)
        if graph.sha256() != instance.graph_sha256:
            raise LeaderboardError(f"suite {self.name}: graph {instance.graph} ({instance.granularity}) now hashes to "
                                   f"{graph.sha256()[:12]}..., the suite was built on {instance.graph_sha256[:12]}...; "
                                   "the graph data changed: build a new suite version")
        return graph

    def to_json(self) -> str:
        header = {"schema": SCHEMA, "version": SCHEMA_VERSION, "suite": self.name, "description": self.description,
                  "built_with": self.built_with}
        return dumps_records(header, "instances", [i.to_dict() for i in self.instances])


def is_graph_file(graph: str) -> bool:
    """Suites name zoo graphs by name and their own graphs by a file path."""
    return graph.endswith((".json", ".json.gz"))


@lru_cache(maxsize=None)
def suite_graph(folder: Path, graph: str, granularity: str) -> Graph:
    """A suite's graph: a zoo name, or a file relative to the manifests' ``folder`` (cached)."""
    try:
        return load_graph(folder / graph if is_graph_file(graph) else graph, granularity)
    except (GraphError, KeyError, FileNotFoundError) as exc:
        raise LeaderboardError(f"cannot load suite graph {graph!r}: {exc}") from None


def list_suites(root: Path = ROOT) -> list[str]:
    """Names of the manifests in ``root/suites``, sorted."""
    return sorted(p.stem for p in (root / "suites").glob("*.json"))


def check_suite_name(name: str, root: Path = ROOT) -> None:
    """Refuse an unknown suite, telling an unknown family from an unknown version of a known one."""
    known = list_suites(root)
    if name in known:
        return
    match = _NAME.match(name)
    family = match["family"] if match else name
    versions = [s for s in known if (m := _NAME.match(s)) and m["family"] == family]
    if versions:
        raise LeaderboardError(f"unknown version of suite {excerpt(family)}: {excerpt(name)}; known versions: {', '.join(versions)}")
    raise LeaderboardError(f"unknown suite {excerpt(name)}; known suites: {', '.join(known) or 'none'}")


def load_suite(name: str, root: Path = ROOT) -> Suite:
    """Read a manifest by suite name (e.g. ``"zoo-v0"``) from ``root/suites``."""
    check_suite_name(name, root)
    return _read_suite(root / "suites" / f"{name}.json")


@lru_cache(maxsize=None)
def _read_suite(path: Path) -> Suite:
    data = read_json(path)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or data.get("version") != SCHEMA_VERSION:
        raise LeaderboardError(f"{path}: not a {SCHEMA} version {SCHEMA_VERSION} manifest")
    try:
        instances = tuple(Instance.from_dict(i) for i in data["instances"])
        suite = Suite(data["suite"], data["description"], data["built_with"], instances, path)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise LeaderboardError(f"{path}: malformed suite manifest ({type(exc).__name__}: {str(exc)[:120]})") from None
    if suite.name != path.stem or not instances:
        raise LeaderboardError(f"{path}: names suite {suite.name!r} and holds {len(instances)} instances")
    return suite


def check_suite(suite: Suite) -> None:
    """Re-score every reference and compiler schedule; a mismatch means the cost model changed
    under the suite's revision (or the manifest was edited), so no entry of it can be trusted."""
    problems = []
    for inst in suite.instances:
        graph = suite.graph(inst)
        for label, scored in (("reference", inst.reference), ("compiler", inst.compiler)):
            value, _ = score_schedule(graph, scored.stages, inst.num_stages, inst.hardware, inst.objective,
                                      inst.cost_model_revision)
            if not close(value, scored.value):
                problems.append(f"suite {suite.name} instance {inst.id}: the {label} schedule scores {value!r} under "
                                f"cost-model revision {inst.cost_model_revision}, the manifest says {scored.value!r}")
    if problems:
        raise LeaderboardError(*problems)


def close(a: float, b: float) -> bool:
    """Equal up to float rounding (values are recomputed, never compared across revisions)."""
    return abs(a - b) <= REL_TOL * max(abs(a), abs(b))
