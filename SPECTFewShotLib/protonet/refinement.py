"""Product-level refinement of a dense classification: painted voxels keep their paint, and each class keeps only
the regions connected to voxels painted with it (what region growing such as GrowCut gets by construction)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# 26-connectivity: a wall one voxel thick that runs diagonally still counts as one region
_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)


def apply_paint(probabilities: np.ndarray, painted: np.ndarray) -> None:
    """Set the probabilities of painted voxels (class index >= 0 in `painted` [k, j, i]) to their painted class."""
    k, j, i = np.nonzero(painted >= 0)
    probabilities[:, k, j, i] = 0.0
    probabilities[painted[k, j, i], k, j, i] = 1.0


def keep_connected_to_paint(probabilities: np.ndarray, painted: np.ndarray) -> np.ndarray:
    """Class indices [k, j, i] where every class's regions touch its painted voxels (in place on probabilities).

    A predicted region of a class that contains none of that class's painted voxels is given, voxel by voxel, to
    the most probable other class: that class's probability is set to 0 there and the rest renormalised, so the
    returned labels stay the argmax of the returned probabilities.
    """
    labels = probabilities.argmax(0)
    for c in range(probabilities.shape[0]):
        box = bounding_box(labels == c)  # a class is often small: label its box, not the volume
        if box is None:
            continue
        inside, box_labels = probabilities[(slice(None), *box)], labels[box]  # views: edits reach the arrays
        components, count = ndimage.label(box_labels == c, structure=_CONNECTIVITY)
        seeded = np.unique(components[(painted[box] == c) & (components > 0)])
        keep = np.zeros(count + 1, dtype=bool)
        keep[seeded] = True
        orphan = (components > 0) & ~keep[components]
        if not orphan.any():
            continue
        values = inside[:, orphan]
        values[c] = 0.0
        total = values.sum(0)
        values = np.where(total > 0, values / np.maximum(total, 1e-12), 1.0 / (values.shape[0] - 1))
        values[c] = 0.0
        inside[:, orphan] = values
        box_labels[orphan] = values.argmax(0)
    return labels


def bounding_box(mask: np.ndarray) -> tuple[slice, ...] | None:
    """The smallest box (one slice per axis) holding every True voxel of `mask`; None when there is none."""
    box = []
    for axis in range(mask.ndim):
        hits = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        if len(hits) == 0:
            return None
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(box)
