"""Spatial coherence: a multi-label graph cut (alpha-expansion, Boykov, Veksler and Zabih) with PyMaxflow.

Energy: sum over voxels of -log p(label) (the learner's probabilities) plus, for every pair of face neighbours
with different labels, a contrast-sensitive Potts term (Boykov and Jolly):
    w_pq = smoothness * exp(-beta (I_p - I_q)^2) * (smallest spacing / spacing along the pair's axis),
beta = 1 / (2 <(I_p - I_q)^2>) over the volume, so the contrast scale is the study's own. Painted voxels are hard
constraints: they keep their painted label.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

SMOOTHNESS = 3.0  # Potts weight relative to the unaries (results hardly change between 1 and 4)
PROBABILITY_FLOOR = 1e-4  # unaries are -log(max(p, floor)): a learner's zero is not an infinite cost
EXPANSION_CYCLES = 2
BAND_MARGIN = 2  # voxels from a change of the most probable class that the graph cut may relabel
BAND_CERTAIN = 0.7  # ... and every voxel whose most probable class is less sure than this


def contrast_weights(image: np.ndarray, spacing_kji: Sequence[float], smoothness: float = SMOOTHNESS
                     ) -> list[np.ndarray]:
    """Potts weights of each voxel's pair with its next neighbour along k, j and i (float64, 0 on the last plane)."""
    image = np.asarray(image, dtype=np.float32)
    differences = []
    for axis in range(3):
        d = np.zeros(image.shape, dtype=np.float32)
        head = _along(axis, 0, -1)
        d[head] = np.diff(image, axis=axis)
        differences.append(d)
    total = sum(float(np.square(d, dtype=np.float64).sum()) for d in differences)
    pairs = sum(image.size - image.size // image.shape[a] for a in range(3))
    beta = 1.0 / (2.0 * total / max(pairs, 1) + 1e-12)
    low = min(float(s) for s in spacing_kji)
    weights = []
    for axis, d in enumerate(differences):
        w = smoothness * (low / float(spacing_kji[axis])) * np.exp(-beta * d.astype(np.float64) ** 2)
        w[_along(axis, -1, None)] = 0.0
        weights.append(w)
    return weights


def alpha_expansion(probabilities: np.ndarray, weights: list[np.ndarray], painted: np.ndarray,
                    active: Optional[np.ndarray] = None, cycles: int = EXPANSION_CYCLES) -> np.ndarray:
    """Class indices [k, j, i] minimising the energy; `probabilities` [C, k, j, i], `painted` class indices
    (-1 = unpainted) that the result keeps. Starts from the most probable class. Only `active` voxels (default:
    every unpainted voxel) may change; the others, painted voxels included, keep their label and enter the
    energy through their pairs with active voxels."""
    import maxflow

    n_classes = probabilities.shape[0]
    unary = -np.log(np.maximum(probabilities, PROBABILITY_FLOOR)).astype(np.float32)
    labels = np.where(painted >= 0, painted, first_argmax(unary, smallest=True)).astype(np.int64)
    movable = painted < 0 if active is None else (active & (painted < 0))
    voxels = np.flatnonzero(movable)
    if voxels.size == 0:
        return labels
    node = np.full(labels.size, -1, dtype=np.int64)
    node[voxels] = np.arange(voxels.size)
    pairs = _active_pairs(labels.shape, weights, movable.ravel())
    flat_unary = unary.reshape(n_classes, -1)[:, voxels]
    flat = labels.ravel()  # a view: moves write through to `labels`
    for _ in range(cycles):
        changed = False
        for alpha in range(n_classes):
            current = flat[voxels]
            if not (current != alpha).any():
                continue
            graph = maxflow.Graph[float]()
            graph.add_nodes(voxels.size)  # node ids 0..n-1, the order of `voxels`
            keep = flat_unary[current, np.arange(voxels.size)].astype(np.float64)
            switch = flat_unary[alpha].astype(np.float64)
            _add_pairs(graph, pairs, flat, node, alpha, keep, switch)
            low = np.minimum(keep, switch)
            ids = np.arange(voxels.size)
            graph.add_grid_tedges(ids, switch - low, keep - low)  # sink side (x = 1) pays `switch`
            graph.maxflow()
            moved = graph.get_grid_segments(ids) & (current != alpha)
            if moved.any():
                flat[voxels[moved]] = alpha
                changed = True
        if not changed:
            break
    return labels


def uncertain_band(probabilities: np.ndarray, margin: int = BAND_MARGIN, certain: float = BAND_CERTAIN
                   ) -> np.ndarray:
    """The voxels the graph cut may change [k, j, i]: within `margin` voxels of a change of the most probable
    class, or where that class's probability is below `certain`. Elsewhere a voxel and all its neighbours agree
    with confidence, and no Potts term can outweigh that."""
    from scipy import ndimage

    labels = first_argmax(probabilities)  # uint8: the filters run on a eighth of int64's bytes
    edge = ndimage.maximum_filter(labels, size=3) != ndimage.minimum_filter(labels, size=3)
    band = ndimage.binary_dilation(edge, iterations=margin) if margin > 1 else edge
    return band | (probabilities.max(0) < certain)


def first_argmax(values: np.ndarray, smallest: bool = False) -> np.ndarray:
    """values.argmax(0) (argmin with `smallest`) of [C, ...] values without NaN, as uint8 (C <= 255): the same
    index, the first one on ties, class by class over contiguous arrays instead of numpy's strided reduction
    (2-3x faster on a 128^3 volume)."""
    if values.shape[0] > 255:
        return (values.argmin(0) if smallest else values.argmax(0)).astype(np.int64)
    best = values[0].copy()
    index = np.zeros(values.shape[1:], dtype=np.uint8)
    for c in range(1, values.shape[0]):
        better = values[c] < best if smallest else values[c] > best
        index[better] = c
        (np.minimum if smallest else np.maximum)(best, values[c], out=best)
    return index


def _active_pairs(shape: tuple, weights: list[np.ndarray], movable: np.ndarray) -> list[tuple]:
    """Face-neighbour pairs (p, q, w) (flat indices, q the next voxel along the axis) with at least one movable
    voxel, per axis; found from the movable voxels alone."""
    voxels = np.flatnonzero(movable)
    position = np.unravel_index(voxels, shape)
    pairs = []
    for axis, w in enumerate(weights):
        step = int(np.prod(shape[axis + 1:]))
        forward = voxels[position[axis] < shape[axis] - 1]  # movable p, q after it
        backward = voxels[position[axis] > 0] - step  # movable q, p before it (not movable: else counted above)
        backward = backward[~movable[backward]]
        p = np.concatenate([forward, backward])
        pairs.append((p, p + step, w.ravel()[p]))
    return pairs


def _add_pairs(graph, pairs: list[tuple], labels: np.ndarray, node: np.ndarray, alpha: int,
               keep: np.ndarray, switch: np.ndarray) -> None:
    """The expansion move's pairwise terms (x = 1: take alpha, x = 0: keep).

    A Potts pair's energy E(x_p, x_q) with A = E(0,0), B = E(0,1), C = E(1,0), D = E(1,1) = 0 is
    A + (C - A) x_p - C x_q + (B + C - A) (1 - x_p) x_q: unary terms and an edge p -> q of capacity
    B + C - A >= 0 (Potts is a metric). A pair with one fixed voxel is a unary term of the other.
    """
    for p, q, w in pairs:
        lp, lq = labels[p], labels[q]
        np_, nq = node[p], node[q]
        both = (np_ >= 0) & (nq >= 0)
        a = w * (lp != lq)
        b = w * (lp != alpha)
        c = w * (lq != alpha)
        n = keep.size
        i, j = np_[both], nq[both]
        graph.add_edges(i, j, np.maximum(b + c - a, 0.0)[both], np.zeros(i.size))
        only_p = (np_ >= 0) & (nq < 0)  # q fixed at its label
        only_q = (np_ < 0) & (nq >= 0)  # p fixed at its label
        first = both | only_p
        keep += np.bincount(np_[first], weights=a[first], minlength=n)
        switch += np.bincount(np_[first], weights=c[first], minlength=n)
        switch -= np.bincount(j, weights=c[both], minlength=n)
        keep += np.bincount(nq[only_q], weights=a[only_q], minlength=n)
        switch += np.bincount(nq[only_q], weights=b[only_q], minlength=n)


def _along(axis: int, start: int, stop: int | None) -> tuple:
    """An index taking start:stop along `axis` and everything along the others."""
    index = [slice(None)] * 3
    index[axis] = slice(start, stop)
    return tuple(index)
