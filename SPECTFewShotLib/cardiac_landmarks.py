"""LV landmarks from an LV-myocardium mask (METHODS section 4): centre, apex and base on the long axis.

- `LV_center`: centroid of the wall voxels.
- Long axis: the LV is a cup, closed at the apex and open at the base, so the cavity (the convex hull of the
  wall minus the wall) lies towards the base of the wall's centroid: the axis starts along the line from the
  wall's centroid to the cavity's, then is refitted as the line through the centroids of short-axis slabs of the
  cavity (they lie on the axis; the cavity's are steadier than the wall's, whose thickness varies). A first
  principal axis would not do: real ventricles are often as wide as they are long.
- Apex or base: the apical end of the wall is closed (its wall voxels lie near the axis), the basal end open (a
  ring); the end whose wall lies nearer the axis is the apex. A wall open at both ends (an apical defect, a mask
  drawn as a tube) gives no such evidence: the apex is then the end towards the patient's left, anterior and
  inferior (`APEX_PRIOR_LPS`, the LV's anatomical orientation in the patient's own coordinates).
- `LV_apex`: where the long axis leaves the myocardium at the apical end (the outermost wall voxels within
  a small radius of the axis).
- `LV_base`: centre of the basal ring: the centroid of the wall voxels of the basal slab, moved along the axis
  to the basal end of the wall (the valve plane).
All positions are LPS millimetres of voxel centres.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .errors import InputError
from .io.markups_io import Landmark
from .volume import Volume

MIN_WALL_VOXELS = 20
AXIS_REFITS = 3
SLAB_MM = 8.0  # thickness of the short-axis slabs used to refit the axis and of the basal ring
APEX_RADIUS_MM = 10.0  # wall voxels this close to the axis decide where it leaves the apex
# Unit vector towards the patient's left, anterior and inferior (LPS): where the LV apex points.
APEX_PRIOR_LPS = np.array([1.0, -1.0, -1.0]) / np.sqrt(3.0)
# The ends' mean distances from the axis must differ by this fraction of their sum to tell the closed apex.
CLOSURE_EVIDENCE = 0.15


@dataclass(frozen=True)
class LVGeometry:
    """The LV long axis and its landmarks in LPS mm."""

    center: np.ndarray
    apex: np.ndarray
    base: np.ndarray
    axis: np.ndarray  # unit vector from apex towards base

    def landmarks(self) -> list[Landmark]:
        """LV_center, LV_apex and LV_base as landmarks."""
        return [Landmark("LV_center", _tuple(self.center)), Landmark("LV_apex", _tuple(self.apex)),
                Landmark("LV_base", _tuple(self.base))]


def wall_points_lps(mask: Volume, label: Optional[int] = None) -> np.ndarray:
    """LPS positions (n, 3) of the mask's wall voxels (nonzero, or equal to `label`)."""
    wall = mask.array != 0 if label is None else mask.array == label
    k, j, i = np.nonzero(wall)
    if k.size < MIN_WALL_VOXELS:
        raise InputError(f"the LV wall mask has {k.size} voxels; at least {MIN_WALL_VOXELS} are needed for landmarks")
    return mask.index_to_lps(np.stack([i, j, k], axis=1).astype(float))


def lv_geometry(points: np.ndarray, spacing_mm: float) -> LVGeometry:
    """Long axis, centre, apex and base of an LV wall given as LPS voxel centres (n, 3) of `spacing_mm`."""
    center = points.mean(axis=0)
    cavity = _cavity_points(points, spacing_mm)
    direction = cavity.mean(axis=0) - center
    if np.linalg.norm(direction) < 1e-6:
        raise InputError("the LV wall mask has no open base; cannot tell the apex from the base")
    axis, origin = direction / np.linalg.norm(direction), cavity.mean(axis=0)
    for _ in range(AXIS_REFITS):
        axis, origin = _refit_axis(cavity, axis, origin)
    axis = axis * apex_sense(points, origin, axis)
    t = (points - origin) @ axis
    radial = np.linalg.norm(points - origin - t[:, None] * axis, axis=1)
    near = radial <= APEX_RADIUS_MM
    t_apex = t[near].min() if near.any() else t.min()
    apex = origin + t_apex * axis
    t_base = t.max()
    ring = points[t >= t_base - SLAB_MM]
    ring_centre = ring.mean(axis=0)
    base = ring_centre + (t_base - (ring_centre - origin) @ axis) * axis
    return LVGeometry(center, apex, base, axis)


