"""What ``schedule`` and ``compare`` print: the speed-up over the vendor split, the latency
trade-off, why stages are empty, the ``--tpus A-B`` sweep and its knee, at 80 columns and piped;
flags named in their errors, help on every option, files recognised by content."""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
from pathlib import Path

import pytest

import respect_gym
from respect_gym.cli import build_parser, main
from respect_gym.cli.schedule import knee

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "tflite"


def run_cli(argv: list[str], capsys, monkeypatch, columns: int = 80) -> list[str]:
    """Run the CLI with ``COLUMNS`` set, stdout captured (not a terminal, as when piped)."""
    monkeypatch.setenv("COLUMNS", str(columns))
    capsys.readouterr()
    assert main(argv) == 0
    return capsys.readouterr().out.splitlines()


def assert_fits(lines: list[str], width: int = 80) -> None:
    for line in lines:
        assert len(line.rstrip()) <= width, line
        assert "…" not in line, line  # nothing cut


@pytest.fixture(scope="module")
def split_demo(tmp_path_factory) -> Path:
    pytest.importorskip("tflite")
    from tflite_builders import write_split_demo

    return write_split_demo(tmp_path_factory.mktemp("demo"))


def test_schedule_states_speedup_and_latency_tradeoff_at_80_columns(capsys, monkeypatch) -> None:
    lines = run_cli(["schedule", "resnet50", "--tpus", "4"], capsys, monkeypatch)
    assert_fits(lines)
    graph = respect_gym.load_graph("resnet50")
    best, vendor = respect_gym.solve(graph, 4), respect_gym.solve(graph, 4, solver="compiler")
    speedup = vendor.report.period_ms / best.report.period_ms
    more = best.report.latency_ms / vendor.report.latency_ms - 1
    text = "\n".join(lines)
    assert f"period {best.report.period_ms:.3f} ms ({1000 / best.report.period_ms:.1f} inferences/s)" in text
    assert f"{speedup:.2f}x the throughput of the vendor split" in text and f"{speedup:.2f}" == "1.31"
    assert (f"trade-off: one input's latency {best.report.latency_ms:.2f} ms, {100 * more:.0f}% more than the "
            f"vendor's {vendor.report.latency_ms:.2f} ms") in text
    assert "bottleneck" not in text.lower()  # one name for the main number: period
    rows = [line.split() for line in lines if line.strip()[:1].isdigit() and len(line.split()) == 10]
    assert [r[0] for r in rows] == ["0", "1", "2", "3"]
    stage_ms = [float(r[2].rstrip("*")) for r in rows]
    assert stage_ms == pytest.approx(best.report.stage_ms, abs=5e-4)
    assert sum(r[2].endswith("*") for r in rows) == 1  # the slowest stage marked


def test_schedule_says_why_stages_are_empty(split_demo, capsys, monkeypatch) -> None:
    lines = run_cli(["schedule", str(split_demo), "--tpus", "6"], capsys, monkeypatch)
    assert_fits(lines)
    text = "\n".join(lines)
    assert "uses 3 of 6 TPUs: proven, no schedule on more TPUs has a shorter period" in text
    assert any(line.split()[:3] == ["3-5", "0", "empty"] for line in lines)  # one row for the empty run
    best = respect_gym.solve(respect_gym.load_graph(split_demo), 6)
    host = best.period_ms / 3  # revision 3: period = max(slowest stage, host work per stage x used stages)
    assert best.period_ms > best.report.bottleneck_ms and f"{host:.3f}" == "0.242"
    assert (f"host-bound: 3 stages x {host:.3f} ms of host work per input (slowest stage "
            f"{best.report.bottleneck_ms:.3f} ms)") in text
    assert f"(a fourth stage adds {host:.3f} ms of host work per input: period >= {4 * host:.3f} ms)" in text
    assert best_split_line(split_demo, 6) in text
    # Not host-bound: the mechanism in words.
    lines = run_cli(["schedule", "mobilenet", "--tpus", "4"], capsys, monkeypatch)
    assert_fits(lines)
    text = "\n".join(lines)
    assert "uses 2 of 4 TPUs: proven" in text and "host-bound" not in text
    assert "(a third stage adds an invoke and host transfers of the tensors it cuts)" in text
    assert best_split_line("mobilenet", 4) in text


