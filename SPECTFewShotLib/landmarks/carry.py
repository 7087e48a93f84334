"""Stage 3: carry a template's landmarks over in the LV's own frame.

A landmark's frame coordinates say where on the LV it lies: along the long axis piecewise between anatomical knots
that both studies' walls define (the base, the centre, where the cavity ends on the axis, the epicardial apex:
a point inside the apical wall keeps its fraction of that wall's thickness, one in the cavity its fraction of the
way from the centre to the cavity's end), across it as multiples of the LV's radius, from the LV's centreline.
The rotation about the axis starts from the patient's anterior direction (superior when the axis runs
anterior-posterior) and is then turned
to where the two studies' counts around the LV agree best (`roll_offset`: within `ROLL_SEARCH_DEG`, or anywhere
when they agree as a turned copy of the same study does): the anterior direction alone is not carried along when
a study is rotated, the counts are. The template's landmarks (its LV landmarks included) are written in the
template's frame and read back in the new study's frame, both frames found the same way (lv_frame), so where a
template places a landmark on its LV (its annotator's convention included) is where it lands on the new LV.
Two refinements follow what annotators define relative to what (`carry_landmarks`), when the template's frame
comes from its myocardium: near the base a point is carried relative to both of its level's centres, the basal
ring's and the long axis's (annotators put the base at either), and a template's LV_center that is not its wall's
centroid is carried half as its own apex-to-base fraction (a midpoint convention), half as the centroid's frame
coordinates.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from ..cardiac_landmarks import APEX_RADIUS_MM
from ..io.markups_io import Landmark
from ..volume import Volume
from .heart_search import sample
from .lv_frame import LVFrame

log = logging.getLogger(__name__)

ANTERIOR_LPS = np.array([0.0, -1.0, 0.0])
SUPERIOR_LPS = np.array([0.0, 0.0, 1.0])
CONVENTION_TOLERANCE = 0.35  # of the LV's length: a template LV landmark farther from its definition is warned about
# The counts around the LV, sampled in the frame for the roll search: rows from apex to base (fractions of the
# length), radii in LV radii (the wall, the RV and what lies beyond), angles every ROLL_STEP_DEG.
ROLL_ROWS = np.linspace(0.1, 1.0, 10)
ROLL_RADII = np.linspace(0.4, 2.2, 10)
ROLL_STEP_DEG = 2.0
ROLL_SEARCH_DEG = 20.0  # the counts may turn the anterior-based roll this far (45: phantoms RV points 5 mm worse)
# Beyond that window, a roll is taken only where the counts around the LV agree at least this well: the same
# anatomy turned (a study and a rotated copy: 0.94-1.00), not another patient's (0.64 real, at most 0.93 on
# phantoms), whose best roll away from the anatomical prior put RV insertion points 5-30 mm worse.
SAME_ANATOMY_CORRELATION = 0.95
# The along-axis coordinate's knot where the cavity ends on the axis (the endocardial apex, `endocardial_apex_mm`):
# the wall points within AXIS_WALL_MM of the axis (under a 4 mm voxel: the wall the axis line itself crosses), the
# knot's coordinate between the centre's 0 and the apex's 1, and its range as a fraction of the centre-to-apex
# distance (a wall point near the centre in the cavity would squeeze the cavity's coordinates to nothing).
AXIS_WALL_MM = 3.0
ENDOCARDIAL_ALONG = 0.5
ENDOCARDIAL_RANGE = (0.1, 0.95)
# The basal ring's centre and the long axis cross the base plane apart (4.4, 6.5 mm on the real masks); a template whose
# two are closer than this (a voxel) cannot show which of them its points follow, and keeps the ring-centred carry.
BASE_REFERENCE_MM = 4.0
# A template LV_center farther than CENTRE_BLEND_MM (a voxel) from its wall's centroid is no centroid: it is placed
# `centre_rule_weight` of the way from its frame-coordinate carry to where its own apex-to-base fraction and offset
# put it between the placed LV_apex and LV_base (linearly within CENTRE_BLEND_MM). Each estimate fails where the other
# holds (real pairs of very different LVs, 'endocardial' worst: frame 12.3 mm, fraction 2.2; held-out phantoms of
# one shape, 'extremal' and 'endocardial' means: frame 1.0 and 2.0 mm, fraction 1.8 and 2.3): their mean, 6.3 mm
# and 1.2 and 1.7 mm (docs/evaluation/landmarks/localize_frame_classification.txt).
CENTRE_BLEND_MM = 4.0
CENTRE_RULE_WEIGHT = 0.5
# When the study's frame comes from its own wall (source "segmentation": its apex and base placed on that wall, the
# steady axis fit reproducible within 2 degrees), the two estimates' distance d tells which one holds: the centre goes
# d^2 / (d^2 + CENTRE_AGREEMENT_MM^2) of the way to the ends' estimate (LVs of one shape agree within a voxel, the
# frame's carry counts; LVs of different proportions lie apart, the ends' counts). Chosen on training-range
# validation phantoms (s = 4 mm, the best of 4 and 8, docs/evaluation/landmarks/localize_centre_rule.txt). A wall
# classified from the template's (one-shot) or the counts' places its ends with the wall's own errors (its axis
# 10-20 degrees off on the real pairs), so there d measures those errors and the fixed half weight stays.
CENTRE_AGREEMENT_MM = 4.0


def frame_axes(frame: LVFrame, roll_deg: float = 0.0) -> np.ndarray:
    """Columns: the two across-axis directions (anterior-most first, turned by `roll_deg` about the axis) and the
    long axis from base to apex."""
    toward_apex = -frame.geometry.axis
    reference = ANTERIOR_LPS if abs(toward_apex @ ANTERIOR_LPS) < 0.9 else SUPERIOR_LPS
    first = reference - (reference @ toward_apex) * toward_apex
    first /= np.linalg.norm(first)
    second = np.cross(toward_apex, first)
    angle = np.radians(roll_deg)
    turned = np.cos(angle) * first + np.sin(angle) * second
    return np.stack([turned, np.cross(toward_apex, turned), toward_apex], axis=1)


def to_frame(frame: LVFrame, points_lps: np.ndarray, roll_deg: float = 0.0) -> np.ndarray:
    """LPS points (n, 3) as frame coordinates: across the axis (two, in LV radii) from the LV's centreline (the
    polyline from the base through the centre to the apex) and along it (`along_knots`: 0 at the centre,
    `ENDOCARDIAL_ALONG` where the cavity ends on the axis, 1 at the apex, -1 at the base, linear between them and
    beyond the ends at the centre-to-end scale), so that the frame's own centre, endocardial apex, apex and base
    have the same coordinates in every study."""
    along, centreline = _along(frame, np.asarray(points_lps, dtype=float).reshape(-1, 3))
    across = (np.asarray(points_lps, dtype=float).reshape(-1, 3) - centreline) @ frame_axes(frame, roll_deg)[:, :2]
    return np.column_stack([across / frame.radius_mm, along])


def from_frame(frame: LVFrame, coordinates: np.ndarray, roll_deg: float = 0.0) -> np.ndarray:
    """Frame coordinates (n, 3) back to LPS points."""
    coordinates = np.asarray(coordinates, dtype=float).reshape(-1, 3)
    return _centreline(frame, coordinates[:, 2]) + (coordinates[:, :2] * frame.radius_mm) @ \
        frame_axes(frame, roll_deg)[:, :2].T


def endocardial_apex_mm(frame: LVFrame) -> float:
    """Where the cavity ends on the long axis, in mm from the LV centre towards the apex: the frame's wall point
    within `AXIS_WALL_MM` of the axis (within `cardiac_landmarks.APEX_RADIUS_MM` when none is) on the apex side
    nearest the centre, kept between `ENDOCARDIAL_RANGE` of the centre-to-apex distance (the epicardial apex's
    fraction when the wall has no point near the axis on that side)."""
    geometry = frame.geometry
    toward_apex = -geometry.axis
    apex_t = max(float((geometry.apex - geometry.center) @ toward_apex), 1e-9)
    relative = frame.wall_points - geometry.center
    t = relative @ toward_apex
    radial = np.linalg.norm(relative - t[:, None] * toward_apex, axis=1)
    for radius in (AXIS_WALL_MM, APEX_RADIUS_MM):
        apical = (radial <= radius) & (t > 0)
        if apical.any():
            low, high = ENDOCARDIAL_RANGE
            return float(np.clip(t[apical].min(), low * apex_t, high * apex_t))
    return ENDOCARDIAL_ALONG * apex_t


def along_knots(frame: LVFrame) -> tuple[np.ndarray, np.ndarray]:
    """The along-axis coordinate's knots: positions along the axis (mm from the centre towards the apex: base,
    centre, endocardial apex, apex) and their coordinates (-1, 0, `ENDOCARDIAL_ALONG`, 1). Both studies' walls
    define every knot the same way, so a point inside the apical wall is carried as its fraction of that wall's
    thickness and a point in the cavity as its fraction of the way from the centre to where the cavity ends."""
    geometry = frame.geometry
    toward_apex = -geometry.axis
    base_t = min(float((geometry.base - geometry.center) @ toward_apex), -1e-9)
    apex_t = max(float((geometry.apex - geometry.center) @ toward_apex), 1e-9)
    return (np.array([base_t, 0.0, endocardial_apex_mm(frame), apex_t]),
            np.array([-1.0, 0.0, ENDOCARDIAL_ALONG, 1.0]))


def _centreline(frame: LVFrame, along: np.ndarray) -> np.ndarray:
    """Points of the LV's centreline at along-axis coordinates (see `to_frame`)."""
    geometry = frame.geometry
    t_knots, along_knots_ = along_knots(frame)
    t = np.interp(along, along_knots_, t_knots)
    t = np.where(along > 1.0, t_knots[-1] * along, np.where(along < -1.0, -t_knots[0] * along, t))
    apex_fraction = t / t_knots[-1]  # the apex side of the centreline is the axis; the base side runs to the base
    base_fraction = t / t_knots[0]
    ends = np.where(along[:, None] >= 0, apex_fraction[:, None] * (geometry.apex - geometry.center),
                    base_fraction[:, None] * (geometry.base - geometry.center))
    return geometry.center + ends


