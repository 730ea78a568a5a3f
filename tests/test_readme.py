"""The README's Python examples run as written (so the front page cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_blocks_run(capsys) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "the README should show Python usage"
    namespace: dict = {"__name__": "readme"}  # later blocks build on earlier ones, as a reader would
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    printed = capsys.readouterr().out.split()
    assert "True" in printed  # the exact solver's optimality flag in the quick tour
