"""Distances to the paint, recomputed when the paint changes: features for the learner and a geodesic option.

A painted voxel is at distance 0 from its own class, so a learner fitted on painted voxels with their own
distances learns "distance 0 = my class" and fails everywhere else. The training voxels of each painted axial
slice therefore get their distances from the paint on the other slices only (leave one slice out); unpainted
voxels get theirs from all the paint. With paint on a single axial slice there is nothing to leave out to, and
the distances are not used.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

FAR_MM = 1000.0  # the distance to a class with no paint left (a class painted on one slice only, left out)


def is_grid(index: tuple) -> bool:
    """Whether an index into the volume is slices along every axis (a grid) rather than index arrays."""
    return all(isinstance(part, slice) for part in index)


class PaintDistances:
    """Euclidean distances (mm) from each class's painted voxels: from all the paint at the voxels a caller asks
    for (`at`), and from the paint on the other axial slices at the painted voxels (`left_out`, the learner's
    training voxels).

    Exact and fast because paint lies on few axial slices: the distance to the paint of slice k' is
    sqrt(((k - k') dz)^2 + d_k'(j, i)^2), d_k' the in-plane distance map of that slice, and the distance to a class
    is the minimum over its painted slices. The in-plane maps are computed once per paint; each request computes
    only its own voxels (a grid of every s-th voxel, or scattered voxels)."""

    def __init__(self, painted: np.ndarray, n_classes: int, spacing_kji: Sequence[float]) -> None:
        """`painted`: class indices [k, j, i] (-1 unpainted); `spacing_kji`: voxel size (mm) along k, j, i."""
        dz, dy, dx = (float(s) for s in spacing_kji)
        self.n_classes, self.dz, self.shape = n_classes, dz, painted.shape
        self.planes = []  # (slice k, class c, in-plane distance map [j, i] float32)
        for k in np.flatnonzero((painted >= 0).reshape(painted.shape[0], -1).any(axis=1)):
            plane = painted[k]
            for c in np.unique(plane[plane >= 0]):
                self.planes.append((k, c, ndimage.distance_transform_edt(plane != c, sampling=(dy, dx))
                                    .astype(np.float32)))

    def at(self, index: tuple) -> np.ndarray:
        """Distances [C, n] (float32) at the voxels of `index`: slices along k, j and i (a grid, n its points in
        C order) or three index arrays (scattered voxels)."""
        if is_grid(index):
            ks = np.arange(self.shape[0])[index[0]].astype(np.float32)
            grid = tuple(len(range(n)[part]) for n, part in zip(self.shape, index))
            out = np.full((self.n_classes, *grid), FAR_MM * FAR_MM, dtype=np.float32)
            for k, c, in_plane in self.planes:
                along = ((ks - k) * self.dz) ** 2
                sampled = in_plane[index[1:]]
                np.minimum(out[c], along[:, None, None] + (sampled * sampled)[None], out=out[c])
            return np.sqrt(out, out=out).reshape(self.n_classes, -1)
        return self._points(*(np.asarray(part).reshape(-1) for part in index))

    def left_out(self, where: np.ndarray) -> np.ndarray:
        """The painted voxels' distances [n, C] (float32) from the paint on the other axial slices (leave one slice
        out; `where` (n, 3) [k, j, i]), from the maps computed once."""
        out = np.empty((len(where), self.n_classes), dtype=np.float32)
        for k in np.unique(where[:, 0]):
            rows = np.flatnonzero(where[:, 0] == k)
            out[rows] = self._points(*where[rows].T, leave_out=int(k)).T
        return out

    def _points(self, k_index: np.ndarray, j_index: np.ndarray, i_index: np.ndarray,
                leave_out: int | None = None) -> np.ndarray:
        """Distances [C, n] at scattered voxels, the paint of axial slice `leave_out` not counting."""
        ks = k_index.astype(np.float32)
        out = np.full((self.n_classes, ks.size), FAR_MM * FAR_MM, dtype=np.float32)
        for k, c, in_plane in self.planes:
            if k == leave_out:
                continue
            along = ((ks - k) * self.dz) ** 2
            sampled = in_plane[j_index, i_index]
            np.minimum(out[c], along + sampled * sampled, out=out[c])
        return np.sqrt(out, out=out)


def geodesic_distance(seeds: np.ndarray, image: np.ndarray, spacing_kji: Sequence[float], gamma: float,
                      sweeps: int = 2) -> np.ndarray:
    """Geodesic distance (mm) [k, j, i] from `seeds` over `image`: a step between neighbours costs
    sqrt(length^2 + (gamma * intensity difference)^2); raster sweeps forward and back along each axis
    (the scheme of FastGeodis and DeepIGeoS), `sweeps` times."""
    infinity = np.float32(1e6)
    distance = np.where(seeds, 0.0, infinity).astype(np.float32)
    image = np.asarray(image, dtype=np.float32)
    spacing = np.asarray(spacing_kji, dtype=np.float32)
    offsets = [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)]
    for _ in range(sweeps):
        for axis in range(3):
            dist = np.moveaxis(distance, axis, 0)
            img = np.moveaxis(image, axis, 0)
            across = [spacing[i] for i in range(3) if i != axis]
            lengths = {o: float(np.sqrt(spacing[axis] ** 2 + (o[0] * across[0]) ** 2 + (o[1] * across[1]) ** 2))
                       for o in offsets}
            n = dist.shape[0]
            for order in (range(1, n), range(n - 2, -1, -1)):
                for k in order:
                    previous = k - order.step
                    best = dist[k]
                    for offset in offsets:
                        d = _shifted(dist[previous], offset, infinity)
                        step = (gamma * (img[k] - _shifted(img[previous], offset, 0.0))) ** 2 + lengths[offset] ** 2
                        best = np.minimum(best, d + np.sqrt(step))
                    dist[k] = best
    return distance


def _shifted(plane: np.ndarray, offset: tuple[int, int], fill: float) -> np.ndarray:
    """plane[j + dj, i + di] at [j, i], `fill` where that falls outside."""
    dj, di = offset
    out = np.full_like(plane, fill)
    rows, cols = plane.shape
    out[max(-dj, 0):rows + min(-dj, 0), max(-di, 0):cols + min(-di, 0)] = \
        plane[max(dj, 0):rows + min(dj, 0), max(di, 0):cols + min(di, 0)]
    return out
