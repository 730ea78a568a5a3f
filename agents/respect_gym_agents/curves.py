"""Learning curves of training runs: validation score against environment steps (and wall time), as one PNG.

Reads each run folder written by :func:`respect_gym_agents.ppo.train` (``validation.csv``,
``references.json``) and draws the greedy policy's mean validation score (speed-up over the
compiler minus one, on held-out synthetic graphs) with the compiler (score 0), the ``random``
solver and the proven optimum (``exact``) as reference lines, and beside it the share of
validation graphs on which the policy beats the compiler; runs that log wall time (``seconds``:
every run since the cut policies) also get the score against wall time. The cut policies' runs
(``train cut`` / ``train cut-ppo --logdir``) write the same two files.

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
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is in the viz extra
        raise ImportError("plotting needs matplotlib: pip install -e '.[viz]'") from exc
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
    print(f"wrote {plot(args.runs, args.out, args.labels)}")
