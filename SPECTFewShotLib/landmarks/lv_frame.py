"""Stage 2: the LV's own frame (centre, long axis from base to apex, apex and base) from the study's counts, or
from a myocardium segmentation when the user has painted or classified one.

From counts: rays cast from inside the cavity (heart_search's candidate) meet the wall at their first count peak;
those mid-wall points are fitted by an ellipsoid (least squares, refitted without the points farthest from it: rays
through the open base that meet the atria, the RV or the liver), as clinical reorientation fits the myocardium.
The myocardium is then the voxels at least `WALL_FRACTION` of the wall's count level that lie within
`WALL_BAND_MM` of the fitted mid-wall points (the largest connected piece), and the landmarks follow from it by
the same definitions as from a drawn mask (`cardiac_landmarks.lv_geometry`): the study's own counts and a
clinician's mask give the landmarks one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from ..cardiac_landmarks import LVGeometry, lv_geometry
from ..errors import InputError
from ..volume import Volume
from .heart_search import LVCandidate, sample, sphere_directions

FRAME_DIRECTIONS = 400
RAY_START_MM, RAY_END_MM, RAY_STEP_MM = 2.0, 60.0, 2.0
WALL_FRACTION = 0.5  # of the wall's count level (the median of the rays' hottest counts): the myocardium's edge
WALL_BAND_MM = 8.0  # a myocardium voxel lies this close to a fitted mid-wall point (half the blurred wall)
FIT_KEEP = 0.8  # each refit keeps this fraction of the mid-wall points nearest the ellipsoid
FIT_ROUNDS = 3
LV_SEMI_AXES_MM = (12.0, 80.0)  # a plausible LV's fitted semi-axes lie in this range
LV_WALL_ML = (30.0, 600.0)  # and its myocardium's volume in this range
CAVITY_RATIO = 0.75  # the cavity's count is at most this fraction of the wall's level
PIECE_GAP_MM = 10.0  # a segmentation's piece this close to its LV-shaped piece is part of the same wall


@dataclass(frozen=True)
class LVFrame:
    """The LV's geometry (LPS mm) with how it was found and how far it is to be trusted (0..1)."""

    geometry: LVGeometry
    radius_mm: float  # mean distance of the wall from the long axis
    confidence: float
    source: str  # "counts", "segmentation" or "one-shot" (a wall classified from a template's: staged.Localizer)
    wall_points: np.ndarray  # LPS points (n, 3) of the myocardium the geometry was derived from
    note: str = ""  # for the user: which frame was used and why (e.g. a segmentation refused), "" when plain

    @property
    def length_mm(self) -> float:
        """Distance from the base centre to the apex."""
        return float(np.linalg.norm(self.geometry.apex - self.geometry.base))


def mid_wall_points(volume: Volume, counts: np.ndarray, center: np.ndarray) -> tuple[np.ndarray, float]:
    """Where rays from `center` first meet the wall: the first count peak along each ray that reaches
    `WALL_FRACTION` of the wall level (the median over the rays of their hottest count), so that a hotter organ
    behind the wall (liver, bowel) is not taken for it; rays that meet no such peak give no point. Returns the
    points and the level."""
    directions = sphere_directions(FRAME_DIRECTIONS)
    radii = np.arange(RAY_START_MM, RAY_END_MM + 1e-6, RAY_STEP_MM)
    profiles = sample(volume, counts, center + directions[:, None, :] * radii[None, :, None])
    level = float(np.median(profiles.max(axis=1)))
    above = profiles >= WALL_FRACTION * level
    hit = above.any(axis=1)
    peak = np.argmax(above, axis=1)  # the first sample at the wall's edge, then climb to its peak
    rows = np.arange(len(directions))
    for _ in range(len(radii) - 1):
        following = np.minimum(peak + 1, len(radii) - 1)
        climbing = profiles[rows, following] > profiles[rows, peak]
        if not climbing.any():
            break
        peak = np.where(climbing, following, peak)
    return center + directions[hit] * radii[peak[hit]][:, None], level


