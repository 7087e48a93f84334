"""LV landmarks from an LV-myocardium mask (METHODS section 4): centre, apex and base on the long axis.

- `LV_center`: centroid of the wall voxels.
- Long axis: the LV is a cup, a surface of revolution about its long axis: cut perpendicular to the true axis,
  every slab of wall is a ring (or the apical disc) whose voxels lie at one distance from the slab's centre; cut
  obliquely, the slabs are arcs and ellipses. The axis direction is the one whose slabs (`SLAB_MM` thick) are
  most ring-like (the least mean squared spread of the wall's distance from its slab's centre, searched over an
  even lattice of directions, then refined), through the wall's centroid. The spread does not depend on how thick
  the wall is drawn (a mask dilated by a voxel moves the axis by a few degrees), and a first principal axis would
  not do: real ventricles are often as wide as they are long. The fit is the steady one (`steady_direction`):
  the spread is averaged over `STEADY_SHIFTS` slab cuts, and the directions near the best (within
  `STEADY_RADIUS_DEG`) are weighted by their spread, since the single best direction of a flat valley jumps with
  where the slab cuts and the lattice fall on the voxels (patient003's classification: a 3-degree exact turn
  moved the single fit 13.7 degrees, median; issue 35). The wall must enclose a cavity (the convex hull of the
  wall minus the wall), or the mask is refused.
- Apex or base: the LV apex points to the patient's left, anterior and inferior (`APEX_PRIOR_LPS`, in the
  patient's own coordinates whatever the camera), so the end of the axis on that side is the apex whenever the
  axis leans towards that direction (`PRIOR_MIN_COSINE`). An axis nearly perpendicular to it is told by the
  wall's shape: the apical end is closed (its wall lies near the axis), the basal end open (a ring).
- `LV_apex`: where the long axis leaves the myocardium at the apical end (the outermost wall voxels within
  a small radius of the axis).
- `LV_base`: centre of the basal ring: the centroid of the wall voxels of the basal slab, moved along the axis
  to the basal end of the wall (the valve plane).
All positions are LPS millimetres of voxel centres.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Optional, Sequence

import numpy as np

from .errors import InputError
from .io.markups_io import Landmark
from .volume import Volume

MIN_WALL_VOXELS = 20
AXIS_DIRECTIONS = 600  # lattice over the sphere searched for the axis (about 8 degrees apart), then refined
AXIS_REFINE_DEGREES = (4.0, 2.0, 1.0)
SLAB_MM = 8.0  # thickness of the short-axis slabs used to refit the axis and of the basal ring
# The steady fit (`revolution_axis`, `steady_direction`): the ring spread averaged over STEADY_SHIFTS slab cuts,
# each offset by 1 / STEADY_SHIFTS of a slab; then the directions within STEADY_RADIUS_DEG of the refined best, on a
# STEADY_GRID_DEG grid, weighted by exp(-(spread - least) / (STEADY_TEMPERATURE * least)).
STEADY_SHIFTS = 4
STEADY_GRID_DEG, STEADY_RADIUS_DEG = 2.0, 12.0
STEADY_TEMPERATURE = 0.01
APEX_RADIUS_MM = 10.0  # wall voxels this close to the axis decide where it leaves the apex
# Unit vector towards the patient's left, anterior and inferior (LPS): where the LV apex points.
APEX_PRIOR_LPS = np.array([1.0, -1.0, -1.0]) / np.sqrt(3.0)
# The prior decides the apex end when the axis's cosine with it is at least this (within about 70 degrees).
PRIOR_MIN_COSINE = 0.35


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


def lv_geometry(points: np.ndarray, spacing_mm: float, axis: Optional[np.ndarray] = None) -> LVGeometry:
    """Long axis, centre, apex and base of an LV wall given as LPS voxel centres (n, 3) of `spacing_mm`; `axis`:
    the long axis's direction when already chosen (sense arbitrary), else `revolution_axis`."""
    center = points.mean(axis=0)
    _cavity_points(points, spacing_mm)  # refuses a flat wall or one without a cavity
    axis = revolution_axis(points) if axis is None else np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    origin = center
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


