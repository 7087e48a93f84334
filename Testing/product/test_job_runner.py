"""The job runner of the Slicer module and the effect, with the main thread holding the GIL the way PythonQt does.

Inside Slicer the main thread keeps Python's GIL while Qt idles; Python runs there only in slots (timers, buttons).
The simulation: the main thread blocks in C with the GIL held (libc's usleep called through ctypes.PyDLL, which does
not release the GIL, as Qt's event loop under PythonQt) and runs the runner's `pump` between those turns. A plain
worker thread then crawls (the old module's 100 ms poll); with the runner yielding the GIL it finishes within 1.5x of
its time on an idle main thread (1.1-1.3x measured here; a runner that does not yield takes about 3x under 1 ms turns).
"""

import contextlib
import ctypes
import os
import statistics
import threading
import time
import unittest

import numpy as np

from SPECTFewShotLib.errors import CancelledError, InputError
from SPECTFewShotLib.runtime.jobs import JobRunner
from SPECTFewShotLib.runtime.progress import report

_LIBC = ctypes.PyDLL(None)  # PyDLL: the GIL stays held during the call


def qt_turn(seconds: float) -> None:
    """The main thread inside Qt's event loop for `seconds`, holding the GIL (what PythonQt does)."""
    _LIBC.usleep(int(seconds * 1e6))


