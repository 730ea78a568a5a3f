"""The harness: run a registered solver, or any Python scheduler, on every instance of a suite.

It times each instance itself (wall-clock seconds around the call, on the machine it runs on, after
one untimed call on a 3-node graph that takes a scheduler's imports and checkpoint loading) and
scores each schedule with the suite's cost-model revision, so a submission it writes carries
measured times and values the verifier will reproduce. A Python scheduler (``--policy
module:callable`` or ``--policy path/to/file.py:callable``) is called as ``policy(graph,
num_stages, hardware=..., objective=...)`` (plus ``revision=`` when it takes that argument) and
returns one stage per node; learned agents plug in this way (an env policy or an SB3 model through
:func:`respect_gym.leaderboard.adapter.env_scheduler`), or as a registered solver name.
Instances run one per task (:mod:`respect_gym.parallel`): one at a time in this process by
default, in ``workers`` local processes, or as Ray tasks on a cluster; each is timed in the
process that runs it, and the submission lists results in suite order whatever ran them.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import respect_gym
from respect_gym.cost import validate_schedule
from respect_gym.graph import Graph, GraphMeta
from respect_gym.leaderboard.costs import score_schedule, solve_instance
from respect_gym.leaderboard.errors import LeaderboardError
from respect_gym.leaderboard.jsonio import write_text
from respect_gym.leaderboard.submission import submission_json
from respect_gym.leaderboard.suite import ROOT, Instance, Suite, load_suite
from respect_gym.parallel import TaskFailed, map_tasks
from respect_gym.solvers import SolverError, list_solvers

Policy = Callable[..., Sequence[int]]
Scheduler = Callable[[Graph, Instance], Sequence[int]]


@dataclass(frozen=True)
class Method:
    """Who made the schedules, as the submission's metadata states it. ``trained_on_suite``
    defaults to False for the built-in solvers (they never saw any suite); ``leaderboard run``
    requires ``--trained-on-suite`` or ``--not-trained-on-suite``, so a user states it."""

    name: str
    authors: tuple[str, ...] = ("respect-gym maintainers",)
    link: str = ""
    description: str = ""
    trained_on_suite: bool = False
    deterministic: bool = True


def is_file_spec(module_part: str) -> bool:
    """Whether the part before ``:`` of ``--policy`` names a Python file rather than a module."""
    return module_part.endswith(".py") or "/" in module_part or os.sep in module_part


_FILE_MODULES: dict[str, Any] = {}


def import_file(path: str) -> Any:
    """Import a Python file as a module (once per process; its folder goes on ``sys.path`` first,
    so it can import its neighbours)."""
    resolved = str(Path(path).resolve())
    if resolved in _FILE_MODULES:
        return _FILE_MODULES[resolved]
    if not Path(resolved).is_file():
        raise LeaderboardError(f"--policy: no such file {path!r}")
    folder = str(Path(resolved).parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = f"respect_gym_policy_{abs(hash(resolved)):x}"
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise LeaderboardError(f"--policy: cannot load {path!r} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise LeaderboardError(f"--policy: importing {path} failed: {type(exc).__name__}: {exc}") from None
    _FILE_MODULES[resolved] = module
    return module


@dataclass(frozen=True)
class FilePolicy:
    """``path/to/file.py:callable`` as a picklable policy: each process that runs it (a worker, a
    Ray task) imports the file itself, so nothing but the path and the name is pickled."""

    path: str
    attr: str

    def resolve(self) -> Policy:
        policy = getattr(import_file(self.path), self.attr, None)
        if policy is None:
            raise LeaderboardError(f"--policy: {self.path} has no attribute {self.attr!r}")
        if not callable(policy):
            raise LeaderboardError(f"--policy: {self.path}:{self.attr} is not callable")
        return policy

    def __call__(self, *args: Any, **kwargs: Any) -> Sequence[int]:
        return self.resolve()(*args, **kwargs)


def load_policy(spec: str) -> Policy:
    """Import ``"package.module:callable"`` or ``"path/to/file.py:callable"``; the error names
    what is missing. Modules are looked up from the current folder too (as ``python -m`` does)."""
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise LeaderboardError(f"--policy must be 'module:callable' or 'path/to/file.py:callable', got {spec!r}")
    if is_file_spec(module_name):
        policy = FilePolicy(str(Path(module_name).resolve()), attr)
        policy.resolve()  # fail here, with the file named, rather than on the first instance
        return policy
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # the user's own folder, as with `python -m`
    try:
        policy = getattr(importlib.import_module(module_name), attr)
    except ImportError as exc:
        raise LeaderboardError(f"cannot import policy module {module_name!r}: {exc}") from None
    except AttributeError:
        raise LeaderboardError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(policy):
        raise LeaderboardError(f"policy {spec!r} is not callable")
    return policy


def takes_revision(policy: Policy) -> bool:
    """Whether a scheduler accepts ``revision=`` (the adapter's schedulers do)."""
    target = policy.resolve() if isinstance(policy, FilePolicy) else policy
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False
    return "revision" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def machine() -> str:
    """The machine the harness ran on, as recorded beside its timings."""
    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")  # Linux names the CPU model only here
    if cpuinfo.is_file():
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                    if line.startswith("model name")), cpu)
    return f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs ({cpu or 'unknown CPU'})"