def ring_spread(points: np.ndarray, directions: np.ndarray, slab_mm: float = SLAB_MM, offset: float = 0.0
                ) -> np.ndarray:
    """For each unit direction (m, 3): the mean squared deviation of the points' distances from the centre of their
    `slab_mm` slab perpendicular to it, about the slab's mean distance (small when the slabs are rings); `offset`:
    the slabs' cut shifted by that fraction of a slab."""
    relative = points - points.mean(axis=0)
    spreads = np.empty(len(directions))
    for number, direction in enumerate(directions):
        t = relative @ direction
        slab = np.floor((t - t.min()) / slab_mm + offset).astype(int)
        members = np.maximum(np.bincount(slab), 1)
        centres = np.stack([np.bincount(slab, relative[:, d]) for d in range(3)], axis=1) / members[:, None]
        across = relative - centres[slab]
        across -= (across @ direction)[:, None] * direction
        distance = np.linalg.norm(across, axis=1)
        spreads[number] = np.mean((distance - (np.bincount(slab, distance) / members)[slab]) ** 2)
    return spreads


def direction_lattice(count: int = AXIS_DIRECTIONS) -> np.ndarray:
    """An even (golden-angle) lattice of `count` unit directions over the sphere, the half with z >= 0 kept (a
    line's directions)."""
    index = np.arange(count) + 0.5
    polar, azimuth = np.arccos(1.0 - 2.0 * index / count), np.pi * (1.0 + 5.0 ** 0.5) * index
    lattice = np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], axis=1)
    return lattice[lattice[:, 2] >= 0]


def least_spread_direction(points: np.ndarray, spread: Callable[[np.ndarray, np.ndarray], np.ndarray] = ring_spread,
                           directions: int = AXIS_DIRECTIONS,
                           refine_degrees: Sequence[float] = AXIS_REFINE_DEGREES) -> np.ndarray:
    """The unit direction of least `spread(points, directions)`: the best of `direction_lattice(directions)`, then
    refined among its 8 neighbours at each step of `refine_degrees` (sense arbitrary)."""
    lattice = direction_lattice(directions)
    axis = lattice[np.argmin(spread(points, lattice))]
    for degrees in refine_degrees:
        first = np.cross(axis, [1.0, 0.0, 0.0] if abs(axis[0]) < 0.9 else [0.0, 1.0, 0.0])
        first /= np.linalg.norm(first)
        second = np.cross(axis, first)
        step = np.tan(np.radians(degrees))
        tries = np.array([axis + a * step * first + b * step * second for a in (-1, 0, 1) for b in (-1, 0, 1)])
        tries /= np.linalg.norm(tries, axis=1, keepdims=True)
        axis = tries[np.argmin(spread(points, tries))]
    return axis


def shifted_spread(points: np.ndarray, directions: np.ndarray, slab_mm: float = SLAB_MM, shifts: int = STEADY_SHIFTS
                   ) -> np.ndarray:
    """`ring_spread` over `slab_mm` slabs averaged over `shifts` cuts, each shifted by 1 / `shifts` of a slab (the
    score no longer jumps where a slab boundary crosses a ring of voxels)."""
    spreads = np.zeros(len(directions))
    for shift in range(shifts):
        spreads += ring_spread(points, directions, slab_mm=slab_mm, offset=shift / shifts)
    return spreads / shifts


def _around(centre: np.ndarray, degrees: float, steps: int) -> np.ndarray:
    """Unit directions on a square grid of `degrees` steps (tangent plane) about `centre`, within `steps` steps."""
    first = np.cross(centre, [1.0, 0.0, 0.0] if abs(centre[0]) < 0.9 else [0.0, 1.0, 0.0])
    first /= np.linalg.norm(first)
    second = np.cross(centre, first)
    step = np.tan(np.radians(degrees))
    tries = np.array([centre + a * step * first + b * step * second for a in range(-steps, steps + 1)
                      for b in range(-steps, steps + 1) if a * a + b * b <= steps * steps])
    return tries / np.linalg.norm(tries, axis=1, keepdims=True)


