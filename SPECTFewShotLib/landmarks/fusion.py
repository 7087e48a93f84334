"""Landmarks placed from several templates, combined into one set (multi-template localisation), and the
confidence wording shown to the user.

A landmark carried from one template carries that template's anatomy and annotation. Placing the landmarks from two
or more annotated studies and taking, per landmark, the geometric median of the positions (the point with the
least summed distance to them) lets the templates outvote one another: with three templates, one placement far off
cannot pull the result out of the ball whose diameter joins the other two. Unlike the coordinate-wise median, it
does not depend on how the patient axes happen to lie against the heart. How far the placements agree is the fused
landmark's confidence.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InputError
from ..io.markups_io import Landmark

# Two placements of a landmark this far apart (mm) give it a confidence of 0.5.
AGREEMENT_MM = 5.0
# Below this confidence a landmark is flagged for checking (for two placements: more than 10 mm apart).
LOW_CONFIDENCE = 0.2


def geometric_median(points: np.ndarray, tolerance_mm: float = 1e-6, iterations: int = 1000) -> np.ndarray:
    """The point (3,) with the least summed Euclidean distance to `points` (n, 3), by Weiszfeld's iteration; a
    point that is itself the minimum (three points with an angle of 120 degrees or more) is returned exactly."""
    points = np.asarray(points, dtype=float)
    if len(points) <= 2:
        return points.mean(axis=0)
    for candidate in points:  # a data point is the minimum when the pull of the others is at most 1
        offsets = np.delete(points, np.all(points == candidate, axis=1).nonzero()[0], axis=0) - candidate
        distances = np.linalg.norm(offsets, axis=1)
        if len(offsets) == 0 or np.linalg.norm((offsets / distances[:, None]).sum(axis=0)) <= \
                len(points) - len(offsets):
            return candidate.copy()
    estimate = points.mean(axis=0)
    for _ in range(iterations):
        weights = 1.0 / np.linalg.norm(points - estimate, axis=1)  # no zero: the estimate is no data point
        moved = (weights[:, None] * points).sum(axis=0) / weights.sum()
        if np.linalg.norm(moved - estimate) < tolerance_mm:
            return moved
        estimate = moved
    return estimate


def agreement_confidence(distance_mm: float | np.ndarray) -> float | np.ndarray:
    """How far independent placements of a landmark agree, as a confidence: 1 / (1 + (d / AGREEMENT_MM)²), 1
    where they coincide and 0.5 where they lie `AGREEMENT_MM` apart."""
    return 1.0 / (1.0 + (np.asarray(distance_mm, dtype=float) / AGREEMENT_MM) ** 2)


def is_low_confidence(confidence: float | None) -> bool:
    """Whether a landmark's confidence is below `LOW_CONFIDENCE` (None, no confidence: not flagged)."""
    return confidence is not None and confidence < LOW_CONFIDENCE


def confidence_note(confidence: float | None) -> str:
    """A short warning to print beside a landmark whose confidence is low (`is_low_confidence`), else ""."""
    return " (low confidence: check this point)" if is_low_confidence(confidence) else ""


def landmark_description(confidence: float | None, detail: str = "") -> str:
    """A placed landmark's description: its confidence (with `confidence_note`), then `detail`, if any."""
    parts = [f"confidence {confidence:.2f}{confidence_note(confidence)}"] if confidence is not None else []
    return ", ".join(parts + ([detail] if detail else []))


def low_confidence_labels(landmarks: Sequence[Landmark]) -> list[str]:
    """The labels of the landmarks whose confidence is low (`is_low_confidence`): the ones to check."""
    return [landmark.label for landmark in landmarks if is_low_confidence(landmark.confidence)]


def fuse_landmarks(placements: Sequence[Sequence[Landmark]]) -> list[Landmark]:
    """One landmark per label (in order of first appearance): the geometric median of the positions the
    placements give it, its confidence the `agreement_confidence` of twice their median distance from it (for
    two placements, their distance; a placement outvoted by the others does not lower it; a label placed once
    keeps that placement's confidence)."""
    if not placements:
        raise InputError("no placements to combine")
    positions: dict[str, list[tuple[float, float, float]]] = {}
    confidences: dict[str, list[float]] = {}
    for placed in placements:
        for landmark in placed:
            positions.setdefault(landmark.label, []).append(landmark.position_lps)
            if landmark.confidence is not None:
                confidences.setdefault(landmark.label, []).append(landmark.confidence)
    fused = []
    for label, points in positions.items():
        array = np.asarray(points, dtype=float)
        median = geometric_median(array)
        if len(array) > 1:  # twice the median distance from the fused point: two placements' own distance
            confidence = float(agreement_confidence(2 * np.median(np.linalg.norm(array - median, axis=1))))
            detail = f"median of {len(array)} templates"
        else:
            confidence = confidences[label][0] if label in confidences else None
            detail = ""
        fused.append(Landmark(label, tuple(float(v) for v in median), confidence,
                              landmark_description(confidence, detail)))
    return fused
