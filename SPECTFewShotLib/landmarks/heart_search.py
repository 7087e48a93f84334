"""Stage 1: find the LV in a whole study as the compact hot shell around a colder cavity, at LV size in mm.

A hot-spot search fails on real studies: the hottest structure can be the liver, bowel or voxels at the rim of the
reconstructed field of view. The LV differs from them by its shape: seen from inside its cavity, nearly every
direction meets a hot wall within a few centimetres. Every candidate centre (a coarse grid in mm) casts rays in
`DIRECTIONS` directions; each ray's contrast is its hottest count within `RAY_LENGTH_MM` minus the count at the
centre, and the candidate's score is a low quantile of those contrasts (`RAY_QUANTILE`): high only when the wall
surrounds the centre on all sides but the open base. A solid hot organ scores low from inside (no colder centre),
and from outside or at its edge (only the rays towards it are hot); so does a rim of hot voxels (thin, one-sided).
The distinct best-scoring places are the candidates; lv_frame then checks that each is an LV-shaped shell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..volume import Volume

SMOOTHING_MM = 4.0  # Gaussian sigma: about one real voxel, below the wall's thickness
GRID_MM = 12.0  # spacing of the candidate centres, then refined on a `REFINE_MM` grid within one coarse step
REFINE_MM = 4.0
RAY_LENGTH_MM = 44.0  # from the cavity to beyond the wall (LV outer radius plus the blur)
RAY_STEP_MM = 4.0
DIRECTIONS = 32
RAY_QUANTILE = 0.3  # the open base spans less than this fraction of the directions
CANDIDATE_SEPARATION_MM = 30.0  # two candidates closer than this are the same structure
BODY_FRACTION = 0.05  # centres where the smoothed counts are below this fraction of the maximum lie outside the body


@dataclass(frozen=True)
class LVCandidate:
    """A place that looks like the inside of the LV: its LPS position and its shell score (counts relative to the
    study's hot level)."""

    center_lps: np.ndarray
    score: float


def sphere_directions(count: int) -> np.ndarray:
    """`count` unit vectors spread evenly over the sphere (a Fibonacci lattice), shape (count, 3)."""
    index = np.arange(count) + 0.5
    polar = np.arccos(1.0 - 2.0 * index / count)
    azimuth = np.pi * (1.0 + 5.0 ** 0.5) * index
    return np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], axis=1)


def smoothed_counts(volume: Volume) -> np.ndarray:
    """The study's counts smoothed by `SMOOTHING_MM` and scaled so that its hot level (99.5th percentile of the
    nonzero voxels, robust to a few hot voxels) is 1."""
    counts = np.asarray(volume.array, dtype=np.float32)
    smoothed = ndimage.gaussian_filter(counts, [SMOOTHING_MM / s for s in volume.spacing[::-1]])
    positive = smoothed[smoothed > 0]
    if positive.size == 0:
        raise InputError("the volume holds no counts")
    return smoothed / float(np.percentile(positive, 99.5))


def sample(volume: Volume, counts: np.ndarray, points_lps: np.ndarray) -> np.ndarray:
    """`counts` (an array on the volume's grid) interpolated at LPS points (..., 3); zero outside the volume."""
    points = np.asarray(points_lps, dtype=float)
    index = volume.lps_to_index(points.reshape(-1, 3))
    values = ndimage.map_coordinates(counts, index[:, ::-1].T, order=1, mode="constant", cval=0.0)
    return values.reshape(points.shape[:-1])


def shell_scores(volume: Volume, counts: np.ndarray, centers_lps: np.ndarray) -> np.ndarray:
    """The shell score of each LPS centre (n, 3): the `RAY_QUANTILE` quantile over directions of the ray's
    hottest count minus the count at the centre."""
    directions = sphere_directions(DIRECTIONS)
    radii = np.arange(RAY_STEP_MM, RAY_LENGTH_MM + 1e-6, RAY_STEP_MM)
    to_index = np.linalg.inv(volume.index_to_lps_matrix[:3, :3]).T
    offsets = ((directions[:, None, :] * radii[None, :, None]) @ to_index)[..., ::-1].reshape(-1, 3)  # (k, j, i)
    centers = volume.lps_to_index(centers_lps)[:, ::-1]
    scores = np.empty(len(centers))
    for start in range(0, len(centers), 1024):  # bounded memory
        chunk = centers[start:start + 1024]
        points = (chunk[:, None, :] + offsets[None]).reshape(-1, 3).T
        rays = ndimage.map_coordinates(counts, points, order=1, mode="constant", cval=0.0)
        rays = rays.reshape(len(chunk), DIRECTIONS, len(radii))
        contrast = rays.max(axis=2) - ndimage.map_coordinates(counts, chunk.T, order=1)[:, None]
        scores[start:start + 1024] = np.quantile(contrast, RAY_QUANTILE, axis=1)
    return scores


def find_lv_candidates(volume: Volume, counts: np.ndarray, count: int = 3) -> list[LVCandidate]:
    """Up to `count` distinct places that look most like the inside of the LV, best first."""
    step = np.maximum(1, np.round(GRID_MM / np.asarray(volume.spacing)).astype(int))
    i, j, k = (np.arange(0, n, s) for n, s in zip(volume.size, step))
    grid = np.stack(np.meshgrid(i, j, k, indexing="ij"), axis=-1).reshape(-1, 3)
    inside = counts[grid[:, 2], grid[:, 1], grid[:, 0]] >= BODY_FRACTION * counts.max()
    centers = volume.index_to_lps(grid[inside].astype(float))
    if len(centers) == 0:
        raise InputError("the volume holds no counts")
    coarse = _distinct(centers, shell_scores(volume, counts, centers), 2 * count)
    steps = np.arange(-GRID_MM / 2, GRID_MM / 2 + 1e-6, REFINE_MM)
    local = np.stack(np.meshgrid(steps, steps, steps, indexing="ij"), axis=-1).reshape(-1, 3)
    refined = np.concatenate([candidate.center_lps + local for candidate in coarse])
    return _distinct(refined, shell_scores(volume, counts, refined), count)


def _distinct(centers: np.ndarray, scores: np.ndarray, count: int) -> list[LVCandidate]:
    """The best-scoring centres at least `CANDIDATE_SEPARATION_MM` apart, best first."""
    candidates: list[LVCandidate] = []
    for index in np.argsort(-scores):
        center = centers[index]
        if all(np.linalg.norm(center - c.center_lps) >= CANDIDATE_SEPARATION_MM for c in candidates):
            candidates.append(LVCandidate(center, float(scores[index])))
            if len(candidates) == count:
                break
    return candidates
