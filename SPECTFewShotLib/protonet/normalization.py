"""Robust per-volume scaling of SPECT counts, so that one network serves any camera, dose and count unit."""

from __future__ import annotations

import numpy as np

# The scale is a high percentile of the voxels that hold counts: robust to a few hot voxels, and the same for a
# volume whatever its empty field of view around the patient.
SCALE_PERCENTILE = 99.5
COUNT_FLOOR_FRACTION = 0.01  # voxels below 1 % of the maximum are "no counts" for the percentile
CLIP_MAX = 3.0  # very hot extra-cardiac uptake (gut, injection site) saturates at 3x the scale


def count_scale(array: np.ndarray) -> float:
    """The volume's count scale: the 99.5th percentile of its voxels above 1 % of its maximum."""
    values = np.asarray(array, dtype=np.float32)
    top = float(values.max())
    if not np.isfinite(top) or top <= 0:
        return 1.0
    counted = values[values > COUNT_FLOOR_FRACTION * top]
    scale = float(np.percentile(counted, SCALE_PERCENTILE)) if counted.size else top
    return scale if scale > 0 else top


def normalize_counts(array: np.ndarray) -> np.ndarray:
    """Counts divided by `count_scale`, negatives set to 0, clipped at CLIP_MAX; float32, same shape."""
    values = np.asarray(array, dtype=np.float32)
    return np.clip(values / count_scale(values), 0.0, CLIP_MAX).astype(np.float32, copy=False)
