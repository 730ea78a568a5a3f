"""The README's examples run as written, each in a fresh interpreter, and print what it says.

Every ```python block runs in its own interpreter in a scratch folder that looks like a clone
(``scripts/``, ``tests/`` and ``agents/`` linked in); the command lines of the ``respect-gym`` and
``python scripts/...`` examples run there too, and every ```text block (sample output) must match
what its commands print, timings aside. Each Python block has a check of its output below,
computed independently in this process; a new block without one fails the test.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import respect_gym

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CLI = [sys.executable, "-c", "import sys; from respect_gym.cli import main; sys.exit(main())"]


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clone")
    for name in ("scripts", "tests", "agents"):
        os.symlink(ROOT / name, folder / name)
    return folder


def run(argv: list[str], cwd: Path, stdin: str | None = None) -> str:
    env = {**os.environ, "COLUMNS": "80"}
    done = subprocess.run(argv, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, (argv, done.stderr[-3000:])
    return done.stdout


def command(line: str, cwd: Path) -> str:
    """One README command line (comment stripped), as a user would type it in the clone."""
    argv = shlex.split(line, comments=True)
    if argv[0] == "respect-gym":
        return run([*CLI, *argv[1:]], cwd)
    assert argv[0] == "python" and argv[1].startswith("scripts/"), line
    return run([sys.executable, *argv[1:]], cwd)


def runnable_commands() -> list[str]:
    """README command lines that run offline in seconds (no pip, Ray, training or benchmarks)."""
    lines = [line.strip() for block in blocks("bash") for line in block.splitlines()]
    return [line for line in lines if line.startswith(("respect-gym schedule", "respect-gym import", "respect-gym models",
                                                       "respect-gym compare", "python scripts/make_split_demo"))]


def without_timings(text: str) -> str:
    return re.sub(r"in \d+\.\d+ s", "in <t> s", text)


@pytest.fixture(scope="module")
def outputs(clone) -> dict[str, str]:
    """Every runnable README command's output, in README order (later ones use earlier files)."""
    return {line: command(line, clone) for line in runnable_commands()}


def test_the_readme_shows_runnable_commands(outputs) -> None:
    assert "respect-gym schedule resnet50 --tpus 4     # per-stage table, then the answer:" in outputs
    assert any(line.startswith("python scripts/make_split_demo_tflite.py") for line in outputs)


def test_sample_outputs_match_the_commands(outputs) -> None:
    printed = without_timings("\n".join(outputs.values()))
    samples = blocks("text")
    assert len(samples) >= 2
    for sample in samples:
        for line in sample.strip().splitlines():
            assert without_timings(line) in printed, line
    sweep = next(out for line, out in outputs.items() if "--tpus 1-8" in line)
    assert "beyond 4 TPUs, each added TPU gains less than 10% throughput (--min-gain)" in sweep


def check_quick_tour(out: str) -> None:
    graph = respect_gym.load_graph("resnet50")
    best, vendor = respect_gym.solve(graph, 4), respect_gym.solve(graph, 4, solver="compiler")
    first, second, third = (line.split() for line in out.splitlines())
    assert float(first[0]) == pytest.approx(best.period_ms, rel=1e-12)
    assert float(first[1]) == pytest.approx(best.report.latency_ms, rel=1e-12) and first[2] == "True"
    assert float(second[0]) == pytest.approx(vendor.period_ms / best.period_ms, rel=1e-12)
    period, score, success = float(third[0]), float(third[1]), third[2]
    assert score == pytest.approx(vendor.period_ms / period - 1, rel=1e-9)  # the env's score, recomputed
    assert success == str(score > 0)


def check_silent(out: str) -> None:
    assert out == ""


def check_own_model(out: str, clone: Path) -> None:
    graph = respect_gym.load_graph(clone / "split_demo.tflite")
    best = respect_gym.solve(graph, 4)
    used = len(set(best.stages.tolist()))
    first, second = out.splitlines()
    assert first == f"{best.period_ms:.3f} ms on {used} TPUs" == "0.726 ms on 3 TPUs"
    assert second == str([f"split_demo_segment_{s}_of_3.tflite" for s in range(3)])
    assert sorted(p.name for p in (clone / "my_segments").glob("*.tflite")) == eval(second)


def check_vector_env(out: str) -> None:
    """The batch's mean score, replayed with 1024 single envs seeded 0..1023 and the same draws."""
    import gymnasium as gym
    import numpy as np

    envs = [gym.make("RespectPipeline-v1", model="resnet50") for _ in range(1024)]
    masks = np.stack([env.reset(seed=i)[1]["action_mask"] for i, env in enumerate(envs)]).astype(bool)
    rng = np.random.default_rng(0)
    for _ in range(74):
        low = masks.argmax(axis=1)
        actions = low + rng.integers(0, 4 - low)
        steps = [env.step(int(a)) for env, a in zip(envs, actions)]
        masks = np.stack([info["action_mask"] for *_, info in steps]).astype(bool)
    assert all(done for _, _, done, _, _ in steps)
    assert out.split() == ["True", f"{np.mean([info['score'] for *_, info in steps]):.6f}"]


CHECKS = {  # a line that identifies the block -> the check of what it prints
    "report = respect_gym.evaluate(graph, vendor.stages, 4)": check_quick_tour,
    'granularity="fused", max_nodes=1024, reward_mode="terminal", objective="period")': check_silent,
    'model = "split_demo.tflite"': check_own_model,
    "actions = np.array([np.flatnonzero(m)[0] for m in info[\"action_mask\"]])": check_silent,
    'envs = gym.make_vec("RespectPipeline-v1", num_envs=1024, model="resnet50", observation="compact")':
        check_vector_env,
}


def test_every_python_block_runs_in_a_fresh_interpreter(outputs, clone) -> None:
    found = blocks("python")
    assert len(found) >= 4
    for block in found:
        keys = [key for key in CHECKS if key in block]
        assert len(keys) == 1, f"README block without a check in tests/test_readme.py:\n{block}"
        out = run([sys.executable, "-"], clone, stdin=block)
        check = CHECKS[keys[0]]
        check(out, clone) if check is check_own_model else check(out)
