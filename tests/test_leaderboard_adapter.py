"""From an env policy to a leaderboard entry: the adapter (callables and an sb3-contrib model),
``--policy path/to/file.py:fn`` and ``module:fn`` from the user's folder, the explicit
``--trained-on-suite`` choice, progress lines when stderr is not a terminal, and ``verify``'s
first line on a file that is not a submission."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import respect_gym
from respect_gym.cli import main
from respect_gym.cost import validate_schedule
from respect_gym.envs import CompactObservation
from respect_gym.leaderboard import verify_submission
from respect_gym.leaderboard.adapter import env_scheduler

POLICY_FILE = '''import numpy as np
from respect_gym.leaderboard.adapter import env_scheduler


def last_legal(obs, mask):
    return int(np.flatnonzero(mask)[-1])


scheduler = env_scheduler(last_legal)
'''


def rollout(env, choose) -> list[int]:
    """The schedule of one episode, stepping the env by hand (independent of the adapter)."""
    obs, info = env.reset(seed=0)
    done = False
    while not done:
        obs, _, done, _, info = env.step(choose(obs, info["action_mask"]))
    return info["schedule"]


def test_callable_policies_give_the_episode_schedule() -> None:
    graph = respect_gym.load_graph("mobilenet")
    for policy in (lambda obs, mask: int(np.flatnonzero(mask)[-1]), lambda obs: 1):
        schedule = env_scheduler(policy)(graph, 3, hardware="usb3", objective="period")
        validate_schedule(graph, schedule, 3)
        env = gym.make("RespectPipeline-v1", model=graph, num_tpus=3)
        two = policy.__code__.co_argcount == 2
        expected = rollout(env, lambda obs, mask: policy(obs, mask) if two else policy(obs))
        assert schedule == expected
    assert schedule == [1] * graph.num_nodes  # the constant action 1 is always legal here


def test_sb3_maskable_model_through_the_adapter() -> None:
    sb3_contrib = pytest.importorskip("sb3_contrib")
    graph = respect_gym.load_graph("resnet50")
    env = CompactObservation(gym.make("RespectPipeline-v1", model=graph, num_tpus=4))
    model = sb3_contrib.MaskablePPO("MlpPolicy", env, seed=0, n_steps=64, batch_size=32, device="cpu")
    schedule = env_scheduler(model, wrappers=[CompactObservation])(graph, 4, revision=3)
    expected = rollout(env, lambda obs, mask: int(model.predict(obs, deterministic=True,
                                                                  action_masks=mask.astype(bool))[0]))
    assert schedule == expected
    validate_schedule(graph, schedule, 4)


def test_adapter_refuses_instance_options() -> None:
    with pytest.raises(ValueError, match="num_tpus come from each suite instance"):
        env_scheduler(lambda obs: 0, num_tpus=4)


def test_policy_file_and_module_from_the_users_folder(tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "agents_dir").mkdir()
    (tmp_path / "agents_dir" / "my_agent.py").write_text(POLICY_FILE)
    (tmp_path / "my_agent_module_xyz.py").write_text(POLICY_FILE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    for spec, name in (("agents_dir/my_agent.py:scheduler", "file.json"), ("my_agent_module_xyz:scheduler", "mod.json")):
        out = tmp_path / name
        assert main(["leaderboard", "run", "--suite", "synthetic-v1", "--policy", spec, "--out", str(out),
                     "--not-trained-on-suite", "--workers", "2"]) == 0
        data = json.loads(out.read_text())
        assert data["trained_on_suite"] is False and len(data["results"]) == 18
        v = verify_submission(out)
        assert len(v.scores) == 18
    file_result, module_result = (json.loads((tmp_path / n).read_text())["results"] for n in ("file.json", "mod.json"))
    assert [r["stages"] for r in file_result] == [r["stages"] for r in module_result]
    err = capsys.readouterr().err  # stderr is not a terminal here: plain progress lines
    assert "agents_dir/my_agent.py:scheduler on synthetic-v1: 18/18 instances" in err
    assert "instances, " in err and " s left" in err


def test_trained_on_suite_is_an_explicit_choice(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["leaderboard", "run", "--suite", "zoo-v1", "--solver", "compiler", "--out", "x.json"])
    assert "one of the arguments --trained-on-suite --not-trained-on-suite is required" in capsys.readouterr().err


def test_verify_says_what_the_file_is_first(tmp_path, capsys) -> None:
    graph_file = tmp_path / "graph.json"
    respect_gym.load_graph("mobilenet").to_json(graph_file)
    assert main(["leaderboard", "verify", str(graph_file)]) == 1
    first, last = capsys.readouterr().err.splitlines()  # what the file is, and the count: no schema noise
    assert first.startswith(f"respect-gym leaderboard verify: error: {graph_file} is a respect-gym graph file, "
                            "not a leaderboard submission (expected a 'respect-gym/leaderboard-submission'")
    assert last == "1 of 1 submission(s) failed verification"


def test_leaderboards_readme_agent_example_runs_as_written(tmp_path) -> None:
    """The example of leaderboards/README.md: train one model per K, the policy file, the harness
    and the verifier, each block as written (in a fresh folder and fresh interpreters)."""
    pytest.importorskip("sb3_contrib")
    import re
    import shlex
    import subprocess

    text = (Path(__file__).resolve().parent.parent / "leaderboards" / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### An RL agent on the leaderboard"):text.index("A file made without the harness")]
    train, agent = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    (commands,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    (tmp_path / "train_my_agent.py").write_text(train)
    (tmp_path / "my_agent.py").write_text(agent)
    cli = [sys.executable, "-c", "import sys; from respect_gym.cli import main; sys.exit(main())"]
    outputs = []
    for line in commands.strip().splitlines():
        argv = shlex.split(line)
        argv = [sys.executable, *argv[1:]] if argv[0] == "python" else [*cli, *argv[1:]]
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (line, done.stderr[-2000:])
        outputs.append(done.stdout)
    assert sorted(p.name for p in tmp_path.glob("my_agent_k*.zip")) == [f"my_agent_k{k}.zip" for k in (2, 4, 6, 8)]
    submission = json.loads((tmp_path / "my-agent.json").read_text())
    assert submission["method"]["name"] == "My agent" and submission["trained_on_suite"] is False
    v = verify_submission(tmp_path / "my-agent.json")
    assert len(v.scores) == 84 and 0 < v.score < 1
    assert outputs[-1].startswith(f"My agent on zoo-v1: score {v.score:.4f}, ")
