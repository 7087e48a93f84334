"""Painting the anatomy onto voxel grids: labels at voxel centres, activity and attenuation with partial volume."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .anatomy import LABEL_VALUES, Anatomy, Structure

_CHUNK_VOXELS = 2_000_000  # points evaluated at once (bounds memory)


@dataclass(frozen=True)
class Grid:
    """An axis-aligned grid in patient millimetres: arrays [k, j, i] with i along x (left), j along y, k along z."""

    origin: np.ndarray  # centre of voxel (0, 0, 0), (x, y, z) mm
    spacing: float
    shape: tuple[int, int, int]  # (k, j, i)

    def refined(self, factor: int) -> Grid:
        """The grid `factor` times finer covering the same voxels (each voxel split into factor^3)."""
        if factor == 1:
            return self
        h = self.spacing / factor
        origin = self.origin - self.spacing / 2.0 + h / 2.0
        return Grid(origin, h, tuple(n * factor for n in self.shape))

    def points(self, k: slice, j: slice, i: slice) -> np.ndarray:
        """Patient coordinates (n x 3) of the voxel centres of a block, in [k, j, i] C order."""
        kk, jj, ii = np.meshgrid(np.arange(k.start, k.stop), np.arange(j.start, j.stop),
                                 np.arange(i.start, i.stop), indexing="ij")
        return np.stack([self.origin[0] + ii.ravel() * self.spacing, self.origin[1] + jj.ravel() * self.spacing,
                         self.origin[2] + kk.ravel() * self.spacing], axis=1)

    def index_box(self, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, slice, slice] | None:
        """Index ranges (k, j, i) of the voxels whose centres may lie in the box [lo, hi]; None when outside."""
        first = np.floor((lo - self.origin) / self.spacing).astype(np.int64)
        last = np.ceil((hi - self.origin) / self.spacing).astype(np.int64) + 1
        sizes = np.array(self.shape[::-1])  # (i, j, k)
        first, last = np.clip(first, 0, sizes), np.clip(last, 0, sizes)
        if np.any(last <= first):
            return None
        return slice(first[2], last[2]), slice(first[1], last[1]), slice(first[0], last[0])


def paint_labels(anatomy: Anatomy, grid: Grid) -> np.ndarray:
    """Label value (LABEL_VALUES) of the tissue at each voxel centre; 0 outside the body."""
    labels = np.zeros(grid.shape, dtype=np.uint8)
    for structure in anatomy.structures:
        _paint(structure, grid, lambda s, block, inside, pts, out=labels: _set(out, block, inside,
                                                                            LABEL_VALUES[s.label]))
    return labels


def paint_activity_and_attenuation(anatomy: Anatomy, grid: Grid, supersample: int) -> tuple[np.ndarray, np.ndarray]:
    """Relative activity concentration and attenuation (1/mm) per voxel, averaged over supersample^3 sub-voxels."""
    fine = grid.refined(supersample)
    activity = np.zeros(fine.shape, dtype=np.float32)
    mu = np.zeros(fine.shape, dtype=np.float32)

    def paint(structure: Structure, block, inside, points) -> None:
        values = np.full(int(inside.sum()), structure.uptake, dtype=np.float32)
        if structure.modulation is not None:
            values *= structure.modulation(points[inside]).astype(np.float32)
        _set(activity, block, inside, values)
        _set(mu, block, inside, structure.mu)

    for structure in anatomy.structures:
        _paint(structure, fine, paint)
    return block_mean(activity, supersample), block_mean(mu, supersample)


def _paint(structure: Structure, grid: Grid, action) -> None:
    box = grid.index_box(*structure.shape.bounds())
    if box is None:
        return
    k_box, j_box, i_box = box
    plane = (j_box.stop - j_box.start) * (i_box.stop - i_box.start)
    step = max(1, _CHUNK_VOXELS // max(plane, 1))
    for k0 in range(k_box.start, k_box.stop, step):
        block = (slice(k0, min(k0 + step, k_box.stop)), j_box, i_box)
        points = grid.points(*block)
        inside = structure.shape.contains(points)
        if inside.any():
            action(structure, block, inside, points)


def _set(array: np.ndarray, block, inside: np.ndarray, values) -> None:
    view = array[block]
    flat = view.reshape(-1)
    flat[inside] = values
    array[block] = flat.reshape(view.shape)


def block_mean(array: np.ndarray, factor: int) -> np.ndarray:
    """Average of factor^3 blocks (the inverse of Grid.refined)."""
    if factor == 1:
        return array
    k, j, i = (n // factor for n in array.shape)
    return array.reshape(k, factor, j, factor, i, factor).mean(axis=(1, 3, 5), dtype=np.float32)
