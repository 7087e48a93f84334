"""The cohort's engine: Dask (`dask[distributed]`), one task per study.

A local cluster (one worker process per core by default, `workers` and `threads_per_worker` to choose) or an
existing scheduler (`scheduler`, e.g. `tcp://host:8786` of a dask-jobqueue or Kubernetes cluster; its workers read
the inputs and write the outputs on shared storage). Each study is one task whose argument is a few paths and
settings and whose result is one small row; nothing large goes through the scheduler. A worker process that dies
mid-study (killed, out of memory) is replaced by its nanny and the scheduler runs the study again on a live
worker, up to ALLOWED_FAILURES times (Dask's `distributed.scheduler.allowed-failures`; a task's own
exception is not retried: a study's errors are recorded in its row instead). Progress (done, failed, time left)
goes to `stream`, the dashboard's address with it when the local cluster serves one.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, TextIO

from ..errors import InputError
from .study import StudyTask, failed_row, run_study

ALLOWED_FAILURES = 3  # a study whose workers die once more than this is recorded as failed
DASHBOARD_ADDRESS = ":8787"
CONNECT_TIMEOUT_S = 30


@dataclass(frozen=True)
class ClusterOptions:
    """Where the studies run: an existing scheduler's address, or a local cluster of `workers` processes (default:
    one per core) with `threads_per_worker` threads each; `dashboard` asks the local cluster to serve Dask's."""

    scheduler: Optional[str] = None
    workers: Optional[int] = None
    threads_per_worker: int = 1
    dashboard: bool = True

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise InputError(f"--workers must be at least 1, not {self.workers}")
        if self.threads_per_worker < 1:
            raise InputError(f"--threads-per-worker must be at least 1, not {self.threads_per_worker}")
        if self.scheduler is not None and self.workers is not None:
            raise InputError("--workers sizes the local cluster; an existing cluster (--scheduler) has its own")


