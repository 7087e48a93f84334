"""Simulated clinician painting, deterministic and documented, shared by the demo, the evaluation and the self-test.

Both protocols paint the same three axial slices: the rounded quartiles of the axial extent of the structure of
interest (the LV myocardium), `np.round(np.percentile(ks, [25, 50, 75]))`.

- "slices": every voxel of those slices gets its class (full labels; every class's voxels on the slice).
- "strokes": on those slices each class gets one-voxel-wide strokes along the medial axis (skeleton) of its
  region on that slice: the centreline of the myocardial ring, a short line or a dot in the blood pool, the
  medial axis of the liver, and for background the medial axis of everything else on the slice, which runs
  outside the heart (between the heart and the edge of the body and field of view). No parameter is involved,
  so nothing in it can be tuned to favour one method.

A "class map" gives every voxel a class value (>= 1); voxels that belong to no painted class carry the background
value. Supports are label arrays [k, j, i] with 0 = unpainted.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InputError

PROTOCOLS = ("slices", "strokes")


def quartile_slices(mask: np.ndarray) -> list[int]:
    """The axial slices (k) at the rounded quartiles of the axial extent of a mask [k, j, i]."""
    ks = np.nonzero(np.asarray(mask).any(axis=(1, 2)))[0]
    if ks.size == 0:
        raise InputError("the structure to paint is absent from the volume")
    return sorted({int(k) for k in np.round(np.percentile(ks, [25, 50, 75]))})


def paint_slices(class_map: np.ndarray, slices: Sequence[int]) -> np.ndarray:
    """Full labels on the given axial slices, 0 elsewhere."""
    support = np.zeros(class_map.shape, dtype=np.int32)
    for k in slices:
        support[k] = class_map[k]
    return support


def paint_strokes(class_map: np.ndarray, slices: Sequence[int]) -> np.ndarray:
    """One-voxel strokes along the medial axis of every class region on the given axial slices, 0 elsewhere."""
    from skimage.morphology import skeletonize

    support = np.zeros(class_map.shape, dtype=np.int32)
    for k in slices:
        for value in (int(v) for v in np.unique(class_map[k]) if v != 0):
            region = class_map[k] == value
            stroke = skeletonize(region)
            if not stroke.any():  # a region too small for a skeleton: one dot at its most central voxel
                stroke = _central_voxel(region)
            support[k][stroke] = value
    return support


def paint(class_map: np.ndarray, slices: Sequence[int], protocol: str) -> np.ndarray:
    """The support painted on `slices` by `protocol` ("slices" or "strokes")."""
    if protocol == "slices":
        return paint_slices(class_map, slices)
    if protocol == "strokes":
        return paint_strokes(class_map, slices)
    raise InputError(f"unknown painting protocol '{protocol}'; choose one of {', '.join(PROTOCOLS)}")


def unpainted_slices(shape: Sequence[int], slices: Sequence[int]) -> np.ndarray:
    """A boolean mask [k, j, i] of every voxel outside the painted axial slices (where accuracy is measured)."""
    mask = np.ones(tuple(shape), dtype=bool)
    mask[list(slices)] = False
    return mask


def _central_voxel(region: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    depth = ndimage.distance_transform_edt(region)
    dot = np.zeros_like(region)
    dot[np.unravel_index(int(np.argmax(depth)), region.shape)] = True
    return dot