def _along(frame: LVFrame, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The along-axis coordinates of LPS points (see `to_frame`) and their centreline points."""
    geometry = frame.geometry
    t_knots, along_knots_ = along_knots(frame)
    t = (points - geometry.center) @ -geometry.axis
    along = np.interp(t, t_knots, along_knots_)
    along = np.where(t > t_knots[-1], t / t_knots[-1], np.where(t < t_knots[0], -t / t_knots[0], along))
    return along, _centreline(frame, along)


def basal_offset(frame: LVFrame, along: np.ndarray) -> np.ndarray:
    """Per along-axis coordinate (n,), the vector (n, 3) from the frame's centreline to its long axis at that level:
    zero on the apex side, growing linearly from the centre to the base, where it runs from the basal ring's centre
    to the axis (the centreline's base side runs from the centre to the ring's centre, off the axis)."""
    geometry = frame.geometry
    ring = geometry.base - geometry.center
    ring = ring - (ring @ geometry.axis) * geometry.axis  # the ring centre's offset from the axis
    return -np.clip(-np.asarray(along, dtype=float), 0.0, None)[:, None] * ring[None, :]


def base_reference_weights(frame: LVFrame, points_lps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How far each LPS point (n, 3) follows the long axis rather than the centreline at its level (0..1), and its
    along-axis coordinate: its place on the segment from the centreline to the axis (`basal_offset`), clipped to the
    segment, faded out with its distance from the segment (zero at the segment's length) and when the two centres
    lie under `BASE_REFERENCE_MM` apart at the base."""
    along, centreline = _along(frame, points_lps)
    offset = basal_offset(frame, along)
    length = np.linalg.norm(offset, axis=1)
    safe = np.maximum(length, 1e-9)
    across = points_lps - centreline
    place = np.clip(np.sum(across * offset, axis=1) / safe ** 2, 0.0, 1.0)
    distance = np.linalg.norm(across - place[:, None] * offset, axis=1)
    base_length = float(np.linalg.norm(basal_offset(frame, np.array([-1.0]))[0]))
    weight = place * np.clip(1.0 - distance / safe, 0.0, 1.0) * min(1.0, base_length / BASE_REFERENCE_MM)
    return np.where(length > 1e-6, weight, 0.0), along


def carry_landmarks(template_frame: LVFrame, target_frame: LVFrame, landmarks: Sequence[Landmark],
                    roll_deg: float = 0.0) -> list[np.ndarray]:
    """The template's landmark positions carried into the target's LV frame (LPS), in the same order; the target's
    frame turned by `roll_deg` about its axis (`roll_offset`). When the template's frame comes from a myocardium
    (the wall its annotator saw), a point on the base side keeps its place between its level's two centres
    (`base_reference_weights`: the basal ring's centre and where the long axis crosses the base are both carried
    exactly) and a template LV_center that is not its wall's centroid also follows its own apex and base
    (`centre_by_ends`); a frame found in the template's counts has the counts' wall, whose centres are not the
    ones its points were placed by, and carries every point by its frame coordinates alone."""
    if not landmarks:
        return []
    positions = np.array([landmark.position_lps for landmark in landmarks], dtype=float)
    if template_frame.source == "counts":
        return list(from_frame(target_frame, to_frame(template_frame, positions), roll_deg))
    weight, along = base_reference_weights(template_frame, positions)
    toward_axis = weight[:, None] * basal_offset(template_frame, along)
    carried = from_frame(target_frame, to_frame(template_frame, positions - toward_axis), roll_deg) + \
        weight[:, None] * basal_offset(target_frame, along)
    return list(centre_by_ends(template_frame, target_frame, landmarks, carried, roll_deg))


def centre_by_ends(template_frame: LVFrame, target_frame: LVFrame, landmarks: Sequence[Landmark],
                   carried: np.ndarray, roll_deg: float = 0.0) -> np.ndarray:
    """`carried` (n, 3) with the template's LV_center, when farther than `CENTRE_BLEND_MM` from its wall's
    centroid, moved `centre_rule_weight` of the way to where its fraction of the way from its LV_apex to its LV_base
    and its offset across that line (in LV radii) put it between the carried LV_apex and LV_base (unchanged
    without all three)."""
    labels = [landmark.label for landmark in landmarks]
    if not all(label in labels for label in ("LV_center", "LV_apex", "LV_base")):
        return carried
    centre, apex, base = (labels.index(label) for label in ("LV_center", "LV_apex", "LV_base"))
    positions = np.array([landmark.position_lps for landmark in landmarks], dtype=float)
    segment = positions[base] - positions[apex]
    if float(segment @ segment) < 1e-9:
        return carried
    fraction = float((positions[centre] - positions[apex]) @ segment / float(segment @ segment))
    offset = positions[centre] - (positions[apex] + fraction * segment)
    across = offset @ frame_axes(template_frame)[:, :2] / template_frame.radius_mm
    between = carried[apex] + fraction * (carried[base] - carried[apex]) + \
        (across * target_frame.radius_mm) @ frame_axes(target_frame, roll_deg)[:, :2].T
    away = float(np.linalg.norm(positions[centre] - template_frame.geometry.center))
    move = min(1.0, away / CENTRE_BLEND_MM) * (between - carried[centre])
    result = np.array(carried, dtype=float)
    result[centre] = result[centre] + centre_rule_weight(target_frame, float(np.linalg.norm(move))) * move
    return result


def centre_rule_weight(target_frame: LVFrame, apart_mm: float) -> float:
    """How far (0..1) a template LV_center off its wall's centroid goes from its frame-coordinate carry to its ends'
    estimate, `apart_mm` away: by their agreement (`CENTRE_AGREEMENT_MM`) when the study's frame comes from its own
    wall, else `CENTRE_RULE_WEIGHT`."""
    if target_frame.source != "segmentation":
        return CENTRE_RULE_WEIGHT
    return apart_mm ** 2 / (apart_mm ** 2 + CENTRE_AGREEMENT_MM ** 2)


def roll_profile(volume: Volume, counts: np.ndarray, frame: LVFrame) -> np.ndarray:
    """The counts (an array on the volume's grid, e.g. heart_search.smoothed_counts) around the LV in its frame,
    [row, radius, angle]: rows from apex to base, radii in LV radii, angles from the anterior-based direction."""
    geometry = frame.geometry
    axes = frame_axes(frame)
    angles = np.radians(np.arange(0.0, 360.0, ROLL_STEP_DEG))
    across = np.cos(angles)[:, None] * axes[:, 0] + np.sin(angles)[:, None] * axes[:, 1]  # (A, 3)
    rows = geometry.apex[None, :] + ROLL_ROWS[:, None] * (geometry.base - geometry.apex)[None, :]  # (T, 3)
    points = (rows[:, None, None, :] + (ROLL_RADII * frame.radius_mm)[None, :, None, None]
              * across[None, None, :, :])
    return sample(volume, counts, points)


def roll_offset(template_profile: np.ndarray, target_profile: np.ndarray) -> tuple[float, float]:
    """How far (degrees) the target's frame must turn about its axis for its counts around the LV to match the
    template's (`roll_profile`), and the correlation there (-1..1; 0 when either profile is flat): the best turn
    within `ROLL_SEARCH_DEG` of the anatomical (anterior-based) roll, or farther, up to a half turn either way,
    where the counts agree at least `SAME_ANATOMY_CORRELATION` and better than within the window (a study turned
    about its LV's axis, or whose axis crossed from the anterior to the superior reference)."""
    a = template_profile - template_profile.mean()
    b = target_profile - target_profile.mean()
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norm == 0:
        return 0.0, 0.0
    count = a.shape[-1]
    shifts = np.arange(count) - count // 2  # every turn, in steps, from about -180 to +180 degrees
    scores = np.array([float(np.sum(a * np.roll(b, -shift, axis=-1))) / norm for shift in shifts])
    window = np.abs(shifts) * ROLL_STEP_DEG <= ROLL_SEARCH_DEG
    best = int(np.argmax(np.where(window, scores, -np.inf)))
    beyond = int(np.argmax(np.where(window, -np.inf, scores)))
    if scores[beyond] >= SAME_ANATOMY_CORRELATION and scores[beyond] > scores[best]:
        best = beyond
    offset = float(shifts[best])
    left, centre, right = scores[best - 1], scores[best], scores[(best + 1) % count]  # the turn is circular
    at_window_edge = window[best] and not (window[best - 1] and window[(best + 1) % count])
    curvature = left - 2 * centre + right
    if not at_window_edge and curvature < 0:  # parabola through the peak and its neighbours
        offset += 0.5 * (left - right) / curvature
    return offset * ROLL_STEP_DEG, float(scores[best])


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
