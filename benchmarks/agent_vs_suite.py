"""A solver (e.g. a learned agent) against a leaderboard suite's proven optima and compiler splits.

    python benchmarks/agent_vs_suite.py --solver imitation --suite zoo-v1

Prints the mean / median / max gap to the optimum over the instances with a proven optimum, the
share of instances where it beats the compiler, and its solve time per graph. The references are
the suite's own (no exact solve here), so the run takes seconds per instance at most.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import respect_gym
from respect_gym.leaderboard import load_suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solver", default="imitation")
    parser.add_argument("--suite", default="zoo-v1")
    args = parser.parse_args()
    suite = load_suite(args.suite)
    gaps, better, times = [], 0, []
    for inst in suite.instances:
        graph = suite.graph(inst)
        start = time.perf_counter()
        result = respect_gym.solve(graph, inst.num_stages, args.solver, objective=inst.objective,
                                   revision=suite.revision)
        times.append(time.perf_counter() - start)
        value = result.objective_value
        if inst.optimal:
            gaps.append(value / inst.reference.value - 1)
        better += value < inst.compiler.value - 1e-12
    n = len(suite.instances)
    print(f"{args.solver} on {args.suite}: {n} instances, {len(gaps)} with a proven optimum; gap to it mean "
          f"{np.mean(gaps):.1%}, median {np.median(gaps):.1%}, max {np.max(gaps):.1%}; better than compiler "
          f"{better}/{n} ({better / n:.1%}); solve time median {1e3 * np.median(times):.0f} ms, max {1e3 * max(times):.0f} ms")


if __name__ == "__main__":
    main()