def best_split_line(model, k: int) -> str:
    """The line schedule prints for the best cut of one used stage in two, recomputed here: every
    cut of each used stage's nodes in topological order with an op on both sides, the later
    stages shifted by one, scored with ``respect_gym.evaluate``; none may beat the proven optimum."""
    import numpy as np

    graph = respect_gym.load_graph(model)
    best = respect_gym.solve(graph, k)
    stages = np.asarray(best.stages)
    used = sorted(set(stages.tolist()))
    order = list(graph.topological_order)
    found = None
    for i, s in enumerate(used):
        members = [v for v in order if stages[v] == s]
        for cut in range(1, len(members)):
            head, tail = members[:cut], members[cut:]
            if all(graph.is_input[v] for v in head) or all(graph.is_input[v] for v in tail):
                continue
            trial = np.array([used.index(x) + (1 if used.index(x) > i else 0) for x in stages.tolist()])
            trial[tail] = i + 1
            period = respect_gym.evaluate(graph, trial, k).period_ms
            if found is None or period < found[0]:
                found = (period, i, head[-1])
    assert found[0] >= best.period_ms * (1 - 1e-12)  # the proof: no better with one more stage
    name = graph.names[found[2]].split(";")[0]
    return f"best cut of one stage in two: period {found[0]:.3f} ms (stage {found[1]}, after {name})"


def test_tpus_bounds_and_ranges_name_the_flag(capsys) -> None:
    for bad, message in (("0", "K must be from 1 to 32, got 0"), ("100", "K must be from 1 to 32, got 100"),
                         ("4-2", "the range '4-2' runs backwards"), ("four", "expected a whole number")):
        with pytest.raises(SystemExit):
            main(["schedule", "resnet50", "--tpus", bad])
        assert f"argument --tpus: {message}" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["schedule", "resnet50", "--time-limit", "0"])
    assert "argument --time-limit:" in capsys.readouterr().err
    assert main(["schedule", str(FIXTURES / "residual_concat.tflite"), "--tpus", "20"]) == 2
    assert "--tpus 20: residual_concat has only 13 nodes" in capsys.readouterr().err
    assert main(["compare", "resnet50", "--tpus", "1-3"]) == 2
    assert "--tpus: compare takes one K" in capsys.readouterr().err


def test_every_option_has_help() -> None:
    def parsers(parser: argparse.ArgumentParser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from parsers(sub)

    missing = [f"{p.prog} {a.option_strings or a.dest}" for p in parsers(build_parser()) for a in p._actions
               if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)) and not a.help]
    assert not missing


def test_sweep_table_gains_and_knee(tmp_path, capsys, monkeypatch) -> None:
    out = tmp_path / "sweep.json"
    lines = run_cli(["schedule", "resnet50", "--tpus", "1-6", "--json", str(out)], capsys, monkeypatch)
    assert_fits(lines)
    graph = respect_gym.load_graph("resnet50")
    periods = {k: respect_gym.solve(graph, k).period_ms for k in range(1, 7)}
    records = json.loads(out.read_text())
    assert [r["num_stages"] for r in records] == list(range(1, 7))
    for r in records:
        k = r["num_stages"]
        assert r["period_ms"] == pytest.approx(periods[k], rel=1e-12)
        gain = r["sweep"]["gain"]
        assert gain is None if k == 1 else gain == pytest.approx(periods[k - 1] / periods[k] - 1)
    # Independent knee at 10%: the first K whose next TPU gains < 10% and no later K makes up for it.
    gains = {k: periods[k - 1] / periods[k] - 1 for k in range(2, 7)}
    expected = next(k for k in range(1, 7) if all((periods[k] / periods[j]) ** (1 / (j - k)) < 1.1
                                                  for j in range(k + 1, 7)))
    assert expected == 4 and gains[5] < 0.1 <= gains[4]
    text = "\n".join(lines)
    assert "beyond 4 TPUs, each added TPU gains less than 10% throughput (--min-gain)" in text
    row4 = next(line.split() for line in lines if line.split()[:2] == ["4", "4"])
    assert row4[4] == f"{100 * gains[4]:+.1f}%"
    lines = run_cli(["schedule", "resnet50", "--tpus", "1-6", "--min-gain", "50"], capsys, monkeypatch)
    assert "beyond 3 TPUs, each added TPU gains less than 50% throughput (--min-gain)" in "\n".join(lines)


