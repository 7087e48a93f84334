"""Running SimpleITK registrations reproducibly: shared by the localiser's neighbourhood registration and the
registration baseline."""

from __future__ import annotations


def execute_reproducibly(method, fixed, moving):
    """Run a SimpleITK registration on one thread, so that it gives the same transform on every run.

    The metric sums over its samples in as many threads as ITK's global default, whatever the method's own
    thread count, and a different summing order moved landmarks by up to 2.8 mm between identical runs. The
    global default is restored afterwards, so the rest of the process (Slicer itself) keeps its threads.
    """
    import SimpleITK as sitk

    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        method.SetNumberOfThreads(1)
        return method.Execute(fixed, moving)
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


def sampling_seed(seed: int) -> int:
    """SimpleITK's metric sampling seed for our seed: SimpleITK reads 0 as "seed from the wall clock"."""
    return seed + 1
