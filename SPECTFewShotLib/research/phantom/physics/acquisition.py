"""Simulated projections: attenuated, collimator-blurred primaries plus scatter, scaled to clinical counts, Poisson."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from SPECTFewShotLib.research.phantom.physics.projector import FWHM_PER_SIGMA, Projector


@dataclass(frozen=True)
class Projections:
    """Measured projections [views, k, t] and the expected scatter in the same counts."""

    counts: np.ndarray
    scatter: np.ndarray
    scale: float  # counts per unit of the activity map's projection


def acquire(projector: Projector, activity: np.ndarray, total_counts: float, scatter_fraction: float,
            scatter_fwhm_mm: float, rng: np.random.Generator | None) -> Projections:
    """Project `activity`, add scatter, scale to `total_counts` expected counts and draw Poisson counts (rng None:
    the expected, noise-free projections)."""
    import torch

    image = torch.from_numpy(np.ascontiguousarray(activity, dtype=np.float32))
    views = np.arange(projector.geometry.views)
    with torch.no_grad():
        primary = torch.cat([projector.forward(image, views[s:s + 10]) for s in range(0, len(views), 10)])
        scatter = scatter_fraction * gaussian_blur_2d(primary, scatter_fwhm_mm / projector.geometry.voxel_mm)
    primary, scatter = primary.numpy().astype(np.float64), scatter.numpy().astype(np.float64)
    total = primary.sum() + scatter.sum()
    scale = total_counts / total if total > 0 else 0.0
    expected = (primary + scatter) * scale
    measured = rng.poisson(expected).astype(np.float32) if rng is not None else expected.astype(np.float32)
    return Projections(measured, (scatter * scale).astype(np.float32), float(scale))


def gaussian_blur_2d(projections, fwhm_voxels: float):
    """Gaussian blur (same FWHM in both directions) of projections [n, k, t] (torch), zero outside."""
    import torch

    sigma = fwhm_voxels / FWHM_PER_SIGMA
    half = max(1, math.ceil(3.0 * sigma))
    x = torch.arange(-half, half + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    n, k, t = projections.shape
    p = projections.reshape(n, 1, k, t)
    p = torch.nn.functional.conv2d(p, kernel.reshape(1, 1, -1, 1), padding=(half, 0))
    p = torch.nn.functional.conv2d(p, kernel.reshape(1, 1, 1, -1), padding=(0, half))
    return p.reshape(n, k, t)
