"""Ordering of live classification results: the result shown is always the one for the newest paint.

When strokes arrive faster than the classifier answers, several background jobs run or finish out of order. Each
paint change gets a generation number (`paint_changed`); a job carries the generation it was started for, and its
result is shown (`offer`) only if no newer paint has arrived and the job was not cancelled since. An older result
never replaces a newer one, and cancelling keeps the result already shown. Plain Python (no Qt), thread-safe, so
the Slicer widget, a worker thread and the tests share one rule.
"""

from __future__ import annotations

import threading
from typing import Generic, Optional, TypeVar

Result = TypeVar("Result")


class LiveUpdates(Generic[Result]):
    """Generation numbers for paint changes, and the one rule deciding which job's result is shown."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._cancelled_through = 0
        self._shown: Optional[Result] = None
        self._shown_generation = 0

    def paint_changed(self) -> int:
        """Record a paint change; returns its generation, to be given to the job started for it."""
        with self._lock:
            self._generation += 1
            return self._generation

    @property
    def latest(self) -> int:
        """The newest paint's generation (0 before any paint)."""
        with self._lock:
            return self._generation

    def is_current(self, generation: int) -> bool:
        """Whether a job for `generation` can still be shown (a worker may stop early when it cannot)."""
        with self._lock:
            return generation == self._generation and generation > self._cancelled_through

    def offer(self, generation: int, result: Result) -> bool:
        """Show `result` if its job is for the newest paint and was not cancelled; returns whether it is shown."""
        with self._lock:
            if generation != self._generation or generation <= self._cancelled_through:
                return False
            self._shown, self._shown_generation = result, generation
            return True

    def cancel(self) -> Optional[Result]:
        """Cancel every job started so far: their results are dropped and the shown result stays; returns it."""
        with self._lock:
            self._cancelled_through = self._generation
            return self._shown

    @property
    def shown(self) -> Optional[Result]:
        """The result shown now (None before the first one)."""
        with self._lock:
            return self._shown

    @property
    def shown_generation(self) -> int:
        """The generation of the result shown now (0 before the first one)."""
        with self._lock:
            return self._shown_generation
