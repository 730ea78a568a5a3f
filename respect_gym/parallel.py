"""One way to run many independent tasks: a local process pool by default, Ray tasks on request.

Expert labelling, suite evaluation (``respect-gym leaderboard run``), the agents' zoo table and the
solver benchmark all map one function over many instances. They do it through :func:`map_tasks`
so that moving from one machine to a Ray cluster changes one argument, not the code path:

- ``ray_address=None`` (default): a :class:`concurrent.futures.ProcessPoolExecutor` of
  ``workers`` processes on this machine (``workers=1`` runs the tasks inline, in this process).
- ``ray_address="auto"`` (or a cluster address such as ``"10.0.0.1:6379"``): one Ray task per
  task, on whatever machines the cluster has (``ray start --head``, ``ray start --address``);
  ``"auto"`` finds the cluster this machine belongs to (or ``RAY_ADDRESS``). ``"local"`` starts a
  private one-machine Ray with ``workers`` CPUs. A driver that already called ``ray.init`` is
  used as it is. Ray is imported only here, so the core package never needs it.

Whatever runs them, results come back as a list in task order, so output built from them is the
same (a task must be deterministic given its argument: seeds travel inside the task). A task
that raises is retried once; a second failure cancels the rest and raises :class:`TaskFailed`
naming the task, never a silently missing result. Ctrl-C (or any error) cancels queued tasks
and kills the running workers: local worker processes ignore SIGINT and are terminated by the
parent, Ray tasks are cancelled with ``force=True``.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

T = TypeVar("T")
R = TypeVar("R")

RETRIES = 1  # a failed task runs once more before it is reported
RAY_WINDOW_PER_CPU = 4  # Ray tasks in flight per cluster CPU when ``workers`` is not given


class TaskFailed(RuntimeError):
    """A task raised on its first run and on its retry.

    :param name: the task's name (e.g. ``"resnet50/k4"``).
    :param error: the last failure as ``"ExceptionType: message"``.
    """

    def __init__(self, name: str, error: str) -> None:
        super().__init__(f"task {name!r} failed twice: {error}")
        self.name = name
        self.error = error


def map_tasks(fn: Callable[[T], R], tasks: Sequence[T], *, names: Sequence[str], workers: int | None = None,
              ray_address: str | None = None, progress: bool = True, description: str = "tasks") -> list[R]:
    """``[fn(task) for task in tasks]``, run in parallel locally or on Ray (see the module doc).

    :param fn: a picklable function (module-level, or a ``functools.partial`` of one).
    :param tasks: its arguments, one per task; each must be picklable.
    :param names: one name per task, used in progress, retry and failure messages.
    :param workers: local processes (default: ``os.cpu_count()``; 1 runs inline); with Ray, the
        most tasks in flight at once (default: as many as the cluster's CPUs can take).
    :param ray_address: ``None`` for the local pool; ``"auto"``, ``"local"`` or an address for Ray.
    :param progress: show a rich progress bar on stderr.
    :param description: the progress bar's label.
    :raises TaskFailed: a task failed twice (the rest are cancelled).
    """
    if len(names) != len(tasks):
        raise ValueError(f"{len(names)} names for {len(tasks)} tasks")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if ray_address is not None:
        pool: _Pool = _RayPool(fn, tasks, ray_address, workers)
    elif (workers or os.cpu_count() or 1) == 1 or len(tasks) <= 1:
        pool = _InlinePool(fn, tasks)
    else:
        pool = _ProcessPool(fn, tasks, min(workers or os.cpu_count() or 1, len(tasks)))
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    results: list[Any] = [None] * len(tasks)
    failures = [0] * len(tasks)
    queue = deque(range(len(tasks)))
    running: dict[Hashable, int] = {}
    try:
        with Progress(*columns, console=console, disable=not progress, transient=True) as bar:
            bar_task = bar.add_task(description, total=len(tasks))
            while queue or running:
                while queue and len(running) < pool.window:
                    index = queue.popleft()
                    running[pool.submit(index)] = index
                for handle, error, value in pool.wait(list(running)):
                    index = running.pop(handle)
                    if error is None:
                        results[index] = value
                        bar.advance(bar_task)
                        continue
                    failures[index] += 1
                    message = f"{type(error).__name__}: {error}"
                    if failures[index] > RETRIES:
                        raise TaskFailed(names[index], message) from error
                    console.print(f"{description}: task {names[index]!r} failed ({message}); retrying once",
                                  highlight=False, markup=False)
                    queue.appendleft(index)
    finally:
        pool.close(list(running) if queue or running else None)
    return results


class _Pool(Protocol):
    """What :func:`map_tasks` needs of a backend."""

    window: int  # most tasks in flight at once

    def submit(self, index: int) -> Hashable:
        """Start task ``index``; the handle identifies it in :meth:`wait`."""

    def wait(self, handles: list[Hashable]) -> list[tuple[Hashable, BaseException | None, Any]]:
        """Block until at least one handle is done: ``(handle, error or None, result)`` of each done one."""

    def close(self, cancel: list[Hashable] | None) -> None:
        """Release the workers; ``cancel``: the handles still running, to kill (None: all done)."""


class _InlinePool:
    """``workers=1``: run each task in this process when it is waited for."""

    window = 1

    def __init__(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> None:
        self.fn, self.tasks = fn, tasks

    def submit(self, index: int) -> Hashable:
        return index

    def wait(self, handles: list[Hashable]) -> list[tuple[Hashable, BaseException | None, Any]]:
        index = handles[0]
        try:
            return [(index, None, self.fn(self.tasks[index]))]
        except Exception as exc:  # reported (and retried) by map_tasks
            return [(index, exc, None)]

    def close(self, cancel: list[Hashable] | None) -> None:
        pass


def _ignore_sigint() -> None:
    """Worker initializer: Ctrl-C is the parent's to handle (it terminates the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _ProcessPool:
    """The local default: a process pool; a pool broken by a dying worker is replaced."""

    def __init__(self, fn: Callable[[Any], Any], tasks: Sequence[Any], workers: int) -> None:
        self.fn, self.tasks, self.workers = fn, tasks, workers
        self.window = 2 * workers  # keeps every worker busy while results are collected
        self.executor = ProcessPoolExecutor(workers, initializer=_ignore_sigint)
        self.broken = False

    def submit(self, index: int) -> Hashable:
        if self.broken:  # a worker died (killed, out of memory): its tasks failed; start a new pool
            self.close([])
            self.executor = ProcessPoolExecutor(self.workers, initializer=_ignore_sigint)
            self.broken = False
        return self.executor.submit(self.fn, self.tasks[index])

    def wait(self, handles: list[Hashable]) -> list[tuple[Hashable, BaseException | None, Any]]:
        done, _ = wait(handles, return_when=FIRST_COMPLETED)  # type: ignore[arg-type]
        out: list[tuple[Hashable, BaseException | None, Any]] = []
        for future in (h for h in handles if h in done):
            error = future.exception()  # type: ignore[attr-defined]
            self.broken |= isinstance(error, BrokenProcessPool)
            out.append((future, error, None if error else future.result()))  # type: ignore[attr-defined]
        return out

    def close(self, cancel: list[Hashable] | None) -> None:
        if cancel is None:
            self.executor.shutdown()
            return
        processes = list((self.executor._processes or {}).values())  # no public handle before Python 3.14
        self.executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join()


def _call(fn: Callable[[Any], Any], task: Any) -> Any:
    """The Ray task: ``fn`` travels once through the object store, the task with each call."""
    return fn(task)


class _RayPool:
    """One Ray task (1 CPU) per task, on the cluster at ``address``."""

    def __init__(self, fn: Callable[[Any], Any], tasks: Sequence[Any], address: str, workers: int | None) -> None:
        try:
            import ray
        except ImportError:
            raise ImportError("--ray needs Ray: pip install 'respect-gym[distributed]'") from None
        self.ray = ray
        self.owned = not ray.is_initialized()
        if self.owned and address == "local":
            ray.init(num_cpus=workers, include_dashboard=False)
        elif self.owned:
            try:
                ray.init(address=address)
            except ConnectionError as exc:
                raise ConnectionError(f"cannot connect to the Ray cluster {address!r} ({exc}); a cluster started by "
                                      "`ray start` checks a token: export RAY_AUTH_MODE=token and make its token "
                                      "available here (~/.ray/auth_token or RAY_AUTH_TOKEN)") from None
        self.call = ray.remote(num_cpus=1, max_retries=0)(_call)  # retries are map_tasks' own, as locally
        self.fn = ray.put(fn)
        self.tasks = tasks
        self.window = workers or RAY_WINDOW_PER_CPU * max(int(ray.cluster_resources().get("CPU", 1)), 1)

    def submit(self, index: int) -> Hashable:
        return self.call.remote(self.fn, self.tasks[index])

    def wait(self, handles: list[Hashable]) -> list[tuple[Hashable, BaseException | None, Any]]:
        ray = self.ray
        ready, rest = ray.wait(handles, num_returns=1)
        if rest:  # collect everything else already finished in the same pass
            ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        out: list[tuple[Hashable, BaseException | None, Any]] = []
        for ref in ready:
            try:
                out.append((ref, None, ray.get(ref)))
            except ray.exceptions.RayTaskError as exc:  # the task raised: report its own exception
                out.append((ref, exc.cause if isinstance(exc.cause, BaseException) else exc, None))
            except ray.exceptions.RayError as exc:  # its worker or node died
                out.append((ref, exc, None))
        return out

    def close(self, cancel: list[Hashable] | None) -> None:
        for ref in cancel or []:
            self.ray.cancel(ref, force=True)
        if self.owned:
            self.ray.shutdown()
