"""Stage 3: carry a template's landmarks over in the LV's own frame.

A landmark's frame coordinates say where on the LV it lies: along the long axis as a fraction of the LV's length
(base centre to apex), across it as multiples of the LV's radius, from the LV centre; the rotation about the axis
is fixed by the patient's anterior direction (superior when the axis runs anterior-posterior), the same for every
study in patient (LPS) coordinates. The template's landmarks are written in the template's frame and read back in
the new study's frame, both frames found the same way (lv_frame), so where a template places a landmark on its
LV (its annotator's convention included) is where it lands on the new LV.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from ..io.markups_io import Landmark
from .lv_frame import LVFrame

log = logging.getLogger(__name__)

ANTERIOR_LPS = np.array([0.0, -1.0, 0.0])
SUPERIOR_LPS = np.array([0.0, 0.0, 1.0])
CONVENTION_TOLERANCE = 0.35  # of the LV's length: a template LV landmark farther from its definition is warned about


def frame_axes(frame: LVFrame) -> np.ndarray:
    """Columns: the two across-axis directions (anterior-most first) and the long axis from base to apex."""
    toward_apex = -frame.geometry.axis
    reference = ANTERIOR_LPS if abs(toward_apex @ ANTERIOR_LPS) < 0.9 else SUPERIOR_LPS
    first = reference - (reference @ toward_apex) * toward_apex
    first /= np.linalg.norm(first)
    return np.stack([first, np.cross(toward_apex, first), toward_apex], axis=1)


def to_frame(frame: LVFrame, points_lps: np.ndarray) -> np.ndarray:
    """LPS points (n, 3) as frame coordinates: across (two, in LV radii) and along the axis (in LV lengths)."""
    scale = np.array([frame.radius_mm, frame.radius_mm, frame.length_mm])
    return (np.asarray(points_lps, dtype=float) - frame.geometry.center) @ frame_axes(frame) / scale


def from_frame(frame: LVFrame, coordinates: np.ndarray) -> np.ndarray:
    """Frame coordinates (n, 3) back to LPS points."""
    scale = np.array([frame.radius_mm, frame.radius_mm, frame.length_mm])
    return frame.geometry.center + (np.asarray(coordinates, dtype=float) * scale) @ frame_axes(frame).T


def carry_landmarks(template_frame: LVFrame, target_frame: LVFrame, landmarks: Sequence[Landmark]
                    ) -> list[np.ndarray]:
    """The template's landmark positions carried into the target's LV frame (LPS), in the same order."""
    if not landmarks:
        return []
    positions = np.array([landmark.position_lps for landmark in landmarks], dtype=float)
    return list(from_frame(target_frame, to_frame(template_frame, positions)))


def convention_warnings(frame: LVFrame, landmarks: Sequence[Landmark]) -> list[str]:
    """Messages for the template's LV landmarks that do not follow their definitions on the template's own LV
    (vocabulary.LANDMARKS): farther than `CONVENTION_TOLERANCE` LV lengths from where the definition puts them,
    or apex and base swapped."""
    geometry = frame.geometry
    expected = {"LV_center": geometry.center, "LV_apex": geometry.apex, "LV_base": geometry.base}
    given = {lm.label: np.asarray(lm.position_lps, dtype=float) for lm in landmarks if lm.label in expected}
    warnings = []
    if "LV_apex" in given and "LV_base" in given and \
            (given["LV_apex"] - given["LV_base"]) @ (geometry.apex - geometry.base) < 0:
        warnings.append("the template's LV_apex and LV_base look swapped: its apex lies towards the base of "
                        "the LV found in the template")
    for label, position in given.items():
        distance = float(np.linalg.norm(position - expected[label]))
        if distance > CONVENTION_TOLERANCE * frame.length_mm:
            warnings.append(f"the template's {label} lies {distance:.0f} mm from where its definition puts it on "
                            "the template's LV: check it")
    for warning in warnings:
        log.warning(warning)
    return warnings