@dataclass(frozen=True)
class SolverScheduler:
    """A registered solver as a scheduler of suite instances (a picklable object: workers run it)."""

    solver: str
    time_limit: float | None
    seed: int

    def __call__(self, graph: Graph, inst: Instance) -> Sequence[int]:
        try:
            return solve_instance(graph, inst.num_stages, self.solver, inst.hardware, inst.objective,
                                  inst.cost_model_revision, time_limit=self.time_limit, seed=self.seed).stages
        except SolverError as exc:
            raise LeaderboardError(f"{self.solver} cannot run {inst.id}: {exc}") from None


def solver_policy(solver: str, time_limit: float | None, seed: int) -> SolverScheduler:
    """A registered solver as a scheduler of suite instances."""
    if solver not in list_solvers():
        raise LeaderboardError(f"unknown solver {solver!r}; registered: {', '.join(list_solvers())}")
    return SolverScheduler(solver, time_limit, seed)


@dataclass(frozen=True)
class PolicyScheduler:
    """A user's callable as a scheduler of suite instances (pickled by reference: workers import it)."""

    policy: Policy

    def __call__(self, graph: Graph, inst: Instance) -> Sequence[int]:
        extra = {"revision": inst.cost_model_revision} if takes_revision(self.policy) else {}
        return self.policy(graph, inst.num_stages, hardware=inst.hardware, objective=inst.objective, **extra)


def python_policy(policy: Policy) -> PolicyScheduler:
    """A user's callable as a scheduler of suite instances."""
    return PolicyScheduler(policy)


# a 3-node chain (host input, conv, dense) for the untimed first call of warm_up
WARM_UP_GRAPH = Graph(("input", "conv", "dense"), ("Input", "Conv2D", "Dense"), (0, 1_000, 100), (0, 96, 40),
                      (48, 64, 10), ((0, 1), (1, 2)), meta=GraphMeta(model="warm-up"))


_WARMED: set[tuple] = set()  # (scheduler, hardware, objective, revision) already warmed in this process


def warm_up(schedule: Scheduler, inst: Instance) -> None:
    """Call ``schedule`` once per process and setting, untimed, on :data:`WARM_UP_GRAPH` with
    ``inst``'s setting (K = 2), so that imports and checkpoint loading, which a scheduler does on its
    first call in a process, are not timed as part of an instance (hard-v2's first instance took the
    shipped agents 2-3 s of a 1 s budget, the later ones 0.03-0.6 s). An unhashable scheduler is
    warmed before every instance. Whatever it raises is ignored here: the timed call on the real
    instance reports it."""
    key = (schedule, inst.hardware, inst.objective, inst.cost_model_revision)
    try:
        if key in _WARMED:
            return
        _WARMED.add(key)
    except TypeError:  # unhashable: no record of it, warmed each time
        pass
    try:
        schedule(WARM_UP_GRAPH, dataclasses.replace(inst, id="warm-up/k2", graph="warm-up", num_nodes=3, num_stages=2))
    except Exception:  # noqa: BLE001 - the timed call raises it again, named
        pass


