"""Leaderboard suites, submissions and verification on a tiny suite built in a temporary folder.

Forged submissions must each fail with their own message; values are checked against the cost
model called directly (under revision 2 the period is the slowest stage's latency).
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import respect_gym
from respect_gym.cli import main as cli
from respect_gym.leaderboard import ROOT, LeaderboardError, verify_submission
from respect_gym.leaderboard.build import SuiteSpec, build_suite, paper_memory_bound
from respect_gym.leaderboard.jsonio import MAX_FILE_BYTES
from respect_gym.leaderboard.render import render_readme, render_tables
from respect_gym.leaderboard.run import Method, run
from respect_gym.leaderboard.submission import read_submission
from solver_brute import brute_force_paper, tiny_graph

TINY = SuiteSpec("tiny-v0", "two small graphs", ("vgg16", "tiny-v0/dnn-7-0.json.gz"), (2, 3))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A leaderboards folder holding the tiny suite and a compiler submission to it."""
    root = tmp_path_factory.mktemp("leaderboards")
    shutil.copy(ROOT / "submission.schema.json", root)
    shutil.copy(ROOT / "README.md", root)
    build_suite(TINY, root)
    run("tiny-v0", root / "submissions" / "tiny-v0" / "compiler.json", Method("compiler"), solver="compiler", root=root)
    return root


@pytest.fixture
def valid(root: Path) -> dict:
    return json.loads((root / "submissions" / "tiny-v0" / "compiler.json").read_text())


def period_ms(graph: respect_gym.Graph, stages: list[int], k: int) -> float:
    return float(respect_gym.evaluate(graph, stages, k, revision=2).stage_ms.max())


def problems(root: Path, tmp_path: Path, data: dict | str) -> list[str]:
    """The verifier's problems with ``data`` written to a file (it must fail)."""
    path = tmp_path / "forged.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    with pytest.raises(LeaderboardError) as info:
        verify_submission(path, root)
    return info.value.problems


def forged(root: Path, tmp_path: Path, data: dict, match: str) -> None:
    """Exactly one problem is reported, and it says ``match``."""
    found = problems(root, tmp_path, data)
    assert len(found) == 1, found
    assert match in found[0], found[0]


def test_suite_references_are_the_cost_models_values(root: Path) -> None:
    suite = respect_gym.leaderboard.load_suite("tiny-v0", root)
    assert [i.id for i in suite.instances] == ["vgg16/k2", "vgg16/k3", "dnn-7-0/k2", "dnn-7-0/k3"]
    for inst in suite.instances:
        graph = suite.graph(inst)
        assert inst.graph_sha256 == graph.sha256() and inst.num_nodes == graph.num_nodes
        assert inst.reference.value == pytest.approx(period_ms(graph, inst.reference.stages, inst.num_stages), rel=1e-12)
        assert inst.compiler.value == pytest.approx(period_ms(graph, inst.compiler.stages, inst.num_stages), rel=1e-12)
        exact = respect_gym.solve(graph, inst.num_stages, "exact", revision=2)
        assert inst.optimal and exact.optimal
        assert inst.reference.value == pytest.approx(exact.report.stage_ms.max(), rel=1e-9) == inst.lower_bound
    assert (root / "suites" / "tiny-v0" / "dnn-7-0.json.gz").is_file()  # the graph file is kept beside the suite


def test_run_then_verify_round_trips(root: Path, valid: dict) -> None:
    v = verify_submission(root / "submissions" / "tiny-v0" / "compiler.json", root)
    assert valid["harness"]["command"].endswith("--solver compiler") and valid["method"]["name"] == "compiler"
    ratios = []
    for score, entry in zip(v.scores, valid["results"]):
        graph = v.suite.graph(score.instance)
        assert entry["stages"] == score.instance.compiler.stages  # the compiler is deterministic
        assert score.value == pytest.approx(period_ms(graph, entry["stages"], entry["num_stages"]), rel=1e-12)
        assert score.speedup == pytest.approx(1.0)
        assert entry["seconds"] >= 0
        ratios.append(score.instance.reference.value / score.value)
    assert v.score == pytest.approx(np.exp(np.mean(np.log(ratios))))
    assert v.num_optimal == sum(r > 1 - 1e-9 for r in ratios)


