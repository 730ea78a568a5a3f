"""Regenerate every result that depends on the cost model, in one command.

    python scripts/regenerate_results.py --list          # the steps, what each writes, rough wall time
    nice -n 10 python scripts/regenerate_results.py      # all of them, in order (hours on 2 cores)
    python scripts/regenerate_results.py --only calibration solvers

Run it after any change to the cost model. (A new revision first gets its constants, its env id
and its leaderboard suite versions in ``respect_gym/leaderboard/build.py``; see docs/cost_model.md.)
Each step is a command the README documents on its own; ``agents`` reruns the training command
recorded in each shipped checkpoint, so retrained weights come from the commands that made the old
ones. README blocks between ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->`` are
rewritten from the steps' outputs; ``agents-eval`` prints the tables that agents/RESULTS.md
reports, each with the command that makes it. The first failing step stops the run, named.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SOLVERS_JSON = "benchmarks/results/solvers_fused.json"
# training order: ppo warm-starts from imitation; the cut policies train from scratch
CHECKPOINTS = ("imitation", "imitation_paper", "ppo", "cut_imitation", "cut_ppo")


class RegenerateError(RuntimeError):
    """A step failed or a README block is missing."""


@dataclass(frozen=True)
class Step:
    """One stage: its commands (built when it runs, so they read the current checkpoints and
    suites) and, optionally, the README block it rewrites from what they wrote."""

    name: str
    writes: str
    minutes: int
    commands: Callable[[], list[list[str]]]
    readme_block: Callable[[], str] | None = None


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the lines between the ``generated:name`` markers replaced by ``body``."""
    start, end = f"<!-- generated:{name} -->", f"<!-- /generated:{name} -->"
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise RegenerateError(f"README.md needs exactly one {start} ... {end} block")
    head, rest = text.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{body.rstrip()}\n{end}{tail}"


def calibration_block() -> str:
    """The family x mode table of the latest revision, with revision 2's median on the same rows."""
    from respect_gym.cost.calibration import error_table, published_rows, thesis_rows
    from respect_gym.cost.hardware import HARDWARE_BY_REVISION, LATEST_REVISION

    def family_mode(row) -> str:
        return " ".join(row.group.split()[:2])

    old_hw = HARDWARE_BY_REVISION[2]["usb3"]
    old = {group: median for group, _, median, _, _ in error_table(thesis_rows(old_hw, revision=2), by=family_mode)}
    names = {"conv latency": "conv, one input's latency (1-4 TPUs)", "conv period": "conv, streaming period (2-4 TPUs)",
             "fc latency": "fc, one input's latency (1-4 TPUs)", "fc period": "fc, streaming period (2-4 TPUs)"}
    lines = [f"| rows (revision {LATEST_REVISION}) | n | median abs. error | p90 abs. error | signed median | revision 2 median |",
             "|---|---|---|---|---|---|"]
    for group, n, median, p90, signed in error_table(thesis_rows(), by=family_mode):
        lines.append(f"| {names.get(group, group)} | {n} | {median:.1%} | {p90:.1%} | {signed:+.1%} | {old[group]:.1%} |")
    coral = published_rows()
    (_, n, median, _, signed), = error_table(coral, by=lambda r: "coral")
    (_, _, old_median, _, _), = error_table(published_rows(old_hw, revision=2), by=lambda r: "coral")
    lines.append(f"| Coral single TPU (6 ImageNet models) | {n} | {median:.1%} | max {max(abs(r.error) for r in coral):.1%} | "
                 f"{signed:+.1%} | {old_median:.1%} |")
    return "\n".join(lines)


