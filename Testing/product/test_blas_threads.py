"""one_blas_thread limits OpenBLAS to one thread whichever Python thread enters it (threadpoolctl 3.8 obeys only the
first thread that ever set a limit: a worker's limit used to be ignored silently after the main thread's)."""

from __future__ import annotations

import threading
import unittest

from SPECTFewShotLib.runtime.threads import one_blas_thread


def _openblas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [int(info["num_threads"]) for info in threadpool_info() if info.get("internal_api") == "openblas"]


class OneBlasThreadTest(unittest.TestCase):
    def setUp(self) -> None:
        try:
            import threadpoolctl  # noqa: F401
        except ImportError:
            self.skipTest("threadpoolctl is not installed")
        import numpy  # noqa: F401  (loads OpenBLAS)

        if not _openblas_threads():
            self.skipTest("numpy does not use OpenBLAS here")

    def test_worker_thread_after_main_thread(self) -> None:
        with one_blas_thread():  # the main thread sets (and restores) a limit first
            self.assertEqual(set(_openblas_threads()), {1})
        outside = _openblas_threads()
        seen: list[list[int]] = []

        def worker() -> None:
            with one_blas_thread():
                seen.append(_openblas_threads())

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        self.assertEqual(set(seen[0]), {1})
        self.assertEqual(_openblas_threads(), outside)  # restored when the last user left

    def test_overlapping_users_on_two_threads(self) -> None:
        outside = _openblas_threads()
        entered, release = threading.Event(), threading.Event()
        seen: list[list[int]] = []

        def first() -> None:
            with one_blas_thread():
                entered.set()
                release.wait(10)

        thread = threading.Thread(target=first)
        thread.start()
        entered.wait(10)
        with one_blas_thread():  # the main thread joins while the worker holds the limit, and leaves first
            seen.append(_openblas_threads())
        seen.append(_openblas_threads())  # the worker is still inside
        release.set()
        thread.join()
        self.assertEqual(set(seen[0]), {1})
        self.assertEqual(set(seen[1]), {1})
        self.assertEqual(_openblas_threads(), outside)


if __name__ == "__main__":
    unittest.main()
