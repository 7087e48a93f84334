"""Small memory pages for numpy's arrays in the processes that classify: the first touch of fresh memory stays cheap.

numpy advises the kernel to back large arrays with transparent huge pages. Where the kernel compacts memory to
honour that advice (transparent_hugepage/defrag = "madvise", a common default), every first touch of a new large
array waits for that compaction, and classification allocates fresh feature, probability and label arrays at
every paint change. The advice is only a hint about page size: turning it off changes no result. Measurements:
docs/evaluation/classify/classify_speed.md.
"""

from __future__ import annotations

import os

ENVIRONMENT_SETTING = "NUMPY_MADVISE_HUGEPAGE"


def avoid_huge_page_advice() -> bool:
    """Stop numpy advising huge pages for this process's arrays, unless the user's NUMPY_MADVISE_HUGEPAGE says
    otherwise; returns whether the advice is now off."""
    if ENVIRONMENT_SETTING in os.environ:
        return os.environ[ENVIRONMENT_SETTING].strip() == "0"
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # another numpy layout: keep its default
        return False
    _set_madvise_hugepage(False)
    return True
