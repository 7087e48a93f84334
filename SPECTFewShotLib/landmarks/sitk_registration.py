"""Running SimpleITK registrations reproducibly: shared by the localiser's neighbourhood registration and the
registration baseline."""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator


class _SingleThreadedITK:
    """ITK's global default thread count held at 1 while any registration runs, in any Python thread.

    The count is process-wide: two registrations running at once (several templates placed in parallel) must
    not restore it while the other still runs, or that one's metric would sum in several threads again. The
    first to enter saves the count and sets 1; the last to leave restores it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._saved = 0

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        import SimpleITK as sitk

        with self._lock:
            if self._running == 0:
                self._saved = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
                sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0:
                    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(self._saved)


_SINGLE_THREADED_ITK = _SingleThreadedITK()


def execute_reproducibly(method, fixed, moving):
    """Run a SimpleITK registration on one thread, so that it gives the same transform on every run.

    The metric sums over its samples in as many threads as ITK's global default, whatever the method's own
    thread count, and a different summing order moved landmarks by up to 2.8 mm between identical runs. The
    global default is restored once no registration runs any more (registrations may run in parallel Python
    threads), so the rest of the process (Slicer itself) keeps its threads.
    """
    with _SINGLE_THREADED_ITK.held():
        method.SetNumberOfThreads(1)
        return method.Execute(fixed, moving)


def sampling_seed(seed: int) -> int:
    """SimpleITK's metric sampling seed for our seed: SimpleITK reads 0 as "seed from the wall clock"."""
    return seed + 1
