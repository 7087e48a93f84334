"""Ground-truth landmarks of a phantom (METHODS section 4): LV centre, apex and base, and the RV insertion points."""

from __future__ import annotations

import numpy as np

from SPECTFewShotLib.io.markups_io import Landmark
from SPECTFewShotLib.research.phantom.heart import HeartGeometry, Myocardium, rv_insertion_points
from SPECTFewShotLib.vocabulary import LANDMARK_BY_NAME, LANDMARKS

LANDMARK_NAMES = tuple(landmark.name for landmark in LANDMARKS)


def heart_landmarks(heart: HeartGeometry) -> list[tuple[str, np.ndarray, str]]:
    """(name, patient mm, description) of each landmark."""
    points = [
        ("LV_center", myocardium_centroid(heart), _definition("LV_center")),
        ("LV_apex", heart.to_patient(heart.l_epi, 0.0, 0.0), _definition("LV_apex")),
        ("LV_base", heart.base_center.copy(), _definition("LV_base")),
    ]
    insertions = rv_insertion_points(heart)
    if insertions is not None:
        points.append(("RV_insertion_anterior", insertions[0], _definition("RV_insertion_anterior")))
        points.append(("RV_insertion_inferior", insertions[1], _definition("RV_insertion_inferior")))
    return points


def _definition(name: str) -> str:
    return LANDMARK_BY_NAME[name].definition


def to_landmarks(points: list[tuple[str, np.ndarray, str]], offset_lps: np.ndarray) -> list[Landmark]:
    """Landmarks in LPS millimetres (patient frame shifted by the table offset)."""
    return [Landmark(name, tuple(round(float(v), 3) for v in position + offset_lps), None, description)
            for name, position, description in points]


def myocardium_centroid(heart: HeartGeometry, step_mm: float = 1.0) -> np.ndarray:
    """Centroid of the LV myocardium shape, sampled every `step_mm` (independent of any voxel grid)."""
    lo, hi = heart.bounds()
    axes = [np.arange(a, b + step_mm, step_mm) for a, b in zip(lo, hi)]
    shape = Myocardium(heart)
    total, count = np.zeros(3), 0
    for x in axes[0]:
        yy, zz = np.meshgrid(axes[1], axes[2], indexing="ij")
        points = np.stack([np.full(yy.size, x), yy.ravel(), zz.ravel()], axis=1)
        inside = shape.contains(points)
        total += points[inside].sum(axis=0)
        count += int(inside.sum())
    return total / max(count, 1)
