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
        components, count = ndimage.label(labels == c, structure=_CONNECTIVITY)
        if count == 0:
            continue
        seeded = np.unique(components[(painted == c) & (components > 0)])
        keep = np.zeros(count + 1, dtype=bool)
        keep[seeded] = True
        orphan = (components > 0) & ~keep[components]
        if not orphan.any():
            continue
        values = probabilities[:, orphan]
        values[c] = 0.0
        total = values.sum(0)
        values = np.where(total > 0, values / np.maximum(total, 1e-12), 1.0 / (values.shape[0] - 1))
        values[c] = 0.0
        probabilities[:, orphan] = values
        labels[orphan] = values.argmax(0)
    return labels
