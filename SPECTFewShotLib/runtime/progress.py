"""Progress reporting and cancellation for long computations: a callback and a token the caller sets."""

from __future__ import annotations

import threading
from typing import Callable, Optional

from ..errors import CancelledError

ProgressCallback = Callable[[float, str], None]


class CancelToken:
    """A flag a user interface sets (from any thread) to stop a computation at its next check."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the computation to stop."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether cancellation was asked for."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise CancelledError if cancellation was asked for."""
        if self._event.is_set():
            raise CancelledError("cancelled by the user")


def report(progress: Optional[ProgressCallback], fraction: float, message: str,
           cancel: Optional[CancelToken] = None) -> None:
    """Call the progress callback (if any) with a fraction clipped to [0, 1], then honour cancellation."""
    if progress is not None:
        progress(min(1.0, max(0.0, float(fraction))), message)
    if cancel is not None:
        cancel.raise_if_cancelled()
