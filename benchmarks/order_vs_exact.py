"""Where does the order matter? The optimal cut of the plain topological order against the optimum.

``RespectOrder-v1`` (RESPECT's formulation) asks the agent for a node order and cuts it optimally
into K stages. Every schedule is the cut of some order, so the best order reaches the optimum; this
table shows how far the plain topological order (``graph.topological_order``: Kahn's algorithm,
smallest index first, what an agent playing the smallest ready index gets) is from it, per zoo
model, granularity and K, and what the best of ``--random-orders`` random topological orders
(random-key decoding, :func:`respect_gym.solvers.cuts.key_order`) reaches: the room an ordering
policy has. With ``--pointer``, the order policy of ``respect_gym_agents`` (the ``order_pointer``
solver's shipped checkpoint, or ``--checkpoint``) too: the cut of its greedy order, by the same rule
as the plain order's (the ``agents`` extra).

Columns: ``topo``: objective of the best cut of the plain order (``Objective.best_cut``, the exact
DP for every size as ``RespectOrder-v1`` cuts by default; with ``--dp-max-nodes 500``, the solvers'
re-cut setting, larger orders get the bisection heuristic, marked ``*``); ``random``: best cut over the
random orders; ``exact``: ``respect_gym.solve(g, K, "exact", time_limit=...)`` (``proven``: optimal
with a certificate; otherwise its best, and gaps against it can be negative); gaps in % of exact.
``--reference FILE`` (rows an earlier run wrote with ``--json``): where that run's exact found a
smaller value for the same instance, it is the one gaps are taken against (``exact_source``, marked ``r``), since
exact under a time limit on a loaded machine can stop far from an optimum an earlier run proved.

    python benchmarks/order_vs_exact.py                                   # zoo, fused + layers, K = 4, 8
    python benchmarks/order_vs_exact.py --models resnet50 densenet121 --ks 2 4 8 --granularity layers
    python benchmarks/order_vs_exact.py --json order_vs_exact.json
    python benchmarks/order_vs_exact.py --granularity layers --ks 8 --pointer \
        --reference benchmarks/results/order_vs_exact.json                # + the pointer policy
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from respect_gym.cost.model import CostModel
from respect_gym.problem.objectives import get_objective
from respect_gym.solvers import solve
from respect_gym.solvers.cuts import DP_MAX_NODES, key_order
from respect_gym.solvers.stagecost import BatchStageCost
from respect_gym.zoo import GRANULARITIES, PAPER_PREFIX, list_models, load_graph

EXACT_TOL = 1e-6  # relative: "topo cuts to the optimum"


def pointer_order(checkpoint: str, graph, k: int) -> tuple[np.ndarray, float]:
    """The order policy's greedy order of ``(graph, k)`` and the seconds it took (encoder + decoding:
    the second decode, as a process's first one also loads the compiled decoder, ~0.1 s once)."""
    from respect_gym.problem.instance import Instance
    from respect_gym_agents.order_policy import OrderGraph
    from respect_gym_agents.order_solver import policy

    numpy_policy, _ = policy(checkpoint)
    inputs = OrderGraph.of(Instance.build(graph, k))
    numpy_policy.decode(inputs)
    start = time.perf_counter()
    order, _ = numpy_policy.decode(inputs)
    return order, time.perf_counter() - start


def run(model: str, granularity: str, k: int, objective: str, time_limit: float, random_orders: int,
        seed: int, dp_max_nodes: int | None = None, checkpoint: str | None = None) -> dict:
    graph = load_graph(model, granularity=granularity)
    cm = CostModel(graph)
    batch, goal = BatchStageCost(cm), get_objective(objective)
    dp_max = dp_max_nodes or graph.num_nodes
    t0 = time.perf_counter()
    topo, _ = goal.best_cut(cm, batch, graph.topological_order, k, dp_max_nodes=dp_max)
    topo_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    best_random = np.inf
    for _ in range(random_orders):
        value, _ = goal.best_cut(cm, batch, key_order(graph, rng.random(graph.num_nodes)), k, dp_max_nodes=dp_max)
        best_random = min(best_random, value)
    result = solve(graph, k, "exact", time_limit=time_limit, objective=objective)
    exact = float(result.objective_value)
    pointer = {}
    if checkpoint is not None:
        order, order_s = pointer_order(checkpoint, graph, k)
        value, _ = goal.best_cut(cm, batch, order, k, dp_max_nodes=dp_max)
        pointer = {"pointer": float(value), "pointer_gap_pct": 100 * (value / exact - 1), "pointer_order_seconds": order_s}
    return {**pointer, "model": model, "granularity": granularity, "num_nodes": graph.num_nodes, "num_stages": k,
            "topo": float(topo), "topo_seconds": topo_s, "heuristic_cut": graph.num_nodes > dp_max,
            "random": float(best_random), "random_orders": random_orders, "exact": exact,
            "proven": bool(result.optimal), "exact_seconds": float(result.seconds),
            "topo_gap_pct": 100 * (topo / exact - 1), "random_gap_pct": 100 * (best_random / exact - 1)}


