"""Which part of the warped patch matching's move each landmark keeps after the neighbourhood registration.

The registration fits the LV's whole neighbourhood; the warped matching then moves each landmark to where the
template's patch around it fits best. That suits a landmark defined by a local pattern (the basal ring, an RV
insertion, any landmark a template names), but two of the LV's landmarks are defined by the LV's shape:
- `LV_center`, the myocardium's centroid, lies in the cavity, where a patch looks much the same wherever it slides
  along the long axis: it keeps the registration's position (and is not matched at all).
- `LV_apex`, where the long axis leaves the myocardium: the matching finds where the wall ends along the axis, but
  across the axis the apical cap looks alike on either side, so it keeps only the move's component along the long
  axis (the registered LV_base, else LV_center, towards the registered apex).
Labels are compared in any case. On the validation phantoms 900000-900063 (each from the next three; LV centre /
apex / base, mm), single placements went from 3.77 / 5.76 / 4.36 to 3.23 / 5.38 / 4.36 and three templates fused
from 2.81 / 4.87 / 2.78 to 2.02 / 4.04 / 2.78 (docs/prnet.md, "Stop 16").

Last, `apex_on_axis` moves the apex across the line through the placed LV_base and LV_center (keeping its
distance along it) to where the template has its apex across its own line, which for the phantoms is on it: the
axis that the placed base and centre give sets the apex across the axis better than the apex's own registration
(stop 18).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..rotations import best_rotation
from ..vocabulary import LV_LANDMARK_NAMES

LV_CENTER, LV_APEX, LV_BASE = (name.lower() for name in LV_LANDMARK_NAMES)


def move_projections(labels: Sequence[str], registered: np.ndarray) -> list[np.ndarray]:
    """Per landmark, the 3 x 3 projection applied to its matching move: zero for LV_center, onto the long axis for
    LV_apex (identity when the template has neither LV_base nor LV_center), identity for every other label."""
    registered = np.asarray(registered, dtype=float)
    index = {label.lower(): number for number, label in enumerate(labels)}
    projections = [np.eye(3) for _ in labels]
    if LV_CENTER in index:
        projections[index[LV_CENTER]] = np.zeros((3, 3))
    if LV_APEX in index:
        for origin in (LV_BASE, LV_CENTER):
            if origin not in index:
                continue
            axis = registered[index[LV_APEX]] - registered[index[origin]]
            length = np.linalg.norm(axis)
            if length > 1e-6:
                axis /= length
                projections[index[LV_APEX]] = np.outer(axis, axis)
                break
    return projections


def keep_moves(registered: np.ndarray, matched: np.ndarray, projections: Sequence[np.ndarray]) -> np.ndarray:
    """Each registered landmark moved by its projection of the matching's move (`matched` - `registered`)."""
    registered = np.asarray(registered, dtype=float)
    moves = np.asarray(matched, dtype=float) - registered
    return registered + np.einsum("nab,nb->na", np.asarray(projections, dtype=float), moves)


def apex_on_axis(labels: Sequence[str], placed: np.ndarray, template_points: np.ndarray) -> np.ndarray:
    """The placed LV_apex moved onto the line through the placed LV_base and LV_center, at its own distance along
    it from the base, offset from that line as the template's apex is from the template's line (turned by the
    rotation that best maps the template's three LV landmarks onto the placed ones, so that a turned copy of the
    template keeps its apex): a template whose three LV landmarks lie on one line, as the phantoms' do, puts the
    apex on the line. Unchanged without all three labels. The localiser applies it where both ways ran: on the
    validation phantoms 900000-900063 (each from the next three) single placements' apex went from 5.32 to 5.06 mm
    (4.99 to 4.71 after the tilted second try), but the inverse way alone, as three fused templates run it, places
    the base less well (5.9 mm) and the fused apex went from 3.96 to 4.10 mm."""
    placed = np.array(placed, dtype=float)
    template_points = np.asarray(template_points, dtype=float)
    index = {label.lower(): number for number, label in enumerate(labels)}
    if not {LV_APEX, LV_BASE, LV_CENTER} <= set(index):
        return placed
    apex, base, centre = index[LV_APEX], index[LV_BASE], index[LV_CENTER]
    axis, template_axis = placed[centre] - placed[base], template_points[centre] - template_points[base]
    if min(np.linalg.norm(axis), np.linalg.norm(template_axis)) < 1e-6:
        return placed
    axis, template_axis = axis / np.linalg.norm(axis), template_axis / np.linalg.norm(template_axis)
    template_apex = template_points[apex] - template_points[base]
    template_offset = template_apex - (template_apex @ template_axis) * template_axis
    offset = best_rotation(template_points[[base, centre, apex]], placed[[base, centre, apex]]) @ template_offset
    offset -= (offset @ axis) * axis  # across the placed axis, as long as the template's
    if np.linalg.norm(offset) > 1e-9:
        offset *= np.linalg.norm(template_offset) / np.linalg.norm(offset)
    along = (placed[apex] - placed[base]) @ axis
    placed[apex] = placed[base] + along * axis + offset
    return placed

