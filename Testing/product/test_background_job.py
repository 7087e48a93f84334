"""The worker-thread job the Slicer module polls: result, error, progress and cancellation come back intact."""

import threading
import unittest

from SPECTFewShotLib.errors import CancelledError, InputError
from SPECTFewShotLib.runtime.jobs import BackgroundJob
from SPECTFewShotLib.runtime.progress import report


class BackgroundJobTest(unittest.TestCase):
    def test_result_and_last_progress_come_back(self):
        def work(progress, cancel):
            report(progress, 0.5, "half way", cancel)
            return threading.current_thread() is not threading.main_thread()

        job = BackgroundJob(work, "starting")
        job.start()
        job.wait(10)
        self.assertTrue(job.done)
        self.assertIs(job.result, True)  # it ran on another thread
        self.assertIsNone(job.error)
        self.assertEqual((job.fraction, job.message), (0.5, "half way"))

    def test_an_error_is_handed_back_not_raised_on_the_worker(self):
        def work(progress, cancel):
            raise InputError("paint at least two classes")

        job = BackgroundJob(work, "starting")
        job.start()
        job.wait(10)
        self.assertIsInstance(job.error, InputError)
        self.assertIsNone(job.result)

    def test_cancel_stops_the_work_at_its_next_report(self):
        started, release = threading.Event(), threading.Event()

        def work(progress, cancel):
            started.set()
            release.wait(10)
            report(progress, 0.9, "almost", cancel)
            return "finished"

        job = BackgroundJob(work, "starting")
        job.start()
        started.wait(10)
        job.cancel()
        release.set()
        job.wait(10)
        self.assertIsInstance(job.error, CancelledError)
        self.assertIsNone(job.result)


if __name__ == "__main__":
    unittest.main()


class LiveUpdateOrderingTest(unittest.TestCase):
    """The widget's rule: each paint gets a generation, a job's result is shown only if no newer paint arrived."""

    def test_a_slow_older_job_never_overwrites_a_newer_result(self):
        from SPECTFewShotLib.runtime.live_update import LiveUpdates

        live = LiveUpdates()
        release_old = threading.Event()
        old_generation = live.paint_changed()
        old = BackgroundJob(lambda progress, cancel: (release_old.wait(10), "old paint")[1], "classifying")
        old.start()
        new_generation = live.paint_changed()
        new = BackgroundJob(lambda progress, cancel: "new paint", "classifying")
        new.start()
        new.wait(10)
        self.assertTrue(live.offer(new_generation, new.result))
        release_old.set()
        old.wait(10)
        self.assertFalse(live.offer(old_generation, old.result))
        self.assertEqual(live.shown, "new paint")

    def test_cancel_keeps_the_result_shown(self):
        from SPECTFewShotLib.runtime.live_update import LiveUpdates

        live = LiveUpdates()
        first = live.paint_changed()
        self.assertTrue(live.offer(first, "first"))
        second = live.paint_changed()
        job = BackgroundJob(lambda progress, cancel: report(progress, 0.5, "half", cancel) or "second", "classifying")
        self.assertEqual(live.cancel(), "first")
        job.cancel()
        job.start()
        job.wait(10)
        self.assertIsInstance(job.error, CancelledError)
        self.assertFalse(live.offer(second, "second"))
        self.assertEqual(live.shown, "first")
