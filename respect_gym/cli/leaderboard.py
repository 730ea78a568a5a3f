"""``respect-gym leaderboard``: build suites, run the harness, verify submissions, render tables."""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from respect_gym.cli import make_console, positive_float, positive_int, say
from respect_gym.cli.tables import TIGHT, compact_table
from respect_gym.leaderboard import ROOT, LeaderboardError, Verified, verify_submission
from respect_gym.leaderboard.build import SPECS, build_suite
from respect_gym.leaderboard.render import render_readme
from respect_gym.leaderboard.submission import check_method
from respect_gym.leaderboard.run import Method, run as run_harness
from respect_gym.safe_io import check_output_path, printable

DEFAULT_RUN_LIMIT_S = 20.0  # `leaderboard run --solver`: seconds per instance unless --time-limit says otherwise


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "leaderboard",
        help="leaderboard suites and submissions",
        description="Build the leaderboard suites, produce a submission with the timing harness, verify "
        "submissions (every score is recomputed) and render leaderboards/README.md.",
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, func: Callable[[argparse.Namespace], int], **kwargs: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, **kwargs)
        p.add_argument("--root", type=Path, default=ROOT, help=f"the leaderboards folder (default {ROOT})")
        p.set_defaults(func=func)
        return p

    p = action("build-suite", build, help="regenerate suite manifests (exact solver, stated time limit)")
    p.add_argument("suites", nargs="*", metavar="SUITE", help=f"suites to build: {', '.join(SPECS)}")
    p.add_argument("--all", action="store_true", help="build every suite")
    p.add_argument("--time-limit", type=positive_float("--time-limit"), metavar="S",
                   help="seconds per solve (default: each suite's own)")

    p = action("run", run, help="run a solver or Python policy on a suite and write a submission")
    p.add_argument("--suite", required=True, metavar="NAME",
                   help="suite to run, e.g. zoo-v1, layers-v1, synthetic-v1 (the current ones) or paper-v0")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--solver", help="a registered solver name (respect_gym.solvers.register adds your own)")
    how.add_argument("--policy", metavar="MODULE:CALLABLE",
                     help="a scheduler policy(graph, num_stages, hardware=..., objective=...) -> one stage per "
                     "node, as package.module:callable or path/to/file.py:callable (an env policy becomes one "
                     "with respect_gym.leaderboard.adapter)")
    p.add_argument("--out", required=True, type=Path, metavar="FILE.json", help="where to write the submission")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--method", help="method name on the leaderboard (default: the solver or policy)")
    p.add_argument("--authors", nargs="+", default=["respect-gym maintainers"], metavar="NAME",
                   help="author names as the leaderboard shows them")
    p.add_argument("--link", default="", help="paper, code or model card")
    p.add_argument("--description", default="", help="one sentence on the method")
    trained = p.add_mutually_exclusive_group(required=True)
    trained.add_argument("--trained-on-suite", dest="trained_on_suite", action="store_true", default=None,
                         help="the method saw instances of this suite in training or tuning (including "
                         "hyper-parameter search)")
    trained.add_argument("--not-trained-on-suite", dest="trained_on_suite", action="store_false",
                         help="the method never saw any instance of this suite (one of the two is required)")
    p.add_argument("--nondeterministic", action="store_true", help="reruns may give other schedules")
    p.add_argument("--time-limit", type=positive_float("--time-limit"), metavar="S",
                   help=f"seconds per instance for anytime solvers (default {DEFAULT_RUN_LIMIT_S:g}); with --policy, "
                   "only the budget the entry claims on an anytime tier (a Python callable cannot be stopped: its "
                   "measured times show whether it kept the budget)")
    p.add_argument("--seed", type=int, default=0, help="seed passed to the solver (default 0)")
    p.add_argument("--workers", type=positive_int("N"), metavar="N",
                   help="instances run at once: local processes (default 1), or Ray tasks in flight with --ray "
                   "(default: the cluster's CPUs); each is timed where it runs, so use at most one per core")
    p.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                   help="run instances as Ray tasks on a cluster: 'auto' (the default when no ADDRESS is given: "
                   "the cluster this machine joined with `ray start`), 'local', or HOST:PORT")

    p = action("verify", verify, help="verify submissions: recompute every score, print the tables")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="submission JSON files")
    p.add_argument("--brief", action="store_true", help="only the suite score line, no per-instance table")

    p = action("render", render, help="regenerate the tables of leaderboards/README.md")
    p.add_argument("--check", action="store_true", help="fail if the README is out of date instead of writing it")


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[str], None]]:
    """A rich progress bar (on stderr) advanced by calling the yielded function with an item name."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=total)
        started = False

        def step(item: str) -> None:
            nonlocal started
            if started:
                bar.advance(task)
            started = True
            bar.update(task, description=f"{label} {item}")
        yield step


def build(args: argparse.Namespace) -> int:
    names = list(SPECS) if args.all else args.suites
    unknown = [n for n in names if n not in SPECS]
    if unknown or not names:
        raise LeaderboardError(f"name suites to build ({', '.join(SPECS)}) or pass --all; unknown: {unknown}")
    console = make_console()
    for name in names:
        spec = SPECS[name]
        with progress_bar(len(spec.graphs) * len(spec.ks), f"building {name}") as step:
            suite = build_suite(spec, args.root, args.time_limit, progress=step)
        open_ = [i for i in suite.instances if not i.optimal]
        console.print(f"{name}: {len(suite.instances)} instances, {len(suite.instances) - len(open_)} proven optimal, "
                      f"{len(open_)} unproven; written to {suite.path}", highlight=False)
        for inst in open_:
            gap = 1 - inst.lower_bound / inst.reference.value
            console.print(f"  unproven {inst.id}: best known {inst.reference.value:.4f} ({inst.reference.solver}), "
                          f"lower bound {inst.lower_bound:.4f}, gap {100 * gap:.1f}%", highlight=False)
    return 0


def run(args: argparse.Namespace) -> int:
    check_output_path(args.out, force=args.force, what="--out")  # before the long run, not after it
    method = Method(name=args.method or args.solver or args.policy, authors=tuple(args.authors), link=args.link,
                    description=args.description, trained_on_suite=args.trained_on_suite,
                    deterministic=not args.nondeterministic)
    check_method(method.name, method.authors, method.link, method.description)  # not after the run
    workers = args.workers or (None if args.ray else 1)
    try:
        out = run_harness(args.suite, args.out, method, solver=args.solver, policy=args.policy,
                          time_limit=DEFAULT_RUN_LIMIT_S if args.time_limit is None and args.solver else args.time_limit,
                          seed=args.seed, root=args.root, workers=workers,
                          ray_address=args.ray, progress=True)
    except (ConnectionError, ImportError) as exc:  # --ray: no cluster there, or Ray not installed
        raise LeaderboardError(str(exc)) from None
    console = make_console()
    say(console, summary_line(verify_submission(out, args.root)))
    console.print(f"written to {out}", highlight=False, markup=False)
    return 0


def summary_line(v: Verified) -> str:
    """The suite score and its companions, as one sentence."""
    seconds = "-" if v.median_seconds is None else f"{v.median_seconds:.3g} s"
    return (f"{v.submission.method} on {v.suite.name}: score {v.score:.4f}, {v.num_optimal}/{len(v.scores)} at the "
            f"proven optimum, {v.speedup:.2f}x over compiler (geometric mean), median solve time {seconds} (claimed)")


def instance_table(v: Verified) -> Table:
    """One row per instance: recomputed value against the reference and the compiler."""
    table = compact_table(f"{v.submission.path}: {v.submission.method} on {v.suite.name}",
                          "ref.: the proven optimum or best known value; ratio: ref. / value;\n"
                          "speed-up: compiler's value / value", padding=TIGHT)
    table.add_column("instance", overflow="fold")  # long ids fold onto a second line at 80 columns
    for column in ("value", "ref.", "proven", "ratio", "speed-up", "seconds\n(claimed)"):
        table.add_column(column, justify="right", no_wrap=True)
    for s in v.scores:
        ref = s.instance.reference
        table.add_row(s.instance.id, f"{s.value:.4f}", f"{ref.value:.4f}", "yes" if s.instance.optimal else "no",
                      f"{s.ratio:.4f}", f"{s.speedup:.2f}x", "-" if s.seconds is None else f"{s.seconds:.3g}")
    return table


SUBMISSION_SCHEMA = "respect-gym/leaderboard-submission"
KNOWN_SCHEMAS = {"respect-gym/graph": "a respect-gym graph file", "respect-gym/leaderboard-suite": "a suite manifest",
                 "respect-gym/segments": "a segment manifest (--export-segments)"}


def file_kind(path: Path) -> str | None:
    """What a file that failed verification is, when it is plainly not a submission (None when it
    claims to be one, or cannot be read: the verifier's own errors say why)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    if head[4:8] == b"TFL3":
        return "a .tflite model"
    text = head.decode("utf-8", "replace").lstrip()
    if not text.startswith(("{", "[")):
        return "not JSON"
    if text.startswith("["):
        return "a JSON list (a schedule?)"
    import re

    found = re.search(r'"schema"\s*:\s*"([^"]*)"', text)
    if found is None:
        return "a JSON object without a 'schema' field"
    schema = found.group(1)
    if schema == SUBMISSION_SCHEMA:
        return None
    return KNOWN_SCHEMAS.get(schema, f"a JSON file of schema {schema!r}")


def verify(args: argparse.Namespace) -> int:
    console, failed = make_console(), 0
    for path in args.files:
        try:
            v = verify_submission(path, args.root)
        except LeaderboardError as exc:
            failed += 1
            kind = file_kind(path)
            if kind is not None:  # plainly not a submission: say what it is and what was expected, only that
                print(f"respect-gym leaderboard verify: error: {printable(str(path))} is {kind}, not a leaderboard "
                      f"submission (expected a '{SUBMISSION_SCHEMA}' JSON object as `leaderboard run` writes; "
                      "leaderboards/submission.schema.json)", file=sys.stderr)
                continue
            for problem in exc.problems:
                print(f"respect-gym leaderboard verify: error: {printable(problem)}", file=sys.stderr)
            continue
        if not args.brief:
            console.print(instance_table(v))
        say(console, summary_line(v))
    if failed:
        print(f"{failed} of {len(args.files)} submission(s) failed verification", file=sys.stderr)
    return 1 if failed else 0


def render(args: argparse.Namespace) -> int:
    changed = render_readme(args.root, check=args.check)
    readme = args.root / "README.md"
    if args.check and changed:
        print(f"{readme} is out of date: run `respect-gym leaderboard render`", file=sys.stderr)
        return 1
    make_console().print(f"{readme}: {'updated' if changed else 'up to date'}", highlight=False)
    return 0
