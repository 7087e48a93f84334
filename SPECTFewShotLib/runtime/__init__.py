"""What runs work for the Slicer module and the Segment Editor effect while the application stays responsive.

- `jobs`: `BackgroundJob` (one piece of work on a worker thread) and `JobRunner` (the one runner of the module and
  the effect: keyed jobs, results delivered on the main thread, the main thread's GIL yielded while work runs);
- `live_update`: `LiveUpdates`, the rule that the classification shown belongs to the newest paint;
- `progress`: progress callbacks and the cancel token every long computation takes;
- `threads`: torch's CPU threads (one per worker thread inside a block);
- `device`: the torch device ('auto' falls back to the CPU);
- `memory_guard`: refusing work the machine's memory cannot hold, before it starts;
- `memory_pages`: glibc's and numpy's page advice for short-lived processes.
The module panel that drives these jobs is `slicer_app.panel`.
"""

from .jobs import BackgroundJob, JobRunner, Work
from .live_update import LiveUpdates

__all__ = ["BackgroundJob", "JobRunner", "LiveUpdates", "Work"]
