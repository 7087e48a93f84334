"""A small synthetic LV for the cardiac-views tests: a thick half-ellipsoid cup along a known oblique axis, with
uniform myocardial counts and an optional defect (uptake reduced by `depth`) in named AHA segments."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from SPECTFewShotLib.cardiac_views.aha_segments import segments_of_heart_point
from SPECTFewShotLib.cardiac_views.frame import CardiacFrame, frame_from_points
from SPECTFewShotLib.io.markups_io import Landmark
from SPECTFewShotLib.volume import Volume


@dataclass(frozen=True, eq=False)
class SyntheticLV:
    """Image, wall mask, landmarks and the true frame and segment of every wall voxel."""

    image: Volume
    wall: np.ndarray
    landmarks: list[Landmark]
    frame: CardiacFrame
    segments: np.ndarray  # AHA segment of each voxel (0 outside the wall)


def synthetic_lv(defect_segments=(), depth: float = 0.5, shape=(40, 44, 48), spacing=4.0, r_endo=22.0,
                 wall_mm=10.0, l_endo=60.0, apex_wall=9.0, roll_deg: float = 15.0, blur_mm: float = 0.0,
                 direction=None) -> SyntheticLV:
    """An LV whose axis points left-anterior-inferior (as in patients), turned `roll_deg` about its axis."""
    k, j, i = shape
    direction = np.eye(3) if direction is None else np.asarray(direction, dtype=float).reshape(3, 3)
    origin = -direction @ (np.array([i - 1, j - 1, k - 1]) * spacing / 2.0)
    template = Volume(np.zeros(shape, np.float32), (spacing,) * 3, tuple(origin), tuple(direction.ravel()))
    axis_to_base = -np.array([0.62, -0.55, -0.56])  # apex -> base: right, posterior, superior
    axis_to_base /= np.linalg.norm(axis_to_base)
    l_epi = l_endo + apex_wall
    centre = np.array([4.0, -3.0, 2.0])
    apex = centre - 0.5 * l_epi * axis_to_base
    base = centre + 0.5 * l_epi * axis_to_base
    frame = frame_from_points(apex, base).rotated(roll_deg)
    kk, jj, ii = np.indices(shape)
    points = template.index_to_lps(np.stack([ii, jj, kk], axis=-1).reshape(-1, 3).astype(float))
    depth_from_apex, radius, angle = frame.coordinates(points)
    u = l_epi - depth_from_apex  # depth from the base
    r_epi = r_endo + wall_mm
    in_epi = (u >= 0) & (radius**2 / r_epi**2 + u**2 / l_epi**2 <= 1.0)
    in_endo = (u >= 0) & (radius**2 / r_endo**2 + u**2 / l_endo**2 <= 1.0)
    wall = (in_epi & ~in_endo).reshape(shape)
    segments = np.where(wall.ravel(), segments_of_heart_point(u, l_endo, angle), 0).reshape(shape)
    counts = np.where(wall, 100.0, 8.0)
    if defect_segments:
        counts = np.where(np.isin(segments, defect_segments), counts * (1.0 - depth), counts)
    if blur_mm > 0:
        from scipy import ndimage

        counts = ndimage.gaussian_filter(counts, blur_mm / 2.355 / spacing)
    image = template.with_array(counts.astype(np.float32))
    landmarks = [Landmark("LV_apex", tuple(apex)), Landmark("LV_base", tuple(base)),
                 Landmark("LV_center", tuple(centre)),
                 Landmark("RV_insertion_anterior", tuple(base - 0.5 * l_endo * frame.axis + 40 * frame.direction(30))),
                 Landmark("RV_insertion_inferior", tuple(base - 0.5 * l_endo * frame.axis + 40 * frame.direction(150)))]
    return SyntheticLV(image, wall, landmarks, frame, segments)
