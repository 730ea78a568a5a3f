"""Tables of the order policy's evaluation: where the order matters, and what the policy does there.

Reads the rows ``respect-gym-agents evaluate order --only --json FILE`` (or
``benchmarks/agent_generalisation.py --agents order_pointer order_plain_cut --json FILE``) wrote and
prints, per granularity, the gaps of ``order_pointer`` (the policy's greedy order, cut optimally)
and of ``order_plain_cut`` (the same cut of the plain topological order: no learning) to the optimum,
then every instance where either is off the optimum or where they differ.

The optimum of an instance is the smaller of the row's ``exact`` value and, with ``--reference``,
the ``exact`` value of the same instance in another evaluation file (both are values of feasible
schedules, so the smaller is the better upper bound; a run on a loaded machine can leave exact
unproven at its time limit where an earlier run proved it). ``--time``: the policy's own time per
instance (features, encoder and greedy decoding of a zoo graph; the best of ``--repeats`` runs in
this process, so that other load on the machine is not counted) and the order cut's, one thread.

    python -m respect_gym_agents.order_report agents/results/order_pointer/zoo.json \\
        --reference agents/results/zoo_agents.json --time
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import respect_gym
from respect_gym.problem.instance import Instance

from respect_gym_agents import checkpoints
from respect_gym_agents.order_policy import OrderGraph, order_cut
from respect_gym_agents.order_solver import NAME, policy

CONTROL = "order_plain_cut"
TOLERANCE = 1e-6  # relative: "at the optimum", "the same value"


def key(row: dict[str, Any]) -> tuple[str, str, int]:
    """An instance's name: zoo rows by model and granularity, generalisation rows by graph file."""
    return row.get("model") or row["graph"], row.get("granularity", ""), int(row["k"])


def optima(rows: list[dict[str, Any]], reference: list[dict[str, Any]] | None = None) -> list[float]:
    """Per row: the best known value (module docstring)."""
    known = {key(r): r["exact_ms"] for r in reference or []}
    return [min(r["exact_ms"], known.get(key(r), float("inf"))) for r in rows]


def gaps(rows: list[dict[str, Any]], best: list[float], name: str) -> list[float]:
    """``name``'s gap to the best known value, % per row."""
    return [100.0 * (r[f"{name}_ms"] / b - 1.0) for r, b in zip(rows, best)]


def policy_seconds(rows: list[dict[str, Any]], repeats: int) -> tuple[list[float], list[float]]:
    """Per zoo row: the best of ``repeats`` times of the policy (features + encoder + decoding) and
    one time of the order's optimal cut."""
    numpy_policy, _ = policy(str(checkpoints.shipped(NAME)))
    decode, cut = [], []
    for row in rows:
        instance = Instance.build(respect_gym.load_graph(row["model"], row["granularity"]), int(row["k"]))
        numpy_policy.decode(OrderGraph.of(instance))  # loads the compiled decoder and the instance's tables once
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            order, _ = numpy_policy.decode(OrderGraph.of(instance))
            times.append(time.perf_counter() - start)
        decode.append(min(times))
        start = time.perf_counter()
        order_cut(instance, order)
        cut.append(time.perf_counter() - start)
    return decode, cut


def report(rows: list[dict[str, Any]], reference: list[dict[str, Any]] | None = None, repeats: int = 0) -> str:
    """The markdown tables (module docstring)."""
    best = optima(rows, reference)
    lines = ["| granularity | instances | row | at the optimum | mean gap % | max gap % | better than compiler |",
             "|---|---|---|---|---|---|---|"]
    groups = sorted({r.get("granularity", "") for r in rows})
    for granularity in groups:
        ids = [i for i, r in enumerate(rows) if r.get("granularity", "") == granularity]
        part, part_best = [rows[i] for i in ids], [best[i] for i in ids]
        for name in (NAME, CONTROL):
            g = gaps(part, part_best, name)
            better = sum(r[f"{name}_ms"] < r["compiler_ms"] * (1 - 1e-9) for r in part)
            lines.append(f"| {granularity or '-'} | {len(part)} | `{name}` | {sum(x <= 100 * TOLERANCE for x in g)} | "
                         f"{statistics.fmean(g):.2f} | {max(g):.2f} | {100.0 * better / len(part):.1f}% |")
    lines += ["", "| instance | K | nodes | plain order gap % | `order_pointer` gap % |", "|---|---|---|---|---|"]
    plain, pointer = gaps(rows, best, CONTROL), gaps(rows, best, NAME)
    for r, p, q in zip(rows, plain, pointer):
        same = abs(r[f"{NAME}_ms"] - r[f"{CONTROL}_ms"]) <= TOLERANCE * r[f"{CONTROL}_ms"]
        if p > 100 * TOLERANCE or not same:
            name = " ".join(x for x in key(r)[:2] if x)
            lines.append(f"| {name} | {r['k']} | {r['nodes']} | {p:.2f} | {q:.2f} |")
    better = sum(q < p - 100 * TOLERANCE for p, q in zip(plain, pointer))
    worse = sum(q > p + 100 * TOLERANCE for p, q in zip(plain, pointer))
    lines += ["", f"`order_pointer` better than the plain order on {better} of {len(rows)} instances, worse on {worse}."]
    if repeats:
        decode, cut = policy_seconds(rows, repeats)
        lines.append(f"Policy alone (features, encoder, greedy decoding; best of {repeats}): median "
                     f"{1e3 * statistics.median(decode):.1f} ms, max {1e3 * max(decode):.1f} ms; the order's optimal cut: "
                     f"median {1e3 * statistics.median(cut):.0f} ms, max {1e3 * max(cut):.0f} ms.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", help="the JSON rows of an evaluation with the order_pointer and order_plain_cut columns")
    parser.add_argument("--reference", default=None, help="another evaluation's rows: their exact values count too")
    parser.add_argument("--time", action="store_true", help="time the policy and the cut per zoo instance")
    parser.add_argument("--repeats", type=int, default=5, help="with --time: runs per instance, the best counts")
    args = parser.parse_args(argv)
    rows = json.loads(Path(args.rows).read_text())
    missing = [c for c in (f"{NAME}_ms", f"{CONTROL}_ms") if c not in rows[0]]
    if missing:
        parser.error(f"{args.rows} has no {missing} columns; make it with `respect-gym-agents evaluate order --only`")
    reference = json.loads(Path(args.reference).read_text()) if args.reference else None
    print(report(rows, reference, args.repeats if args.time else 0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
