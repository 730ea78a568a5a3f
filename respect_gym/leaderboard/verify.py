"""Verification: every number of a submission is recomputed from its schedules, never trusted.

Checks, each failing with its own message: the schema, the suite and its version, that the suite's
own reference schedules still reproduce (:func:`~respect_gym.leaderboard.suite.check_suite`), per
result the instance id (known, not repeated), the graph hash, K, the schedule (length, integer
stages in ``0..K-1``, precedence), the claimed value against the value recomputed with the suite's
cost-model revision, and both against the instance's proven lower bound; then that no instance is
missing. At most :data:`MAX_PROBLEMS` problems are listed per file (checking stops there), and any
failure, whatever its kind, is one :class:`LeaderboardError` naming the file. Solve times are the
file's claims (the harness's own measurements when it wrote the file, but nothing here re-measures
them): they are shown as claimed, never ranked on. On an anytime tier (a suite with ``budgets_s``)
an entry names the budget it ran at (the harness's ``time_limit_s``), and the table shows on how
many instances its claimed time kept that budget, within :data:`BUDGET_SLACK` (the harness's own
overhead: scoring, process start); the score does not depend on it. The suite score is the geometric mean over instances of reference / submission value
(1.0: every instance at its reference; above 1 only by beating an unproven best known value).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from respect_gym.cost import ScheduleError, validate_schedule
from respect_gym.leaderboard.costs import score_schedule
from respect_gym.leaderboard.errors import LeaderboardError
from respect_gym.leaderboard.submission import Submission, read_submission
from respect_gym.leaderboard.suite import PROOF_TOL, ROOT, Instance, Suite, check_suite, close, load_suite
from respect_gym.safe_io import excerpt

MAX_PROBLEMS = 10
BUDGET_SLACK = 0.1  # a claimed time within budget x (1 + BUDGET_SLACK) kept the budget
# what a damaged or hostile file may raise below the checks (never shown as a traceback)
_UNEXPECTED = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError,
               MemoryError, OSError)


@dataclass(frozen=True)
class InstanceScore:
    """A verified result: the recomputed ``value`` of the submitted schedule on ``instance``."""

    instance: Instance
    value: float
    seconds: float | None  # claimed by the file (written by the harness, not re-measured)

    @property
    def ratio(self) -> float:
        """Reference / value: 1.0 at the reference, lower when worse."""
        return self.instance.reference.value / self.value

    @property
    def at_optimum(self) -> bool:
        """Matches a proven optimum (within the tolerance exact proves optima to)."""
        return self.instance.optimal and self.value <= self.instance.reference.value * (1 + PROOF_TOL)

    @property
    def speedup(self) -> float:
        """The vendor compiler's value over this one: above 1 beats ``edgetpu_compiler``."""
        return self.instance.compiler.value / self.value


@dataclass(frozen=True)
class Verified:
    """A submission that passed every check, with its per-instance scores in suite order."""

    submission: Submission
    suite: Suite
    scores: tuple[InstanceScore, ...]

    @property
    def score(self) -> float:
        return geometric_mean([s.ratio for s in self.scores])

    @property
    def num_optimal(self) -> int:
        return sum(s.at_optimum for s in self.scores)

    @property
    def speedup(self) -> float:
        """Geometric mean of the speed-ups over ``compiler`` (the mean that suits ratios)."""
        return geometric_mean([s.speedup for s in self.scores])

    @property
    def median_seconds(self) -> float | None:
        """Median claimed solve time (the harness's measurement if it wrote the file; the verifier
        does not re-measure it); ``None`` when any instance has none."""
        seconds = [s.seconds for s in self.scores]
        return None if None in seconds else float(statistics.median(seconds))

    @property
    def budget_s(self) -> float | None:
        """The anytime tier's budget this entry ran at (``None`` off an anytime tier, or when the
        file names none)."""
        limit = self.submission.meta["harness"].get("time_limit_s")
        return float(limit) if self.suite.built_with.get("budgets_s") and limit is not None else None

    @property
    def num_within_budget(self) -> int | None:
        """Instances whose claimed time kept :attr:`budget_s` (within :data:`BUDGET_SLACK`; an
        instance without a time did not); ``None`` without a budget."""
        budget = self.budget_s
        if budget is None:
            return None
        return sum(s.seconds is not None and s.seconds <= budget * (1 + BUDGET_SLACK) for s in self.scores)


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


@lru_cache(maxsize=None)
def _checked_suite(name: str, root: Path) -> Suite:
    suite = load_suite(name, root)
    check_suite(suite)
    return suite


