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
(docs/decisions.md, "What fails from the counts alone").
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from ..volume import Volume
from .heart_search import smoothed_counts
from .local_alignment import lv_region
from .lv_frame import WALL_BAND_MM, WALL_FRACTION, LVFrame, mid_wall_points

MARGIN_MM = 20.0  # the template's voxels this close to its wall (and not wall or cavity) are its surroundings
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
             counts: Optional[np.ndarray] = None) -> Volume:
        """The study's LV myocardium (a mask on `volume`'s grid) classified from the template's, kept within
        `local_alignment.REGION_RADII` LV radii of the LV frame `near` (the one found in the study's counts), where
        the smoothed `counts` (computed when None) reach `WALL_FRACTION` of the wall level seen from its centre and
        within `WALL_BAND_MM` of that frame's myocardium (`wall_from_probabilities`)."""
        counts = smoothed_counts(volume) if counts is None else counts
        session = self.session()
        session.set_volume(template_volume)
        classes = template_classes(on_grid(template_myocardium, template_volume), template_volume.spacing[::-1])
        prototypes = session.prototypes(classes, np.argwhere(classes >= 0))
        session.set_volume(volume)
        probabilities = np.asarray(session.grid.to_voxels(session.grid_probabilities(prototypes)))
        return volume.with_array(wall_from_probabilities(probabilities, volume, near, counts).astype(np.uint8))


def wall_from_probabilities(probabilities: np.ndarray, volume: Volume, near: LVFrame, counts: np.ndarray
                            ) -> np.ndarray:
    """The study's wall [k, j, i] from the classes' probabilities (3, k, j, i): the wall class where it wins, within
    `local_alignment.REGION_RADII` LV radii of `near`, where the smoothed `counts` reach `WALL_FRACTION` of the wall
    level seen from its centre, and within `WALL_BAND_MM` of `near`'s myocardium (`LVFrame.wall_points`)."""
    _, level = mid_wall_points(volume, counts, near.geometry.center)
    wall = (np.argmax(probabilities, axis=0) == WALL) & lv_region(volume, near) & (counts >= WALL_FRACTION * level)
    return wall & near_points(volume, wall, near.wall_points, WALL_BAND_MM)


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
