"""The ProtoNet prior as the per-study learner's input, without leakage: held-out prototypes for the painted voxels.

The prior's prototypes are built from the painted voxels, so a painted voxel classified by prototypes that hold its
own embedding and its neighbours' is near-certain, and much less so on the unpainted slices: a learner trained on
those probabilities would learn to trust them blindly. So the paint is split into folds (its axial slices, or, when
all of it lies on one slice, sectors around its centre) and each fold's voxels get the probabilities of prototypes
built from the other folds only, as the distances to the paint leave their own slice out (paint_distances.py).
Unpainted voxels get the mean of those per-fold probabilities (cross-fitting): the learner then reads, everywhere,
what prototypes of all folds but one say, and a prior that is only confident on its own paint cannot fool it
(docs/decisions.md, "ProtoNet in the default path"). A class painted in one fold only keeps its prototypes from
that fold.

Each fold's probabilities are computed once per paint change on the embedding's grid, and every answer (the
painted voxels', the unpainted voxels', a preview's sample) is read from them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

import numpy as np

from ..protonet.prototypes import MAX_PROTOTYPES_PER_CLASS, Prototypes, build_prototypes, classes_missing
from ..protonet.support import paint_boundaries

SECTORS = 4  # folds of paint lying on one axial slice: sectors of the angle around the paint's centre
PROTOTYPE_WORKERS = 2


def paint_folds(where: np.ndarray) -> np.ndarray:
    """A fold index for every painted voxel (n, 3) [k, j, i]: its axial slice's rank when the paint lies on two or
    more slices, else its sector (of SECTORS) of the in-plane angle around the paint's centre."""
    slices, folds = np.unique(where[:, 0], return_inverse=True)
    if len(slices) >= 2:
        return folds.ravel()
    offsets = where[:, 1:].astype(np.float64) - where[:, 1:].mean(axis=0)
    angle = np.arctan2(offsets[:, 0], offsets[:, 1])
    return np.minimum(((angle + np.pi) / (2 * np.pi) * SECTORS).astype(np.int64), SECTORS - 1)


def held_out_prototypes(columns: np.ndarray, classes: np.ndarray, edge: np.ndarray, held_out: np.ndarray,
                        n_classes: int, max_per_class: int = MAX_PROTOTYPES_PER_CLASS) -> Prototypes:
    """Prototypes (at most `max_per_class` per class) of the painted voxels (embedding columns [D, n], class indices
    (n,), boundary flags (n,)) outside the fold `held_out` (n,) bool, plus the fold's own voxels of a class painted
    only in it (classes_missing)."""
    chosen = np.flatnonzero(~held_out)
    missing = np.flatnonzero(held_out)[classes_missing(classes[chosen], classes[held_out], n_classes)]
    if len(missing):
        chosen = np.concatenate([chosen, missing])
    return build_prototypes(columns[:, chosen].T, classes[chosen], n_classes, edge[chosen], max_per_class)


class CrossFittedPrior:
    """The prior's class probabilities for one paint: per fold of the paint, from prototypes of the other folds."""

    def __init__(self, prior: Any, painted: np.ndarray, where: np.ndarray) -> None:
        """`prior`: a FewShotSession on the volume; `painted`: class indices [k, j, i] (-1 unpainted); `where`: the
        painted voxels (n, 3)."""
        self.prior, self.where = prior, where
        self.folds = paint_folds(where)
        self.n_classes = int(painted.max()) + 1
        # what every fold's prototypes are made of, gathered once: the painted voxels' embedding columns [D, n],
        # class indices and boundary flags; a fold takes its rows (prior.prototypes' choice, same order)
        self.columns = prior.embedding_columns(where)
        self.classes = painted[tuple(where.T)].astype(np.int64)
        self.edge = paint_boundaries(painted)[tuple(where.T)]
        # one fold per thread, its k-means and its probabilities single-threaded, so that neither waits for the other
        with ThreadPoolExecutor(max_workers=PROTOTYPE_WORKERS) as pool:
            self.cells = list(pool.map(self.fold_cells, np.unique(self.folds)))  # per fold: [C, k', j', i']
        self.mean_cells = sum(self.cells) / np.float32(len(self.cells))

    def fold_cells(self, fold: int) -> np.ndarray:
        """Grid probabilities [C, k', j', i'] of the prototypes built without fold `fold`'s paint."""
        prototypes = held_out_prototypes(self.columns, self.classes, self.edge, self.folds == fold, self.n_classes)
        return self.prior.grid_probabilities(prototypes, workers=1)

    def held_out(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Probabilities [n, C] (float32) of the painted voxels where[rows] (all when None), each from its own fold's
        held-out prototypes."""
        rows = np.arange(len(self.where)) if rows is None else np.asarray(rows)
        out = np.empty((len(rows), self.mean_cells.shape[0]), dtype=np.float32)
        for fold, cells in zip(np.unique(self.folds), self.cells):
            chosen = np.flatnonzero(self.folds[rows] == fold)
            out[chosen] = self._at(cells, self.where[rows[chosen]]).T
        return out

    def voxels(self, classes: Optional[list[int]] = None) -> np.ndarray:
        """Probabilities [C, k, j, i] (float32) at every voxel: the mean over the folds, of the `classes` given (all
        when None)."""
        return self.prior.grid.to_voxels(self.mean_cells if classes is None else self.mean_cells[classes])

    def _at(self, cells: np.ndarray, voxels: np.ndarray) -> np.ndarray:
        """Grid probabilities [C, ...] at voxels (n, 3), interpolated as the voxel grid is: [C, n]."""
        grid = self.prior.grid
        if grid.stride == 1:
            return cells[:, voxels[:, 0], voxels[:, 1], voxels[:, 2]]
        return grid.interpolate(cells, voxels)