def test_python_policy_round_trips(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "one_stage_policy.py").write_text(
        "def policy(graph, num_stages, hardware, objective):\n    return [0] * graph.num_nodes\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "policy.json"
    assert cli(["leaderboard", "run", "--root", str(root), "--suite", "tiny-v0", "--policy", "one_stage_policy:policy",
                "--out", str(out), "--trained-on-suite"]) == 0
    v = verify_submission(out, root)
    assert v.submission.meta["trained_on_suite"] is True
    for s in v.scores:
        graph = v.suite.graph(s.instance)
        assert s.value == pytest.approx(period_ms(graph, [0] * graph.num_nodes, s.instance.num_stages), rel=1e-12)


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["results"][0].update(graph_sha256="0" * 64), "is not the instance graph's"),
    (lambda d: d["results"][0].update(num_stages=3), "num_stages is 3, the instance has K = 2"),
    (lambda d: d["results"][2]["stages"].pop(), "truncated schedule"),
    (lambda d: d["results"][2]["stages"].append(1), "over-long schedule"),
    (lambda d: d["results"][1]["stages"].__setitem__(-1, 3), "outside 0..2"),
    (lambda d: d["results"][0].update(stages=[1] + [0] * (len(d["results"][0]["stages"]) - 1)), "precedence violated"),
    (lambda d: d["results"][0]["stages"].__setitem__(3, 0.5), "results[0] (vgg16/k2).stages[3]: 0.5 is not of type 'integer'"),
    (lambda d: d["results"][0]["stages"].__setitem__(3, "0"), "is not of type 'integer'"),
    (lambda d: d["results"][1].update(objective_value=d["results"][1]["objective_value"] * 1.01), "but the schedule scores"),
    # the compiler's vgg16/k2 split is 2.7% off the optimum: a claim 0.1% better stays above the bound
    (lambda d: d["results"][0].update(objective_value=d["results"][0]["objective_value"] * 0.999), "but the schedule scores"),
    (lambda d: d["results"][0].update(objective_value=1.0), "better than the proven lower bound"),
    (lambda d: d["results"].append(copy.deepcopy(d["results"][0])), "duplicate instance (already in results[0])"),
    (lambda d: d["results"].pop(), "missing 1 of the suite's 4 instances: dnn-7-0/k3"),
    (lambda d: d["results"].append({**d["results"][0], "instance": "resnet50/k2"}), "not an instance of suite tiny-v0"),
    (lambda d: d.update(suite="nope-v0"), "unknown suite 'nope-v0'"),
    (lambda d: d.update(suite="tiny-v7"), "unknown version of suite 'tiny': 'tiny-v7'; known versions: tiny-v0"),
    (lambda d: d.update(version=2), "version: 1 was expected"),
    (lambda d: d.pop("trained_on_suite"), "'trained_on_suite' is a required property"),
    (lambda d: d["results"][0].update(seconds=-1), "results[0] (vgg16/k2).seconds: -1 is less than the minimum of 0"),
], ids=["hash", "k", "truncated", "over-long", "stage-range", "precedence", "non-integer", "string-stage",
        "claim-worse", "claim-better", "below-bound", "duplicate", "missing", "unknown-instance", "unknown-suite",
        "unknown-version", "schema-version", "missing-field", "negative-time"])
def test_forgeries_fail_with_their_own_message(root: Path, valid: dict, tmp_path: Path, edit, match: str) -> None:
    edit(valid)
    forged(root, tmp_path, valid, match)


def test_every_problem_is_reported_once(root: Path, valid: dict, tmp_path: Path) -> None:
    valid["results"][0]["num_stages"] = 5
    valid["results"][1]["objective_value"] *= 2
    valid["results"].pop()
    found = problems(root, tmp_path, valid)
    assert len(found) == 3 and "results[0]" in found[0] and "results[1]" in found[1] and "missing 1" in found[2]


@pytest.mark.parametrize("text, match", [
    ('{"suite": "tiny-v0",', "malformed JSON"),
    ('{"a": 1, "a": 2}', "key 'a' appears twice"),
    ('{"a": NaN}', "NaN is not a JSON number"),
    ('[1, 2]', "top level: [1, 2] is not of type 'object'"),
], ids=["truncated-json", "duplicate-key", "nan", "not-an-object"])
def test_malformed_files_fail_clearly(root: Path, tmp_path: Path, text: str, match: str) -> None:
    found = problems(root, tmp_path, text)
    assert len(found) == 1 and match in found[0], found


def test_a_file_above_the_size_cap_is_not_read(root: Path, tmp_path: Path) -> None:
    forged(root, tmp_path, " " * (MAX_FILE_BYTES + 1), "above the 8,388,608-byte cap")


