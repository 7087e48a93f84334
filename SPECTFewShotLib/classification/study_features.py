"""Per-volume features of the study itself, computed once per volume: what the per-study learner reads.

Counts are scaled robustly per volume (protonet.normalization), then a filter bank at the volume's own
resolution, sigma in voxels: Gaussian smoothing (0.5, 1, 2, 4), Laplacian of Gaussian (1, 2, 4) and gradient
magnitude (1, 2), scale-normalised (multiplied by sigma^2 and sigma), and the three Hessian eigenvalues at
sigma 1 and 2. Filters run with reflecting borders, so a 32^3 crop gets the same features as a large volume.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import ndimage

from ..protonet.normalization import normalize_counts
from ..runtime.progress import CancelToken, ProgressCallback, report

SMOOTHING_SIGMAS = (0.5, 1.0, 2.0, 4.0)
LOG_SIGMAS = (1.0, 2.0, 4.0)
GRADIENT_SIGMAS = (1.0, 2.0)
HESSIAN_SIGMAS = (1.0, 2.0)
BLOCK_VOXELS = 65_536  # voxels per block of the eigenvalue computation
EDGE_SIGMA = 0.5  # the smoothing of the counts the graph cut's contrast terms read


@dataclass(frozen=True, eq=False)
class StudyFeatures:
    """Feature channels [F, k, j, i] (float32), their names, and the normalised counts the graph cut reads."""

    channels: np.ndarray
    names: tuple[str, ...]
    counts: np.ndarray

    @property
    def count(self) -> int:
        """Number of feature channels."""
        return int(self.channels.shape[0])


def feature_names() -> tuple[str, ...]:
    """The channel names, in the order compute_study_features returns them."""
    names = ["counts"]
    names += [f"smooth_{s:g}" for s in SMOOTHING_SIGMAS]
    names += [f"log_{s:g}" for s in LOG_SIGMAS]
    names += [f"gradient_{s:g}" for s in GRADIENT_SIGMAS]
    names += [f"hessian_{s:g}_{n}" for s in HESSIAN_SIGMAS for n in range(3)]
    return tuple(names)


def compute_study_features(array: np.ndarray, progress: Optional[ProgressCallback] = None,
                           cancel: Optional[CancelToken] = None, workers: int = 2) -> StudyFeatures:
    """The filter bank of one volume [k, j, i] (counts), with progress and cancel between filters; the filters are
    independent and scipy releases the GIL, so `workers` threads run them side by side."""
    names = feature_names()
    counts = normalize_counts(array)
    channels = np.empty((len(names), *counts.shape), dtype=np.float32)
    channels[0] = counts

    def smooth(n: int, sigma: float) -> None:
        ndimage.gaussian_filter(counts, sigma, output=channels[n], mode="reflect")

    def laplacian(n: int, sigma: float) -> None:
        ndimage.gaussian_laplace(counts, sigma, output=channels[n], mode="reflect")
        channels[n] *= sigma * sigma

    def gradient(n: int, sigma: float) -> None:
        ndimage.gaussian_gradient_magnitude(counts, sigma, output=channels[n], mode="reflect")
        channels[n] *= sigma

    def eigenvalues(n: int, sigma: float) -> None:
        channels[n:n + 3] = hessian_eigenvalues(counts, sigma)

    jobs, n = [], 1
    for filters, sigmas, width, what in ((smooth, SMOOTHING_SIGMAS, 1, "smoothing"),
                                         (laplacian, LOG_SIGMAS, 1, "Laplacian of Gaussian"),
                                         (gradient, GRADIENT_SIGMAS, 1, "gradient magnitude"),
                                         (eigenvalues, HESSIAN_SIGMAS, 3, "Hessian")):
        for sigma in sigmas:
            jobs.append((filters, n, sigma, width, f"{what} sigma {sigma:g}"))
            n += width
    done = 1
    with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
        futures = {pool.submit(job, start, sigma): (width, what) for job, start, sigma, width, what in jobs}
        try:
            for future in as_completed(futures):
                future.result()
                width, what = futures[future]
                done += width
                report(progress, done / len(names), f"study features: {what}", cancel)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    edges = ndimage.gaussian_filter(counts, EDGE_SIGMA, mode="reflect")
    return StudyFeatures(channels, names, edges)


def hessian(counts: np.ndarray, sigma: float) -> tuple[np.ndarray, ...]:
    """The scale-normalised Hessian's six entries (kk, jj, ii, kj, ki, ji; float32) at one sigma in voxels."""
    pairs = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))
    entries = []
    for a, b in pairs:
        order = [0, 0, 0]
        order[a] += 1
        order[b] += 1
        entries.append(ndimage.gaussian_filter(counts, sigma, order=order, mode="reflect") * np.float32(sigma * sigma))
    return tuple(entries)


def symmetric_eigenvalues(xx: np.ndarray, yy: np.ndarray, zz: np.ndarray, xy: np.ndarray, xz: np.ndarray,
                          yz: np.ndarray) -> np.ndarray:
    """Eigenvalues [3, ...] (increasing, float32) of symmetric 3x3 matrices given by their entries, in closed form
    (the trigonometric solution of the characteristic cubic; Smith 1961)."""
    q = (xx + yy + zz) / np.float32(3.0)
    a, b, c = xx - q, yy - q, zz - q
    p = np.sqrt((a * a + b * b + c * c + 2.0 * (xy * xy + xz * xz + yz * yz)) / np.float32(6.0))
    # B = (A - qI) / p has entries of order one: its determinant cannot underflow into slow denormals
    inverse = np.float32(1.0) / np.maximum(p, np.float32(1e-30))
    a *= inverse
    b *= inverse
    c *= inverse
    d, e, f = xy * inverse, xz * inverse, yz * inverse
    r = (a * (b * c - f * f) - d * (d * c - f * e) + e * (d * f - b * e)) * np.float32(0.5)  # det(B) / 2
    np.clip(r, -1.0, 1.0, out=r)
    phi = np.arccos(r) / np.float32(3.0)
    out = np.empty((3, *q.shape), dtype=np.float32)
    out[2] = q + 2.0 * p * np.cos(phi)
    out[0] = q + 2.0 * p * np.cos(phi + np.float32(2.0 * np.pi / 3.0))
    out[1] = 3.0 * q - out[2] - out[0]
    return out


def hessian_eigenvalues(counts: np.ndarray, sigma: float) -> np.ndarray:
    """The scale-normalised Hessian's eigenvalues [3, k, j, i] (float32, increasing) at one sigma in voxels,
    computed in blocks of slices so that the many temporaries stay small and are reused."""
    entries = hessian(counts, sigma)
    out = np.empty((3, *counts.shape), dtype=np.float32)
    step = max(1, BLOCK_VOXELS // max(counts[0].size, 1))
    for start in range(0, counts.shape[0], step):
        block = slice(start, start + step)
        out[:, block] = symmetric_eigenvalues(*(e[block] for e in entries))
    return out
