"""Torch's and BLAS's CPU threads: run single-threaded inside a block, so that work can be spread over Python threads
instead."""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator, Optional


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch single-threaded inside the block: k-means is hundreds of tiny operations, which stall for tens of
    milliseconds each with two threads whenever another process shares the cores (measured: 25x slower), and
    independent jobs (slice batches, templates) spread over Python threads, each single-threaded, use the cores
    better than torch's own threads do."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


_blas_lock = threading.Lock()
_blas_users = 0
_blas_limits: Optional[Any] = None


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run numpy's BLAS (OpenBLAS) single-threaded while any thread is inside such a block: its threads spin-wait for
    each other when other processes share the cores (measured on 2 loaded cores: the prototypes' probabilities 1.7 s
    against 0.2 s single-threaded), and the callers spread their blocks over Python threads instead. The limit is
    the process's (BLAS has one): set by the first thread in, restored by the last one out, whichever threads they
    are (_release_blas_control). Without threadpoolctl (scikit-learn's dependency) nothing changes."""
    global _blas_users, _blas_limits
    with _blas_lock:
        if _blas_users == 0:
            try:
                from threadpoolctl import threadpool_limits
            except ImportError:
                threadpool_limits = None
            if threadpool_limits is not None:
                _release_blas_control()
                _blas_limits = threadpool_limits(1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0 and _blas_limits is not None:
                _release_blas_control()
                _blas_limits.restore_original_limits()
                _blas_limits = None
                _release_blas_control()


def _release_blas_control() -> None:
    """Let the calling thread set OpenBLAS's limit. threadpoolctl (3.8 and later) obeys only the first thread that
    set a limit and silently ignores every other one until that claim is released, so the limit set by a worker
    thread after the main thread had set one (a live update, the folds' prototypes on a thread pool) did nothing:
    OpenBLAS kept its threads, which spin-wait on shared cores (the folds' prototypes 3-9 s instead of 0.3-0.5 s at
    128^3). Called under _blas_lock, which orders every set and restore made here."""
    try:
        from threadpoolctl import OpenBLASController
    except ImportError:
        return
    release = getattr(OpenBLASController, "clear_controlling_thread", None)
    if release is not None:
        release(force=True)
