"""The agents on graphs the zoo does not ship: other input resolutions and imported .tflite models.

    python benchmarks/agent_generalisation.py                       # table, ~2 min on 2 cores
    python benchmarks/agent_generalisation.py --json benchmarks/results/agent_generalisation.json

Graphs (none in any training set, none in the zoo):

- ``benchmarks/graphs/*_299.json.gz`` / ``*_224.json.gz`` / ``*_160.json.gz``: Keras ImageNet
  models rebuilt at another input size than the zoo's (299x299 or 160x160; InceptionV3, whose zoo
  graph is at 299x299, at 224x224) with ``scripts/build_model_zoo.py MODEL --input-size N --out
  benchmarks/graphs``, fused as the Edge TPU runs them (at 299 the largest activations exceed 1 MiB);
- ``tests/fixtures/tflite/mobilenet_025_96.tflite`` and ``mobilenet_v2_035_96.tflite``: models
  written by the real TFLite converter, imported by respect-gym's .tflite importer.

Each at K in {2, 4, 6, 8}: the same row as the zoo table
(:func:`respect_gym_agents.evaluation.evaluate_graph`): gap to ``exact``'s value (proven within the
time limit, else its best, flagged), better than ``compiler``, time per solve; the policies alone
(``cut_imitation``, ``cut_ppo``, the order policy ``order_pointer`` beside its control
``order_plain_cut``, the graph policies' greedy ``*_raw``) first, then the re-cut rows and the
no-learning control. ``--agents`` picks rows, e.g. ``--agents order_pointer order_plain_cut``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import respect_gym
from respect_gym.parallel import map_tasks
from respect_gym_agents import checkpoints
from respect_gym_agents.evaluation import AGENTS, evaluate_graph, summary, warm_up

ROOT = Path(__file__).resolve().parents[1]
GRAPHS = sorted((ROOT / "benchmarks" / "graphs").glob("*.json.gz"))
TFLITE = [ROOT / "tests" / "fixtures" / "tflite" / f for f in ("mobilenet_025_96.tflite", "mobilenet_v2_035_96.tflite")]
KS = (2, 4, 6, 8)


def _row(task: tuple[str, int, float, tuple[str, ...]]) -> dict:
    from respect_gym_agents import cut_solver, order_solver, solver

    solver.register()
    cut_solver.register()
    order_solver.register()
    path, k, limit, agents = task
    imitation = str(checkpoints.shipped("imitation"))
    warm_up(imitation, str(checkpoints.shipped("ppo")), agents)  # times of loaded solvers, as in the zoo table
    return {"graph": Path(path).name, **evaluate_graph(respect_gym.load_graph(path), k, imitation, limit, agents=agents)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=10.0, help="exact's limit per instance (s)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", default=None, help="write the rows here")
    parser.add_argument("--agents", nargs="+", choices=AGENTS, default=list(AGENTS), help="the rows (default: all)")
    args = parser.parse_args(argv)
    agents = tuple(args.agents)
    tasks = [(str(p), k, args.time_limit, agents) for p in [*GRAPHS, *TFLITE] for k in KS]
    rows = map_tasks(_row, tasks, names=[f"{Path(p).name}/K={k}" for p, k, *_ in tasks], workers=args.workers,
                     description="instances")
    unproven = [f"{r['graph']} K={r['k']}" for r in rows if not r["exact_proven"]]
    print(f"{len(rows)} instances ({len(GRAPHS)} rebuilt Keras graphs, {len(TFLITE)} imported .tflite models, "
          f"K in {KS}); exact proven on {len(rows) - len(unproven)}{': unproven ' + ', '.join(unproven) if unproven else ''}")
    print("| solver | mean / max gap % | better than compiler | median / max ms |")
    print("|---|---|---|---|")
    for name in agents:
        s = summary(rows, name)
        print(f"| {name} | {s['mean_gap_pct']:.2f} / {s['max_gap_pct']:.1f} | {s['better_than_compiler_pct']:.1f}% | "
              f"{s['median_ms_per_graph']:.0f} / {s['max_ms_per_graph']:.0f} |")
    print(f"graph sizes (fused nodes): {sorted({r['nodes'] for r in rows})}; median "
          f"{statistics.median(r['nodes'] for r in rows)}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
