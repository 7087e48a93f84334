"""A shape prior from the painted axial slices, like Slicer's "Fill between slices", combined with ProtoNet.

Anatomy changes slowly from slice to slice. For every axial slice holding paint of at least two classes, the
labels there (the paint, completed by the classifier where the clinician left voxels unpainted) are smoothed
in-plane into per-class maps; an unpainted slice between two such slices gets their linear interpolation, and a
slice beyond the outermost one gets that slice's map fading to "no preference" with distance. The prior multiplies
the classifier's probabilities: p(c | x) ~ p_protonet(c | x) * (floor + prior(c | x)) ** weight.

Its settings give the best mean foreground Dice over both painting protocols on validation phantoms (the training
seed range; never the held-out seeds or a real study) among sigma 4/8/16 mm, fade 8/16/32 mm and weight 0.5/1/2;
`spectfewshot evaluate classify` reports the ProtoNet prior with and without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class SpatialPrior:
    """In-plane smoothing (mm), fading distance beyond the outermost painted slice (mm), and the prior's weight."""

    sigma_mm: float = 16.0
    fade_mm: float = 8.0
    weight: float = 1.0
    floor: float = 0.05


def painted_slices(painted: np.ndarray) -> list[int]:
    """Axial slices whose paint holds at least two classes (class indices [k, j, i], -1 = unpainted)."""
    holding = np.nonzero((painted >= 0).any(axis=(1, 2)))[0]
    return [int(k) for k in holding if len(np.unique(painted[k][painted[k] >= 0])) >= 2]


def slice_prior(slice_labels: dict[int, np.ndarray], depth: int, n_classes: int, spacing_ijk: tuple,
                settings: SpatialPrior) -> np.ndarray:
    """Per-class prior [C, k, j, i] from the full label maps [j, i] of some axial slices (at least one)."""
    keys = sorted(slice_labels)
    sigma = (settings.sigma_mm / spacing_ijk[1], settings.sigma_mm / spacing_ijk[0])
    maps = {}
    for k in keys:
        one_hot = np.stack([(slice_labels[k] == c).astype(np.float32) for c in range(n_classes)])
        maps[k] = np.stack([ndimage.gaussian_filter(m, sigma, mode="nearest") for m in one_hot])
    shape = slice_labels[keys[0]].shape
    prior = np.empty((n_classes, depth, *shape), dtype=np.float32)
    uniform = np.full((n_classes, *shape), 1.0 / n_classes, dtype=np.float32)
    for k in range(depth):
        if k <= keys[0] or k >= keys[-1]:
            nearest = keys[0] if k <= keys[0] else keys[-1]
            fade = float(np.exp(-abs(k - nearest) * spacing_ijk[2] / settings.fade_mm))
            prior[:, k] = fade * maps[nearest] + (1.0 - fade) * uniform
            continue
        above = max(key for key in keys if key <= k)
        below = min(key for key in keys if key >= k)
        t = 0.0 if below == above else (k - above) / (below - above)
        prior[:, k] = (1.0 - t) * maps[above] + t * maps[below]
    return prior


def apply_prior(probabilities: np.ndarray, painted: np.ndarray, spacing_ijk: tuple,
                settings: SpatialPrior) -> None:
    """Multiply probabilities [C, k, j, i] by the prior from the painted slices of `painted` (in place);
    nothing happens when no axial slice holds two painted classes."""
    slices = painted_slices(painted)
    if not slices:
        return
    completed = {}
    for k in slices:
        labels = probabilities[:, k].argmax(0)
        labels[painted[k] >= 0] = painted[k][painted[k] >= 0]
        completed[k] = labels
    prior = slice_prior(completed, probabilities.shape[1], probabilities.shape[0], spacing_ijk, settings)
    probabilities *= np.power(settings.floor + prior, settings.weight)
    probabilities /= np.maximum(probabilities.sum(0, keepdims=True), 1e-12)
