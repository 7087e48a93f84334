"""Heart candidates from the whole volume: the template's neighbourhood of its anchors, correlated at every shift.

PRNet's coarse move carries the LV to within about two centimetres of its place in most studies, but it follows
the counts: where the liver is hotter than the myocardium it can land in the liver, 10 cm away, beyond the reach
of the local steps (docs/prnet.md, "Where it fails"). The normalised cross-correlation of the template's counts
around its anchors (the LV's landmarks and 10 mm around them, sampled every 5 mm) with the new volume at every
shift inside its field of view looks for the LV's shape instead of its brightness: its best peak lies closer to
the truth than PRNet's move in most studies, but lands on a wrong structure more often than PRNet does. So the
localiser does not start from it; it tries the best peaks only where its first try's two ways disagree, and keeps
one only where the two ways then agree (localize.py, `Localizer._candidates_tried`).

Only 10 mm around the anchors: the LV and its wall, not its neighbours (a template whose liver is hotter than its
heart otherwise brings its liver into the correlation). On the validation phantoms (docs/prnet.md, "Stop 19")
margins of 5, 10, 15, 20 and 30 mm put the best peak more than 40 mm off in 26, 33, 32, 38 and 47 of 192
placements (PRNet's start: 5), with a median error of 6.5, 5.8, 5.9, 6.1 and 6.6 mm (PRNet's start: 17.1 mm).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .correlation import normalised_cross_correlation, strided_box_sum
from .patches import PreparedVolume, sample_patches


@dataclass(frozen=True)
class GlobalSearchSettings:
    """How the whole volume is searched: sampling, the template's margin around its anchors, the peaks kept."""

    spacing_mm: float = 5.0
    margin_mm: float = 10.0  # around the anchors' bounding box
    inside_fraction: float = 0.9  # a shift counts only where this much of the template's box lies in the field
    separation_mm: float = 30.0  # peaks closer than this to a better one are the same peak
    candidates: int = 2


@dataclass(frozen=True)
class Candidate:
    """A shift of the template's anchors (template -> volume, mm) and its normalised cross-correlation."""

    translation: np.ndarray
    score: float


def candidate_translations(volume: PreparedVolume, template: PreparedVolume, anchor_points: np.ndarray,
                           settings: GlobalSearchSettings = GlobalSearchSettings()) -> list[Candidate]:
    """The best-correlated shifts of the template's box around `anchor_points` (LPS mm) over `volume`, best first,
    at most `settings.candidates`, each at least `settings.separation_mm` from a better one. Both volumes must be
    prepared at `settings.spacing_mm`. Empty when the box does not fit in the volume's field of view."""
    step = settings.spacing_mm
    centre, kernel_shape = anchor_box(anchor_points, settings)
    half = (np.asarray(kernel_shape[::-1]) - 1) // 2
    kernel = sample_patches(template, centre[None], kernel_shape, (step,) * 3)[0]
    low, high = field_of_view_box(volume)
    field_centre = (low + high) / 2
    steps = np.ceil((high - low) / step).astype(int) + 1
    region_shape = tuple(int(n) for n in (steps + 2 * half)[::-1])
    if float(kernel.std()) <= 0:  # a template without counts there
        return []
    region = sample_patches(volume, field_centre[None], region_shape, (step,) * 3)[0]
    score = normalised_cross_correlation(region, kernel).double()
    inside = sample_patches(PreparedVolume(torch.ones_like(volume.tensor), volume.lps_to_grid, volume.volume),
                            field_centre[None], region_shape, (step,) * 3)[0]
    fraction = strided_box_sum((inside > 0.999).double(), kernel.shape, 1) / kernel.numel()
    score = torch.where(fraction >= settings.inside_fraction, score, torch.full_like(score, -np.inf))
    origin = field_centre - (np.asarray(region_shape[::-1], dtype=float) - 1) / 2 * step  # the region's first voxel
    found = []
    for index in peak_indices(score, settings.candidates, round(settings.separation_mm / step)):
        placed = origin + (np.asarray(index[::-1], dtype=float) + half) * step
        found.append(Candidate(placed - centre, float(score[index])))
    return found


def anchor_box(anchor_points: np.ndarray, settings: GlobalSearchSettings) -> tuple[np.ndarray, tuple[int, ...]]:
    """The centre (LPS mm) and (S, P, L) sides (samples) of the template's box around its anchors."""
    points = np.asarray(anchor_points, dtype=float).reshape(-1, 3)
    centre = (points.min(axis=0) + points.max(axis=0)) / 2
    half = np.ceil(((points.max(axis=0) - points.min(axis=0)) / 2 + settings.margin_mm) / settings.spacing_mm)
    return centre, tuple(int(2 * h + 1) for h in half[::-1])


def field_of_view_box(volume: PreparedVolume) -> tuple[np.ndarray, np.ndarray]:
    """The LPS-aligned box (low, high corners, mm) around the centres of the volume's corner voxels."""
    size = np.asarray(volume.volume.size, dtype=float) - 1
    corners = np.array([[i, j, k] for i in (0, size[0]) for j in (0, size[1]) for k in (0, size[2])])
    lps = volume.volume.index_to_lps(corners)
    return lps.min(axis=0), lps.max(axis=0)


def peak_indices(score: torch.Tensor, count: int, separation: int) -> list[tuple[int, int, int]]:
    """The (S, P, L) indices of up to `count` local maxima of `score` (none of its 26 neighbours higher), best
    first, each more than `separation` steps (along some axis) from every better one; finite scores only. (A
    plain exclusion around each peak would return the shoulder of the best peak as the second.)"""
    neighbourhood_max = torch.nn.functional.max_pool3d(score[None, None], 3, stride=1, padding=1)[0, 0]
    values = torch.where(score >= neighbourhood_max, score, torch.full_like(score, -np.inf)).contiguous()
    found = []
    for _ in range(count):
        flat = int(torch.argmax(values))
        if not np.isfinite(float(values.reshape(-1)[flat])):
            break
        index = tuple(int(v) for v in np.unravel_index(flat, values.shape))
        found.append(index)
        values[tuple(slice(max(0, v - separation), v + separation + 1) for v in index)] = -np.inf
    return found
