"""The polar map ("bull's eye") of the LV myocardium and its 17 AHA segment uptakes (METHODS section 9).

Sampling, as clinical packages do it (circumferential count profiles):
- The cap (segment 17) is sampled over a hemisphere: rays from the point of the axis at the cavity's apical end,
  from straight toward the apex (polar-map centre) to perpendicular to the axis (edge of the cap disc).
- The rest is sampled on short-axis slices evenly spaced from the cavity's apical end to the base (less half a wall
  thickness, the partial-volume edge of the basal ring): rays from the axis outward every 360 / `angles` degrees.
- Along each ray only one run of myocardium counts: the one holding the ray's highest wall count (the LV wall; a
  stray voxel classified as wall inside the cavity, or the fainter RV wall further out, does not), and the ray
  keeps the maximum (or the mean) count inside it. A ray that meets no myocardium (a gap in
  the segmentation, e.g. where a severe defect was not classified as wall) is sampled at the wall position
  interpolated from its neighbours, over the median wall thickness: low counts where the wall should be stay low.
- Values are percentages of the myocardial maximum (the largest ray value). A segment's uptake is the mean of its
  rays; segments under the threshold (default 70 %) are reduced.

The cavity's apical end (where the cap starts) is where the axis, walking from the apex toward the base, first
leaves the myocardium; when the axis never meets the cavity there, the median wall thickness is used.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..errors import InputError
from ..volume import Volume
from .aha_segments import AHA_SEGMENTS, RING_RADII, segment_at
from .frame import CardiacFrame
from .normal_limits import NormalLimits

STATISTICS = ("max", "mean")
DEFAULT_THRESHOLD_PERCENT = 70.0
CSV_COLUMNS = ("segment", "name", "uptake_percent", "reduced")
MAX_SEARCH_MM = 80.0


@dataclass(frozen=True)
class PolarMapSettings:
    """How the polar map samples: rays per ring (a multiple of 24, so rays never straddle a segment boundary),
    sampled slices per third and cap rows, statistic along a ray, reduced-uptake threshold, step along a ray (in
    voxels), and how much of the base (in median wall thicknesses) is left unsampled: the basal edge of the wall is
    blurred into the valve plane, and sampling it would read every basal segment low. With `normal_limits`, a
    segment is reduced when it lies more than `normal_sd` SDs under its normal mean, instead of under the threshold.
    """

    def criterion(self) -> str:
        """What makes a segment reduced, in words."""
        if self.normal_limits is not None:
            return f"more than {self.normal_sd:g} SD under the normal mean"
        return f"under {self.threshold_percent:g} % of the myocardial maximum"

    def lower_limits(self) -> np.ndarray:
        """Per-segment uptake (AHA order) under which a segment is reduced."""
        if self.normal_limits is not None:
            return self.normal_limits.lower_limits(self.normal_sd)
        return np.full(17, self.threshold_percent)

    angles: int = 72
    rows_per_ring: int = 8
    cap_rows: int = 6
    statistic: str = "max"
    threshold_percent: float = DEFAULT_THRESHOLD_PERCENT
    step_voxels: float = 0.5
    base_margin_walls: float = 0.5
    normal_limits: Optional[NormalLimits] = None
    normal_sd: float = 2.0

    def __post_init__(self) -> None:
        if self.angles < 24 or self.angles % 24:
            raise InputError(f"the polar map needs a multiple of 24 rays per ring, not {self.angles}")
        if self.rows_per_ring < 1 or self.cap_rows < 1:
            raise InputError("the polar map needs at least one sampled slice per ring and one cap row")
        if self.statistic not in STATISTICS:
            raise InputError(f"unknown statistic '{self.statistic}'; choose one of {', '.join(STATISTICS)}")
        if not (0.0 < self.threshold_percent < 100.0):
            raise InputError(f"the reduced-uptake threshold must lie between 0 and 100 %, not "
                             f"{self.threshold_percent:g}")
        if not (0.5 <= self.normal_sd <= 5.0):
            raise InputError(f"the SDs under the normal mean must lie between 0.5 and 5, not {self.normal_sd:g}")
        if not (0.0 <= self.base_margin_walls <= 2.0):
            raise InputError("the unsampled margin at the base must be between 0 and 2 wall thicknesses")
        if not (0.05 <= self.step_voxels <= 1.0):
            raise InputError("the step along a ray must be between 0.05 and 1 voxel")


@dataclass(frozen=True)
class SegmentUptake:
    """One AHA segment's uptake (% of the myocardial maximum), whether it is reduced, and how many of its rays met
    the segmented wall (the rest were sampled at the interpolated wall position)."""

    number: int
    name: str
    uptake_percent: float
    reduced: bool
    coverage: float


@dataclass(frozen=True, eq=False)
class PolarMap:
    """Ray values on a (rows, angles) grid: rows from the apex (centre) to the base (rim)."""

    counts: np.ndarray
    radii: np.ndarray
    angles_deg: np.ndarray
    found: np.ndarray
    segment_numbers: np.ndarray
    maximum: float
    cap_depth_mm: float
    wall_thickness_mm: float
    frame: CardiacFrame
    settings: PolarMapSettings = field(default_factory=PolarMapSettings)

    @property
    def percent(self) -> np.ndarray:
        """Ray values in % of the myocardial maximum."""
        return 100.0 * self.counts / self.maximum

    @property
    def segments(self) -> tuple[SegmentUptake, ...]:
        """The 17 segments in AHA order with their uptake."""
        percent, out = self.percent, []
        limits = self.settings.lower_limits()
        for seg in AHA_SEGMENTS:
            inside = self.segment_numbers == seg.number
            values = percent[inside]
            uptake = float(np.mean(values)) if values.size else float("nan")
            reduced = bool(np.isfinite(uptake) and uptake < limits[seg.number - 1])
            coverage = float(np.mean(self.found[inside])) if values.size else 0.0
            out.append(SegmentUptake(seg.number, seg.name, uptake, reduced, coverage))
        return tuple(out)

    def reduced_segments(self) -> list[int]:
        """Numbers of the segments under the threshold."""
        return [s.number for s in self.segments if s.reduced]


def compute_polar_map(volume: Volume, wall: np.ndarray, frame: CardiacFrame,
                      settings: Optional[PolarMapSettings] = None) -> PolarMap:
    """Sample the myocardium of `volume` (counts) inside `wall` (bool [k, j, i] on the same grid) along `frame`."""
    settings = settings or PolarMapSettings()
    wall = np.asarray(wall, dtype=bool)
    if wall.shape != volume.array.shape:
        raise InputError(f"the myocardium segmentation {wall.shape} is not on the study's grid {volume.array.shape}")
    if not wall.any():
        raise InputError("the segmentation holds no myocardium")
    sampler = _Sampler(volume, wall, settings.step_voxels * float(min(volume.spacing)))
    length = frame.length_mm
    search = _search_radius(volume, wall, frame)
    angles = (np.arange(settings.angles) + 0.5) * 360.0 / settings.angles
    directions = frame.direction(angles)  # (angles, 3)

    thickness_probe = sampler.rays(frame.apex + 0.5 * length * frame.axis, directions, search)
    thickness = _median_thickness(thickness_probe, sampler.step)
    cap_depth = _cap_depth(sampler, frame, thickness)

    cap_theta = np.radians((np.arange(settings.cap_rows) + 0.5) / settings.cap_rows * 90.0)
    cap_centre = frame.apex + cap_depth * frame.axis
    ring_rows = 3 * settings.rows_per_ring
    end = max(length - settings.base_margin_walls * thickness, cap_depth + 3 * sampler.step)
    depths = cap_depth + (np.arange(ring_rows) + 0.5) / ring_rows * (end - cap_depth)
    rows = []
    for theta in cap_theta:
        ray_directions = -np.cos(theta) * frame.axis + np.sin(theta) * directions
        rows.append(sampler.rays(cap_centre, ray_directions, search + cap_depth))
    for depth in depths:
        rows.append(sampler.rays(frame.apex + depth * frame.axis, directions, search))
    values, found = _row_values(rows, settings.statistic, thickness, sampler.step)
    if not found.any():
        raise InputError("no ray from the long axis meets the myocardium; check the landmarks and the segmentation")
    cap_radii = (np.arange(settings.cap_rows) + 0.5) / settings.cap_rows * RING_RADII["apex"][1]
    start = RING_RADII["apical"][0]
    ring_radii = start + (np.arange(ring_rows) + 0.5) / ring_rows * (1.0 - start)
    radii = np.concatenate([cap_radii, ring_radii])
    numbers = segment_at(radii[:, None], angles[None, :])
    maximum = float(np.nanmax(values))
    if not np.isfinite(maximum) or maximum <= 0:
        raise InputError("the myocardium holds no positive counts")
    return PolarMap(values, radii, angles, found, numbers, maximum, float(cap_depth), float(thickness), frame,
                    settings)


@dataclass(frozen=True, eq=False)
class _Rays:
    """Samples along rays: distances (steps,); the wall run kept, every wall sample and counts (rays, steps)."""

    distance: np.ndarray
    wall: np.ndarray
    counts: np.ndarray
    any_wall: np.ndarray


class _Sampler:
    """Nearest-voxel wall membership and trilinear counts at LPS points along rays."""

    def __init__(self, volume: Volume, wall: np.ndarray, step_mm: float) -> None:
        self.volume, self.step = volume, step_mm
        self.counts = np.asarray(volume.array, dtype=np.float32)
        self.wall = wall.astype(np.uint8)

    def rays(self, origin: np.ndarray, directions: np.ndarray, length_mm: float) -> _Rays:
        """Sample rays from `origin` along unit `directions` (rays, 3) out to `length_mm`."""
        from scipy import ndimage

        distance = np.arange(0.0, length_mm + self.step / 2, self.step)
        points = origin + directions[:, None, :] * distance[None, :, None]
        coords = self.volume.lps_to_index(points.reshape(-1, 3))[:, ::-1].T
        wall = ndimage.map_coordinates(self.wall, coords, order=0, mode="constant", cval=0, prefilter=False)
        counts = ndimage.map_coordinates(self.counts, coords, order=1, mode="constant", cval=0.0, prefilter=False)
        shape = (len(directions), len(distance))
        wall = wall.reshape(shape).astype(bool)
        wall[:, 1:-1] |= wall[:, :-2] & wall[:, 2:]  # close one-sample gaps (a ray grazing a voxel corner)
        counts = counts.reshape(shape)
        return _Rays(distance, _hottest_run(wall, counts), counts, wall)


def _hottest_run(wall: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per ray (row), only the contiguous run of wall samples that holds the ray's highest wall count: the LV wall,
    not a stray voxel classified as wall in the cavity nor the fainter RV wall further out."""
    if wall.size == 0:
        return wall
    starts = wall & ~np.concatenate([np.zeros((wall.shape[0], 1), dtype=bool), wall[:, :-1]], axis=1)
    run_id = np.cumsum(starts, axis=1)
    hottest = np.argmax(np.where(wall, counts, -np.inf), axis=1)
    chosen = run_id[np.arange(wall.shape[0]), hottest]
    return wall & (run_id == chosen[:, None])