def test_a_value_below_the_bound_of_an_edited_suite_is_refused(root: Path, valid: dict, tmp_path: Path) -> None:
    """A recomputed value under the proven bound means the suite or the cost model is wrong."""
    other = tmp_path / "root"
    shutil.copytree(root, other)
    manifest = other / "suites" / "tiny-v0.json"
    head, rest = manifest.read_text().split('"lower_bound":', 1)
    manifest.write_text(head + '"lower_bound":1000.0' + rest[rest.index(","):])
    path = tmp_path / "valid.json"
    path.write_text(json.dumps(valid))
    with pytest.raises(LeaderboardError, match="below the proven lower bound 1000.0: the cost model or the suite is wrong"):
        verify_submission(path, other)


def test_an_edited_reference_fails_the_suite_check(root: Path, valid: dict, tmp_path: Path) -> None:
    other = tmp_path / "root"
    shutil.copytree(root, other)
    manifest = other / "suites" / "tiny-v0.json"
    data = json.loads(manifest.read_text())
    value = data["instances"][0]["reference"]["value"]
    manifest.write_text(manifest.read_text().replace(repr(value), repr(value * 0.9)))
    path = tmp_path / "valid.json"
    path.write_text(json.dumps(valid))
    with pytest.raises(LeaderboardError, match=r"vgg16/k2: the reference schedule scores .* the manifest says"):
        verify_submission(path, other)


def test_cli_verify_exit_codes(root: Path, valid: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    good = root / "submissions" / "tiny-v0" / "compiler.json"
    assert cli(["leaderboard", "verify", "--root", str(root), str(good)]) == 0
    assert "compiler on tiny-v0: score" in capsys.readouterr().out
    valid["results"][0]["num_stages"] = 4
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(valid))
    assert cli(["leaderboard", "verify", "--root", str(root), str(good), str(bad)]) == 1
    err = capsys.readouterr().err
    assert "error: " in err and "K = 2" in err and "1 of 2 submission(s) failed" in err and "Traceback" not in err