def fit_ellipsoid(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares ellipsoid through points (n, 3): centre, semi-axes (ascending eigenvalue order, so the longest
    first) and their unit directions as columns. Raises InputError when the points fit no ellipsoid."""
    mean = points.mean(axis=0)
    x, y, z = (points - mean).T
    design = np.stack([x * x, y * y, z * z, 2 * x * y, 2 * x * z, 2 * y * z, 2 * x, 2 * y, 2 * z], axis=1)
    solution = np.linalg.lstsq(design, np.ones(len(points)), rcond=None)[0]
    a, b, c, d, e, f, g, h, i = solution
    quadric = np.array([[a, d, e], [d, b, f], [e, f, c]])
    try:
        offset = -np.linalg.solve(quadric, [g, h, i])
    except np.linalg.LinAlgError:
        raise InputError("no LV-shaped wall found around the candidate") from None
    scale = 1.0 + offset @ quadric @ offset
    values, vectors = np.linalg.eigh(quadric / scale)
    if np.any(values <= 0):
        raise InputError("no LV-shaped wall found around the candidate")
    return offset + mean, 1.0 / np.sqrt(values), vectors


def robust_ellipsoid(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`fit_ellipsoid` refitted `FIT_ROUNDS` times on the `FIT_KEEP` fraction of points nearest the surface;
    returns the centre, semi-axes, directions and which points were kept."""
    keep = np.ones(len(points), dtype=bool)
    for _ in range(FIT_ROUNDS):
        if keep.sum() < 12:
            raise InputError("no LV-shaped wall found around the candidate")
        center, semi, axes = fit_ellipsoid(points[keep])
        local = (points - center) @ axes / semi
        residual = np.abs(np.linalg.norm(local, axis=1) - 1.0)
        keep = residual <= np.quantile(residual, FIT_KEEP)
    return center, semi, axes, keep


def frame_from_counts(volume: Volume, counts: np.ndarray, candidate: LVCandidate) -> LVFrame:
    """The LV frame around a heart_search candidate, from the study's smoothed counts (heart_search.smoothed_counts).
    Raises InputError when no LV-shaped wall surrounds the candidate."""
    points, level = mid_wall_points(volume, counts, candidate.center_lps)
    if sample(volume, counts, candidate.center_lps) > CAVITY_RATIO * level:
        raise InputError("no colder cavity inside a hotter wall at the candidate")
    if len(points) < 0.5 * FRAME_DIRECTIONS:
        raise InputError("no LV-shaped wall found around the candidate")
    _, semi, _, keep = robust_ellipsoid(points)
    if semi.min() < LV_SEMI_AXES_MM[0] or semi.max() > LV_SEMI_AXES_MM[1]:
        raise InputError("no LV-sized wall found around the candidate")
    wall = _myocardium(volume, counts, points[keep], level)
    if not is_lv_sized(len(wall) * volume.voxel_volume_ml):
        raise InputError("no LV-sized wall found around the candidate")
    geometry = lv_geometry(wall, min(volume.spacing))
    confidence = float(keep.sum() / FRAME_DIRECTIONS)
    return LVFrame(geometry, _radius(wall, geometry), confidence, "counts", wall)


def wall_volume_ml(mask: Volume, label: Optional[int] = None) -> float:
    """The volume (mL) of a myocardium segmentation's wall (nonzero voxels, or those equal to `label`)."""
    wall = mask.array != 0 if label is None else mask.array == label
    return float(np.count_nonzero(wall)) * mask.voxel_volume_ml


def is_lv_sized(wall_ml: float) -> bool:
    """Whether a myocardium of `wall_ml` mL can be an LV wall (`LV_WALL_ML`)."""
    return LV_WALL_ML[0] <= wall_ml <= LV_WALL_ML[1]


def frame_from_segmentation(mask: Volume, label: Optional[int] = None) -> LVFrame:
    """The LV frame from a myocardium segmentation (nonzero voxels, or those equal to `label`): only its LV-shaped
    piece (`lv_shaped_wall`) makes the frame, so an extracardiac blob classified with it does not move it. Raises
    InputError when no piece is an LV-sized wall around a cavity."""
    wall, dropped_ml = lv_shaped_wall(mask, label)
    geometry = lv_geometry(wall, min(mask.spacing))
    note = f"left out {dropped_ml:.0f} mL of the segmentation not joined to the LV wall" if dropped_ml >= 1 else ""
    return LVFrame(geometry, _radius(wall, geometry), 1.0, "segmentation", wall, note)


def lv_shaped_wall(mask: Volume, label: Optional[int] = None) -> tuple[np.ndarray, float]:
    """LPS points of the LV-shaped part of a myocardium segmentation and the mL left out: of its connected pieces
    (26-connected), the largest that is LV-sized (`LV_WALL_ML`) and a wall around a cavity (`lv_geometry` accepts
    it), with every other piece within `PIECE_GAP_MM` of it (a wall classified in fragments); farther pieces (an
    extracardiac blob) are left out. Raises InputError when no piece is LV-shaped."""
    wall = mask.array != 0 if label is None else mask.array == label
    labels, _ = ndimage.label(wall, structure=np.ones((3, 3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel())[1:]
    total_ml = float(sizes.sum()) * mask.voxel_volume_ml
    reasons = []
    for piece in np.argsort(sizes)[::-1] + 1:
        piece_ml = float(sizes[piece - 1]) * mask.voxel_volume_ml
        if not is_lv_sized(piece_ml):
            reasons.append(f"{piece_ml:.0f} mL")
            if piece_ml < LV_WALL_ML[0]:
                break  # the rest are smaller still
            continue
        points = _piece_points(mask, labels, piece)
        try:
            lv_geometry(points, min(mask.spacing))
        except InputError as error:
            reasons.append(f"{piece_ml:.0f} mL: {error}")
            continue
        tree = cKDTree(points)
        kept = [points]
        for other in range(1, len(sizes) + 1):
            if other != piece:
                near = _piece_points(mask, labels, other)
                if tree.query(near)[0].min() <= PIECE_GAP_MM:
                    kept.append(near)
        joined = np.concatenate(kept)
        return joined, total_ml - len(joined) * mask.voxel_volume_ml
    low, high = LV_WALL_ML
    raise InputError(f"no piece of the myocardium given is an LV-sized ({low:.0f}-{high:.0f} mL) wall around a "
                     f"cavity ({'; '.join(reasons[:3]) or 'empty'})")


def _piece_points(mask: Volume, labels: np.ndarray, piece: int) -> np.ndarray:
    """LPS points of one labelled piece."""
    k, j, i = np.nonzero(labels == piece)
    return mask.index_to_lps(np.stack([i, j, k], axis=1).astype(float))


def _myocardium(volume: Volume, counts: np.ndarray, mid_wall: np.ndarray, level: float) -> np.ndarray:
    """LPS points of the voxels at least `WALL_FRACTION` of `level` within `WALL_BAND_MM` of the mid-wall points,
    the largest connected piece."""
    low, high = mid_wall.min(axis=0) - WALL_BAND_MM, mid_wall.max(axis=0) + WALL_BAND_MM
    corners = volume.lps_to_index(np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1])
                                            for z in (low[2], high[2])]))
    start = np.clip(np.floor(corners.min(axis=0)).astype(int), 0, np.asarray(volume.size) - 1)
    stop = np.clip(np.ceil(corners.max(axis=0)).astype(int) + 1, 1, np.asarray(volume.size))
    i, j, k = np.meshgrid(*(np.arange(a, b) for a, b in zip(start, stop)), indexing="ij")
    index = np.stack([i, j, k], axis=-1)
    hot = counts[k, j, i] >= WALL_FRACTION * level
    near = np.zeros_like(hot)
    near[hot] = cKDTree(mid_wall).query(volume.index_to_lps(index[hot].astype(float)))[0] <= WALL_BAND_MM
    labels, found = ndimage.label(near)
    if found == 0:
        raise InputError("no LV wall found around the candidate")
    largest = np.argmax(np.bincount(labels.ravel())[1:]) + 1
    return volume.index_to_lps(index[labels == largest].astype(float))


def _radius(wall: np.ndarray, geometry: LVGeometry) -> float:
    """Mean distance of the wall points from the long axis."""
    relative = wall - geometry.center
    along = relative @ geometry.axis
    return float(np.linalg.norm(relative - along[:, None] * geometry.axis, axis=1).mean())