def solvers_block(path: Path = ROOT / SOLVERS_JSON) -> str:
    """The fused benchmark's summary row from the JSON the ``solvers`` step wrote."""
    records = json.loads(Path(path).read_text())["zoo"]
    exact = [r for r in records if "exact" in r["solvers"]]
    times = [r["solvers"]["exact"]["seconds"] for r in exact]
    unproven = [f"{r['model']} K={r['num_stages']} (gap {100 * r['solvers']['exact']['gap']:.1f}%)"
                for r in exact if not r["solvers"]["exact"]["optimal"]]
    speedups = [r["solvers"]["compiler"]["period_ms"] / r["solvers"]["exact"]["period_ms"]
                for r in exact if "compiler" in r["solvers"]]
    revision = records[0]["cost_model_version"].split(".")[0]
    proven = f"{len(exact) - len(unproven)}" + (f" (unproven at the limit: {', '.join(unproven)})" if unproven else "")
    return "\n".join([
        "| revision | granularity | instances | `exact` proven | solve time median / max | `exact` speed-up over `compiler` median / max |",
        "|---|---|---|---|---|---|",
        f"| {revision} (period) | fused | {len(exact)} | {proven} | {statistics.median(times):.2f} s / {max(times):.2f} s | "
        f"{statistics.median(speedups):.2f}x / {max(speedups):.2f}x |",
    ])


AGENTS_JSON = "agents/results/zoo_agents.json"


def agents_block(path: Path = ROOT / AGENTS_JSON) -> str:
    """The fused rows of the agents' evaluation table from the JSON the ``agents-eval`` step wrote."""
    from respect_gym_agents.evaluation import AGENTS, SAMPLES, summary

    labels = {"cut_imitation": "`cut_imitation`, the policy alone (greedy; DAgger, 3 members)",
              "cut_ppo": "`cut_ppo`, the policy alone (greedy; MaskablePPO from scratch)",
              "probe_rule": "no learning: the cut policies' features read by a fixed rule (cut when the probes favour it)",
              "order_pointer": "`order_pointer`, the order policy alone (RespectOrder-v1: its greedy order, cut optimally)",
              "order_plain_cut": "control, no learning: the optimal cut of the plain topological order (the ceiling of any "
                                 "cut policy; what RespectOrder-v1 plays for an agent that never learns)",
              "imitation_raw": "`imitation`, the policy alone (greedy)", "ppo_raw": "`ppo`, the policy alone (greedy)",
              "ppo_sampled": f"`ppo`, the policy alone: best of greedy + {SAMPLES} sampled episodes",
              "imitation": "`imitation` + exact re-cut of its order (post-processing)",
              "ppo": "`ppo` + exact re-cut of its order (post-processing)",
              "visit_order_recut": "control, no learning: the re-cut rows' post-processing on the env's visit order "
                                   "(the same order as above; its cut is exact up to 500 nodes, bisection above)"}
    rows = [r for r in json.loads(Path(path).read_text()) if r["granularity"] == "fused"]
    lines = ["| solver | mean / max gap to the optimum | better than `compiler` | `solve()` median / max, one thread |",
             "|---|---|---|---|"]
    for name in (a for a in AGENTS if f"{a}_ms" in rows[0]):
        s = summary(rows, name)
        lines.append(f"| {labels.get(name, f'`{name}`')} | {s['mean_gap_pct']:.2f}% / {s['max_gap_pct']:.1f}% | "
                     f"{s['better_than_compiler_pct']:.1f}% | {s['median_ms_per_graph']:.0f} / "
                     f"{s['max_ms_per_graph']:.0f} ms |")
    return "\n".join(lines)


def agent_commands() -> list[list[str]]:
    """The training command recorded in each shipped checkpoint, in :data:`CHECKPOINTS` order (read
    without the loader's cost-model check: after a change every checkpoint is out of date)."""
    import torch

    commands = []
    for name in CHECKPOINTS:
        path = ROOT / "agents" / "respect_gym_agents" / "checkpoints" / f"{name}.pt"
        if path.exists():
            commands.append(shlex.split(torch.load(path, map_location="cpu", weights_only=True)["meta"]["command"]))
    return commands


