"""The out-of-sample machinery of the calibration (issue 24): the size split, refits on subsets,
Coral leave-one-out and the profiler ranking, each checked against an independent computation."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from respect_gym.cost import CostModel
from respect_gym.cost.calibration import (
    Row, coral_leave_one_out, fit, log_loss, profiler_picks, published_rows, size_halves, size_validation, thesis_rows,
)
from respect_gym.cost.hardware import USB3_R3
from respect_gym.cost.thesis import load_rows, predict_ms, recover_split, split_schedule, thesis_graph


def test_size_halves_split_each_family_at_its_median() -> None:
    small, large = size_halves()
    assert len(small) + len(large) == len(load_rows())
    for family in ("conv", "fc"):
        sizes = sorted(r.size for r in load_rows() if r.family == family)
        n = len(sizes)
        median = sizes[n // 2] if n % 2 else (sizes[n // 2 - 1] + sizes[n // 2]) / 2  # by hand
        assert all(r.size < median for r in small if r.family == family)
        assert all(r.size >= median for r in large if r.family == family)
    assert {r.size for r in large if r.family == "conv"} and min(r.size for r in large if r.family == "conv") == 272
    assert min(r.size for r in large if r.family == "fc") == 1060


def test_log_loss_by_hand() -> None:
    # two groups weigh the same whatever their sizes: group a's mean 0.25^2, group b's (0 + 2.5^2) / 2
    up = Row("a", "x", 1.0, math.exp(0.25))
    exact = Row("b", "y", 2.0, 2.0)
    far = Row("b", "z", 1.0, math.exp(2.5))
    assert log_loss([up, exact, far]) == pytest.approx(0.0625 + 6.25 / 2)


def test_fit_on_a_subset_improves_its_loss_and_moves_only_named_constants() -> None:
    # all-cached fc models on one TPU cost the invoke overhead and little else
    data = tuple(r for r in load_rows() if r.family == "fc" and r.segments == 1 and r.size < 400)
    start = replace(USB3_R3, invoke_overhead_ms=0.5)
    fitted = fit(start, ("invoke_overhead_ms",), rounds=2, data=data, coral=())
    before = log_loss(thesis_rows(start, 3, data))
    after = log_loss(thesis_rows(fitted, 3, data))
    assert after < before
    assert fitted.invoke_overhead_ms < start.invoke_overhead_ms
    assert replace(fitted, invoke_overhead_ms=start.invoke_overhead_ms) == start
    assert fit(start, ("invoke_overhead_ms",), rounds=2, data=data, coral=()) == fitted  # deterministic


def test_zero_round_validations_price_the_held_out_rows_with_the_start_constants() -> None:
    # with no search the refits return their start: what remains is which rows get priced
    fitted, rows = size_validation(USB3_R3, rounds=0)
    assert fitted == USB3_R3
    _, large = size_halves()
    assert [r.label for r in rows] == [r.label for r in large]
    assert [r.predicted_ms for r in rows] == [r.predicted_ms for r in thesis_rows(USB3_R3, 3, large)]
    loo = coral_leave_one_out(USB3_R3, rounds=0)
    assert [(r.label, r.predicted_ms) for r in loo] == [(r.label, r.predicted_ms) for r in published_rows(USB3_R3)]


def _brute_pick(row, hw) -> list[tuple[int, ...]]:
    """The splits a model-as-profiler would keep for ``row``, priced one by one."""
    model = CostModel(thesis_graph(row.family, row.size), hw, 3)
    n = sum(recover_split(row, model)[0])
    scores = {}
    for cuts in itertools.combinations(range(1, n), row.segments - 1):
        split = tuple(int(x) for x in np.diff((0, *cuts, n)))
        rep = model.evaluate(split_schedule(model.graph, split), row.segments)
        scores[split] = predict_ms(row, rep) if row.family == "fc" else float(rep.stage_ms.max())
    best = min(scores.values())
    return [s for s, v in scores.items() if v <= best * (1 + 1e-9)]


def test_profiler_picks_against_brute_force() -> None:
    picks = profiler_picks(USB3_R3)
    assert len(picks) == sum(r.partition == "profiling" for r in load_rows())
    for row, real, hit in picks[::23]:
        tied = _brute_pick(row, USB3_R3)
        assert hit == pytest.approx(1 / len(tied) if real in tied else 0.0)
    # a tiny all-cached fc model: every placement of the cut costs the same (the host's per-stage
    # work bounds the period), so the model picks any of the C(4, 1) splits
    row, real, hit = next(p for p in picks if p[0].family == "fc" and p[0].segments == 2 and p[0].size == 100)
    assert hit == pytest.approx(0.25)
