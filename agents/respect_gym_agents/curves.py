"""Learning curves of training runs: validation score against environment steps (and wall time), as one PNG.

Reads each run folder written by :func:`respect_gym_agents.ppo.train` (``validation.csv``,
``references.json``) and draws the greedy policy's mean validation score (speed-up over the
compiler minus one, on held-out synthetic graphs) with the compiler (score 0), the ``random``
solver and the proven optimum (``exact``) as reference lines, and beside it the share of
validation graphs on which the policy beats the compiler; runs that log wall time (``seconds``:
every run since the cut policies) also get the score against wall time. The cut policies' runs
(``train cut`` / ``train cut-ppo --logdir``) write the same two files. An order-policy run
(``train order --logdir``) logs gaps to the optimum instead; :func:`plot_gaps` draws it.

    respect-gym-agents plot --runs agents/results/ppo_dense agents/results/ppo_terminal \\
        --out agents/results/ppo_learning_curve.png
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path
from typing import Sequence


def read_run(folder: str | os.PathLike) -> tuple[list[dict[str, float]], dict]:
    """The validation rows and the reference scores of one run folder."""
    folder = Path(folder)
    with open(folder / "validation.csv", newline="") as fh:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]
    return rows, json.loads((folder / "references.json").read_text())


def plot(runs: Sequence[str | os.PathLike], out: str | os.PathLike, labels: Sequence[str] | None = None,
         title: str | None = None) -> Path:
    """Write the learning-curve PNG of ``runs`` to ``out`` (needs matplotlib: the ``viz`` extra)."""
    plt = _pyplot()
    labels = list(labels) if labels else [Path(r).name for r in runs]
    if len(labels) != len(runs):
        raise ValueError(f"{len(runs)} runs but {len(labels)} labels")
    data = [read_run(r) for r in runs]
    refs = data[0][1]
    for (_, other), label in zip(data[1:], labels[1:]):
        if other.get("per_graph", {}).get("exact") != refs.get("per_graph", {}).get("exact"):
            raise ValueError(f"run {label!r} was validated on other graphs than {labels[0]!r}: curves not comparable")
    timed = all("seconds" in rows[0] for rows, _ in data)
    fig, axes = plt.subplots(1, 3 if timed else 2, figsize=(18 if timed else 12, 4.5))
    ax_score, ax_better = axes[0], axes[1]
    for (rows, _), label in zip(data, labels):
        steps = [r["steps"] for r in rows]
        ax_score.plot(steps, [r["score_mean"] for r in rows], marker=".", label=label)
        ax_better.plot(steps, [r["better_pct"] for r in rows], marker=".", label=label)
        if timed:
            axes[2].plot([r["seconds"] for r in rows], [r["score_mean"] for r in rows], marker=".", label=label)
    for value, name, style in ((refs["exact_mean"], "proven optimum (exact)", "--"),
                               (0.0, "compiler (score 0)", "-"), (refs["random_mean"], "random solver", ":")):
        for ax in (ax_score, axes[2]) if timed else (ax_score,):
            ax.axhline(value, color="black", linestyle=style, linewidth=1, label=f"{name}: {value:+.3f}")
    if timed:
        axes[2].set_xlabel("wall time of the run (s, one process)")
        axes[2].set_ylabel("mean validation score")
        axes[2].legend(fontsize=8)
        axes[2].grid(alpha=0.3)
    ax_score.set_xlabel("environment steps (policy decisions)")
    ax_score.set_ylabel("mean validation score (speed-up over compiler - 1)")
    ax_score.legend(fontsize=8)
    ax_score.grid(alpha=0.3)
    ax_better.axhline(100.0, color="black", linestyle="--", linewidth=1)
    ax_better.set_xlabel("environment steps (policy decisions)")
    ax_better.set_ylabel("beats the compiler (% of validation graphs)")
    ax_better.set_ylim(0, 105)
    ax_better.legend(fontsize=8)
    ax_better.grid(alpha=0.3)
    fig.suptitle(title or f"{refs['env_id']}: greedy policy on {refs['graphs']} held-out synthetic graphs (K 2..8)")
    return _save(plt, fig, out)


def plot_gaps(run: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the learning-curve PNG of an order-policy run (``train order --logdir``): the greedy
    policy's mean gap to the optimum on its held-out instances against env steps and wall time,
    phase by phase (imitation, DAgger, REINFORCE), with the optimum (0%), the plain topological
    order's cut, the compiler's split and the random solver on the same instances (needs
    matplotlib: the ``viz`` extra)."""
    plt = _pyplot()
    run = Path(run)
    with open(run / "validation.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    refs = json.loads((run / "references.json").read_text())
    lines = ((0.0, "proven optimum (exact)", "--"), (refs["plain_order_gap_mean_pct"], "plain order, cut optimally", "-."),
             (refs["compiler_gap_mean_pct"], "compiler", "-"), (refs["random_gap_mean_pct"], "random solver", ":"))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, x, label in ((axes[0], "steps", "environment steps (policy decisions)"),
                         (axes[1], "seconds", "wall time of the run (s, one process)")):
        ax.plot([float(r[x]) for r in rows], [float(r["gap_mean_pct"]) for r in rows], marker=".", label=run.name)
        for row in rows:
            ax.annotate(row["phase"], (float(row[x]), float(row["gap_mean_pct"])), fontsize=7, xytext=(2, 4),
                        textcoords="offset points")
        for value, name, style in lines:
            ax.axhline(value, color="black", linestyle=style, linewidth=1, label=f"{name}: {value:.2f}%")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_xlabel(label)
        ax.set_ylabel("mean gap to the optimum (%, symlog)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{refs['env_id']}: greedy order, cut optimally, on {refs['graphs']} held-out synthetic graphs")
    return _save(plt, fig, out)


def _pyplot():
    """matplotlib's pyplot on the file-only backend (matplotlib is in the ``viz`` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is in the viz extra
        raise ImportError("plotting needs matplotlib: pip install -e '.[viz]'") from exc
    return plt


def _save(plt, fig, out: str | os.PathLike) -> Path:
    """Lay out ``fig``, write it to ``out`` as a PNG and free it."""
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def add_plot_parser(subparsers) -> None:
    """``respect-gym-agents plot``."""
    p = subparsers.add_parser("plot", help="learning-curve PNG of PPO run folders")
    p.add_argument("--runs", nargs="+", required=True, help="run folders (train ppo --logdir)")
    p.add_argument("--labels", nargs="+", default=None, help="legend names (default: folder names)")
    p.add_argument("--out", default="agents/results/ppo_learning_curve.png")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> None:
    # an order-policy run logs gaps and no scores (score runs log both)
    gap_runs = [r for r in args.runs if "score_mean" not in (Path(r) / "validation.csv").read_text().splitlines()[0]]
    if gap_runs and len(args.runs) > 1:
        raise SystemExit(f"respect-gym-agents plot: {gap_runs[0]} is an order-policy run (gaps, not scores): plot it alone")
    print(f"wrote {plot_gaps(args.runs[0], args.out) if gap_runs else plot(args.runs, args.out, args.labels)}")
