"""Wall time of expert labelling and of a suite run (1 vs 2 workers, process pool vs Ray), and
RLlib's sampling rate with 1 vs 2 env-runner actors.

The two jobs that :mod:`respect_gym.parallel` spreads over machines, each run four ways on this
machine: one worker (inline; a one-worker Ray), two workers (process pool; Ray with 2 CPUs).
Ray's start-up (``ray.init``, once per run of a command) is timed apart from the job itself.
Outputs are checked to be identical across the four (labels: the cache file's bytes; the suite
run: the submission without its measured seconds). RLlib: env steps per second of training
(``respect_gym_agents.rllib_train`` defaults), after the first iteration.

    python benchmarks/parallel_scaling.py                                   # 64 labels, zoo-v0 x slicegraph
    python benchmarks/parallel_scaling.py --labels 256 --suite layers-v0 --solver profiling
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import ray
from rich.console import Console
from rich.table import Table

from respect_gym.leaderboard.run import Method, run
from respect_gym_agents.labels import label, training_specs
from respect_gym_agents.rllib_train import RLlibConfig, train

SETUPS = (("local", 1), ("local", 2), ("ray", 1), ("ray", 2))


def _labelling(count: int, workers: int, ray_address: str | None, folder: Path) -> bytes:
    label(training_specs(count, seed=11), folder, workers=workers, ray_address=ray_address)
    (path,) = folder.iterdir()
    return path.read_bytes()


def _suite(suite: str, solver: str, workers: int, ray_address: str | None, folder: Path) -> bytes:
    out = run(suite, folder / "submission.json", Method(solver), solver=solver, time_limit=20.0, workers=workers,
              ray_address=ray_address)
    data = json.loads(out.read_text())
    for entry in data["results"]:
        entry["seconds"] = 0
    data["harness"]["command"] = data["machine"] = ""
    return json.dumps(data, sort_keys=True).encode()


def measure(job: str, args: argparse.Namespace) -> list[dict]:
    """One row per setup: wall seconds of the job, Ray's start-up, identical output."""
    rows, reference = [], None
    for backend, workers in SETUPS:
        init_s = 0.0
        if backend == "ray":
            start = time.perf_counter()
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            init_s = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            address = "auto" if backend == "ray" else None
            output = (_labelling(args.labels, workers, address, Path(tmp)) if job == "labelling"
                      else _suite(args.suite, args.solver, workers, address, Path(tmp)))
            seconds = time.perf_counter() - start
        if backend == "ray":
            ray.shutdown()
        reference = reference or output
        rows.append({"job": job, "backend": backend, "workers": workers, "seconds": seconds, "ray_init_s": init_s,
                     "identical": output == reference})
    return rows


def rllib_rates(iterations: int) -> list[dict]:
    """Env steps per second of RLlib training with 1 and 2 env runners (first iteration excluded)."""
    rows = []
    for runners in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            curve = train(RLlibConfig(iterations=iterations, env_runners=runners, checkpoint_every=0), tmp)
        first, last = curve[0], curve[-1]
        rows.append({"job": "rllib", "backend": "ray", "workers": runners,
                     "steps_per_s": (last["env_steps"] - first["env_steps"]) / (last["wall_s"] - first["wall_s"])})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=64, help="synthetic (graph, K) pairs labelled by exact")
    parser.add_argument("--suite", default="zoo-v0")
    parser.add_argument("--solver", default="slicegraph")
    parser.add_argument("--rllib-iterations", type=int, default=8, help="RLlib iterations per setup (0: skip)")
    parser.add_argument("--json", metavar="OUT", help="write the rows as JSON")
    args = parser.parse_args(argv)
    rows = measure("labelling", args) + measure("suite", args)
    rates = rllib_rates(args.rllib_iterations) if args.rllib_iterations else []
    table = Table(title=f"{args.labels} labels; {args.solver} on {args.suite}")
    for column in ("job", "backend", "workers", "seconds", "speed-up", "ray.init s", "identical"):
        table.add_column(column, justify="left" if column in ("job", "backend") else "right")
    for row in rows:
        base = next(r["seconds"] for r in rows if r["job"] == row["job"] and r["workers"] == 1 and r["backend"] == "local")
        table.add_row(row["job"], row["backend"], str(row["workers"]), f"{row['seconds']:.1f}",
                      f"{base / row['seconds']:.2f}x", f"{row['ray_init_s']:.1f}" if row["backend"] == "ray" else "-",
                      "yes" if row["identical"] else "NO")
    console = Console(width=120)
    console.print(table)
    for rate in rates:
        console.print(f"RLlib, {rate['workers']} env runner(s): {rate['steps_per_s']:.0f} env steps/s", highlight=False)
    if args.json:
        Path(args.json).write_text(json.dumps(rows + rates, indent=1))
    return 0 if all(r["identical"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
