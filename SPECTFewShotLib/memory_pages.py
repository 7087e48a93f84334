"""Small memory pages for numpy's arrays in the processes that classify: the first touch of fresh memory stays cheap.

numpy advises the kernel to back large arrays with transparent huge pages. Where the kernel compacts memory to
honour that advice (transparent_hugepage/defrag = "madvise", a common default), the first touch of every new large
array is slow: 200 MB took 0.42 s instead of 0.07 s on the development machine. Classification allocates fresh
feature, probability and label arrays at every paint change, so the advice cost the command line 4.7 s instead of
2.7 s on a 128^3 study and a live update in Slicer 1.09 s instead of 0.68 s (docs/evaluation/classify_speed.md).
The advice is only a hint about page size: turning it off changes no result.
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