def _median_thickness(rays: _Rays, step: float) -> float:
    lengths = rays.wall.sum(axis=1)
    lengths = lengths[lengths > 0]
    if lengths.size == 0:
        return 10.0
    return float(np.median(lengths) * step)


def _cap_depth(sampler: _Sampler, frame: CardiacFrame, thickness: float) -> float:
    """Depth (mm from the apex) where the axis first leaves the apical wall into the cavity."""
    start = -2.0 * sampler.step
    along = sampler.rays(frame.apex + start * frame.axis, frame.axis[None, :], 0.5 * frame.length_mm - start)
    wall = along.any_wall[0]
    if wall.any():
        first = int(np.argmax(wall))
        leaves = np.nonzero(~wall[first:])[0]
        last = first + (int(leaves[0]) - 1 if leaves.size else wall.size - first - 1)
        depth = float(along.distance[last] + start + sampler.step / 2)
        if last + 1 < wall.size and 0.02 * frame.length_mm <= depth <= 0.4 * frame.length_mm:
            return depth
    return float(np.clip(thickness, 0.02 * frame.length_mm, 0.4 * frame.length_mm))


def _row_values(rows: list[_Rays], statistic: str, thickness: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Ray values (rows, angles) and whether each ray met the wall; missing rays sampled at the interpolated wall."""
    found = np.array([r.wall.any(axis=1) for r in rows])
    position = np.full(found.shape, np.nan)
    values = np.full(found.shape, np.nan)
    for n, r in enumerate(rows):
        hit = found[n]
        if hit.any():
            weights = r.wall[hit].astype(float)
            position[n, hit] = (weights * r.distance[None, :]).sum(axis=1) / weights.sum(axis=1)
            values[n, hit] = _statistic(r.counts[hit], r.wall[hit], statistic)
    if found.all():
        return values, found
    position = _fill_positions(position)
    for n, r in enumerate(rows):
        missing = ~found[n]
        if not missing.any():
            continue
        near = np.abs(r.distance[None, :] - position[n, missing][:, None]) <= max(thickness / 2, step)
        values[n, missing] = _statistic(r.counts[missing], near, statistic)
    return values, found


def _statistic(counts: np.ndarray, inside: np.ndarray, statistic: str) -> np.ndarray:
    if statistic == "max":
        return np.where(inside, counts, -np.inf).max(axis=1)
    return (counts * inside).sum(axis=1) / np.maximum(inside.sum(axis=1), 1)


def _fill_positions(position: np.ndarray) -> np.ndarray:
    """Wall positions of rays that missed the wall: circular interpolation within the row, else the nearest row."""
    out = position.copy()
    columns = np.arange(position.shape[1])
    for n, row in enumerate(position):
        good = np.isfinite(row)
        if good.any() and not good.all():
            period = position.shape[1]
            out[n] = np.interp(columns, columns[good], row[good], period=period)
    empty = ~np.isfinite(out).any(axis=1)
    filled = np.nonzero(~empty)[0]
    for n in np.nonzero(empty)[0]:
        out[n] = out[filled[np.argmin(np.abs(filled - n))]]
    return out


def _search_radius(volume: Volume, wall: np.ndarray, frame: CardiacFrame) -> float:
    """How far from the axis rays look: beyond the farthest wall voxel within the LV's length (at most 80 mm)."""
    k, j, i = np.nonzero(wall)
    points = volume.index_to_lps(np.stack([i, j, k], axis=1).astype(float))
    depth, radius, _ = frame.coordinates(points)
    inside = (depth >= -10.0) & (depth <= frame.length_mm + 10.0) & (radius <= MAX_SEARCH_MM)
    if not inside.any():
        raise InputError("the myocardium segmentation lies away from the long axis; check the landmarks")
    return float(min(MAX_SEARCH_MM, np.percentile(radius[inside], 99) + 2.0 * max(volume.spacing)))


def segments_csv(polar_map: PolarMap) -> str:
    """The segment table as CSV text: segment,name,uptake_percent,reduced (AHA order, reduced 0 or 1)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in polar_map.segments:
        uptake = f"{s.uptake_percent:.1f}" if np.isfinite(s.uptake_percent) else ""
        writer.writerow([s.number, s.name, uptake, int(s.reduced)])
    return buffer.getvalue()


def polar_image(polar_map: PolarMap, size: int) -> np.ndarray:
    """The polar map as a square image (size x size, rows top to bottom) of % values; NaN outside the disc.
    Anterior at 12 o'clock, septum at 9, inferior at 6, lateral at 3."""
    radius, angle = _pixel_polar(size)
    rows, columns = _grid_index(polar_map, radius, angle)
    image = polar_map.percent[np.clip(rows, 0, len(polar_map.radii) - 1), columns]
    return np.where(radius <= 1.0, image, np.nan)


def polar_segment_image(polar_map: PolarMap, size: int) -> np.ndarray:
    """AHA segment number of every pixel of `polar_image` (0 outside the disc)."""
    radius, angle = _pixel_polar(size)
    return np.where(radius <= 1.0, segment_at(np.minimum(radius, 1.0), angle), 0)


def _pixel_polar(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Polar-map radius (0..1 inside the disc) and short-axis angle (degrees) of every pixel of a square image."""
    centre = (size - 1) / 2.0
    y, x = np.mgrid[0:size, 0:size].astype(float)
    right, up = x - centre, centre - y
    radius = np.hypot(right, up) / (size / 2.0)
    angle = (np.degrees(np.arctan2(up, right)) - 90.0) % 360.0
    return radius, angle


def _grid_index(polar_map: PolarMap, radius: np.ndarray, angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    settings = polar_map.settings
    cap_end = RING_RADII["apex"][1]
    ring_rows = 3 * settings.rows_per_ring
    cap_row = np.floor(radius / cap_end * settings.cap_rows)
    ring_row = settings.cap_rows + np.floor((radius - cap_end) / (1.0 - cap_end) * ring_rows)
    rows = np.where(radius < cap_end, cap_row, ring_row).astype(int)
    columns = np.floor(angle / 360.0 * settings.angles).astype(int) % settings.angles
    return rows, columns
