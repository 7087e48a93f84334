"""How far an iso-count boundary can follow a study's wall mask: oracle thresholds that know the mask.

An upper bound for intensity methods on one annotation: the counts (smoothed at sigma voxels) are thresholded
only within BAND voxels of the mask (the oracle knows where the wall is, so nothing far away can be called wall),
at the one threshold that gives the best Dice on the unpainted slices (global), or at the best threshold of each
unpainted slice separately (per slice). Dice is pooled over the unpainted slices, as in `evaluate classify`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from SPECTFewShotLib.research.evaluation.metrics import dice

BAND = 3  # voxels around the mask the oracle may label
SIGMAS = (0.0, 0.5, 1.0)
LEVELS = 97  # thresholds tried: quantiles of the counts in the band


@dataclass(frozen=True)
class CeilingResult:
    """Dice of the best global and the best per-slice threshold (the best smoothing of SIGMAS for each)."""

    global_dice: float
    global_sigma: float
    per_slice_dice: float
    per_slice_sigma: float


def oracle_ceiling(counts: np.ndarray, wall: np.ndarray, scored: np.ndarray) -> CeilingResult:
    """The oracle thresholds' Dice against `wall` (bool [k, j, i]) on the `scored` voxels (the unpainted slices)."""
    band = ndimage.binary_dilation(wall, iterations=BAND)
    truth = wall & scored
    best_global, best_slice = (-1.0, 0.0), (-1.0, 0.0)
    for sigma in SIGMAS:
        smooth = ndimage.gaussian_filter(counts.astype(np.float64), sigma) if sigma else counts.astype(np.float64)
        levels = np.quantile(smooth[band & scored], np.linspace(0.01, 0.99, LEVELS))
        best_global = max(best_global, (max(dice((smooth > t) & band & scored, truth) for t in levels), sigma))
        overlap = total = 0
        for k in np.flatnonzero(scored.any(axis=(1, 2))):
            truth_k, band_k = truth[k], band[k] & scored[k]
            options = [((smooth[k] > t) & band_k) for t in levels]
            scores = [(2 * (p & truth_k).sum(), p.sum() + truth_k.sum()) for p in options]
            i, s = max(scores, key=lambda x: x[0] / x[1] if x[1] else 1.0)
            overlap, total = overlap + i, total + s
        best_slice = max(best_slice, (overlap / total if total else 1.0, sigma))
    return CeilingResult(best_global[0], best_global[1], best_slice[0], best_slice[1])

