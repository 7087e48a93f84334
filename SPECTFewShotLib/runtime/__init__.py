"""What runs work for the Slicer module and the Segment Editor effect while the application stays responsive.

- `jobs`: `BackgroundJob` (one piece of work on a worker thread) and `JobRunner` (the one runner of the module and
  the effect: keyed jobs, results delivered on the main thread, the main thread's GIL yielded while work runs);
- `live_update`: `LiveUpdates`, the rule that the classification shown belongs to the newest paint.
"""

from .jobs import BackgroundJob, JobRunner, Work
from .live_update import LiveUpdates

__all__ = ["BackgroundJob", "JobRunner", "LiveUpdates", "Work"]
