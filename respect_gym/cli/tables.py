"""Tables of the ``schedule`` and ``compare`` commands, laid out to fit an 80-column terminal."""

from __future__ import annotations

from rich import box
from rich.markup import escape
from rich.table import Table

from respect_gym.cost import PipelineReport

TABLE_BOX = box.SIMPLE_HEAD  # no vertical rules: 10 columns fit 80 characters
PADDING = (0, 0, 0, 1)  # one space left of each cell: columns two spaces apart with the box's divider
TIGHT = (0, 0, 0, 0)  # columns one space apart


def compact_table(title: str, caption: str, padding: tuple[int, int, int, int] = PADDING) -> Table:
    """A table without vertical rules, columns two spaces apart (one with ``padding=TIGHT``); the
    title is plain text (escaped: a path with brackets stays as written)."""
    return Table(title=escape(title), caption=caption, box=TABLE_BOX, pad_edge=False, padding=padding,
                 collapse_padding=True)


def stage_rows(report: PipelineReport) -> list[tuple[str, int | None]]:
    """``(label, stage)`` per row: one row per used stage, one ``(label, None)`` per run of empty ones."""
    rows: list[tuple[str, int | None]] = []
    s, k = 0, report.num_stages
    while s < k:
        if report.stage_num_ops[s]:
            rows.append((str(s), s))
            s += 1
            continue
        end = s
        while end + 1 < k and not report.stage_num_ops[end + 1]:
            end += 1
        rows.append((str(s) if end == s else f"{s}-{end}", None))
        s = end + 1
    return rows


def stage_table(report: PipelineReport, title: str) -> Table:
    """Per-stage time, memory and transfers; the slowest stage's time marked ``*``; runs of empty
    stages collapsed into one row."""
    table = compact_table(title, "times in ms (* the slowest stage); params, streamed: MiB; in, out: KiB")
    for column in ("stage", "ops", "ms", "compute", "stream", "transfer", "params", "streamed", "in", "out"):
        table.add_column(column, justify="right", no_wrap=True)
    slowest = report.bottleneck_ms
    for label, s in stage_rows(report):
        if s is None:
            table.add_row(label, "0", "empty", *[""] * 7)
            continue
        mark = "*" if report.stage_ms[s] == slowest and slowest > 0 else " "
        table.add_row(
            label, str(report.stage_num_ops[s]), f"{report.stage_ms[s]:.3f}{mark}",
            f"{report.stage_compute_ms[s]:.3f}", f"{report.stage_stream_ms[s]:.3f}",
            f"{report.stage_transfer_ms[s]:.3f}", f"{report.stage_param_bytes[s] / 2**20:.2f}",
            f"{report.stage_streamed_bytes[s] / 2**20:.2f}", f"{report.stage_in_bytes[s] / 1024:.1f}",
            f"{report.stage_out_bytes[s] / 1024:.1f}",
        )
    return table
