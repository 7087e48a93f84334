"""Landmarks placed from several templates, combined into one set (multi-template localisation).

One template carries its own anatomy into every new study: where the template's heart differs from the new one
(a longer ventricle, a thinner apex, another tilt) the carried landmark is off by the same amount whatever the
search does. Placing the landmarks from two or more annotated studies and taking, per landmark, the median of the
positions lets the templates outvote one another's anatomy. The median is taken coordinate by coordinate (LPS):
with three templates one placement far off in any direction cannot move the result beyond the other two.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InputError
from ..io.markups_io import Landmark


def fuse_landmarks(placements: Sequence[Sequence[Landmark]]) -> list[Landmark]:
    """One landmark per label (in order of first appearance): the coordinate-wise median of the positions the
    placements give it, with the median of their confidences."""
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
        median = np.median(np.asarray(points, dtype=float), axis=0)
        confidence = float(np.median(confidences[label])) if label in confidences else None
        description = f"median of {len(points)} templates" if len(points) > 1 else ""
        if confidence is not None and description:
            description = f"confidence {confidence:.2f}, {description}"
        fused.append(Landmark(label, tuple(float(v) for v in median), confidence, description))
    return fused
