"""A solver (e.g. a learned agent) against a leaderboard suite's proven optima and compiler splits.

    python benchmarks/agent_vs_suite.py --solver imitation --suite zoo-v1
    python benchmarks/agent_vs_suite.py --solver imitation --suite paper-v0 --revision 3
    python benchmarks/agent_vs_suite.py --solver imitation --solver old --register old=OLD_SOLVER.py --repeat 2

Prints the mean / median / max gap to the optimum over the instances with a proven optimum, the
share of instances where it beats the compiler, and its solve time per graph. The references are
the suite's own (no exact solve here), so the run takes seconds per instance at most. Times are
wall clock and, beside it, the process's CPU time (what one thread spends, whatever else runs on
the machine: the figure to compare on a loaded machine; run with ``OMP_NUM_THREADS=1``). Several
``--solver``s are timed interleaved, instance by instance (their order alternating between
repeats), so they share the machine's load; ``--repeat N`` keeps each instance's fastest of N
runs. ``--register NAME=FILE`` adds the ``solve_imitation`` of another copy of the agents'
``solver.py`` (e.g. an older commit's, from ``git show``) as solver NAME. ``--revision``: the
cost-model revision the solvers run with (default: the suite's); the ``paper`` objective does not
depend on the cost model, so ``paper-v0`` (scored under revision 2) can be solved with revision 3,
the revision the shipped checkpoints are trained for.
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np

import respect_gym
from respect_gym.leaderboard import load_suite
from respect_gym.solvers.registry import register


def _register(spec: str) -> None:
    name, path = spec.split("=", 1)
    module_spec = importlib.util.spec_from_file_location(f"_solver_{name}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    register(name, module.solve_imitation)


def _option(text: str) -> tuple[str, object]:
    key, value = text.split("=", 1)
    return key, {"true": True, "false": False}.get(value.lower(), value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solver", action="append", help="repeatable (default: imitation)")
    parser.add_argument("--suite", default="zoo-v1")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="solver option for every --solver (e.g. refine=false, checkpoint=PATH)")
    parser.add_argument("--register", action="append", default=[], metavar="NAME=FILE")
    parser.add_argument("--revision", type=int, default=None, help="cost-model revision (default: the suite's)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per instance; the fastest is kept")
    args = parser.parse_args()
    solvers = args.solver or ["imitation"]
    options = dict(_option(o) for o in args.option)
    for spec in args.register:
        _register(spec)
    suite = load_suite(args.suite)
    revision = args.revision or suite.revision
    if revision != suite.revision and any(inst.objective != "paper" for inst in suite.instances):
        parser.error("--revision may differ from the suite's only for the paper objective")
    values = {s: [] for s in solvers}
    times = {s: np.full((len(suite.instances), args.repeat), np.inf) for s in solvers}
    cpu = {s: np.full((len(suite.instances), args.repeat), np.inf) for s in solvers}
    for i, inst in enumerate(suite.instances):
        graph = suite.graph(inst)
        for rep in range(args.repeat):
            for name in solvers if rep % 2 == 0 else solvers[::-1]:
                start, start_cpu = time.perf_counter(), time.process_time()
                result = respect_gym.solve(graph, inst.num_stages, name, objective=inst.objective,
                                           revision=revision, **options)
                times[name][i, rep] = time.perf_counter() - start
                cpu[name][i, rep] = time.process_time() - start_cpu
                if rep == 0:
                    values[name].append(result.objective_value)
    n = len(suite.instances)
    for name in solvers:
        gaps = [v / inst.reference.value - 1 for v, inst in zip(values[name], suite.instances) if inst.optimal]
        better = sum(v < inst.compiler.value - 1e-12 for v, inst in zip(values[name], suite.instances))
        best, best_cpu = times[name].min(axis=1), cpu[name].min(axis=1)
        print(f"{name} on {args.suite}: {n} instances, {len(gaps)} with a proven optimum; gap to it mean "
              f"{np.mean(gaps):.1%}, median {np.median(gaps):.1%}, max {np.max(gaps):.1%}; better than compiler "
              f"{better}/{n} ({better / n:.1%}); solve time median {1e3 * np.median(best):.1f} ms, "
              f"max {1e3 * best.max():.0f} ms; CPU time median {1e3 * np.median(best_cpu):.1f} ms, max "
              f"{1e3 * best_cpu.max():.0f} ms" + (f" (fastest of {args.repeat})" if args.repeat > 1 else ""))


if __name__ == "__main__":
    main()
