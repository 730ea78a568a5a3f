"""scripts/regenerate_results.py: README blocks, their freshness, and the step list."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("regenerate_results", ROOT / "scripts" / "regenerate_results.py")
regen = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = regen  # dataclasses look their module up there
_spec.loader.exec_module(regen)


def test_replace_block_rewrites_only_between_its_markers() -> None:
    text = "a\n<!-- generated:x -->\nold\n<!-- /generated:x -->\nb\n<!-- generated:y -->\nkeep\n<!-- /generated:y -->\n"
    out = regen.replace_block(text, "x", "new 1\nnew 2\n")
    assert out == "a\n<!-- generated:x -->\nnew 1\nnew 2\n<!-- /generated:x -->\nb\n<!-- generated:y -->\nkeep\n<!-- /generated:y -->\n"
    assert regen.replace_block(out, "x", "new 1\nnew 2") == out  # idempotent


@pytest.mark.parametrize("text", ["no markers", "<!-- /generated:x --> <!-- generated:x -->",
                                  "<!-- generated:x --> <!-- /generated:x --> <!-- generated:x --> <!-- /generated:x -->"])
def test_replace_block_refuses_missing_or_broken_markers(text: str) -> None:
    with pytest.raises(regen.RegenerateError, match="generated:x"):
        regen.replace_block(text, "x", "body")


def test_solvers_block_from_a_hand_made_record(tmp_path: Path) -> None:
    def rec(model: str, k: int, exact: float, compiler: float, seconds: float, optimal: bool, gap: float) -> dict:
        return {"model": model, "num_stages": k, "cost_model_version": "3.abc",
                "solvers": {"exact": {"period_ms": exact, "optimal": optimal, "gap": gap, "seconds": seconds},
                            "compiler": {"period_ms": compiler}}}
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"zoo": [rec("a", 2, 2.0, 4.0, 0.5, True, 0.0), rec("b", 4, 1.0, 1.5, 2.0, True, 0.0),
                                        rec("m", 8, 3.0, 3.0, 30.0, False, 0.1)], "large": []}))
    row = regen.solvers_block(path).splitlines()[-1]
    # 2 of 3 proven; times median 2.0 / max 30.0; speed-ups 2.0, 1.5, 1.0 -> median 1.50, max 2.00
    assert row == "| 3 (period) | fused | 3 | 2 (unproven at the limit: m K=8 (gap 10.0%)) | 2.00 s / 30.00 s | 1.50x / 2.00x |"


def _block(name: str) -> str:
    text = regen.README.read_text()
    return text.split(f"<!-- generated:{name} -->\n")[1].split(f"\n<!-- /generated:{name} -->")[0]


def test_readme_blocks_are_current() -> None:
    """A cost-model change that moves these numbers fails here until the script is rerun."""
    for step in regen.STEPS:
        if step.readme_block is not None:
            assert _block(step.name) == step.readme_block().rstrip(), f"rerun: python scripts/regenerate_results.py --only {step.name}"


def test_list_prints_every_command_and_runs_nothing(capsys) -> None:
    assert regen.main(["--list", "--skip", "agents"]) == 0
    out = capsys.readouterr().out
    for step in regen.STEPS:
        assert (f"== {step.name}:" in out) == (step.name != "agents")
    assert "scripts/build_leaderboards.py" in out and "done in" not in out


def test_leaderboards_step_rebuilds_only_the_latest_revisions_suites() -> None:
    from respect_gym.cost.hardware import LATEST_REVISION
    from respect_gym.leaderboard.build import SPECS

    (argv,) = next(s for s in regen.STEPS if s.name == "leaderboards").commands()
    suites = argv[argv.index("--suites") + 1:]
    assert suites and all(SPECS[name].revision == LATEST_REVISION for name in suites)
    assert set(suites) == {name for name, spec in SPECS.items() if spec.revision == LATEST_REVISION}
    assert any(spec.revision != LATEST_REVISION for spec in SPECS.values())  # frozen ones exist and stay out


def test_agents_block_from_a_hand_made_record(tmp_path: Path) -> None:
    pytest.importorskip("torch")

    def row(granularity: str, exact: float, compiler: float, agent: float, seconds: float) -> dict:
        return {"granularity": granularity, "exact_ms": exact, "compiler_ms": compiler, "imitation_ms": agent,
                "imitation_gap_pct": 100 * (agent / exact - 1), "imitation_seconds": seconds}
    path = tmp_path / "a.json"
    path.write_text(json.dumps([row("fused", 2.0, 4.0, 2.2, 0.010), row("fused", 1.0, 1.0, 1.0, 0.030),
                                row("fused", 5.0, 6.0, 5.0, 0.020), row("layers", 1.0, 9.0, 8.0, 9.0)]))
    lines = regen.agents_block(path).splitlines()
    # fused only: gaps 10%, 0%, 0% -> mean 3.33%, max 10%; better than compiler 2 of 3; median 20 ms, max 30 ms
    assert lines[2:] == ["| `imitation` + exact re-cut of its order (post-processing) | 3.33% / 10.0% | 66.7% | 20 / 30 ms |"]
