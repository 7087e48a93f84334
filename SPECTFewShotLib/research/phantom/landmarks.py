"""Ground-truth landmarks of a phantom (METHODS section 4): LV centre, apex and base, and the RV insertion points."""

from __future__ import annotations

import numpy as np

from SPECTFewShotLib.io.markups_io import Landmark
from SPECTFewShotLib.research.phantom.heart import HeartGeometry, Myocardium, rv_insertion_points

LANDMARK_NAMES = ("LV_center", "LV_apex", "LV_base", "RV_insertion_anterior", "RV_insertion_inferior")


def heart_landmarks(heart: HeartGeometry) -> list[tuple[str, np.ndarray, str]]:
    """(name, patient mm, description) of each landmark."""
    points = [
        ("LV_center", myocardium_centroid(heart), "centroid of the LV myocardium"),
        ("LV_apex", heart.to_patient(heart.l_epi, 0.0, 0.0), "apical end of the LV myocardium on the long axis"),
        ("LV_base", heart.base_center.copy(), "centre of the basal (mitral valve plane) myocardial ring"),
    ]
    insertions = rv_insertion_points(heart)
    if insertions is not None:
        points.append(("RV_insertion_anterior", insertions[0], "anterior RV insertion, mid-ventricle"))
        points.append(("RV_insertion_inferior", insertions[1], "inferior RV insertion, mid-ventricle"))
    return points


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