PERIOD_SUITES = ("zoo-v1", "layers-v1", "synthetic-v1", "zoo-v2", "layers-v2", "synthetic-v2")
# the shipped agents on the leaderboards: (method name, how the harness runs it, suites it can run, description);
# paper-v0 is scored with revision 2, which the revision-3 checkpoints refuse, and the cut policies
# optimise the period only (agents/RESULTS.md has the paper setting through benchmarks/agent_vs_suite.py)
AGENT_ENTRIES = (
    ("cut_imitation", ["--solver", "cut_imitation"], PERIOD_SUITES,
     "cut policy (MLP on the decision view) trained by DAgger with the exact cut expert; the policy alone"),
    ("cut_ppo", ["--solver", "cut_ppo"], PERIOD_SUITES,
     "cut policy trained by MaskablePPO from scratch; the policy alone"),
    ("order_pointer", ["--solver", "order_pointer"], PERIOD_SUITES,
     "order (pointer) policy on RespectOrder-v1, imitation of exact's orders then REINFORCE: its greedy order, "
     "cut optimally as the env cuts it (RESPECT's formulation); the policy alone"),
    ("imitation_raw", ["--policy", "respect_gym_agents.leaderboard_policies:imitation_raw"],
     PERIOD_SUITES, "graph policy (BC + DAgger), its greedy schedule alone"),
    ("ppo_raw", ["--policy", "respect_gym_agents.leaderboard_policies:ppo_raw"], PERIOD_SUITES,
     "graph policy (DAgger + MaskablePPO), its greedy schedule alone"),
    ("imitation_recut", ["--solver", "imitation"], PERIOD_SUITES,
     "graph policy (BC + DAgger) + exact re-cut of its node order (post-processing)"),
    ("ppo_recut", ["--solver", "ppo"], PERIOD_SUITES,
     "graph policy (DAgger + MaskablePPO) + exact re-cut of its node order (post-processing)"),
)


ANYTIME_SUITES = ("hard-v1", "hard-v2", "hard-v3")  # the same instances, references refreshed by each version
# anytime-tier budget per agent (default 1 s), the smallest it keeps on every instance after the
# harness's untimed warm-up (order_pointer's exact cut of the 1,000-node graph's order: 8-11 s
# here, 17 s beside other work)
HARD_BUDGET_S = {"imitation_recut": 10, "ppo_recut": 10, "order_pointer": 60}


def agent_entry_commands() -> list[list[str]]:
    """``respect-gym leaderboard run`` for every shipped agent on every suite it can run, one entry each;
    on the anytime tiers at the smallest budget the agent finishes within (its result does not
    depend on the budget)."""
    commands = [["respect-gym", "leaderboard", "run", "--suite", suite, *how, "--not-trained-on-suite", "--method",
                 name, "--description", description, "--force", "--out", f"leaderboards/submissions/{suite}/{name}.json"]
                for name, how, suites, description in AGENT_ENTRIES for suite in suites]
    for suite in ANYTIME_SUITES:
        for name, how, _, description in AGENT_ENTRIES:
            budget = HARD_BUDGET_S.get(name, 1)
            commands.append(["respect-gym", "leaderboard", "run", "--suite", suite, *how, "--not-trained-on-suite",
                             "--method", f"{name} ({budget} s)", "--description", description, "--time-limit",
                             str(budget), "--force", "--out", f"leaderboards/submissions/{suite}/{name}-{budget}s.json"])
    return commands


def _latest_revision() -> int:
    from respect_gym.cost.hardware import LATEST_REVISION

    return LATEST_REVISION


def _latest_suites() -> list[str]:
    """The suites scored with the latest revision: published suites of older ones stay frozen."""
    from respect_gym.leaderboard.build import SPECS

    return [name for name, spec in SPECS.items() if spec.revision == _latest_revision()]


