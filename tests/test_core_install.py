"""What ``pip install respect-gym`` alone (no extras) gives: schedule, compare and leaderboard verify
work, plug-in solvers whose extra is missing are skipped with one line naming the extra, and the
leaderboard suites ship inside the package."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the top-level modules the extras install (agents, tflite, onnx, litert, pyg, viz, dev, distributed)
EXTRA_MODULES = ("torch", "stable_baselines3", "sb3_contrib", "tflite", "flatbuffers", "onnx", "ai_edge_litert",
                 "torch_geometric", "matplotlib", "hypothesis", "ray", "torchrl", "tianshou", "pufferlib")


def run_without_extras(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where importing any extra's module fails."""
    block = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in EXTRA_MODULES)
    return subprocess.run([sys.executable, "-c", block + code], capture_output=True, text=True, timeout=600,
                          cwd=ROOT, env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"})


def test_schedule_compare_and_verify_work_with_the_core_dependencies_only() -> None:
    submission = ROOT / "leaderboards" / "submissions" / "zoo-v1" / "compiler.json"
    done = run_without_extras(f"""
from respect_gym.cli import main
from respect_gym.leaderboard.suite import PACKAGE_DATA
from respect_gym.leaderboard.verify import verify_submission
for argv in (["schedule", "resnet50", "--tpus", "2"], ["compare", "resnet50", "--tpus", "2", "--time-limit", "5"],
             ["leaderboard", "verify", {str(submission)!r}]):
    print("rc", main(argv))
verified = verify_submission({str(submission)!r}, PACKAGE_DATA)  # the suites as an installed wheel has them
print("verified from package data:", verified.suite.name, len(verified.scores))
""")
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert out.count("rc 0") == 3, out[-3000:]
    for plugin in ("imitation", "ppo"):  # the agents' solvers need torch: skipped, naming the extra
        line = next(line for line in out.splitlines() if line.startswith(f"skipped {plugin}"))
        assert "'torch'" in line and "pip install 'respect-gym[agents]'" in line
    assert "verified from package data: zoo-v1 84" in out
    assert "Traceback" not in done.stderr


def test_the_suites_and_the_schema_are_package_data() -> None:
    data = ROOT / "respect_gym" / "leaderboard" / "data"
    files = [p.relative_to(ROOT / "respect_gym").as_posix() for p in data.rglob("*") if p.is_file()]
    assert any(f.endswith("submission.schema.json") for f in files) and len(files) > 10
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["respect_gym"]
    missed = [f for f in files if not any(fnmatch(f, g) and f.count("/") == g.count("/") for g in globs)]
    assert not missed, f"not shipped in the wheel: {missed}"
    # the repository's leaderboards/ folder sees the same files
    assert (ROOT / "leaderboards" / "suites" / "zoo-v1.json").read_bytes() == (data / "suites" / "zoo-v1.json").read_bytes()
