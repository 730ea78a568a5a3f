"""The ``schedule`` and ``compare`` commands end to end."""

from __future__ import annotations

import json

import pytest

import respect_gym

from respect_gym.cli import main
from respect_gym.problem.objectives import evaluate
from respect_gym.solvers import list_solvers
from respect_gym.zoo import load_graph


def test_schedule_writes_a_json_record_that_rescores(tmp_path, capsys) -> None:
    out = tmp_path / "r.json"
    assert main(["schedule", "resnet50", "--tpus", "4", "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    for key in ("stages", "bottleneck_ms", "lower_bound_ms", "optimal", "solve_seconds", "graph_sha256",
                "cost_model_version", "solver", "num_stages"):
        assert key in record
    graph = load_graph("resnet50")
    assert record["graph_sha256"] == graph.sha256()
    assert record["optimal"] and record["lower_bound_ms"] == pytest.approx(record["bottleneck_ms"])
    assert evaluate(graph, record["stages"], 4).bottleneck_ms == pytest.approx(record["bottleneck_ms"], rel=1e-12)
    assert "optimal (proven)" in capsys.readouterr().out


def test_schedule_plot_writes_a_png(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "p.png"
    assert main(["schedule", "mobilenet", "--tpus", "3", "--solver", "compiler", "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_lists_every_solver_with_speedup(tmp_path, capsys) -> None:
    out = tmp_path / "c.json"
    assert main(["compare", "mobilenet", "--tpus", "2", "--json", str(out)]) == 0
    records = json.loads(out.read_text())
    by_solver = {r["solver"]: r for r in records}
    assert set(by_solver) == set(list_solvers())  # plug-ins (e.g. imitation) included
    assert {"exact", "compiler", "profiling", "slicegraph", "greedy", "random"} <= set(by_solver)
    assert all(r["bottleneck_ms"] >= by_solver["exact"]["bottleneck_ms"] * (1 - 1e-12) for r in records)
    assert "1.00x" in capsys.readouterr().out  # the compiler against itself


def test_compare_paper_objective_skips_latency_only_solvers(capsys) -> None:
    assert main(["compare", "vgg16", "--tpus", "2", "--objective", "paper", "--solvers", "exact", "compiler",
                 "slicegraph", "profiling"]) == 0
    out = capsys.readouterr().out
    assert "skipped profiling" in out and "skipped slicegraph" not in out  # slicegraph cuts the paper cost too


def test_schedule_bad_input_is_one_line_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:  # argparse: usage, then one error line naming the flag
        main(["schedule", "resnet50", "--tpus", "0"])
    assert exit_info.value.code == 2
    assert "argument --tpus: K must be from 1 to 32, got 0" in capsys.readouterr().err.splitlines()[-1]


def test_compare_gaps_are_to_the_best_bound_proven_in_the_run() -> None:
    from respect_gym.cli.compare import run_gaps

    graph = respect_gym.load_graph("resnet50")
    results = [respect_gym.solve(graph, 4, name) for name in ("compiler", "slicegraph", "exact")]
    exact = results[-1]
    assert exact.optimal and not results[1].optimal  # slicegraph proves nothing by itself ...
    assert results[1].objective_value == pytest.approx(exact.objective_value, rel=1e-12)  # ... but reaches it
    bound, gaps, optimal = run_gaps(results)
    assert bound == exact.objective_value
    assert optimal == [False, True, True] and gaps[1:] == [0.0, 0.0]
    assert gaps[0] == pytest.approx(1 - exact.objective_value / results[0].objective_value)
    alone, _, proven = run_gaps(results[:2])  # without exact: only the weak bounds of the heuristics
    assert alone < exact.objective_value and proven == [False, False]