STEPS = (
    Step("calibration", "docs/calibration_rev3.md, docs/calibration_rev3.png, README calibration table", 2,
         lambda: [[sys.executable, "scripts/calibrate_cost_model.py"]], calibration_block),
    Step("solvers", f"{SOLVERS_JSON}, README solver table", 10,
         lambda: [[sys.executable, "benchmarks/solvers.py", "--granularity", "fused", "--large-nodes", "0",
                   "--solvers", "exact", "compiler", "--json", SOLVERS_JSON]], solvers_block),
    Step("leaderboards", "leaderboards/: the latest revision's suites, built-in entries, README tables", 30,
         lambda: [[sys.executable, "scripts/build_leaderboards.py", "--suites", *_latest_suites()]]),
    Step("agents", "agents/respect_gym_agents/checkpoints/*.pt, agents/results/", 120, agent_commands),
    Step("agents-leaderboards", "leaderboards/submissions/*/{cut_imitation,cut_ppo,order_pointer,imitation_raw,ppo_raw,"
         "imitation_recut,ppo_recut}*.json, leaderboards/README.md", 20,
         lambda: [*agent_entry_commands(), ["respect-gym", "leaderboard", "render"]]),
    Step("order", "benchmarks/results/order_vs_exact.json (where the order of RespectOrder-v1 matters)", 18,
         lambda: [[sys.executable, "benchmarks/order_vs_exact.py", "--json", "benchmarks/results/order_vs_exact.json"]]),
    Step("agents-eval", f"{AGENTS_JSON}, README agents table, printed tables for agents/RESULTS.md", 20,
         lambda: [[sys.executable, "benchmarks/agent_vs_suite.py", "--solver", "imitation", "--solver", "ppo",
                   "--suite", "zoo-v1"],
                  *([sys.executable, "benchmarks/agent_vs_suite.py", "--solver", "ppo", "--solver", "imitation",
                     "--suite", "zoo-v1", "--option", "samples=16", "--option", "refine=false", *control]
                    for control in ([], ["--option", "temperature=1e6"])),
                  [sys.executable, "benchmarks/agent_vs_suite.py", "--solver", "imitation", "--suite", "paper-v0",
                   "--revision", str(_latest_revision())],
                  ["respect-gym-agents", "evaluate", "imitation", "--time-limit", "30", "--workers", "2", "--json",
                   AGENTS_JSON]], agents_block),
)


def run(steps: list[Step], dry_run: bool = False, blocks_only: bool = False) -> None:
    for step in steps:
        commands = [] if blocks_only else step.commands()
        print(f"== {step.name}: writes {step.writes} (~{step.minutes} min)", flush=True)
        start = time.perf_counter()
        for argv in commands:
            print("   $ " + shlex.join(argv), flush=True)
            if not dry_run and subprocess.run(argv, cwd=ROOT).returncode != 0:
                raise RegenerateError(f"step {step.name!r} failed: {shlex.join(argv)}")
        if step.readme_block is not None and not dry_run:
            README.write_text(replace_block(README.read_text(), step.name, step.readme_block()))
            print(f"   README block {step.name!r} rewritten", flush=True)
        if not dry_run:
            print(f"   {step.name} done in {time.perf_counter() - start:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    names = [s.name for s in STEPS]
    parser.add_argument("--only", nargs="+", choices=names, help="run these steps (in the standard order)")
    parser.add_argument("--skip", nargs="+", choices=names, default=[], help="leave these steps out")
    parser.add_argument("--list", action="store_true", help="print the steps and their commands, run nothing")
    parser.add_argument("--blocks-only", action="store_true", help="only rewrite the README blocks from the outputs on disk")
    args = parser.parse_args(argv)
    chosen = [s for s in STEPS if (args.only is None or s.name in args.only) and s.name not in args.skip]
    try:
        run(chosen, dry_run=args.list, blocks_only=args.blocks_only)
    except RegenerateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