def use_reference(row: dict, reference: dict[tuple[str, str, int], dict]) -> None:
    """Take the reference run's exact value (and proof) where it is smaller; recompute the gaps."""
    ref = reference.get((row["model"], row["granularity"], row["num_stages"]))
    if ref is None or not ref["exact"] < row["exact"]:
        return
    row.update(exact=ref["exact"], proven=ref["proven"], exact_source="reference")
    for name in ("topo", "random", "pointer"):
        if name in row:
            row[f"{name}_gap_pct"] = 100 * (row[name] / row["exact"] - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None, help="zoo models (default: every Keras zoo model)")
    parser.add_argument("--granularity", nargs="*", default=list(GRANULARITIES), choices=GRANULARITIES)
    parser.add_argument("--ks", nargs="*", type=int, default=[4, 8], help="numbers of stages")
    parser.add_argument("--objective", default="period", choices=("period", "latency"))
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds for the exact solver per instance")
    parser.add_argument("--random-orders", type=int, default=16, help="random topological orders cut per instance")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dp-max-nodes", type=int, default=None,
                        help=f"cut larger orders by bisection (the solvers' re-cut: {DP_MAX_NODES}); default: always the DP")
    parser.add_argument("--pointer", action="store_true", help="add the order policy's greedy order (agents extra)")
    parser.add_argument("--checkpoint", default=None, help="its checkpoint (default: order_pointer's shipped one)")
    parser.add_argument("--reference", default=None, help="an earlier run's rows: its smaller exact values count")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()
    reference = {}
    if args.reference:
        with open(args.reference) as fh:
            reference = {(r["model"], r["granularity"], r["num_stages"]): r for r in json.load(fh)}
    checkpoint = None
    if args.pointer:
        from respect_gym_agents.checkpoints import shipped

        checkpoint = args.checkpoint or str(shipped("order_pointer"))
    models = args.models or [m for m in list_models() if not m.startswith(PAPER_PREFIX)]
    rows = []
    print(f"{'model':<22} {'gran':<6} {'n':>4} {'K':>2} {'topo':>9} {'random':>9} {'exact':>9} {'proven':>6} "
          f"{'topo gap%':>9} {'rand gap%':>9} {'exact s':>7}" + (f" {'pointer':>9} {'ptr gap%':>8}" if checkpoint else ""))
    for granularity in args.granularity:
        for model in models:
            for k in args.ks:
                r = run(model, granularity, k, args.objective, args.time_limit, args.random_orders, args.seed,
                        args.dp_max_nodes, checkpoint)
                use_reference(r, reference)
                rows.append(r)
                star = "*" if r["heuristic_cut"] else " "
                ref = "r" if "exact_source" in r else " "
                print(f"{model:<22} {granularity:<6} {r['num_nodes']:>4} {k:>2} {r['topo']:>8.3f}{star} "
                      f"{r['random']:>9.3f} {r['exact']:>8.3f}{ref} {'yes' if r['proven'] else 'no':>6} "
                      f"{r['topo_gap_pct']:>9.2f} {r['random_gap_pct']:>9.2f} {r['exact_seconds']:>7.2f}"
                      + (f" {r['pointer']:>9.3f} {r['pointer_gap_pct']:>8.2f}" if checkpoint else ""), flush=True)
    print()
    print(f"{'granularity':<11} {'K':>2} {'instances':>9} {'topo exact':>10} {'mean gap%':>9} {'max gap%':>8} "
          f"{'random mean gap%':>16}" + (f" {'pointer exact':>13} {'ptr mean gap%':>13} {'ptr max gap%':>12} "
                                          f"{'ptr < topo':>10} {'ptr > topo':>10} {'ptr ms median/max':>17}"
                                          if checkpoint else ""))
    for granularity in args.granularity:
        for k in args.ks:
            group = [r for r in rows if r["granularity"] == granularity and r["num_stages"] == k]
            if not group:
                continue
            hits = sum(r["topo"] <= r["exact"] * (1 + EXACT_TOL) for r in group)
            gaps = [r["topo_gap_pct"] for r in group]
            line = (f"{granularity:<11} {k:>2} {len(group):>9} {hits:>5}/{len(group):<4} {statistics.mean(gaps):>9.2f} "
                    f"{max(gaps):>8.2f} {statistics.mean(r['random_gap_pct'] for r in group):>16.2f}")
            if checkpoint:
                ptr = [r["pointer_gap_pct"] for r in group]
                ptr_hits = sum(r["pointer"] <= r["exact"] * (1 + EXACT_TOL) for r in group)
                better = sum(r["pointer"] < r["topo"] * (1 - EXACT_TOL) for r in group)
                worse = sum(r["pointer"] > r["topo"] * (1 + EXACT_TOL) for r in group)
                ms = [1e3 * r["pointer_order_seconds"] for r in group]
                line += (f" {ptr_hits:>8}/{len(group):<4} {statistics.mean(ptr):>13.2f} {max(ptr):>12.2f} "
                         f"{better:>10} {worse:>10} {statistics.median(ms):>8.1f}/{max(ms):<8.1f}")
            print(line)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
