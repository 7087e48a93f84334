"""Painting the anatomy onto a voxel grid: the tissue at each voxel centre (labels), and activity and attenuation
averaged over supersample^3 sub-voxels where a voxel straddles a tissue boundary (the partial-volume effect)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from SPECTFewShotLib.research.phantom.anatomy import LABEL_VALUES, Anatomy

_CHUNK_POINTS = 1_000_000  # points evaluated at once (bounds memory)


@dataclass(frozen=True)
class Grid:
    """An axis-aligned grid in patient millimetres: arrays [k, j, i] with i along x (left), j along y, k along z."""

    origin: np.ndarray  # centre of voxel (0, 0, 0), (x, y, z) mm
    spacing: float
    shape: tuple[int, int, int]  # (k, j, i)

    def points(self) -> np.ndarray:
        """Patient coordinates (n x 3, float32) of every voxel centre, in [k, j, i] C order."""
        kk, jj, ii = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in self.shape), indexing="ij")
        return np.stack([self.origin[0] + ii.ravel() * self.spacing, self.origin[1] + jj.ravel() * self.spacing,
                         self.origin[2] + kk.ravel() * self.spacing], axis=1).astype(np.float32)


@dataclass(frozen=True)
class Rasterized:
    """The anatomy on a grid: label values, relative activity and attenuation (1/mm), each [k, j, i]."""

    labels: np.ndarray
    activity: np.ndarray
    mu: np.ndarray


def structure_index(anatomy: Anatomy, points: np.ndarray) -> np.ndarray:
    """Index + 1 of the last painted structure holding each point (0: outside the body)."""
    index = np.zeros(len(points), dtype=np.int16)
    for start in range(0, len(points), _CHUNK_POINTS):
        chunk = points[start:start + _CHUNK_POINTS]
        out = index[start:start + _CHUNK_POINTS]
        for number, structure in enumerate(anatomy.structures, start=1):
            lo, hi = structure.shape.bounds()
            near = np.nonzero(np.all((chunk >= lo) & (chunk <= hi), axis=1))[0]
            if near.size:
                inside = structure.shape.contains(chunk[near].astype(np.float64))
                out[near[inside]] = number
    return index


def rasterize(anatomy: Anatomy, grid: Grid, supersample: int) -> Rasterized:
    """Labels at voxel centres; activity and attenuation with sub-voxel sampling at tissue boundaries."""
    from scipy import ndimage

    points = grid.points()
    index = structure_index(anatomy, points).reshape(grid.shape)
    label_of = np.array([0] + [LABEL_VALUES[s.label] for s in anatomy.structures], dtype=np.uint8)
    uptake_of = np.array([0.0] + [s.uptake for s in anatomy.structures], dtype=np.float32)
    mu_of = np.array([0.0] + [s.mu for s in anatomy.structures], dtype=np.float32)
    activity = _activity(anatomy, index.ravel(), points, uptake_of).reshape(grid.shape)
    mu = mu_of[index]
    if supersample > 1:
        edges = ndimage.grey_dilation(index, size=3) != ndimage.grey_erosion(index, size=3)
        edges |= _modulated(anatomy, index)  # myocardial uptake varies inside the wall too
        where = np.nonzero(edges.ravel())[0]
        offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
        sub = np.stack(np.meshgrid(offsets, offsets, offsets, indexing="ij"), axis=-1).reshape(-1, 3) * grid.spacing
        fine = (points[where][:, None, :] + sub[None].astype(np.float32)).reshape(-1, 3)
        fine_index = structure_index(anatomy, fine)
        count = len(sub)
        activity.ravel()[where] = _activity(anatomy, fine_index, fine, uptake_of).reshape(-1, count).mean(axis=1)
        mu.ravel()[where] = mu_of[fine_index].reshape(-1, count).mean(axis=1)
    return Rasterized(label_of[index], activity, mu)


def _modulated(anatomy: Anatomy, index: np.ndarray) -> np.ndarray:
    numbers = [n for n, s in enumerate(anatomy.structures, start=1) if s.modulation is not None]
    return np.isin(index, numbers)


def _activity(anatomy: Anatomy, index: np.ndarray, points: np.ndarray, uptake_of: np.ndarray) -> np.ndarray:
    activity = uptake_of[index]
    for number, structure in enumerate(anatomy.structures, start=1):
        if structure.modulation is not None:
            where = np.nonzero(index == number)[0]
            if where.size:
                activity[where] *= structure.modulation(points[where].astype(np.float64)).astype(np.float32)
    return activity
