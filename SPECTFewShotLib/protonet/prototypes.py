"""Prototypes from painted embeddings, and per-voxel class probabilities from distances to them.

A class's prototype is the mean embedding of its painted voxels (masked average pooling). A class painted over
many voxels is usually heterogeneous (background holds lungs, liver, gut, air, the partial-volume rim around the
heart): it gets several prototypes, the centres of a deterministic k-means of its painted embeddings. A voxel's
class probability is the softmax over all prototypes of -distance / temperature, summed over each class's
prototypes. Prototypes are not weighted by the size of their cluster: a small cluster (the rim around the
myocardium) must be able to claim the voxels nearest to it, which size weights prevented on validation phantoms.
Where two painted classes touch (full labels on a slice), each class also gets up to three boundary prototypes
from its painted voxels next to another class: prototypes on both sides of every painted boundary put the
decision boundary where the clinician drew it (validation phantoms: myocardium Dice 0.76 -> 0.83).

One implementation, in numpy, serves inference and training: which painted voxels make each prototype
(prototype_members: k-means and the boundary groups, no gradients needed) is computed here; the product averages them
in numpy (build_prototypes) and training averages the same members in torch to keep gradients
(research/protonet_training/prototype_loss.py). Nothing here imports torch.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..runtime.threads import one_blas_thread

MAX_PROTOTYPES_PER_CLASS = 12
VOXELS_PER_PROTOTYPE = 150  # a class gets one more prototype per this many painted voxels, up to the maximum
MAX_BOUNDARY_PROTOTYPES = 3
VOXELS_PER_BOUNDARY_PROTOTYPE = 20
KMEANS_ITERATIONS = 8
KMEANS_MAX_POINTS = 2000  # k-means runs on an evenly spaced sample of a large painted class
CHUNK = 16384  # voxels per block when classifying: keeps a block's logits in cache


@dataclass(frozen=True)
class Prototypes:
    """Prototype vectors [P, D] (float32 numpy; a torch tensor in training) and the class index of each [P]."""

    vectors: Any
    class_of: np.ndarray
    n_classes: int


@dataclass(frozen=True)
class PrototypeMembers:
    """Which painted rows make up which prototype: prototype `prototype[m]` averages painted row `rows[m]` (a
    boundary voxel belongs to a boundary prototype and to one of its class's prototypes); `class_of` [P]."""

    rows: np.ndarray
    prototype: np.ndarray
    class_of: np.ndarray

    @property
    def count(self) -> int:
        """Number of prototypes."""
        return len(self.class_of)


def prototype_count(n_voxels: int, max_per_class: int = MAX_PROTOTYPES_PER_CLASS,
                    voxels_per_prototype: int = VOXELS_PER_PROTOTYPE) -> int:
    """How many prototypes a class painted over `n_voxels` voxels gets."""
    return int(max(1, min(max_per_class, n_voxels // max(1, voxels_per_prototype))))


def _nearest(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre of every point (squared Euclidean distance, by matrix product)."""
    return ((centres * centres).sum(1)[None, :] - 2.0 * (points @ centres.T)).argmin(1)


def kmeans(points: np.ndarray, k: int, iterations: int = KMEANS_ITERATIONS) -> np.ndarray:
    """Deterministic k-means of points [n, D]: farthest-point initialisation from the point nearest the mean; the
    cluster index of each point."""
    points = np.asarray(points, dtype=np.float32)
    n = points.shape[0]
    if k <= 1 or n <= k:
        return np.zeros(n, dtype=np.int64) if k <= 1 else np.arange(n)
    first = int(_nearest(points.mean(0, keepdims=True), points)[0])
    chosen = [first]
    nearest = ((points - points[first]) ** 2).sum(1)
    for _ in range(1, k):
        chosen.append(int(nearest.argmax()))
        nearest = np.minimum(nearest, ((points - points[chosen[-1]]) ** 2).sum(1))
    centres = points[chosen]
    for _ in range(iterations):
        assign = _nearest(points, centres)
        onehot = (assign[:, None] == np.arange(k)[None, :]).astype(np.float32)
        counts = onehot.sum(0)[:, None]
        sums = onehot.T @ points
        centres = np.where(counts > 0, sums / np.maximum(counts, 1), centres)  # an empty cluster stays put
    return _nearest(points, centres)


def prototype_members(painted: np.ndarray, classes: np.ndarray, n_classes: int,
                      boundary: Optional[np.ndarray] = None, max_per_class: int = MAX_PROTOTYPES_PER_CLASS,
                      voxels_per_prototype: int = VOXELS_PER_PROTOTYPE) -> PrototypeMembers:
    """Which painted embeddings [n, D] (with class indices [n], 0..n_classes-1, each present) make up each
    prototype; `boundary` [n] (bool) marks painted voxels next to another painted class
    (support.paint_boundaries)."""
    with one_blas_thread():  # hundreds of small products: single-threaded BLAS, one class after another
        return _prototype_members(np.asarray(painted, dtype=np.float32), np.asarray(classes), n_classes, boundary,
                                  max_per_class, voxels_per_prototype)


def _prototype_members(painted: np.ndarray, classes: np.ndarray, n_classes: int, boundary: Optional[np.ndarray],
                       max_per_class: int, voxels_per_prototype: int) -> PrototypeMembers:
    rows, prototype, class_of = [], [], []

    def add(members: np.ndarray, assign: np.ndarray, c: int) -> None:
        clusters, compact = np.unique(assign, return_inverse=True)  # the non-empty clusters, in increasing index
        rows.append(members)
        prototype.append(len(class_of) + compact.ravel())
        class_of.extend([c] * len(clusters))

    for c in range(n_classes):
        mine = np.flatnonzero(classes == c)
        if len(mine) == 0:
            raise ValueError(f"class {c} has no painted voxels")
        if boundary is not None:
            edge = mine[np.asarray(boundary)[mine]]
            if len(edge):
                k = prototype_count(len(edge), MAX_BOUNDARY_PROTOTYPES, VOXELS_PER_BOUNDARY_PROTOTYPE)
                add(edge, kmeans(painted[edge], k), c)
        k = prototype_count(len(mine), max_per_class, voxels_per_prototype)
        sample = mine
        if k > 1 and len(mine) > KMEANS_MAX_POINTS:
            step = len(mine) / KMEANS_MAX_POINTS
            sample = mine[(np.arange(KMEANS_MAX_POINTS) * step).astype(np.int64)]
        assign = kmeans(painted[sample], k)
        if sample is not mine:  # assign every painted voxel to the nearest centre found on the sample
            assign = _nearest(painted[mine], cluster_means(painted[sample], assign))
        add(mine, assign, c)
    return PrototypeMembers(np.concatenate(rows), np.concatenate(prototype), np.asarray(class_of, dtype=np.int64))


def classes_missing(kept: np.ndarray, others: np.ndarray, n_classes: int) -> np.ndarray:
    """Which rows of the class indices `others` hold a class that has no row in `kept` (a class painted only
    there): boolean, one per row of `others`."""
    present = np.zeros(n_classes, dtype=bool)
    present[np.unique(kept)] = True
    return ~present[others]


def build_prototypes(painted: np.ndarray, classes: np.ndarray, n_classes: int,
                     boundary: Optional[np.ndarray] = None, max_per_class: int = MAX_PROTOTYPES_PER_CLASS,
                     voxels_per_prototype: int = VOXELS_PER_PROTOTYPE) -> Prototypes:
    """Prototypes (float32) from painted embeddings [n, D] with their class indices [n] (0..n_classes-1, each
    present); `boundary` [n] (bool) marks painted voxels next to another painted class (support.paint_boundaries)."""
    painted = np.asarray(painted, dtype=np.float32)
    members = prototype_members(painted, classes, n_classes, boundary, max_per_class, voxels_per_prototype)
    return Prototypes(member_means(painted, members), members.class_of, n_classes)


def member_means(painted: np.ndarray, members: PrototypeMembers) -> np.ndarray:
    """The mean [P, D] (float32) of each prototype's painted rows."""
    order = np.argsort(members.prototype, kind="stable")
    grouped = members.prototype[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    sums = np.add.reduceat(painted[members.rows[order]], starts, axis=0)
    counts = np.diff(np.r_[starts, len(grouped)])
    return (sums / counts[:, None]).astype(np.float32)


def cluster_means(points: np.ndarray, assign: np.ndarray) -> np.ndarray:
    """Mean [q, D] of the points [n, D] of each non-empty cluster, in increasing cluster index."""
    clusters = int(assign.max()) + 1
    sums = np.zeros((clusters, points.shape[1]), dtype=np.float64)
    np.add.at(sums, assign, points)
    counts = np.bincount(assign, minlength=clusters)
    present = counts > 0
    return (sums[present] / counts[present, None]).astype(np.float32)


def linear_classifier(prototypes: Prototypes, temperature: float, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Weights [D, P] and bias [P] (float32) with logits = f @ W + b, up to a per-voxel constant that the softmax
    removes.

    For squared Euclidean distance -|f - c|^2 / T = (2 f.c - |c|^2 - |f|^2) / T, and |f|^2 is the same for every
    prototype; for cosine similarity the features must be L2-normalised beforehand.
    """
    vectors = np.asarray(prototypes.vectors, dtype=np.float32)
    if metric == "cosine":
        weight = (normalize_rows(vectors) / np.float32(temperature)).T
        bias = np.zeros(vectors.shape[0], dtype=np.float32)
    else:
        weight = 2.0 * vectors.T / np.float32(temperature)
        bias = -(vectors * vectors).sum(1) / np.float32(temperature)
    return np.ascontiguousarray(weight, dtype=np.float32), bias.astype(np.float32)


def normalize_rows(values: np.ndarray, axis: int = 1) -> np.ndarray:
    """`values` divided by their L2 norm along `axis` (at least 1e-12), as torch's F.normalize."""
    norm = np.sqrt((values * values).sum(axis=axis, keepdims=True))
    return values / np.maximum(norm, np.float32(1e-12))


def class_probabilities(features: np.ndarray, prototypes: Prototypes, temperature: float,
                        metric: str = "euclidean", workers: int = 1) -> np.ndarray:
    """Class probabilities [C, N] (float32) of every row of `features` [N, D]."""
    return column_probabilities(np.ascontiguousarray(np.asarray(features, dtype=np.float32).T), prototypes,
                                temperature, metric, workers)


def column_probabilities(columns: np.ndarray, prototypes: Prototypes, temperature: float,
                         metric: str = "euclidean", workers: int = 1) -> np.ndarray:
    """Class probabilities [C, N] (float32) of every column of `columns` [D, N] (the session's channels-first
    embeddings), block by block, blocks shared among `workers` Python threads (numpy releases the GIL), BLAS
    single-threaded (one_blas_thread).

    Columns keep every step contiguous along the voxels: the maximum over the prototypes, the exponential and the
    sum per class all run over whole rows.
    """
    weight, bias = linear_classifier(prototypes, temperature, metric)
    return prototype_mixture(columns, np.ascontiguousarray(weight.T), bias[:, None], prototypes, workers)


def prototype_mixture(columns: np.ndarray, weight: np.ndarray, bias: np.ndarray, prototypes: Prototypes,
                      workers: int = 1) -> np.ndarray:
    """Class probabilities [C, N] (float32) of every column of `columns` [D, N] from per-prototype logits
    `weight` @ column + `bias` (weight [P, D], bias [P, 1], float32): the softmax over the prototypes summed per
    class, block by block as `column_probabilities`."""
    class_of = np.asarray(prototypes.class_of)
    member = np.zeros((prototypes.n_classes, len(class_of)), dtype=np.float32)
    member[class_of, np.arange(len(class_of))] = 1.0
    n = columns.shape[1]
    out = np.empty((prototypes.n_classes, n), dtype=np.float32)

    def block(start: int) -> None:
        logits = weight @ columns[:, start:start + CHUNK]
        logits += bias
        logits -= logits.max(0, keepdims=True)
        np.exp(logits, out=logits)
        mixture = member @ logits
        mixture /= mixture.sum(0, keepdims=True)
        out[:, start:start + CHUNK] = mixture

    with one_blas_thread():
        if workers <= 1 or n <= CHUNK:
            for start in range(0, n, CHUNK):
                block(start)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(block, range(0, n, CHUNK)))
    return out
