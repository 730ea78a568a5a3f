"""``RespectPipeline-v1`` episodes stay bit-identical to the code before the problem kernel
(golden values written at commit ea413ad by scripts/record_v1_golden.py): every observation of
three views, every reward and the final info, both reward modes, three objectives, illegal actions."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((ROOT / "tests" / "data" / "v1_golden.json").read_text())
_spec = importlib.util.spec_from_file_location("record_v1_golden", ROOT / "scripts" / "record_v1_golden.py")
recorder = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recorder)


@pytest.mark.parametrize("record", GOLDEN, ids=lambda r: "-".join(map(str, r["case"][:6])).replace(" ", ""))
def test_v1_episodes_are_bit_identical(record: dict) -> None:
    replay = recorder.play(*record["case"])
    for got, want in zip(replay["episodes"], record["episodes"], strict=True):
        assert got["rewards"] == want["rewards"]
        assert got["final"] == want["final"]
        assert got["obs"] == want["obs"]