def test_render_is_deterministic_and_ranks_by_score(root: Path, tmp_path: Path) -> None:
    other = tmp_path / "root"
    shutil.copytree(root, other)
    run("tiny-v0", other / "submissions" / "tiny-v0" / "exact.json", Method("exact"), solver="exact", root=other)
    assert render_readme(other) is True
    first = (other / "README.md").read_bytes()
    assert render_readme(other) is False and render_readme(other, check=True) is False
    assert (other / "README.md").read_bytes() == first and render_tables(other) == render_tables(other)
    rows = [line for line in render_tables(other).splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert rows[0].startswith("| 1 | exact | 1.0000 | 4 / 4 |") and rows[1].startswith("| 2 | compiler |")


def test_template_matches_the_schema() -> None:
    submission = read_submission(ROOT / "submission.template.json")
    assert submission.suite == "zoo-v0" and submission.meta["harness"]["command"] == ""


@pytest.mark.parametrize("seed", range(6))
def test_paper_memory_bound_is_below_the_brute_force_optimum(seed: int) -> None:
    graph = tiny_graph(seed, max_nodes=7)
    for k in (2, 3):
        assert paper_memory_bound(graph, k) <= brute_force_paper(graph, k) + 1e-12


@pytest.mark.parametrize("how, match", [
    (["--solver", "nope"], "unknown solver 'nope'; registered: exact, "),
    (["--policy", "no_colon"], "--policy must be 'module:callable'"),
    (["--policy", "no_such_module_xyz:f"], "cannot import policy module 'no_such_module_xyz'"),
    (["--policy", "json:no_such_attr"], "module 'json' has no attribute 'no_such_attr'"),
    (["--policy", "bad_policy:short"], "m returned an invalid schedule for vgg16/k2: stages has shape (1,)"),
    (["--policy", "bad_policy:crash"], "m failed on vgg16/k2: ZeroDivisionError: division by zero"),
], ids=["solver", "spec", "module", "attribute", "invalid-schedule", "crash"])
def test_run_refuses_bad_methods_in_one_line(root: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                             monkeypatch: pytest.MonkeyPatch, how: list[str], match: str) -> None:
    (tmp_path / "bad_policy.py").write_text("def short(graph, k, **kw):\n    return [0]\n\n\n"
                                            "def crash(graph, k, **kw):\n    return 1 / 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "out.json"
    assert cli(["leaderboard", "run", "--root", str(root), "--suite", "tiny-v0", *how, "--method", "m",
                "--out", str(out), "--not-trained-on-suite"]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and not out.exists(), err


def test_a_refresh_takes_the_best_verified_schedule_and_the_larger_bound(root: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # exact as if its limit stopped it at the compiler's split with no bound: the refresh must carry
    # tiny-v0's proven optima (re-scored here) and their bounds
    import dataclasses

    import respect_gym.leaderboard.build as build

    lb = tmp_path / "lb"
    shutil.copytree(root, lb)
    real = build.solve_instance

    def stopped_early(graph, k, solver, *args, **kwargs):
        if solver != "exact":
            return real(graph, k, solver, *args, **kwargs)
        split = real(graph, k, "compiler", *args, **kwargs)
        return dataclasses.replace(split, optimal=False, objective_bound=0.0)

    monkeypatch.setattr(build, "solve_instance", stopped_early)
    earlier = respect_gym.leaderboard.load_suite("tiny-v0", lb)
    refreshed = build_suite(SuiteSpec("tiny-v1", "tiny-v0 refreshed", TINY.graphs, TINY.ks, refreshes="tiny-v0"), lb)
    assert refreshed.built_with["refreshes"] == "tiny-v0"
    carried = 0
    for old, new in zip(earlier.instances, refreshed.instances):
        assert new.id == old.id and old.optimal
        assert new.optimal and new.lower_bound == new.reference.value
        assert new.reference.value == pytest.approx(old.reference.value, rel=1e-12)
        assert new.reference.value == pytest.approx(period_ms(refreshed.graph(new), new.reference.stages, new.num_stages),
                                                    rel=1e-12)
        compiler = period_ms(refreshed.graph(new), new.compiler.stages, new.num_stages)
        if new.reference.value < compiler * (1 - 1e-9):  # exact's stand-in (the compiler's split) lost
            assert new.reference.solver == f"{old.reference.solver} (tiny-v0 reference)"
            carried += 1
    assert carried  # the compiler's split is not optimal everywhere


def test_a_refresh_refuses_instances_the_earlier_version_lacks(root: Path, tmp_path: Path) -> None:
    lb = tmp_path / "lb"
    shutil.copytree(root, lb)
    with pytest.raises(LeaderboardError, match="vgg16/k4: not an instance of tiny-v0"):
        build_suite(SuiteSpec("tiny-v1", "a K tiny-v0 lacks", ("vgg16",), (4,), refreshes="tiny-v0"), lb)


def test_an_anytime_entry_shows_the_instances_within_its_budget(root: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # a policy that loads for 1.5 s on its first call in the process (the warm-up takes it, untimed)
    # and runs 1.2 s on vgg16 at K=3 (over the 1 s budget it claims), instantly elsewhere
    lb = tmp_path / "lb"
    shutil.copytree(root, lb)
    build_suite(SuiteSpec("tiny-v1", "tiny-v0 as an anytime tier", TINY.graphs, TINY.ks, budgets_s=(1.0, 10.0)), lb)
    (tmp_path / "slow_policy.py").write_text(
        "import time\nloaded = False\ncalls = 0\n"
        "def policy(graph, num_stages, hardware, objective):\n"
        "    global loaded, calls\n"
        "    calls += 1\n"
        "    if not loaded:\n        time.sleep(1.5)\n        loaded = True\n"
        "    if graph.meta.model == 'vgg16' and num_stages == 3:\n        time.sleep(1.2)\n"
        "    return [0] * graph.num_nodes\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    out = lb / "submissions" / "tiny-v1" / "slow.json"
    out.parent.mkdir()
    assert cli(["leaderboard", "run", "--root", str(lb), "--suite", "tiny-v1", "--policy", "slow_policy:policy",
                "--time-limit", "1", "--out", str(out), "--not-trained-on-suite"]) == 0
    import slow_policy

    assert slow_policy.calls == 4 + 1  # one untimed warm-up in this process, then each instance
    v = verify_submission(out, lb)
    seconds = {s.instance.id: s.seconds for s in v.scores}
    assert v.submission.meta["harness"]["time_limit_s"] == 1.0 and v.budget_s == 1.0
    assert seconds["vgg16/k3"] >= 1.2 and max(t for i, t in seconds.items() if i != "vgg16/k3") < 1.0
    assert v.num_within_budget == 3
    table = render_tables(lb)
    assert "| within budget |" in table and "| 3 / 4 |" in table
    # off an anytime tier there is no budget to keep
    plain = verify_submission(root / "submissions" / "tiny-v0" / "compiler.json", root)
    assert plain.budget_s is None and plain.num_within_budget is None