def closure_evidence(points: np.ndarray, origin: np.ndarray, axis: np.ndarray) -> float:
    """How much more closed the wall is at the low end of `axis` than at the high end, in [-1, 1]: positive when
    the wall points of the low end's slab lie nearer the axis than the high end's (the low end is the apex)."""
    t = (points - origin) @ axis
    radial = np.linalg.norm(points - origin - t[:, None] * axis, axis=1)
    low, high = radial[t <= t.min() + SLAB_MM].mean(), radial[t >= t.max() - SLAB_MM].mean()
    return float((high - low) / max(high + low, 1e-9))


def apex_sense(points: np.ndarray, origin: np.ndarray, axis: np.ndarray) -> float:
    """+1 when `axis` runs from the apex to the base of the wall `points`, else -1: by the closed end when the wall
    shows one (`closure_evidence`), otherwise by the anatomical prior (`APEX_PRIOR_LPS`)."""
    evidence = closure_evidence(points, origin, axis)
    if abs(evidence) >= CLOSURE_EVIDENCE:
        return 1.0 if evidence > 0 else -1.0
    return 1.0 if axis @ APEX_PRIOR_LPS <= 0 else -1.0


def lv_landmarks(mask: Volume, label: Optional[int] = None) -> list[Landmark]:
    """LV_center, LV_apex and LV_base (LPS mm) derived from an LV-myocardium mask."""
    return lv_geometry(wall_points_lps(mask, label), min(mask.spacing)).landmarks()


def _refit_axis(points: np.ndarray, axis: np.ndarray, origin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The line through the centroids of short-axis slabs of `points` (weighted by their counts), same sense."""
    t = (points - origin) @ axis
    edges = np.arange(t.min(), t.max() + SLAB_MM, SLAB_MM)
    slab = np.clip(np.digitize(t, edges) - 1, 0, len(edges) - 1)
    centroids, weights = [], []
    for number in np.unique(slab):
        members = points[slab == number]
        if len(members) >= 3:
            centroids.append(members.mean(axis=0))
            weights.append(len(members))
    if len(centroids) < 3:
        return axis, origin
    centroids, w = np.asarray(centroids), np.asarray(weights, dtype=float)
    mean = (centroids * w[:, None]).sum(axis=0) / w.sum()
    spread = ((centroids - mean) * np.sqrt(w)[:, None])
    _, _, vt = np.linalg.svd(spread, full_matrices=False)
    new_axis = vt[0] if vt[0] @ axis >= 0 else -vt[0]
    return new_axis, mean


def _cavity_points(points: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Points (half-voxel grid) inside the wall's convex hull but not in the wall: cavity and basal opening."""
    from scipy.spatial import ConvexHull, QhullError, cKDTree

    try:
        facets = ConvexHull(points).equations  # rows (normal, offset): inside where normal·x + offset <= 0
    except QhullError:
        raise InputError("the LV wall mask is flat (all voxels in one plane); landmarks need a 3D wall") from None
    low, high = points.min(axis=0), points.max(axis=0)
    step = spacing_mm / 2
    axes = [np.arange(lo, hi + step / 2, step) for lo, hi in zip(low, high)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    inside = grid[np.all(grid @ facets[:, :3].T + facets[:, 3] <= 1e-6, axis=1)]
    distance, _ = cKDTree(points).query(inside)
    cavity = inside[distance > 0.9 * spacing_mm]  # beyond the half-diagonal of a wall voxel
    if len(cavity) == 0:
        raise InputError("the LV wall mask has no cavity; landmarks need a cup-shaped myocardium")
    return cavity


def _tuple(point: np.ndarray) -> tuple[float, float, float]:
    return (float(point[0]), float(point[1]), float(point[2]))