def test_knee_is_per_added_tpu() -> None:
    assert knee({1: 10.0, 2: 5.0, 3: 4.9, 4: 4.8}, 0.1) == 2
    assert knee({1: 10.0, 2: 9.8, 3: 4.0}, 0.1) == 3  # a late jump (weights fitting the caches) counts
    assert knee({1: 10.0, 2: 9.0, 3: 8.95, 4: 8.9, 5: 8.0}, 0.1) == 2  # 2 -> 5: 4% per added TPU
    assert knee({1: 10.0, 2: 9.0, 3: 8.95, 4: 8.9, 5: 7.0}, 0.1) == 2  # 1 -> 2: 11%; 2 -> 5: 8.7% per TPU
    assert knee({1: 10.0, 2: 9.5, 3: 9.2}, 0.1) == 1
    assert knee({1: 10.0, 2: 5.0}, 0.1) == 2


def test_plots_are_written(split_demo, tmp_path, capsys, monkeypatch) -> None:
    pytest.importorskip("matplotlib")
    png = b"\x89PNG\r\n\x1a\n"
    for argv in (["schedule", str(split_demo), "--tpus", "4", "--plot", str(tmp_path / "s.png")],
                 ["schedule", "mobilenet", "--tpus", "1-4", "--plot", str(tmp_path / "k.png")]):
        run_cli(argv, capsys, monkeypatch)
    assert (tmp_path / "s.png").read_bytes()[:8] == png and (tmp_path / "k.png").read_bytes()[:8] == png


def test_cut_tensors_cross_every_boundary_they_span() -> None:
    from respect_gym.cli.plot import cut_tensors

    graph = respect_gym.load_graph("resnet50")
    stages = respect_gym.solve(graph, 4).stages
    cuts = cut_tensors(graph, stages)
    for b, crossing in enumerate(cuts):
        expected = {u for u, v in graph.edges.tolist() if stages[u] <= b < stages[v]}
        assert {u for u, _ in crossing} == expected
        assert [n for _, n in crossing] == sorted((int(graph.out_bytes[u]) for u in expected), reverse=True)


def test_compare_names_fit_80_columns(capsys, monkeypatch) -> None:
    lines = run_cli(["compare", "resnet50", "--tpus", "4", "--solvers", "exact", "compiler", "slicegraph",
                     "--time-limit", "5"], capsys, monkeypatch)
    assert_fits(lines)
    assert {line.split()[0] for line in lines if line.split()} >= {"exact", "compiler", "slicegraph"}


def test_files_are_recognised_by_content(split_demo, tmp_path, capsys, monkeypatch) -> None:
    graph = respect_gym.load_graph("mobilenet")
    graph.to_json(tmp_path / "g.json")
    shutil.copy(tmp_path / "g.json", tmp_path / "g.txt")
    (tmp_path / "g.dat").write_bytes(gzip.compress((tmp_path / "g.json").read_bytes()))
    shutil.copy(split_demo, tmp_path / "demo.bin")
    expected = respect_gym.solve(graph, 2).period_ms
    for name in ("g.txt", "g.dat"):
        text = "\n".join(run_cli(["schedule", str(tmp_path / name), "--tpus", "2"], capsys, monkeypatch))
        assert f"period {expected:.3f} ms" in text
    text = "\n".join(run_cli(["schedule", str(tmp_path / "demo.bin"), "--tpus", "4", "--export-segments",
                              str(tmp_path / "seg")], capsys, monkeypatch))
    assert "3 segment(s) and manifest.json written" in text
    (tmp_path / "notes.txt").write_text("hello\n")
    assert main(["schedule", str(tmp_path / "notes.txt")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'notes.txt'}: a file that is neither a graph JSON" in err and len(err.splitlines()) == 1


def test_leaderboard_tables_fit_80_columns(capsys, monkeypatch) -> None:
    root = ROOT / "leaderboards" / "submissions"
    files = [str(root / suite / "exact.json") for suite in ("paper-v0", "layers-v1")]
    lines = [line for line in run_cli(["leaderboard", "verify", *files], capsys, monkeypatch)
             if " at the proven optimum, " not in line]  # the score sentences: one line each, never cut
    assert_fits(lines)
    text = "\n".join(lines)
    assert "respect/densenet121/k4" in text and "inception_resnet_v2/k6" in text  # ids whole, or folded


def test_usage_errors_are_one_escaped_line(capsys) -> None:
    from respect_gym.cli import main

    for argv in (["schedule", "resnet50", "--tpus", "\x1b[2Jx"], ["nope"], ["schedule"], ["compare", "resnet50", "--bogus"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error:" in err and "\x1b" not in err and "usage:" not in err, argv
