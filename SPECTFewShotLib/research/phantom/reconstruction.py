"""OSEM reconstruction with the matched projector, and the clinical 3D Gaussian post-filter."""

from __future__ import annotations

from typing import Optional

import numpy as np

from SPECTFewShotLib.research.phantom.physics.projector import FWHM_PER_SIGMA, Projector
from SPECTFewShotLib.runtime.progress import CancelToken, ProgressCallback, report


def osem(projector: Projector, projections: np.ndarray, iterations: int, subsets: int,
         additive: Optional[np.ndarray] = None, support: Optional[np.ndarray] = None,
         progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> np.ndarray:
    """Ordered-subsets expectation maximisation: x <- x / (A_s^T 1) * A_s^T (y_s / (A_s x + additive_s)).

    `support` (bool [k, j, i]) limits the image to the reconstruction cylinder; views are interleaved in subsets.
    """
    import torch

    views = projector.geometry.views
    order = [np.arange(s, views, subsets) for s in range(subsets)]
    y = torch.from_numpy(np.ascontiguousarray(projections, dtype=np.float32))
    add = None if additive is None else torch.from_numpy(np.ascontiguousarray(additive, dtype=np.float32))
    shape = projector.geometry.shape
    mask = torch.ones(shape) if support is None else torch.from_numpy(support.astype(np.float32))
    with torch.no_grad():
        sensitivity = [projector.back(torch.ones((len(v), shape[0], shape[2])), v) for v in order]
        x = mask.clone()
        total = iterations * subsets
        for iteration in range(iterations):
            for s, v in enumerate(order):
                expected = projector.forward(x, v)
                if add is not None:
                    expected = expected + add[v]
                ratio = torch.where(expected > 1e-6, y[v] / expected.clamp_min(1e-6), torch.zeros_like(expected))
                update = projector.back(ratio, v) / sensitivity[s].clamp_min(1e-6)
                x = x * update * mask
                report(progress, (iteration * subsets + s + 1) / total, "reconstructing", cancel)
    return x.numpy()


def gaussian_post_filter(image: np.ndarray, fwhm_mm: float, voxel_mm: float) -> np.ndarray:
    """3D Gaussian post-filter (FWHM in mm; 0 leaves the image unchanged)."""
    if fwhm_mm <= 0:
        return image
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(image, sigma=fwhm_mm / FWHM_PER_SIGMA / voxel_mm, mode="constant").astype(np.float32)
