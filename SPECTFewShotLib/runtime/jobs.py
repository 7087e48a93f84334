"""Work on worker threads with progress and Cancel, its results handed back on the main thread (the Slicer module and
the Segment Editor effect share one `JobRunner`).

Inside 3D Slicer the main thread keeps Python's GIL while Qt idles (PythonQt releases it only while the main thread
runs Python), so a worker thread advances only while the main thread runs Python. The runner therefore yields the
GIL on the main thread for as long as work is running, the way SlicerSimpleFilters does (`main_queue_process`: a
`QTimer.singleShot(0)` loop that sleeps briefly "since Qt doesn't yield the python GIL"): `pump()` hands finished
results to their callbacks, then sleeps `yield_s` with the GIL released, and the application's event loop calls it
again at once (`schedule`). Testing/product/test_job_runner.py holds the GIL on the main thread the way PythonQt
does and measures the work finishing within 1.5x of its time on an idle main thread (about 3x without the yield).

A work is a callable `work(progress, cancel)` that touches no MRML or Qt object; its result or its error goes to
`on_done` / `on_error` on the main thread, which writes the outputs.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

from ..errors import CancelledError
from .progress import CancelToken, ProgressCallback

Work = Callable[[ProgressCallback, CancelToken], Any]
Schedule = Callable[[Callable[[], None]], None]

# The main thread sleeps this long (GIL released) per turn of the event loop while work runs: the worker gets the
# GIL about yield_s / (yield_s + the event loop's turn) of the time, and events wait at most this long (the screen
# then updates at 20 frames a second or more). Chosen by measurement (Testing/product/test_job_runner.py's work,
# medians of five pairs, three repeats, 2 cores shared at load 7): 20 ms cost the worker 1.10-1.13x its unloaded
# time, 30 ms 1.07-1.13x, 50 ms 1.04-1.07x.
YIELD_S = 0.05


class BackgroundJob:
    """One piece of work on a daemon thread: its latest progress, then its result or its error."""

    def __init__(self, work: Work, message: str) -> None:
        self.cancel_token = CancelToken()
        self.fraction = 0.0
        self.message = message
        self.result: Any = None
        self.error: Optional[BaseException] = None
        self.started_at: Optional[float] = None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)

    def _run(self, work: Work) -> None:
        try:
            self.result = work(self._progress, self.cancel_token)
        except BaseException as error:  # handed to the main thread, which shows it
            self.error = error

    def _progress(self, fraction: float, message: str) -> None:
        self.fraction, self.message = fraction, message

    def start(self) -> None:
        """Start the work on its thread."""
        self.started_at = time.perf_counter()
        self._thread.start()

    def cancel(self) -> None:
        """Ask the work to stop at its next progress report."""
        self.cancel_token.cancel()

    @property
    def cancelled(self) -> bool:
        """Whether Cancel was asked for."""
        return self.cancel_token.cancelled

    @property
    def done(self) -> bool:
        """Whether the work has finished (with a result, an error or a cancellation)."""
        return self.started_at is not None and not self._thread.is_alive()

    def wait(self, timeout: Optional[float] = None) -> None:
        """Block until the work has finished (scripts and tests)."""
        self._thread.join(timeout)


class _Entry:
    def __init__(self, job: BackgroundJob, key: Any) -> None:
        self.job, self.key = job, key
        self.on_done: list[Callable[[Any], None]] = []
        self.on_error: list[Callable[[BaseException], None]] = []


class JobRunner:
    """The one runner of the module and the effect: jobs on worker threads, callbacks on the main thread.

    `start` returns at once; `pump` (main thread) delivers the finished jobs' results to their callbacks and, while
    work runs, yields the GIL for `yield_s`. With `schedule` (in Slicer: `lambda f: qt.QTimer.singleShot(0, f)`) the
    runner keeps itself pumped from the event loop while jobs run and stops when none is left; without it (scripts,
    tests) the caller pumps, e.g. with `wait`. A job started with a `key` that is already running is not started
    again: the callbacks join the running one (the module and the effect cannot compute the same features twice).
    """

    def __init__(self, schedule: Optional[Schedule] = None, yield_s: float = YIELD_S) -> None:
        self.schedule = schedule
        self.yield_s = yield_s
        self._entries: list[_Entry] = []
        self._scheduled = False
        self.listeners: list[Callable[[], None]] = []  # called on the main thread at every pump (progress bars)

    def start(self, work: Work, message: str, on_done: Optional[Callable[[Any], None]] = None,
              on_error: Optional[Callable[[BaseException], None]] = None, key: Any = None) -> BackgroundJob:
        """Run `work` on a worker thread (or join the running job of the same `key`); returns the job."""
        entry = next((e for e in self._entries if key is not None and e.key == key and not e.job.cancelled), None)
        if entry is None:
            entry = _Entry(BackgroundJob(work, message), key)
            self._entries.append(entry)
            entry.job.start()
        if on_done is not None:
            entry.on_done.append(on_done)
        if on_error is not None:
            entry.on_error.append(on_error)
        self._keep_pumped()
        return entry.job

    def job(self, key: Any) -> Optional[BackgroundJob]:
        """The running job of a key (None when there is none)."""
        return next((e.job for e in self._entries if e.key == key), None)

    @property
    def jobs(self) -> list[BackgroundJob]:
        """The jobs whose results are not delivered yet."""
        return [entry.job for entry in self._entries]

    @property
    def busy(self) -> bool:
        """Whether any job is running or waiting to be delivered."""
        return bool(self._entries)

    def cancel(self, job: BackgroundJob) -> None:
        """Cancel one job: it stops at its next progress report and its callbacks get a CancelledError."""
        job.cancel()

    def cancel_all(self) -> None:
        """Cancel every job (Cancel, scene close, module cleanup)."""
        for entry in self._entries:
            entry.job.cancel()

    def forget_all(self) -> None:
        """Cancel every job and drop its callbacks (the scene they would write into is gone)."""
        for entry in self._entries:
            entry.job.cancel()
            entry.on_done.clear()
            entry.on_error.clear()

    def pump(self) -> bool:
        """Main thread: deliver finished jobs, then yield the GIL while work runs; returns whether jobs remain."""
        finished = [entry for entry in self._entries if entry.job.done]
        self._entries = [entry for entry in self._entries if not entry.job.done]
        for entry in finished:
            self._deliver(entry)
        for listener in list(self.listeners):
            listener()
        if self._entries and self.yield_s > 0:
            time.sleep(self.yield_s)  # releases the GIL: the workers run while the main thread sleeps
        return bool(self._entries)

    def wait(self, job: Optional[BackgroundJob] = None, timeout: float = 600.0) -> None:
        """Pump until `job` (or every job) is delivered (scripts and tests; the module lets the event loop pump)."""
        deadline = time.perf_counter() + timeout
        while any(entry.job is job or job is None for entry in self._entries):
            if time.perf_counter() > deadline:
                raise TimeoutError("the background work did not finish in time")
            if not self.pump():
                break

    def _deliver(self, entry: _Entry) -> None:
        job = entry.job
        error = job.error
        if error is None and job.cancelled:
            error = CancelledError("cancelled by the user")
        if error is None:
            for callback in entry.on_done:
                callback(job.result)
        else:
            for callback in entry.on_error:
                callback(error)

    def _keep_pumped(self) -> None:
        if self.schedule is None or self._scheduled:
            return
        self._scheduled = True
        self.schedule(self._tick)

    def _tick(self) -> None:
        self._scheduled = False
        try:
            self.pump()
        finally:  # a failing callback must not stop the delivery of the other jobs
            if self._entries:
                self._keep_pumped()


def qt_schedule(qt: Any) -> Schedule:
    """The Slicer application's `schedule`: run a function at the event loop's next turn (`QTimer.singleShot(0)`,
    as SlicerSimpleFilters' `main_queue_process` does), so the runner is pumped while Qt keeps the GIL."""
    return lambda function: qt.QTimer.singleShot(0, function)