def run_instance(task: tuple[Scheduler, Graph, Instance, str]) -> tuple[dict[str, Any], str]:
    """Schedule, time and score one instance (after an untimed :func:`warm_up`); returns its result
    entry and the machine it ran on."""
    schedule, graph, inst, method_name = task
    warm_up(schedule, inst)
    start = time.perf_counter()
    try:
        stages = schedule(graph, inst)
    except LeaderboardError:
        raise
    except Exception as exc:  # a user's policy: name the instance it failed on, in one line
        raise LeaderboardError(f"{method_name} failed on {inst.id}: {type(exc).__name__}: {exc}") from exc
    seconds = time.perf_counter() - start
    try:
        stages = validate_schedule(graph, stages, inst.num_stages)
    except ValueError as exc:
        raise LeaderboardError(f"{method_name} returned an invalid schedule for {inst.id}: {exc}") from None
    value, _ = score_schedule(graph, stages, inst.num_stages, inst.hardware, inst.objective, inst.cost_model_revision)
    return ({"instance": inst.id, "graph_sha256": inst.graph_sha256, "num_stages": inst.num_stages,
             "stages": stages.tolist(), "objective_value": value, "seconds": round(seconds, 4)}, machine())


def run_suite(suite: Suite, schedule: Scheduler, method: Method,
              harness: dict[str, Any], out: Path, workers: int | None = 1, ray_address: str | None = None,
              progress: bool = False) -> Path:
    """Schedule every instance, time and score each, and write the submission to ``out``.

    ``schedule`` must be picklable when ``workers`` > 1 or ``ray_address`` is given (see
    :func:`respect_gym.parallel.map_tasks`); ``progress`` shows a progress bar with the time left
    on a terminal, and one line per tenth of the suite (done, elapsed, time left) on stderr
    otherwise (a log, CI).
    """
    tasks = [(schedule, suite.graph(inst), inst, method.name) for inst in suite.instances]
    names = [inst.id for inst in suite.instances]
    description = f"{method.name} on {suite.name}"
    chunk = len(tasks) if not progress or sys.stderr.isatty() else max(1, -(-len(tasks) // 10), 2 * (workers or 1))
    done: list[tuple[dict[str, Any], str]] = []
    start = time.perf_counter()
    try:
        for first in range(0, len(tasks), chunk):
            done += map_tasks(run_instance, tasks[first:first + chunk], names=names[first:first + chunk],
                              workers=workers, ray_address=ray_address, progress=progress and chunk == len(tasks),
                              description=description)
            if chunk < len(tasks):
                elapsed = time.perf_counter() - start
                left = elapsed / len(done) * (len(tasks) - len(done))
                print(f"{description}: {len(done)}/{len(tasks)} instances, {elapsed:.0f} s elapsed, about "
                      f"{left:.0f} s left", file=sys.stderr, flush=True)
    except TaskFailed as exc:
        raise LeaderboardError(str(exc)) from exc
    machines = sorted({m for _, m in done})
    meta = {
        "suite": suite.name,
        "method": {"name": method.name, "authors": list(method.authors), "link": method.link,
                   "description": method.description},
        "package_version": respect_gym.__version__,
        "trained_on_suite": method.trained_on_suite,
        "deterministic": method.deterministic,
        "machine": machines[0] if len(machines) == 1 else f"{len(machines)} machines, e.g. {machines[0]}"[:200],
        "harness": harness,
    }
    write_text(out, submission_json(meta, [result for result, _ in done]))
    return out


def run(suite_name: str, out: str | Path, method: Method, solver: str | None = None, policy: str | None = None,
        time_limit: float | None = None, seed: int = 0, root: Path = ROOT, workers: int | None = 1,
        ray_address: str | None = None, progress: bool = False) -> Path:
    """Run ``solver`` (a registry name) or ``policy`` (``module:callable``) on a suite; see the module doc."""
    if (solver is None) == (policy is None):
        raise LeaderboardError("give exactly one of a solver name or a policy 'module:callable'")
    suite = load_suite(suite_name, root)
    # a Python policy gets no limit (the harness cannot stop a callable): a ``time_limit`` given with
    # it is only recorded, as the budget the entry claims on an anytime tier, which the measured
    # times then show it kept or not
    schedule = solver_policy(solver, time_limit, seed) if solver else python_policy(load_policy(policy))
    command = f"respect-gym leaderboard run --suite {suite_name} " + (f"--solver {solver}" if solver else f"--policy {policy}")
    command += "" if time_limit is None else f" --time-limit {time_limit:g}"
    command += "" if workers in (None, 1) else f" --workers {workers}"
    command += "" if ray_address is None else f" --ray {ray_address}"
    harness = {"command": command, "time_limit_s": time_limit, "seed": seed}
    return run_suite(suite, schedule, method, harness, Path(out), workers, ray_address, progress)
