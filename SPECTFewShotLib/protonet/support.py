"""Checking a painted support against the volume: same grid (or a Slicer segmentation inside it), >= 2 classes,
whole values that look like paint, not counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..io.segmentation_io import Segmentation, SegmentInfo
from ..runtime.memory_guard import classification_bytes_per_voxel, require_memory
from ..volume import ORIGIN_TOLERANCE_VOXELS, Volume

SLICER_SEGMENTATION = "Slicer segmentation"
# A painting holds a handful of classes (tissues); many more distinct values are counts or a damaged file.
MAX_PAINTED_CLASSES = 32
# A support whose values are a step function of the counts is the volume binned, from this many values on (two or
# three classes separated by thresholds can be a deliberate labelmap).
COUNT_LIKE_MIN_CLASSES = 4


@dataclass(frozen=True, eq=False)
class PaintedSupport:
    """The painted labels on the volume's grid [k, j, i] (0 = unpainted), each painted class's segment, and the
    axial slices that hold paint (found once by check_support; every stroke's work looks only there)."""

    labels: np.ndarray
    segments: tuple[SegmentInfo, ...]
    slices: np.ndarray

    @property
    def class_labels(self) -> list[int]:
        """Painted label values, increasing."""
        return [s.label for s in self.segments]

    @property
    def class_names(self) -> list[str]:
        """Names of the painted classes, in the order of `class_labels`."""
        return [s.name for s in self.segments]


def check_support(support: Segmentation, volume: Volume) -> PaintedSupport:
    """The support on the volume's grid, refused with one clear line when it cannot be used.

    Refused before any work: a support off the volume's grid, negative or fractional values, the volume itself,
    more classes than a painting has (MAX_PAINTED_CLASSES) or values that change from voxel to voxel like counts,
    fewer than two painted classes, and a classification whose per-class work would not fit in memory.
    """
    _refuse_fractional(support.labels.array)
    labels = support_on_volume_grid(support, volume)
    slices = slices_holding_paint(labels)
    held = labels[slices]  # a clinician paints a few slices: count only those
    if held.size and held.min() < 0:
        raise InputError("the painted support holds negative label values; paint with values 1 and above")
    if len(slices) * 2 > labels.shape[0] and np.array_equal(labels, volume.array):
        raise InputError("the painted support is the volume itself: give the painting (a labelmap with a few "
                         "classes painted, or a .seg.nrrd), not the study")
    values = np.unique(held)
    painted = [int(v) for v in values if v != 0]
    if len(painted) > MAX_PAINTED_CLASSES:
        raise InputError(f"the painted support holds {len(painted):,} different values, a painting holds a few "
                         f"classes (at most {MAX_PAINTED_CLASSES}): is it a volume of counts instead of the "
                         "painting?")
    if _count_like(labels, volume.array, slices, painted):
        raise InputError(f"the painted support's {len(painted)} values rise with the counts in steps, like the volume "
                         "binned, and fill most slices: is it a volume of counts instead of the painting?")
    if not painted:
        raise InputError("nothing is painted in the support; paint at least two classes (e.g. background and "
                         "myocardium)")
    if len(painted) < 2:
        name = support.segment(painted[0]).name
        raise InputError(f"Paint at least two classes: only '{name}' (label {painted[0]}) is painted")
    require_memory(volume.array.shape, classification_bytes_per_voxel(len(painted)),
                   f"classifying {len(painted)} painted classes")
    return PaintedSupport(labels, tuple(support.segment(value) for value in painted), slices)


def _refuse_fractional(array: np.ndarray) -> None:
    """A painting holds whole label values; fractional ones are probabilities or counts."""
    if np.issubdtype(array.dtype, np.floating):
        finite = np.isfinite(array)
        if not finite.all() or np.any(np.mod(array[finite], 1)):
            raise InputError("the painted support holds fractional values (probabilities or counts?); a painting "
                             "holds whole label values (0 = unpainted)")


def _count_like(labels: np.ndarray, counts: np.ndarray, slices: np.ndarray, painted: list[int]) -> bool:
    """Whether the support is the volume's counts binned into a few values: painted on most slices, with at least
    COUNT_LIKE_MIN_CLASSES values that are a step function of the counts (each higher value holds only higher
    counts). Painted classes always overlap in counts (noise, partial volume, a hot liver in the background)."""
    if len(painted) < COUNT_LIKE_MIN_CLASSES or 2 * len(slices) <= labels.shape[0]:
        return False
    held, values = labels[slices], counts[slices]
    lows, highs = [], []
    for value in painted:
        inside = values[held == value]
        lows.append(float(inside.min()))
        highs.append(float(inside.max()))
    return all(high <= low for high, low in zip(highs[:-1], lows[1:]))


def slices_holding_paint(labels: np.ndarray) -> np.ndarray:
    """Indices of the axial slices of `labels` [k, j, i] holding any non-zero value."""
    return np.flatnonzero(labels.reshape(labels.shape[0], -1).any(axis=1))


def paint_boundaries(painted: np.ndarray) -> np.ndarray:
    """Painted voxels next to (in-plane, 8-neighbourhood) a voxel painted with another class; `painted` holds class
    indices [..., j, i] with -1 where nothing is painted."""
    from scipy import ndimage

    flags = np.zeros(painted.shape, dtype=bool)
    planes = painted.reshape(-1, *painted.shape[-2:])
    out = flags.reshape(planes.shape)
    for index in np.nonzero((planes >= 0).reshape(len(planes), -1).any(1))[0]:  # only slices holding paint
        plane = planes[index]
        classes = np.unique(plane[plane >= 0])
        if len(classes) < 2:
            continue
        for c in classes:
            out[index] |= ndimage.binary_dilation(plane == c, np.ones((3, 3), dtype=bool)) & (plane >= 0) & (plane != c)
    return flags


def support_on_volume_grid(support: Segmentation, volume: Volume) -> np.ndarray:
    """The support's labels on the volume's grid: as they are when the grids match; a Slicer segmentation on a
    shifted or cropped grid with the same spacing and direction is placed into the volume's grid, as Slicer does."""
    labels = support.labels
    differences = volume.grid_differences(labels)
    if not differences:
        return np.asarray(labels.array, dtype=np.int32)
    offset = _whole_voxel_offset(labels, volume)
    if labels.source.get("format") != SLICER_SEGMENTATION or offset is None:
        raise InputError("the painted support is not on the volume's grid: " + "; ".join(differences))
    return _embed(np.asarray(labels.array, dtype=np.int32), offset, volume.array.shape)


def _whole_voxel_offset(labels: Volume, volume: Volume) -> tuple[int, int, int] | None:
    """[k, j, i] index of the support's first voxel in the volume, when spacing and direction match and the
    shift is a whole number of voxels; otherwise None."""
    if not np.allclose(labels.spacing, volume.spacing, rtol=1e-3, atol=0):
        return None
    if not np.allclose(labels.direction, volume.direction, rtol=0, atol=1e-4):
        return None
    ijk = volume.lps_to_index(labels.origin)
    whole = np.round(ijk)
    if np.any(np.abs(ijk - whole) > ORIGIN_TOLERANCE_VOXELS):
        return None
    i, j, k = (int(v) for v in whole)
    return (k, j, i)


def _embed(array: np.ndarray, offset: tuple[int, int, int], shape: tuple[int, ...]) -> np.ndarray:
    """Place `array` at `offset` in a zero array of `shape`; painted voxels outside it are an error."""
    out = np.zeros(shape, dtype=np.int32)
    source, target = [], []
    for start, size, limit in zip(offset, array.shape, shape):
        lo, hi = max(0, start), min(limit, start + size)
        if hi <= lo:  # no overlap along this axis
            source.append(slice(0, 0))
            target.append(slice(0, 0))
        else:
            source.append(slice(lo - start, hi - start))
            target.append(slice(lo, hi))
    inside = array[tuple(source)]
    outside = int(np.count_nonzero(array)) - int(np.count_nonzero(inside))
    if outside:
        raise InputError(f"{outside} painted voxels lie outside the volume; paint only inside the volume")
    out[tuple(target)] = inside
    return out


def class_index_map(support: PaintedSupport) -> np.ndarray:
    """Painted label values -> class indices (order of support.class_labels); -1 where nothing is painted."""
    lookup = np.full(max(support.class_labels) + 1, -1, dtype=np.int16)
    lookup[support.class_labels] = np.arange(len(support.class_labels))
    painted = np.full(support.labels.shape, -1, dtype=np.int16)
    painted[support.slices] = lookup[support.labels[support.slices]]
    return painted


def painted_voxels(painted: np.ndarray, slices: np.ndarray) -> np.ndarray:
    """[k, j, i] indices (n, 3) of the painted voxels, looking only into the axial slices that hold paint."""
    where = np.argwhere(painted[slices] >= 0)
    where[:, 0] = slices[where[:, 0]]
    return where
