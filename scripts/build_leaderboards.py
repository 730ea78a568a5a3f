"""Regenerate every leaderboard file: the suites, the built-in solvers' entries, the README tables.

    nice -n 10 python scripts/build_leaderboards.py            # everything (~30 min on 2 cores)
    python scripts/build_leaderboards.py --skip-build          # keep the suites, rerun the entries
    python scripts/build_leaderboards.py --suites zoo-v0 --solvers exact greedy

A solver that cannot optimise a suite's objective (``profiling``/``slicegraph`` on ``paper``) is
skipped with a note. Frozen suites (``SuiteSpec.frozen``) keep their manifests; their entries are
rerun. An anytime tier (``SuiteSpec.budgets_s``, e.g. ``hard-v1``) gets one entry per solver and
budget (``exact-60s.json``, method ``exact (60 s)``). Run it whenever the suites' specs change (a new cost-model revision gets new
suite versions in ``respect_gym/leaderboard/build.py``); learned agents are added with
``respect-gym leaderboard run --solver NAME`` (see leaderboards/README.md), not here.
"""

from __future__ import annotations

import argparse
import sys
import time

from respect_gym.cli import main as cli
from respect_gym.leaderboard import ROOT, LeaderboardError
from respect_gym.leaderboard.build import SPECS
from respect_gym.leaderboard.run import Method, run

TIME_LIMIT_S = 20.0
BUILTIN = {  # solver -> (description, deterministic, link)
    "exact": ("proven optimum (ideal DP, else CP-SAT); where the time limit stops it, its best schedule",
              False, ""),
    "slicegraph": ("optimal cuts of topological orders searched by a genetic algorithm (Archer et al., ICML 2024)",
                   False, ""),
    "profiling": ("replica of libcoral's profiling-based partitioner, the cost model as profiler", True,
                  "https://github.com/google-coral/libcoral"),
    "compiler": ("replica of edgetpu_compiler --num_segments (parameter-count split)", True,
                 "https://coral.ai/docs/edgetpu/compiler/"),
    "greedy": ("greedy floor baseline", True, ""),
    "random": ("uniformly random valid schedule (seed 0)", True, ""),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", nargs="+", choices=list(SPECS), default=list(SPECS))
    parser.add_argument("--solvers", nargs="+", choices=list(BUILTIN), default=list(BUILTIN))
    parser.add_argument("--skip-build", action="store_true", help="keep the committed suite manifests")
    args = parser.parse_args()
    start = time.perf_counter()
    frozen = [s for s in args.suites if SPECS[s].frozen]
    if frozen:
        print(f"frozen, manifests kept as published: {', '.join(frozen)}", flush=True)
    building = [s for s in args.suites if not SPECS[s].frozen]
    if not args.skip_build and building and cli(["leaderboard", "build-suite", *building]):
        return 1
    print(f"suites built in {time.perf_counter() - start:.0f} s", flush=True)
    for suite in args.suites:
        for solver in args.solvers:
            description, deterministic, link = BUILTIN[solver]
            # an anytime tier runs each solver at each of its budgets, one entry per budget
            for limit in SPECS[suite].budgets_s or (TIME_LIMIT_S,):
                tiered = bool(SPECS[suite].budgets_s)
                name = f"{solver} ({limit:g} s)" if tiered else solver
                method = Method(name, link=link, description=description, deterministic=deterministic)
                out = ROOT / "submissions" / suite / (f"{solver}-{limit:g}s.json" if tiered else f"{solver}.json")
                t = time.perf_counter()
                try:
                    run(suite, out, method, solver=solver, time_limit=limit)
                except LeaderboardError as exc:
                    print(f"skipped {name} on {suite}: {exc}", flush=True)
                    continue
                print(f"{name} on {suite}: {time.perf_counter() - t:.1f} s", flush=True)
    status = cli(["leaderboard", "verify", "--brief", *map(str, sorted((ROOT / "submissions").glob("*/*.json")))])
    print(f"total {time.perf_counter() - start:.0f} s", flush=True)
    return status or cli(["leaderboard", "render"])


if __name__ == "__main__":
    sys.exit(main())
