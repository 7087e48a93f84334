"""Templates annotated in other conventions than ours, for `evaluate localize --conventions`.

Each convention places LV_center, LV_apex and LV_base on an LV-wall mask in its own way; a case's template is
annotated on the template's mask and its truth on the target's mask by the same convention (RV insertion points,
where a phantom has them, are the phantom's own in every convention). Every convention stands on the annotators'
long axis (`annotator_axis`): the evaluation's own frozen copy of the product's revolution-axis fit as it was at
commit 77c639a, so that an annotator's convention does not move when the product's axis fit changes (a change of
the product's fit that also moved the templates and the truths would change the exam, not only the answer):
- "ours": the built-in definitions (`cardiac_landmarks.lv_geometry`) on that axis.
- "extremal": the wall's extreme points along the LV's long axis (`lv_geometry`'s axis of revolution, oriented
  from the open end to the closed end), on that axis through the wall's centroid: the apex at the wall's farthest
  extent towards the closed end (the epicardial tip), the base at its farthest towards the open end (the outermost
  basal rim), the centre halfway. The issue's "principal axis of the wall" is ill-defined on short or round LVs:
  their inertia axes are nearly degenerate (patient001: the principal axis nearest the long axis lies 35 degrees
  from it, patient003 12 degrees), and the first one, with its sign from the apex prior, made template and truth
  disagree by construction (30-77 degrees even for registration; 43-72 degrees with the nearest principal axis).
- "endocardial": the apex where the long axis first meets the wall from inside the cavity (the endocardial apex:
  the wall voxel on the axis, within `AXIS_VOXELS_MM` of it, nearest the centre on the apex side), the base at
  the centre of the basal ring (not moved to the valve plane), the centre halfway between them. (Within
  `cardiac_landmarks.APEX_RADIUS_MM`, 10 mm, as before, patient001's small cavity put wall beside the axis at
  its centre and the "endocardial apex" there, 30 mm short of its apex, while patient003's lay 22 mm short of its
  own: template and truth disagreed by construction.)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from SPECTFewShotLib.cardiac_landmarks import SLAB_MM, lv_geometry
from SPECTFewShotLib.io.markups_io import Landmark
from SPECTFewShotLib.research.evaluation.localize_cases import LandmarkCase
from SPECTFewShotLib.volume import Volume

CONVENTIONS = ("ours", "extremal", "endocardial")
AXIS_VOXELS_MM = 3.0  # under a voxel (4 mm): the wall the axis line itself crosses
# The annotators' axis fit (`annotator_axis`), frozen: cardiac_landmarks' constants as of commit 77c639a.
ANNOTATOR_DIRECTIONS, ANNOTATOR_REFINE_DEGREES, ANNOTATOR_SLAB_MM = 600, (4.0, 2.0, 1.0), 8.0


def annotator_spread(points: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """For each unit direction (m, 3): the mean squared deviation of the points' distances from the centre of their
    `ANNOTATOR_SLAB_MM` slab perpendicular to it, about the slab's mean distance (a frozen copy of
    cardiac_landmarks.ring_spread as of commit 77c639a)."""
    relative = points - points.mean(axis=0)
    spreads = np.empty(len(directions))
    for number, direction in enumerate(directions):
        t = relative @ direction
        slab = np.floor((t - t.min()) / ANNOTATOR_SLAB_MM).astype(int)
        members = np.maximum(np.bincount(slab), 1)
        centres = np.stack([np.bincount(slab, relative[:, d]) for d in range(3)], axis=1) / members[:, None]
        across = relative - centres[slab]
        across -= (across @ direction)[:, None] * direction
        distance = np.linalg.norm(across, axis=1)
        spreads[number] = np.mean((distance - (np.bincount(slab, distance) / members)[slab]) ** 2)
    return spreads


def annotator_axis(points: np.ndarray) -> np.ndarray:
    """The annotators' long axis of the wall `points`: the direction whose slabs are most ring-like
    (`annotator_spread`), the best of an even lattice refined by `ANNOTATOR_REFINE_DEGREES` (a frozen copy of
    cardiac_landmarks.revolution_axis as of commit 77c639a; sense arbitrary)."""
    index = np.arange(ANNOTATOR_DIRECTIONS) + 0.5
    polar, azimuth = np.arccos(1.0 - 2.0 * index / ANNOTATOR_DIRECTIONS), np.pi * (1.0 + 5.0 ** 0.5) * index
    lattice = np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], axis=1)
    lattice = lattice[lattice[:, 2] >= 0]
    axis = lattice[np.argmin(annotator_spread(points, lattice))]
    for degrees in ANNOTATOR_REFINE_DEGREES:
        first = np.cross(axis, [1.0, 0.0, 0.0] if abs(axis[0]) < 0.9 else [0.0, 1.0, 0.0])
        first /= np.linalg.norm(first)
        second = np.cross(axis, first)
        step = np.tan(np.radians(degrees))
        tries = np.array([axis + a * step * first + b * step * second for a in (-1, 0, 1) for b in (-1, 0, 1)])
        tries /= np.linalg.norm(tries, axis=1, keepdims=True)
        axis = tries[np.argmin(annotator_spread(points, tries))]
    return axis


def convention_landmarks(wall: np.ndarray, volume: Volume, convention: str) -> dict[str, np.ndarray]:
    """LV_center, LV_apex and LV_base on the wall mask [k, j, i] of `volume`'s grid by `convention`."""
    k, j, i = np.nonzero(wall)
    points = volume.index_to_lps(np.stack([i, j, k], axis=1).astype(float))
    geometry = lv_geometry(points, min(volume.spacing), axis=annotator_axis(points))
    if convention == "ours":
        return {"LV_center": geometry.center, "LV_apex": geometry.apex, "LV_base": geometry.base}
    if convention == "extremal":
        centroid = points.mean(axis=0)
        toward_apex = -geometry.axis  # from the open end to the closed end
        t = (points - centroid) @ toward_apex
        apex, base = centroid + t.max() * toward_apex, centroid + t.min() * toward_apex
        return {"LV_center": (apex + base) / 2, "LV_apex": apex, "LV_base": base}
    if convention == "endocardial":
        toward_base = geometry.axis
        t = (points - geometry.center) @ toward_base
        radial = np.linalg.norm(points - geometry.center - t[:, None] * toward_base, axis=1)
        near = radial <= AXIS_VOXELS_MM  # the wall voxels the axis itself passes through
        apical = near & (t < 0)
        apex = geometry.center + (t[apical].max() if apical.any() else t.min()) * toward_base
        base = points[t >= t.max() - SLAB_MM].mean(axis=0)
        return {"LV_center": (apex + base) / 2, "LV_apex": apex, "LV_base": base}
    raise ValueError(f"unknown convention {convention!r}")


def with_convention(cases: Sequence[LandmarkCase], template_walls: Sequence[np.ndarray], convention: str
                    ) -> list[LandmarkCase]:
    """The cases with their template and truth LV landmarks re-annotated by `convention` on the two walls (the
    template's wall in `template_walls`, the target's in the case); other landmarks kept."""
    converted = []
    for case, template_wall in zip(cases, template_walls):
        template = convention_landmarks(template_wall, case.template_volume, convention)
        truth = convention_landmarks(case.target_wall, case.target_volume, convention)

        def relabel(landmarks: Sequence[Landmark], positions: dict[str, np.ndarray]) -> list[Landmark]:
            return [Landmark(lm.label, tuple(float(v) for v in positions[lm.label])) if lm.label in positions
                    else lm for lm in landmarks]

        converted.append(LandmarkCase(f"{case.name} ({convention})", case.template_volume,
                                      relabel(case.template_landmarks, template), case.target_volume,
                                      relabel(case.target_landmarks, truth), target_wall=case.target_wall))
    return converted