def steady_direction(points: np.ndarray, spread: Callable[[np.ndarray, np.ndarray], np.ndarray],
                     directions: int = AXIS_DIRECTIONS, refine_degrees: Sequence[float] = AXIS_REFINE_DEGREES,
                     grid_deg: float = STEADY_GRID_DEG, radius_deg: float = STEADY_RADIUS_DEG,
                     temperature: float = STEADY_TEMPERATURE) -> np.ndarray:
    """The best of `direction_lattice(directions)` by `spread(points, directions)`, refined among its 4 neighbours
    at each step of `refine_degrees`, then the weighted centre (weights exp(-(score - best) / (`temperature` *
    best))) of the directions within `radius_deg` of it on a `grid_deg` grid (sense arbitrary)."""
    lattice = direction_lattice(directions)
    axis = lattice[np.argmin(spread(points, lattice))]
    for degrees in refine_degrees:
        tries = _around(axis, degrees, 1)
        axis = tries[np.argmin(spread(points, tries))]
    grid = _around(axis, grid_deg, round(radius_deg / grid_deg))
    scores = spread(points, grid)
    weights = np.exp(-(scores - scores.min()) / (temperature * scores.min()))
    mean = weights @ grid
    return mean / np.linalg.norm(mean)


def revolution_axis(points: np.ndarray) -> np.ndarray:
    """The unit direction about which the wall `points` are most nearly a surface of revolution: the steady fit
    (`steady_direction` on `shifted_spread` with the module's constants; sense arbitrary). The single fit it
    replaced (issue 35) is `least_spread_direction(points)`. A wall fitted again (a frame's wall is fitted when
    its piece is chosen and again for the frame) is answered from a small cache of the same points and
    constants."""
    points = np.ascontiguousarray(points, dtype=float)
    constants = (SLAB_MM, STEADY_SHIFTS, AXIS_DIRECTIONS, tuple(AXIS_REFINE_DEGREES), STEADY_GRID_DEG,
                 STEADY_RADIUS_DEG, STEADY_TEMPERATURE)
    return _steady_axis(points.tobytes(), points.shape, constants).copy()


@lru_cache(maxsize=16)
def _steady_axis(data: bytes, shape: tuple[int, ...], constants: tuple) -> np.ndarray:
    """`revolution_axis` of the points whose float64 bytes are `data`, with `constants` (see there)."""
    slab_mm, shifts, directions, refine_degrees, grid_deg, radius_deg, temperature = constants
    points = np.frombuffer(data, dtype=float).reshape(shape)

    def spread(given: np.ndarray, tries: np.ndarray) -> np.ndarray:
        return shifted_spread(given, tries, slab_mm, shifts)

    return steady_direction(points, spread, directions, refine_degrees, grid_deg, radius_deg, temperature)


def forget_fitted_axes() -> None:
    """Empty `revolution_axis`'s cache of fitted walls (for timings that must fit every wall afresh)."""
    _steady_axis.cache_clear()


def closure_evidence(points: np.ndarray, origin: np.ndarray, axis: np.ndarray) -> float:
    """How much more closed the wall is at the low end of `axis` than at the high end, in [-1, 1]: positive when
    the wall points of the low end's slab lie nearer the axis than the high end's (the low end is the apex)."""
    t = (points - origin) @ axis
    radial = np.linalg.norm(points - origin - t[:, None] * axis, axis=1)
    low, high = radial[t <= t.min() + SLAB_MM].mean(), radial[t >= t.max() - SLAB_MM].mean()
    return float((high - low) / max(high + low, 1e-9))


def apex_sense(points: np.ndarray, origin: np.ndarray, axis: np.ndarray) -> float:
    """+1 when `axis` runs from the apex to the base of the wall `points`, else -1: by the anatomical prior
    (`APEX_PRIOR_LPS`) when the axis leans towards it, otherwise by the closed end (`closure_evidence`)."""
    cosine = float(axis @ APEX_PRIOR_LPS)
    if abs(cosine) >= PRIOR_MIN_COSINE:
        return 1.0 if cosine < 0 else -1.0
    return 1.0 if closure_evidence(points, origin, axis) >= 0 else -1.0


def lv_landmarks(mask: Volume, label: Optional[int] = None) -> list[Landmark]:
    """LV_center, LV_apex and LV_base (LPS mm) derived from an LV-myocardium mask."""
    return lv_geometry(wall_points_lps(mask, label), min(mask.spacing)).landmarks()


def _cavity_points(points: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Points (a grid of the voxel spacing) inside the wall's convex hull but not in the wall: cavity and basal
    opening."""
    from scipy.spatial import ConvexHull, QhullError, cKDTree

    try:
        facets = ConvexHull(points).equations  # rows (normal, offset): inside where normal·x + offset <= 0
    except QhullError:
        raise InputError("the LV wall mask is flat (all voxels in one plane); landmarks need a 3D wall") from None
    low, high = points.min(axis=0), points.max(axis=0)
    step = spacing_mm
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
