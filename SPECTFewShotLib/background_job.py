"""Work on a worker thread with progress and Cancel, for a GUI that polls it from a timer (the Slicer module).

The work is a callable `work(progress, cancel)` that touches no MRML or Qt object; its result or its error is handed
back to the thread that polls, which writes the outputs.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from .progress import CancelToken, ProgressCallback

Work = Callable[[ProgressCallback, CancelToken], Any]


class BackgroundJob:
    """One piece of work on a daemon thread: its latest progress, then its result or its error."""

    def __init__(self, work: Work, message: str) -> None:
        self.cancel_token = CancelToken()
        self.fraction = 0.0
        self.message = message
        self.result: Any = None
        self.error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)

    def _run(self, work: Work) -> None:
        try:
            self.result = work(self._progress, self.cancel_token)
        except BaseException as error:  # handed to the polling thread, which shows it
            self.error = error

    def _progress(self, fraction: float, message: str) -> None:
        self.fraction, self.message = fraction, message

    def start(self) -> None:
        """Start the work on its thread."""
        self._thread.start()

    def cancel(self) -> None:
        """Ask the work to stop at its next progress report."""
        self.cancel_token.cancel()

    @property
    def done(self) -> bool:
        """Whether the work has finished (with a result, an error or a cancellation)."""
        return not self._thread.is_alive()

    def wait(self, timeout: Optional[float] = None) -> None:
        """Block until the work has finished (scripts and tests)."""
        self._thread.join(timeout)
