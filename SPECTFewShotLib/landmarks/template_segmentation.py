"""The study's LV wall classified in one shot from the template's, for its LV frame (`localize --one-shot`).

The paper's own method with the template as the support: ProtoNet prototypes of the template's embedding under its
myocardium (the LV wall), its cavity (inside the wall's closed hull) and the surroundings (within `MARGIN_MM` of the
wall), then every cell of the study's embedding classified against them (classification.prior_session.
FewShotSession: the product's weights and runtime). Only the study's voxels near the LV found in its counts
(local_alignment.lv_region) may be wall, so the liver or the gut cannot join it; only voxels at least as hot as the
counts' own myocardium edge (lv_frame.WALL_FRACTION of the wall level seen from the counts' LV centre), so the
cooler lungs, body and RV cavity beside the LV cannot either (docs/decisions.md, "One-shot"); and only voxels within
lv_frame.WALL_BAND_MM of the myocardium found in the counts (the band the counts' own wall is drawn with, around the
rays' first peaks), so hot tissue beyond that shell (an atrium against the open base, the RV wall, a thicker layer
on one side) cannot tilt the axis or carry the base. staged.find_lv_frame then keeps its LV-shaped piece and checks
it against the counts' frame (refused when they disagree: the counts' frame is used and the user told). The study's
wall ends where the template annotator's wall ends on what the network sees, not where a count threshold does
(docs/decisions.md, "What fails from the counts alone"), and no farther past the study's closed ring than the
template's wall runs past its own (`basal_overhang`, `closed_ring_end`): beyond the closed ring, partial arcs on one
side of the base (tissue towards the outflow tract or the atrium that is as hot as wall) tilt the revolution axis,
and how much of such an arc the annotator counts as LV is what the template says.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from ..cardiac_landmarks import revolution_axis
from ..volume import Volume
from .heart_search import smoothed_counts
from .local_alignment import lv_region
from .long_axis import angle_between_deg
from .lv_frame import WALL_BAND_MM, WALL_FRACTION, LVFrame, frame_from_segmentation, mid_wall_points

MARGIN_MM = 20.0  # the template's voxels this close to its wall (and not wall or cavity) are its surroundings
RING_SLAB_MM = 5.0  # short-axis slabs along the long axis in which a wall's ring is measured
RING_SECTORS = 12  # sectors about the long axis a slab's wall may cover
RING_CLOSED = 8  # a slab whose wall covers at least this many sectors (two thirds round) is a closed ring
# a cut past the closed ring that turns the wall's revolution axis by more than this is oblique through a closed wall
# (the counts' axis it was measured along tilted), not an arc trimmed: the wall is kept whole
CUT_MAX_TURN_DEG = 10.0
SURROUNDINGS, WALL, CAVITY = 0, 1, 2


def on_grid(mask: Volume, volume: Volume) -> np.ndarray:
    """A mask volume (any grid) resampled onto `volume`'s grid by nearest neighbour, as booleans [k, j, i]."""
    import SimpleITK as sitk

    if mask.array.shape == volume.array.shape and np.allclose(mask.index_to_lps_matrix, volume.index_to_lps_matrix):
        return np.asarray(mask.array) != 0
    image = mask.with_array((np.asarray(mask.array) != 0).astype(np.uint8)).to_sitk()
    resampled = sitk.Resample(image, volume.to_sitk(), sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return sitk.GetArrayFromImage(resampled) != 0


def template_classes(wall: np.ndarray, spacing_kji: tuple[float, float, float]) -> np.ndarray:
    """The template's support [k, j, i]: WALL on its myocardium, CAVITY inside the wall's closed hull,
    SURROUNDINGS within `MARGIN_MM` of the wall, -1 elsewhere (not used)."""
    classes = np.full(wall.shape, -1, dtype=np.int64)
    near = ndimage.distance_transform_edt(~wall, sampling=spacing_kji) <= MARGIN_MM
    classes[near] = SURROUNDINGS
    closed = ndimage.binary_fill_holes(ndimage.binary_closing(wall, structure=np.ones((3, 3, 3), bool),
                                                               iterations=3))
    classes[closed & ~wall] = CAVITY
    classes[wall] = WALL
    return classes


class OneShotWall:
    """Classifies a study's LV wall from a template's myocardium (see the module docstring); the embedding network
    is loaded at the first use (`model`: a registered id or weights file, None for the default)."""

    def __init__(self, model: Optional[str] = None) -> None:
        self.model = model
        self._session: Any = None

    def session(self) -> Any:
        """The few-shot session (loaded once)."""
        if self._session is None:
            from ..classification.prior_session import FewShotSession

            self._session = FewShotSession(self.model, spatial_prior=None)
        return self._session

    def wall(self, template_volume: Volume, template_myocardium: Volume, volume: Volume, near: LVFrame,
             counts: Optional[np.ndarray] = None, template_frame: Optional[LVFrame] = None) -> Volume:
        """The study's LV myocardium (a mask on `volume`'s grid) classified from the template's, kept within
        `local_alignment.REGION_RADII` LV radii of the LV frame `near` (the one found in the study's counts), where
        the smoothed `counts` (computed when None) reach `WALL_FRACTION` of the wall level seen from its centre,
        within `WALL_BAND_MM` of that frame's myocardium and no farther past its closed ring than the template's
        wall runs past its own (`wall_from_probabilities`; `template_frame`: the template myocardium's frame,
        lv_frame.frame_from_segmentation, computed when None)."""
        counts = smoothed_counts(volume) if counts is None else counts
        template_frame = frame_from_segmentation(template_myocardium) if template_frame is None else template_frame
        session = self.session()
        session.set_volume(template_volume)
        classes = template_classes(on_grid(template_myocardium, template_volume), template_volume.spacing[::-1])
        prototypes = session.prototypes(classes, np.argwhere(classes >= 0))
        session.set_volume(volume)
        probabilities = np.asarray(session.grid.to_voxels(session.grid_probabilities(prototypes)))
        overhang = basal_overhang(template_frame)
        return volume.with_array(wall_from_probabilities(probabilities, volume, near, counts, overhang)
                                 .astype(np.uint8))


def wall_from_probabilities(probabilities: np.ndarray, volume: Volume, near: LVFrame, counts: np.ndarray,
                            overhang_mm: Optional[float] = None) -> np.ndarray:
    """The study's wall [k, j, i] from the classes' probabilities (3, k, j, i): the wall class where it wins, within
    `local_alignment.REGION_RADII` LV radii of `near`, where the smoothed `counts` reach `WALL_FRACTION` of the wall
    level seen from its centre, and within `WALL_BAND_MM` of `near`'s myocardium (`LVFrame.wall_points`); when
    `overhang_mm` is given (the template's, `basal_overhang`), only up to that far past the wall's closed ring along
    `near`'s axis (`closed_ring_end`), unless that cut turns the wall's revolution axis by more than
    `CUT_MAX_TURN_DEG`."""
    _, level = mid_wall_points(volume, counts, near.geometry.center)
    wall = (np.argmax(probabilities, axis=0) == WALL) & lv_region(volume, near) & (counts >= WALL_FRACTION * level)
    wall &= near_points(volume, wall, near.wall_points, WALL_BAND_MM)
    if overhang_mm is None or not wall.any():
        return wall
    k, j, i = np.nonzero(wall)
    points = volume.index_to_lps(np.stack([i, j, k], axis=1).astype(float))
    inside = within_closed_ring(points, near.geometry.center, near.geometry.axis, overhang_mm)
    kept = np.zeros_like(wall)
    kept[k[inside], j[inside], i[inside]] = True
    return kept


def within_closed_ring(points: np.ndarray, origin: np.ndarray, axis: np.ndarray, overhang_mm: float) -> np.ndarray:
    """Which wall `points` (n, 3) lie at most `overhang_mm` past the closed ring's end along `axis` from `origin`
    (`closed_ring_end`); all of them when that cut would turn their revolution axis by more than
    `CUT_MAX_TURN_DEG` (an oblique cut through a closed wall, `axis` tilted from the wall's own)."""
    along, end = closed_ring_end(points, origin, axis)
    inside = along <= end + overhang_mm
    if inside.all() or np.count_nonzero(inside) < 3:
        return np.ones(len(points), dtype=bool)
    turn = angle_between_deg(revolution_axis(points), revolution_axis(points[inside]))
    return inside if min(turn, 180.0 - turn) <= CUT_MAX_TURN_DEG else np.ones(len(points), dtype=bool)


def closed_ring_end(points: np.ndarray, origin: np.ndarray, axis: np.ndarray) -> tuple[np.ndarray, float]:
    """The wall `points` (n, 3, LPS mm) along `axis` (unit, apex -> base) from `origin`, and the basal end of the
    last `RING_SLAB_MM` slab in which they cover at least `RING_CLOSED` of `RING_SECTORS` sectors about the axis
    line through `origin` (the closed ring's end; the wall's basal end when no slab is closed)."""
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    relative = np.asarray(points, dtype=float) - origin
    along = relative @ axis
    across = relative - along[:, None] * axis
    first = np.cross(axis, np.eye(3)[int(np.argmin(np.abs(axis)))])
    first /= np.linalg.norm(first)
    second = np.cross(axis, first)
    sector = (np.floor((np.arctan2(across @ second, across @ first) + np.pi) / (2 * np.pi) * RING_SECTORS)
              .astype(int) % RING_SECTORS)
    slab = np.floor(along / RING_SLAB_MM).astype(int)
    closed = [s for s in np.unique(slab) if len(np.unique(sector[slab == s])) >= RING_CLOSED]
    return along, (max(closed) + 1) * RING_SLAB_MM if closed else float(along.max())


def basal_overhang(frame: LVFrame) -> float:
    """How far (mm, >= 0) a myocardium's wall (`frame.wall_points`, e.g. a template's from
    lv_frame.frame_from_segmentation) runs past its closed ring towards the base along its own long axis: 0 for an
    annotator who ends the LV where its ring opens, the partial arc's length for one who follows it."""
    along, end = closed_ring_end(frame.wall_points, frame.geometry.center, frame.geometry.axis)
    return max(0.0, float(along.max()) - end)


def near_points(volume: Volume, mask: np.ndarray, points_lps: np.ndarray, distance_mm: float) -> np.ndarray:
    """The voxels of `mask` [k, j, i] within `distance_mm` of any of `points_lps` (n, 3)."""
    kept = np.zeros_like(mask, dtype=bool)
    k, j, i = np.nonzero(mask)
    if len(k) and len(points_lps):
        centres = volume.index_to_lps(np.stack([i, j, k], axis=1).astype(float))
        close = cKDTree(np.asarray(points_lps, dtype=float)).query(centres, distance_upper_bound=distance_mm)[0]
        kept[k, j, i] = close <= distance_mm
    return kept


def shell_coverage(wall: np.ndarray, volume: Volume, near: LVFrame) -> float:
    """The share (0..1) of the myocardium found in the counts (`near.wall_points`, voxel centres of `volume`) that
    the one-shot `wall` [k, j, i] covers: low when the template's prototypes matched only part of the study's LV."""
    index = np.round(volume.lps_to_index(np.asarray(near.wall_points, dtype=float))).astype(int)
    inside = np.all((index >= 0) & (index < np.asarray(volume.size)), axis=1)
    if not inside.any():
        return 0.0
    i, j, k = index[inside].T
    return float(np.count_nonzero(wall[k, j, i])) / len(index)
