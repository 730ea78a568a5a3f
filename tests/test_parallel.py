"""respect_gym.parallel: task order, retry once, failures named, and the same output from the
local process pool and from Ray (``ray.init(num_cpus=2)``) for expert labelling and a suite run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import parallel_tasks
from ray_local import local_ray
from respect_gym.leaderboard import ROOT, LeaderboardError, verify_submission
from respect_gym.leaderboard.build import SuiteSpec, build_suite
from respect_gym.leaderboard.run import Method, run
from respect_gym.parallel import TaskFailed, map_tasks

SUITE = SuiteSpec("par-v0", "small zoo graphs for the parallel tests", ("mobilenet", "resnet50"), (2, 3, 4))


def names(n: int) -> list[str]:
    return [f"g{i}/K=4" for i in range(n)]


@pytest.fixture(scope="module")
def ray_local():
    return local_ray()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("leaderboards")
    shutil.copy(ROOT / "submission.schema.json", root)
    build_suite(SUITE, root)
    return root


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_back_in_task_order(workers: int) -> None:
    assert map_tasks(parallel_tasks.square, list(range(9)), names=names(9), workers=workers,
                     progress=False) == [x * x for x in range(9)]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failed_task_is_retried_once(workers: int, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    tasks = [(x, str(tmp_path / "marker")) for x in range(5)]
    assert map_tasks(parallel_tasks.fails_first_time, tasks, names=names(5), workers=workers, progress=False) == [0, 1, 2, 3, 4]
    assert "task 'g3/K=4' failed (OSError: transient failure); retrying once" in capsys.readouterr().err


@pytest.mark.parametrize("workers", [1, 2])
def test_a_task_failing_twice_is_raised_with_its_name(workers: int) -> None:
    with pytest.raises(TaskFailed, match=r"^task 'g2/K=4' failed twice: ValueError: cannot handle 2$") as info:
        map_tasks(parallel_tasks.fails_on_two, list(range(6)), names=names(6), workers=workers, progress=False)
    assert info.value.name == "g2/K=4" and isinstance(info.value.__cause__, ValueError)


def test_ray_backend_orders_retries_and_names_failures(ray_local, tmp_path: Path) -> None:
    assert map_tasks(parallel_tasks.square, list(range(9)), names=names(9), ray_address="auto",
                     progress=False) == [x * x for x in range(9)]
    tasks = [(x, str(tmp_path / "marker")) for x in range(5)]
    assert map_tasks(parallel_tasks.fails_first_time, tasks, names=names(5), ray_address="auto", progress=False) == [0, 1, 2, 3, 4]
    with pytest.raises(TaskFailed, match=r"^task 'g2/K=4' failed twice: ValueError: cannot handle 2$"):
        map_tasks(parallel_tasks.fails_on_two, list(range(6)), names=names(6), ray_address="auto", progress=False)


def test_labelling_is_byte_identical_with_ray_and_the_process_pool(ray_local, tmp_path: Path) -> None:
    from respect_gym_agents.labels import label, training_specs

    specs = training_specs(4, seed=0)  # all four solved by exact's DP: fast
    pool = label(specs, tmp_path / "pool", workers=2)
    on_ray = label(specs, tmp_path / "ray", ray_address="auto")
    (pool_file,), (ray_file,) = (tmp_path / "pool").iterdir(), (tmp_path / "ray").iterdir()
    assert pool_file.name == ray_file.name and pool_file.read_bytes() == ray_file.read_bytes()
    assert all((a == b).all() for a, b in zip(pool, on_ray))


def without_timings(path: Path) -> str:
    """The submission with its measured seconds and machine blanked (all else must match)."""
    data = json.loads(path.read_text())
    for entry in data["results"]:
        entry["seconds"] = 0
    data["machine"] = ""
    data["harness"]["command"] = data["harness"]["command"].split(" --workers")[0].split(" --ray")[0]
    return json.dumps(data, sort_keys=True)


def test_suite_run_is_identical_with_ray_and_the_process_pool(ray_local, root: Path, tmp_path: Path) -> None:
    outs = {how: tmp_path / f"{how}.json" for how in ("inline", "pool", "ray")}
    method = Method("slicegraph")
    run("par-v0", outs["inline"], method, solver="slicegraph", root=root)
    run("par-v0", outs["pool"], method, solver="slicegraph", root=root, workers=2)
    run("par-v0", outs["ray"], method, solver="slicegraph", root=root, ray_address="auto")
    assert without_timings(outs["inline"]) == without_timings(outs["pool"]) == without_timings(outs["ray"])
    commands = [json.loads(outs[how].read_text())["harness"]["command"] for how in ("pool", "ray")]
    assert commands[0].endswith("--solver slicegraph --workers 2") and commands[1].endswith("--solver slicegraph --ray auto")
    verify_submission(outs["ray"], root)


@pytest.mark.parametrize("backend", ["pool", "ray"])
def test_a_failing_instance_is_reported_by_name(backend: str, request: pytest.FixtureRequest, root: Path,
                                                tmp_path: Path) -> None:
    options = {"ray_address": "auto"} if backend == "ray" and request.getfixturevalue("ray_local") else {"workers": 2}
    with pytest.raises(LeaderboardError) as info:
        run("par-v0", tmp_path / "out.json", Method("m"), policy="parallel_tasks:one_stage_except_resnet50_k3",
            root=root, **options)
    assert str(info.value) == ("task 'resnet50/k3' failed twice: LeaderboardError: m failed on resnet50/k3: "
                               "ZeroDivisionError: division by zero")
    assert not (tmp_path / "out.json").exists()
