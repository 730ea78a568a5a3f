"""Figures of ``respect-gym schedule --plot`` (matplotlib, the ``viz`` extra, imported lazily).

:func:`plot_schedule`: each TPU's time split into compute, weight streaming, host transfers and
invoke overhead, beside the vendor compiler's split of the same model; below, the ops in pipeline
order (height: int8 parameter MiB, colour: stage), the heaviest ones named, and at every cut the
tensors crossing it with their sizes. :func:`plot_sweep`: throughput and one input's latency
against the number of TPUs, for the solver and the vendor split, the chosen K marked.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from respect_gym.cli.outputs import save_figure
from respect_gym.graph import Graph
from respect_gym.solvers import SolveResult

PARTS = ("compute", "streaming", "transfers", "invoke")
HEAVY_OPS = 6  # ops named in the pipeline view: the heaviest by parameter bytes


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'respect-gym[viz]'") from None
    return plt


def _parts(result: SolveResult) -> np.ndarray:
    """(4, K) ms: compute, streaming, transfers and the rest (invoke overhead) of every stage."""
    r = result.report
    total = np.asarray(r.stage_ms, dtype=float)
    compute, stream, transfer = (np.asarray(x, dtype=float) for x in (r.stage_compute_ms, r.stage_stream_ms,
                                                                      r.stage_transfer_ms))
    return np.vstack([compute, stream, transfer, np.maximum(total - compute - stream - transfer, 0.0)])


def cut_tensors(graph: Graph, stages: np.ndarray) -> list[list[tuple[int, int]]]:
    """Per boundary b (between stage b and b + 1): ``(node, out_bytes)`` of every tensor that
    crosses it (produced at stage <= b, read at a stage > b; it goes through the host), largest first."""
    k = int(stages.max()) + 1 if stages.size else 1
    last_reader = np.array(stages, copy=True)
    for u, v in graph.edges.tolist():
        last_reader[u] = max(last_reader[u], stages[v])
    cuts: list[list[tuple[int, int]]] = [[] for _ in range(max(k - 1, 0))]
    for u in range(graph.num_nodes):
        for b in range(int(stages[u]), int(last_reader[u])):
            cuts[b].append((u, int(graph.out_bytes[u])))
    return [sorted(c, key=lambda t: -t[1]) for c in cuts]


def _size(nbytes: float) -> str:
    return f"{nbytes / 2**20:.2f} MiB" if nbytes >= 2**20 else f"{nbytes / 1024:.1f} KiB"


def plot_schedule(graph: Graph, result: SolveResult, vendor: SolveResult | None, path: str) -> None:
    """Write the schedule figure (see the module doc) to ``path``."""
    plt = _pyplot()
    k = result.num_stages
    fig = plt.figure(figsize=(13, 8.5))
    grid = fig.add_gridspec(2, 1, height_ratios=[1, 1.15], hspace=0.45)
    bars, ops = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    colours = plt.get_cmap("tab10")
    part_colours = ("#4c72b0", "#dd8452", "#55a868", "#8c8c8c")

    # Top: per-TPU stacked bars, this schedule (solid) beside the vendor split (hatched).
    x = np.arange(k)
    runs = [(result, f"{result.solver}", None, -0.2 if vendor is not None and vendor is not result else 0.0)]
    if vendor is not None and vendor is not result:
        runs.append((vendor, "vendor split (compiler)", "//", 0.2))
    width = 0.38 if len(runs) == 2 else 0.6
    for run, label, hatch, offset in runs:
        bottom = np.zeros(k)
        for part, values, colour in zip(PARTS, _parts(run), part_colours):
            bars.bar(x + offset, values, width, bottom=bottom, color=colour, hatch=hatch, edgecolor="white",
                     label=part if hatch is None else None)
            bottom += values
        used = k - len(run.report.empty_stages)
        host = run.report.period_ms > run.report.bottleneck_ms * (1 + 1e-9)
        note = f" (host-bound: {used} x {run.report.period_ms / used:.3f} ms)" if host else ""
        bars.axhline(run.report.period_ms, color="k" if hatch is None else "0.45", ls="-" if hatch is None else "--",
                     lw=1.2, label=f"{label}: period {run.report.period_ms:.2f} ms{note}")
    if len(runs) == 2:
        from matplotlib.patches import Patch

        handles, labels = bars.get_legend_handles_labels()
        handles.append(Patch(facecolor="white", edgecolor="0.3", hatch="//"))
        labels.append("vendor split's stages (hatched)")
    bars.set_xticks(x, [f"TPU {s}" for s in range(k)])
    bars.set_ylabel("time per inference (ms)")
    title = f"{graph.meta.model} on {k} Edge TPUs ({result.report.hardware}): {result.solver} period " \
            f"{result.report.period_ms:.2f} ms"
    if vendor is not None and vendor is not result:
        title += f", {vendor.report.period_ms / result.report.period_ms:.2f}x the vendor split's throughput"
    bars.set_title(title)
    if len(runs) == 2:
        bars.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        bars.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    bars.set_ylim(0, max(max(r.report.bottleneck_ms, r.report.period_ms) for r, *_ in runs) * 1.12)

    # Bottom: the ops in pipeline order (stage, then topological order), height = parameter MiB.
    stages = np.asarray(result.stages)
    position = {int(v): i for i, v in enumerate(graph.topological_order)}
    order = sorted(range(graph.num_nodes), key=lambda v: (stages[v], position[v]))
    mib = np.asarray(graph.param_bytes, dtype=float)[order] / 2**20
    ops.bar(np.arange(len(order)), np.maximum(mib, 0), width=1.0, color=[colours(int(stages[v]) % 10) for v in order])
    top = max(float(mib.max()), 1e-3)
    ops.set_ylim(0, top * 2.9)
    ops.set_xlim(-0.5, len(order) - 0.5)
    ops.set_ylabel("int8 parameters (MiB)")
    heavy = set(sorted(range(graph.num_nodes), key=lambda v: -graph.param_bytes[v])[:HEAVY_OPS])
    for i, v in enumerate(order):
        if v in heavy and graph.param_bytes[v] > 0:
            ops.annotate(graph.names[v], (i, mib[i]), xytext=(0, 3), textcoords="offset points", rotation=90,
                         fontsize=7, ha="center", va="bottom")
    bounds = np.searchsorted(stages[order], np.arange(1, k))  # first op index of each later stage
    starts = np.concatenate([[0], bounds, [len(order)]])
    from matplotlib.patches import Patch

    ops.legend([Patch(color=colours(s % 10)) for s in range(k) if starts[s + 1] > starts[s]],
               [f"stage {s}: {result.report.stage_num_ops[s]} ops" for s in range(k) if starts[s + 1] > starts[s]],
               fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ops.set_xticks([])
    ops.set_xlabel("ops in pipeline order (each stage's ops in topological order; bar height: int8 parameters)")
    drawn = 0
    for b, crossing in enumerate(cut_tensors(graph, stages)):
        if starts[b + 1] in (0, len(order)) or starts[b + 1] == starts[b]:
            continue  # next to an empty stage: no cut there
        at = starts[b + 1] - 0.5
        ops.axvline(at, color="crimson", lw=1.2, ls="--")
        first = f"{graph.names[crossing[0][0]]}" + (f" +{len(crossing) - 1}" if len(crossing) > 1 else "")
        label = f"cut {b}|{b + 1}: {_size(sum(n for _, n in crossing))}\n{first}"
        side = at / max(len(order), 1)
        align = "left" if side < 0.12 else "right" if side > 0.88 else "center"
        ops.text(at, top * (2.7, 2.4, 2.1)[drawn % 3], label, fontsize=7, color="crimson", ha=align, va="center",
                 bbox={"facecolor": "white", "edgecolor": "crimson", "alpha": 0.9, "pad": 2})
        drawn += 1
    ops.set_title("the graph cut into stages: ops coloured by stage, the heaviest named; at each cut, the bytes "
                  "of the tensors crossing it (via the host) and the largest", fontsize=9)
    save_figure(fig, path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_sweep(model: str, solver: str, rows: list[dict[str, Any]], knee_k: int, path: str,
               min_gain_pct: float | None = None) -> None:
    """Throughput and one input's latency against K, for the solver and the vendor split; the K
    chosen at ``min_gain_pct`` marked."""
    plt = _pyplot()
    fig, (tput, lat) = plt.subplots(1, 2, figsize=(12, 4.5))
    ks = [r["tpus"] for r in rows]
    tput.plot(ks, [r["throughput"] for r in rows], "o-", label=solver)
    lat.plot(ks, [r["latency_ms"] for r in rows], "o-", label=solver)
    if all(r["vendor_period_ms"] is not None for r in rows):
        tput.plot(ks, [1000 / r["vendor_period_ms"] for r in rows], "s--", color="0.5", label="vendor split (compiler)")
        lat.plot(ks, [r["vendor_latency_ms"] for r in rows], "s--", color="0.5", label="vendor split (compiler)")
    chosen = next(r for r in rows if r["tpus"] == knee_k)
    tput.axvline(knee_k, color="crimson", ls=":", lw=1.2)
    rule = "" if min_gain_pct is None else f"\n(beyond: < {min_gain_pct:g}% per TPU)"
    tput.annotate(f"{knee_k} TPUs: {chosen['throughput']:.0f}/s{rule}", (knee_k, chosen["throughput"]),
                  xytext=(8, -24),
                  textcoords="offset points", color="crimson", fontsize=9)
    for r in rows[1:]:
        if r["gain"] is not None:
            tput.annotate(f"{100 * r['gain']:+.0f}%", (r["tpus"], r["throughput"]), xytext=(0, 6),
                          textcoords="offset points", ha="center", fontsize=7)
    tput.set(xlabel="Edge TPUs", ylabel="throughput (inferences/s)", xticks=ks,
             title=f"{model}: throughput (labels: gain over one TPU fewer)")
    lat.set(xlabel="Edge TPUs", ylabel="one input's latency (ms)", xticks=ks, title=f"{model}: one input's latency")
    for axis in (tput, lat):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
