"""The ProtoNet prior as the per-study learner's input, without leakage: held-out prototypes for the painted voxels.

The prior's prototypes are built from the painted voxels, so a painted voxel classified by prototypes that hold its
own embedding and its neighbours' is near-certain, and much less so on the unpainted slices: a learner trained on
those probabilities would learn to trust them blindly. So the paint is split into folds (its axial slices, or, when
all of it lies on one slice, sectors around its centre) and each fold's voxels get the probabilities of prototypes
built from the other folds only, as the distances to the paint leave their own slice out (paint_distances.py).
Unpainted voxels get the mean of those per-fold probabilities (cross-fitting): the learner then reads, everywhere,
what prototypes of all folds but one say, and a prior that is only confident on its own paint cannot fool it (with
an untrained network, all-paint probabilities for the unpainted voxels cost 0.09 of myocardium Dice on patient001,
the per-fold mean 0.01; docs/decisions.md). A class painted in one fold only keeps its prototypes from that fold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SECTORS = 4  # folds of paint lying on one axial slice: sectors of the angle around the paint's centre


def paint_folds(where: np.ndarray) -> np.ndarray:
    """A fold index for every painted voxel (n, 3) [k, j, i]: its axial slice's rank when the paint lies on two or
    more slices, else its sector (of SECTORS) of the in-plane angle around the paint's centre."""
    slices, folds = np.unique(where[:, 0], return_inverse=True)
    if len(slices) >= 2:
        return folds.ravel()
    offsets = where[:, 1:].astype(np.float64) - where[:, 1:].mean(axis=0)
    angle = np.arctan2(offsets[:, 0], offsets[:, 1])
    return np.minimum(((angle + np.pi) / (2 * np.pi) * SECTORS).astype(np.int64), SECTORS - 1)


def fold_prototypes(prior: Any, painted: np.ndarray, where: np.ndarray) -> list[tuple[np.ndarray, Any]]:
    """(the fold's rows of `where`, prototypes of the other folds) for every fold of the paint; `prior` is a
    FewShotSession on the volume."""
    folds = paint_folds(where)
    out = []
    for fold in np.unique(folds):
        mine = folds == fold
        out.append((np.flatnonzero(mine), prior.prototypes(painted, where[~mine], fallback=where[mine])))
    return out


def held_out_prior(prior: Any, painted: np.ndarray, where: np.ndarray, rows: np.ndarray | None = None
                   ) -> np.ndarray:
    """The prior's class probabilities [n, C] (float32) of the painted voxels where[rows] (all when `rows` is None),
    each from prototypes built without its own fold of the paint."""
    rows = np.arange(len(where)) if rows is None else np.asarray(rows)
    position = np.full(len(where), -1)
    position[rows] = np.arange(len(rows))
    out = np.empty((len(rows), int(painted.max()) + 1), dtype=np.float32)
    for members, prototypes in fold_prototypes(prior, painted, where):
        chosen = members[position[members] >= 0]
        if len(chosen):
            out[position[chosen]] = prior.probabilities_at(prototypes, where[chosen]).T
    return out


def voxel_prior(prior: Any, painted: np.ndarray, where: np.ndarray) -> np.ndarray:
    """The prior's class probabilities [C, k, j, i] (float32) at every voxel: the mean over the folds of the paint of
    what prototypes of the other folds say (cross-fitting, as the painted voxels see it)."""
    import torch

    folds = fold_prototypes(prior, painted, where)
    cells = sum(prior.grid_probabilities(prototypes) for _, prototypes in folds) / np.float32(len(folds))
    grid = prior.grid
    if grid.stride == 1:
        return cells
    return np.ascontiguousarray(grid.upsample(torch.from_numpy(cells)).numpy())


def sampled_prior(prior: Any, painted: np.ndarray, where: np.ndarray, sample: tuple) -> np.ndarray:
    """voxel_prior on a grid of voxels `sample` (slices along k, j, i) only: [C, ...] (float32)."""
    axes = [np.arange(n)[s] for n, s in zip(painted.shape, sample)]
    voxels = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    folds = fold_prototypes(prior, painted, where)
    values = sum(prior.probabilities_at(prototypes, voxels) for _, prototypes in folds) / np.float32(len(folds))
    return values.reshape(values.shape[0], *(len(a) for a in axes))
