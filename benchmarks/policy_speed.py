"""Solve time of the learned policies alone, on the instances of the agents' zoo table.

    python benchmarks/policy_speed.py                          # cut_imitation, cut_ppo, ~1 min
    python benchmarks/policy_speed.py --solvers cut_imitation order_pointer --repeats 5

Every Keras zoo model fused x K in {2, 4, 6, 8} and layers at K=4
(:func:`respect_gym_agents.evaluation.instances`), one process, one thread, the solvers loaded
first (one discarded solve each). Each instance is solved ``--repeats`` times and its time is the
median of them, so a burst of other work on the machine moves one repeat, not the figure; the
table gives the median and maximum over instances, the largest graph's time, and the same for
``compiler`` (the vendor heuristic, a parameter-count split: the reference, measured in the same
run). Times are ``solve()``'s wall time: building the instance (cost-model tables, compiler split)
and the policy's episode. The agents' evaluation (``respect-gym-agents evaluate``) times one
solve per instance beside the other solvers' work; this script is where the speed figures are
measured on their own.
"""

from __future__ import annotations

import argparse
import statistics

from rich.console import Console
from rich.table import Table

import respect_gym
from respect_gym.generators import DnnGraphGenerator
from respect_gym_agents import cut_solver, order_solver
from respect_gym_agents.evaluation import instances


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solvers", nargs="+", default=["cut_imitation", "cut_ppo"],
                        help="policy solvers to time (compiler is always timed as the reference)")
    parser.add_argument("--repeats", type=int, default=3, help="solves per instance; the median counts")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    cut_solver.register()
    order_solver.register()
    solvers = ["compiler", *args.solvers]
    warm = DnnGraphGenerator(seed=0, num_nodes=30)(0)
    for name in solvers:
        respect_gym.solve(warm, 2, name)
    times: dict[str, dict[tuple[str, str, int], float]] = {name: {} for name in solvers}
    nodes: dict[tuple[str, str, int], int] = {}
    for model, granularity, k in instances():
        graph = respect_gym.load_graph(model, granularity)
        nodes[(model, granularity, k)] = graph.num_nodes
        for name in solvers:
            runs = [respect_gym.solve(graph, k, name).seconds for _ in range(args.repeats)]
            times[name][(model, granularity, k)] = statistics.median(runs)
    table = Table(title=f"solve() wall time, median of {args.repeats} per instance, one thread (ms)")
    for column in ("solver", "granularity", "instances", "median", "max", "max at", "largest graph"):
        table.add_column(column)
    for name in solvers:
        for granularity in ("fused", "layers"):
            part = {key: t for key, t in times[name].items() if key[1] == granularity}
            slowest = max(part, key=part.get)
            largest = max(part, key=lambda key: (nodes[key], part[key]))
            table.add_row(name, granularity, str(len(part)), f"{1e3 * statistics.median(part.values()):.1f}",
                          f"{1e3 * part[slowest]:.1f}", f"{slowest[0]} K={slowest[2]} ({nodes[slowest]} nodes)",
                          f"{largest[0]} K={largest[2]} ({nodes[largest]} nodes): {1e3 * part[largest]:.1f}")
    Console(width=160).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