def default_workers() -> int:
    """One worker process per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


CLUSTER_CONFIG = {
    "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
    # Non-daemonic workers: a study's learner may use its own threads (joblib), exactly as the single command does.
    "distributed.worker.daemon": False,
}


def _distributed():
    """The distributed package, quiet (its INFO lines would drown the progress), or one line on how to get it."""
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")  # before it is imported (the workers inherit it)
    try:
        import dask
        import distributed
    except ImportError:
        raise InputError('batch runs on Dask: install it with pip install "SPECTFewShot[batch]"') from None
    return dask, distributed


def local_cluster(workers: Optional[int] = None, threads_per_worker: int = 1, dashboard: bool = True):
    """A Dask LocalCluster of `workers` processes (default: one per core) set up for studies; Dask's dashboard
    when asked for and bokeh is installed."""
    dask, distributed = _distributed()
    serve = dashboard and importlib.util.find_spec("bokeh") is not None
    workers = workers or default_workers()
    # Workers run like a `spectfewshot` process started from this shell: Dask's pre-spawn settings are left out.
    # OMP/MKL/OPENBLAS_NUM_THREADS=1 would change the summation order of threaded reductions, and with it the last
    # digits of some studies' results (a landmark by 0.01 mm, an uptake by 0.1 point), so that a batch would not
    # write what the single command writes; the environment's own settings, if any, reach the workers as they are.
    # MALLOC_TRIM_THRESHOLD_ turns off glibc's adaptive mmap threshold, so every large array becomes fresh pages to
    # fault in again, where a `spectfewshot` process reuses its heap (memory_pages.py says what a first touch costs).
    environ = {name: value for name, value in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
               if name not in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    saved = {name: os.environ.get(name) for name in environ}  # the nanny writes them into this process's environ
    try:
        with dask.config.set({**CLUSTER_CONFIG, "distributed.nanny.pre-spawn-environ": environ}):
            return distributed.LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker,
                                            processes=True, dashboard_address=DASHBOARD_ADDRESS if serve else None,
                                            silence_logs=logging.ERROR)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_tasks(tasks: Sequence[StudyTask], options: ClusterOptions, stream: Optional[TextIO] = None,
              task_function: Callable[[StudyTask], dict] = run_study) -> list[dict]:
    """Run every task on Dask and return their rows in the tasks' order; progress and the cluster go to `stream`."""
    stream = stream or sys.stderr
    if not tasks:
        return []
    _, distributed = _distributed()
    cluster = None
    try:
        if options.scheduler:
            try:
                client = distributed.Client(options.scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
            except (OSError, TimeoutError, ValueError) as error:
                reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise InputError(f"cannot reach the Dask scheduler at {options.scheduler} ({reason})") from None
            info = client.scheduler_info()
            dashboard = f"dashboard {client.dashboard_link}" if "dashboard" in info.get("services", {}) \
                else "no dashboard"
            print(f"Dask: scheduler {options.scheduler}, {len(info.get('workers', {}))} workers now; {dashboard}",
                  file=stream)
        else:
            cluster = local_cluster(options.workers, options.threads_per_worker, options.dashboard)
            client = distributed.Client(cluster)
            n_workers = len(cluster.workers)
            if cluster.dashboard_link and options.dashboard and importlib.util.find_spec("bokeh") is not None:
                where = f"dashboard {cluster.dashboard_link}"
            else:
                where = "no dashboard (install bokeh>=3.1 for Dask's)" if options.dashboard else "no dashboard"
            print(f"Dask: local cluster of {n_workers} worker process{'es' if n_workers > 1 else ''} x "
                  f"{options.threads_per_worker} thread{'s' if options.threads_per_worker > 1 else ''}; {where}",
                  file=stream)
        with client:
            return _run(client, distributed.as_completed, tasks, task_function, stream)
    finally:
        if cluster is not None:
            cluster.close()


def _run(client, as_completed, tasks: Sequence[StudyTask], task_function, stream: TextIO) -> list[dict]:
    """Submit one task per study, collect the rows as they finish, show progress."""
    started = time.perf_counter()
    futures = {}
    for task in tasks:
        future = client.submit(task_function, task, key=f"study-{task.study.id}-{task.input_hash[:12]}",
                               pure=False)
        futures[future.key] = (future, task)
    rows: dict[str, dict] = {}
    progress = Progress(len(tasks), stream)
    for future in as_completed([f for f, _ in futures.values()]):
        _, task = futures[future.key]
        if future.status == "finished":
            row = future.result()
        else:
            try:
                error = future.exception()
            except Exception as lost:  # cancelled or lost futures raise instead of returning their exception
                error = lost
            row = failed_row(task, _failure(error), time.perf_counter() - started)
        future.release()
        rows[task.study.id] = row
        progress.update(row)
    progress.close()
    return [rows[task.study.id] for task in tasks]


def _failure(error: Optional[BaseException]) -> str:
    """One line for a task that raised or whose workers died."""
    if error is None:
        return "the task was lost"
    if type(error).__name__ == "KilledWorker":
        deaths = int(getattr(error, "allowed_failures", ALLOWED_FAILURES)) + 1
        return (f"the worker process running this study died {deaths} time{'s' if deaths > 1 else ''} (killed, or "
                "out of memory?); Dask gave up on it")
    reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"dask: {type(error).__name__}" + (f": {reason}" if reason else "")


class Progress:
    """Studies done and failed and the time left: one redrawn line on a terminal, one line per study elsewhere."""

    def __init__(self, total: int, stream: TextIO, width: int = 30) -> None:
        self.total, self.stream, self.width = total, stream, width
        self.done = self.failed = 0
        self.started = time.perf_counter()
        self.terminal = bool(getattr(stream, "isatty", lambda: False)())

    def update(self, row: dict) -> None:
        """Count one finished study and show where the cohort stands."""
        self.done += 1
        self.failed += row.get("status") != "ok"
        elapsed = time.perf_counter() - self.started
        left = elapsed / self.done * (self.total - self.done)
        filled = round(self.width * self.done / self.total)
        state = (f"{self.done}/{self.total} studies, {self.failed} failed, {_duration(elapsed)} elapsed, "
                 f"{_duration(left)} left")
        if self.terminal:
            if row.get("status") != "ok":  # named above the bar as it happens
                self.stream.write(f"\r{row.get('id')}: FAILED: {row.get('error', '')}".ljust(len(state) + 34) + "\n")
            self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {state} ")
        else:
            outcome = "ok" if row.get("status") == "ok" else f"FAILED: {row.get('error', '')}"
            self.stream.write(f"[{state}] {row.get('id')}: {outcome}\n")
        self.stream.flush()

    def close(self) -> None:
        """End the redrawn line."""
        if self.terminal:
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds: float) -> str:
    hours, rest = divmod(max(0, math.ceil(seconds)), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