def runqueue_wait_s() -> float:
    """Seconds this thread has waited for a free core so far (Linux schedstat; 0 where it is not available)."""
    try:
        with open("/proc/thread-self/schedstat", encoding="ascii") as file:
            return int(file.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def python_work(progress, cancel):
    """Small numpy operations and Python glue, as feature extraction and the live update do (needs the GIL).
    Returns its own time on the worker minus the time the worker waited for a free core: what the GIL cost it, plus
    its work, whatever else the shared cores run."""
    start, waited = time.perf_counter(), runqueue_wait_s()
    rng = np.random.default_rng(0)
    total = 0.0
    for step in range(8000):
        block = rng.random(64)
        total += float(np.sort(block)[32]) + sum(range(3000))
        if step % 100 == 0:
            report(progress, step / 8000, "working", cancel)
    return (time.perf_counter() - start) - (runqueue_wait_s() - waited)


def run_unloaded() -> float:
    """The work's time with the main thread waiting in join() (GIL free): what the headless tests see."""
    runner = JobRunner(yield_s=0)
    job = runner.start(python_work, "work")
    job.wait()
    runner.pump()
    return job.result


def run_under_pythonqt(runner: JobRunner, turn_s: float, limit_s: float = 30.0) -> tuple[float, bool]:
    """The work's time with the main thread in Qt (GIL held) for `turn_s` between pumps; (seconds, finished).
    Unfinished within `limit_s` (wall clock), it is cancelled and the wall time returned."""
    done = []
    start = time.perf_counter()
    job = runner.start(python_work, "work", on_done=done.append)
    while not done and time.perf_counter() - start < limit_s:
        qt_turn(turn_s)
        runner.pump()
    if not done:
        job.cancel()
        job.wait()
        runner.pump()
        return time.perf_counter() - start, False
    return done[0], True


@contextlib.contextmanager
def cpu_priority():
    """Run the timing ahead of other processes where allowed (the cores are shared); back to normal after."""
    try:
        raised = os.nice(0) - os.nice(-10) if hasattr(os, "nice") else 0
    except OSError:  # not allowed for this user: time as is
        raised = 0
    try:
        yield
    finally:
        if raised:
            os.nice(raised)


class GilHeldByTheMainThreadTest(unittest.TestCase):
    def test_work_finishes_within_1_5x_of_its_unloaded_time_when_the_runner_yields_the_gil(self):
        """Qt's turn of the event loop between two pumps: 1 ms (an idle application; a render takes longer). Times
        are the worker's own, less its waits for a free core (other processes share the cores); medians of five
        interleaved pairs. The bound is 1.5x: a yielding runner measures 1.1-1.3x on these shared cores (1.21x once on
        a fresh clone's CI run, which a 1.2x bound failed), one that does not yield 2.9-3.3x (`JobRunner(yield_s=0)`,
        same 1 ms turns), so the bound still catches it."""
        medians = []
        with cpu_priority():
            for _ in range(3):  # a busy machine can spoil one round; a runner that does not yield fails all three
                ratios = []
                for _ in range(5):
                    unloaded = run_unloaded()
                    loaded, finished = run_under_pythonqt(JobRunner(), turn_s=0.001)
                    self.assertTrue(finished)
                    ratios.append(loaded / unloaded)
                medians.append(statistics.median(ratios))
                if medians[-1] < 1.5:
                    break
        self.assertLess(min(medians), 1.5, medians)

    def test_without_yielding_a_worker_crawls_under_a_100_ms_poll(self):
        """The simulation bites: the old module's poll timer (no yield) leaves the worker a few percent of the time."""
        unloaded = run_unloaded()
        elapsed, finished = run_under_pythonqt(JobRunner(yield_s=0), turn_s=0.1, limit_s=3 * unloaded)
        self.assertFalse(finished, f"finished in {elapsed:.2f} s, unloaded {unloaded:.2f} s")


class JobRunnerTest(unittest.TestCase):
    def test_result_and_progress_are_delivered_on_the_main_thread(self):
        runner, seen = JobRunner(), []

        def work(progress, cancel):
            report(progress, 0.5, "half way", cancel)
            return threading.current_thread() is not threading.main_thread()

        job = runner.start(work, "starting", on_done=lambda result: seen.append(
            (result, threading.current_thread() is threading.main_thread())))
        runner.wait()
        self.assertEqual(seen, [(True, True)])  # ran on a worker, delivered on the main thread
        self.assertEqual((job.fraction, job.message), (0.5, "half way"))
        self.assertFalse(runner.busy)

    def test_an_error_is_handed_to_on_error_not_raised_on_the_worker(self):
        runner, errors = JobRunner(), []

        def work(progress, cancel):
            raise InputError("paint at least two classes")

        runner.start(work, "starting", on_done=self.fail, on_error=errors.append)
        runner.wait()
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0], InputError)

    def test_cancel_stops_the_work_at_its_next_report(self):
        runner, errors = JobRunner(), []
        started, release = threading.Event(), threading.Event()

        def work(progress, cancel):
            started.set()
            release.wait(10)
            report(progress, 0.9, "almost", cancel)
            return "finished"

        job = runner.start(work, "starting", on_done=self.fail, on_error=errors.append)
        started.wait(10)
        runner.cancel_all()
        release.set()
        runner.wait()
        self.assertTrue(job.cancelled)
        self.assertIsInstance(errors[0], CancelledError)

    def test_a_second_start_with_the_same_key_joins_the_running_job(self):
        runner, calls, results = JobRunner(), [], []
        release = threading.Event()

        def work(progress, cancel):
            calls.append(1)
            release.wait(10)
            return "features"

        first = runner.start(work, "features", on_done=results.append, key=("features", "abc"))
        second = runner.start(work, "features", on_done=results.append, key=("features", "abc"))
        self.assertIs(first, second)
        release.set()
        runner.wait()
        self.assertEqual(calls, [1])
        self.assertEqual(results, ["features", "features"])

    def test_forget_all_cancels_and_drops_the_callbacks(self):
        runner = JobRunner()
        release = threading.Event()
        job = runner.start(lambda progress, cancel: release.wait(10) and report(progress, 1.0, "x", cancel),
                           "work", on_done=self.fail, on_error=self.fail)
        runner.forget_all()
        release.set()
        runner.wait()
        self.assertTrue(job.done and job.cancelled)
        self.assertFalse(runner.busy)

    def test_the_event_loop_keeps_it_pumped_while_jobs_run_and_stops_after(self):
        queue = []
        runner = JobRunner(schedule=queue.append)
        results = []
        runner.start(lambda progress, cancel: "done", "work", on_done=results.append)
        self.assertEqual(len(queue), 1)  # one tick scheduled, not one per start
        runner.start(lambda progress, cancel: "again", "work", on_done=results.append)
        self.assertEqual(len(queue), 1)
        ticks = 0
        while queue:
            queue.pop(0)()
            ticks += 1
            self.assertLess(ticks, 10000)
        self.assertEqual(sorted(results), ["again", "done"])
        self.assertFalse(runner.busy)


if __name__ == "__main__":
    unittest.main()
