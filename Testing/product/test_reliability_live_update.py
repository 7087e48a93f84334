"""Live-update ordering: when strokes arrive faster than the classifier answers, the result shown is always the one
for the newest paint (an older result never replaces a newer one), and cancelling keeps the result shown."""

import random
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from SPECTFewShotLib.runtime.live_update import LiveUpdates


class OrderingTest(unittest.TestCase):
    def test_a_late_result_for_an_older_paint_is_dropped(self):
        live = LiveUpdates()
        first = live.paint_changed()
        second = live.paint_changed()
        self.assertTrue(live.offer(second, "result of paint 2"))
        self.assertFalse(live.offer(first, "result of paint 1"))  # arrives late: must not replace
        self.assertEqual(live.shown, "result of paint 2")
        self.assertEqual(live.shown_generation, second)

    def test_a_result_for_a_paint_that_was_since_changed_is_not_shown(self):
        live = LiveUpdates()
        first = live.paint_changed()
        live.paint_changed()
        self.assertFalse(live.is_current(first))
        self.assertFalse(live.offer(first, "stale"))
        self.assertIsNone(live.shown)

    def test_cancel_keeps_the_previous_result_and_drops_the_cancelled_one(self):
        live = LiveUpdates()
        shown = live.paint_changed()
        live.offer(shown, "previous")
        pending = live.paint_changed()
        self.assertEqual(live.cancel(), "previous")
        self.assertFalse(live.is_current(pending))
        self.assertFalse(live.offer(pending, "cancelled"))
        self.assertEqual(live.shown, "previous")
        after = live.paint_changed()  # painting again after a cancel works as before
        self.assertTrue(live.offer(after, "new"))
        self.assertEqual(live.shown, "new")

    def test_random_completion_orders(self):
        rng = random.Random(29)
        for _ in range(500):
            live = LiveUpdates()
            jobs = []
            cancelled_through = 0
            for _ in range(rng.randint(1, 12)):
                jobs.append(live.paint_changed())
                if rng.random() < 0.15:
                    live.cancel()
                    cancelled_through = live.latest
            rng.shuffle(jobs)
            history = []
            for generation in jobs:
                if live.offer(generation, generation):
                    history.append(generation)
            newest = live.latest
            expected = newest if newest > cancelled_through else None
            self.assertEqual(live.shown, expected)
            self.assertEqual(history, sorted(history))  # never an older result after a newer one
            self.assertLessEqual(len(history), 1)


class ThreadedStrokesTest(unittest.TestCase):
    def test_strokes_faster_than_the_classifier(self):
        """Strokes every ~1 ms, classifications of 0-8 ms on four workers: the last shown is the last paint's."""
        live = LiveUpdates()
        shown_order = []
        lock = threading.Lock()
        rng = random.Random(7)
        delays = [rng.uniform(0, 0.008) for _ in range(120)]

        def classify(generation, delay):
            time.sleep(delay)
            if live.offer(generation, f"labels for paint {generation}"):
                with lock:
                    shown_order.append(generation)

        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = []
            for delay in delays:
                futures.append(pool.submit(classify, live.paint_changed(), delay))
                time.sleep(0.001)
            for future in futures:
                future.result()
        self.assertEqual(live.shown_generation, len(delays))
        self.assertEqual(live.shown, f"labels for paint {len(delays)}")
        self.assertEqual(shown_order, sorted(shown_order))


if __name__ == "__main__":
    unittest.main()
