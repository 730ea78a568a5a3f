"""Rendering: an ``"ansi"`` text table of the pipeline and an ``"rgb_array"`` bar chart.

matplotlib is imported only when a picture is asked for; without it the error names the ``viz``
extra to install.
"""

from __future__ import annotations

import numpy as np

from respect_gym.problem.state import Episode

MiB = 1024 * 1024
BAR_WIDTH = 30  # characters of the longest latency bar in the text table


def stage_summary(state: Episode) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-stage running latency (ms), parameter MiB and number of assigned nodes."""
    return (np.asarray(state.stage_ms, dtype=float), np.asarray(state.stage_param_bytes, dtype=float) / MiB,
            np.asarray(state.stage_nodes))


def render_ansi(state: Episode) -> str:
    """The pipeline so far as a text table; ``*`` marks the bottleneck stage."""
    graph = state.instance.graph
    ms, mib, counts = stage_summary(state)
    compiler_ms = state.instance.compiler_report.bottleneck_ms
    slowest = int(np.argmax(ms))
    scale = BAR_WIDTH / max(float(ms.max()), compiler_ms, 1e-12)
    where = "done" if state.done else f"next {graph.names[state.current_node]!r}"
    lines = [
        f"{graph.meta.model} ({graph.meta.granularity}): {state.step}/{graph.num_nodes} nodes, {where}",
        f"{'stage':>5} {'nodes':>6} {'params MiB':>10} {'ms':>9}",
    ]
    for k in range(ms.size):
        mark = "*" if k == slowest and ms[k] > 0 else " "
        bar = "#" * int(round(ms[k] * scale))
        lines.append(f"{k:>5} {counts[k]:>6} {mib[k]:>10.2f} {ms[k]:>9.3f}{mark} {bar}")
    lines.append(f"bottleneck {ms.max():.3f} ms; vendor compiler split {compiler_ms:.3f} ms")
    return "\n".join(lines) + "\n"


def render_rgb(state: Episode) -> np.ndarray:
    """Two bar charts (stage latency vs the compiler's bottleneck, stage parameter MiB vs the TPU
    cache) as an ``(H, W, 3)`` uint8 array."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError as exc:
        raise ImportError(
            "render_mode='rgb_array' needs matplotlib: pip install 'respect-gym[viz]'"
        ) from exc
    ms, mib, _ = stage_summary(state)
    stages = np.arange(ms.size)
    cost_model = state.instance.cost_model
    fig = Figure(figsize=(6.4, 3.2), dpi=80)
    canvas = FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    left.bar(stages, ms, color="tab:blue")
    left.axhline(state.instance.compiler_report.bottleneck_ms, color="tab:red", ls="--", label="compiler")
    left.set(title="stage latency", xlabel="stage (TPU)", ylabel="ms", xticks=stages)
    left.legend(loc="upper right", fontsize=7)
    right.bar(stages, mib, color="tab:green")
    right.axhline(cost_model.hardware.cache_bytes / MiB, color="tab:gray", ls="--", label="cache")
    right.set(title="parameters", xlabel="stage (TPU)", ylabel="MiB", xticks=stages)
    right.legend(loc="upper right", fontsize=7)
    fig.suptitle(f"{state.instance.graph.meta.model}: {state.step}/{state.instance.graph.num_nodes} nodes",
                 fontsize=9)
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