def verify_submission(path: str | Path, root: Path = ROOT) -> Verified:
    """Verify one submission file against its suite in ``root``.

    :raises LeaderboardError: with one message per problem found (``.problems``), at most
        :data:`MAX_PROBLEMS` of them; every failure names the file.
    """
    try:
        return _verify(Path(path), root)
    except LeaderboardError:
        raise
    except FileNotFoundError:
        raise LeaderboardError(f"{path}: no such file") from None
    except _UNEXPECTED as exc:
        raise LeaderboardError(f"{path}: cannot be verified ({type(exc).__name__}: {excerpt(str(exc), 120)})") from None


def _verify(path: Path, root: Path) -> Verified:
    submission = read_submission(path, root)
    try:
        suite = _checked_suite(submission.suite, root)
    except LeaderboardError as exc:
        raise LeaderboardError(*(f"{submission.path}: {p}" for p in exc.problems[:MAX_PROBLEMS])) from None
    instances = {inst.id: inst for inst in suite.instances}
    seen: dict[str, int] = {}
    scores: dict[str, InstanceScore] = {}
    problems = []
    budgets = suite.built_with.get("budgets_s")
    limit = submission.meta["harness"].get("time_limit_s")
    if budgets and limit is not None and float(limit) not in budgets:
        problems.append(f"{submission.path}: ran with a {limit!r} s limit; suite {suite.name} is scored at the "
                        f"budgets {budgets} s")
    for i, entry in enumerate(submission.results):
        if len(problems) >= MAX_PROBLEMS:
            problems.append(f"{submission.path}: results[{i}:] not checked (stopped after {MAX_PROBLEMS} problems)")
            break
        name = entry["instance"]
        where = f"{submission.path}: results[{i}] ({name if len(name) <= 64 else excerpt(name)})"  # clean: read checked it
        if name not in instances:
            problems.append(f"{where}: not an instance of suite {suite.name}")
        elif name in seen:
            problems.append(f"{where}: duplicate instance (already in results[{seen[name]}])")
        else:
            seen[name] = i
            try:
                scores[name] = _score(suite, instances[name], entry)
            except (LeaderboardError, ScheduleError) as exc:
                problems.append(f"{where}: {exc}")
    missing = [inst.id for inst in suite.instances if inst.id not in seen]
    if missing and len(problems) <= MAX_PROBLEMS:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        problems.append(f"{submission.path}: missing {len(missing)} of the suite's {len(instances)} instances: {shown}")
    if problems:
        raise LeaderboardError(*problems)
    return Verified(submission, suite, tuple(scores[inst.id] for inst in suite.instances))


def _score(suite: Suite, inst: Instance, entry: dict[str, Any]) -> InstanceScore:
    """Recompute one result; raises on the first thing wrong with it."""
    if entry["graph_sha256"] != inst.graph_sha256:
        raise LeaderboardError(f"graph_sha256 {entry['graph_sha256'][:12]}... is not the instance graph's "
                               f"{inst.graph_sha256[:12]}...: the schedule was made for another graph")
    if entry["num_stages"] != inst.num_stages:
        raise LeaderboardError(f"num_stages is {entry['num_stages']}, the instance has K = {inst.num_stages}")
    graph = suite.graph(inst)
    length = len(entry["stages"])
    if length != graph.num_nodes:
        kind = "truncated" if length < graph.num_nodes else "over-long"
        raise LeaderboardError(f"{kind} schedule: {length} stages for a graph of {graph.num_nodes} nodes")
    stages = validate_schedule(graph, entry["stages"], inst.num_stages)
    value, _ = score_schedule(graph, stages, inst.num_stages, inst.hardware, inst.objective, inst.cost_model_revision)
    claimed, floor = float(entry["objective_value"]), inst.lower_bound * (1 - PROOF_TOL)
    if not math.isfinite(claimed) or not math.isfinite(value):
        raise LeaderboardError(f"claims {claimed!r} and the schedule scores {value!r}: values must be finite")
    scored = f"under cost-model revision {inst.cost_model_revision} ({inst.objective})"
    if value < floor:
        raise LeaderboardError(f"the schedule scores {value!r} {scored}, below the proven lower bound "
                               f"{inst.lower_bound!r}: the cost model or the suite is wrong")
    if claimed < floor:
        raise LeaderboardError(f"claims {claimed!r}, better than the proven lower bound {inst.lower_bound!r} "
                               f"(the schedule scores {value!r} {scored})")
    if not close(claimed, value):
        raise LeaderboardError(f"claims {claimed!r} but the schedule scores {value!r} {scored}")
    seconds = entry["seconds"]
    if seconds is not None and not (math.isfinite(seconds) and seconds >= 0):
        raise LeaderboardError(f"seconds {seconds!r} is not a finite non-negative time")
    return InstanceScore(inst, value, None if seconds is None else float(seconds))
