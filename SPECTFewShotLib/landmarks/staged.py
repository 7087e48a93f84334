"""One-shot LV landmarks in stages, each with its own confidence: find the LV (heart_search), estimate its frame
(lv_frame: from the counts, or from a myocardium segmentation when one is given), then place the landmarks.

The LV's own landmarks (LV_center, LV_apex, LV_base: vocabulary.LV_LANDMARK_NAMES) are defined on the myocardium,
so they come from the new study's own frame (`cardiac_landmarks.lv_geometry`, the same definitions that derive
them from a drawn mask), not from the template's anatomy. Every other landmark of the template (RV insertion
points, or any named point) is carried over in the LV frame (carry): written in the template's frame (built from
the template's own LV landmarks when it has all three, else found from its counts) and read back in the new
study's. The template's LV landmarks are checked against its own LV and a warning names those that do not follow
their definitions. The long axis (long_axis) runs from the placed LV_base to the placed LV_apex.

Confidence of a placed landmark: the heart search's margin (how much less LV-like the runner-up place is, 0 when
they tie) times the fraction of rays from the cavity that meet a wall fitting the LV's ellipsoid; for a carried
landmark, times the template frame's confidence too. `prnet.fusion.LOW_CONFIDENCE` and below is shown to the user
as "check this landmark".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..cardiac_landmarks import LVGeometry
from ..errors import InputError
from ..io.markups_io import Landmark
from ..io.volume_io import require_counts
from ..memory_guard import LOCALIZE_BYTES_PER_VOXEL, require_memory
from ..progress import CancelToken, ProgressCallback, report
from ..vocabulary import LV_LANDMARK_NAMES
from ..volume import Volume
from .carry import carry_landmarks, convention_warnings
from .fusion import fuse_landmarks, landmark_description
from .heart_search import find_lv_candidates, smoothed_counts
from .long_axis import LongAxis
from .lv_frame import LV_WALL_ML, LVFrame, frame_from_counts, frame_from_segmentation, is_lv_sized, wall_volume_ml

log = logging.getLogger(__name__)
CANDIDATES = 3
MODEL_ID = "staged LV frame"


@dataclass(frozen=True)
class Placement:
    """The landmarks placed in a study, its LV long axis, the LV frame found and warnings for the user."""

    landmarks: list[Landmark]
    long_axis: Optional[LongAxis]
    frame: LVFrame
    warnings: list[str] = field(default_factory=list)


def find_lv_frame(volume: Volume, myocardium: Optional[Volume] = None, label: Optional[int] = None) -> LVFrame:
    """The LV frame of a study: from `myocardium` (a segmentation on any grid; nonzero voxels or `label`) when given
    and LV-sized, else from its counts: the best of heart_search's candidates around which lv_frame finds an
    LV-shaped wall. The frame's confidence includes the search's margin over the runner-up."""
    if myocardium is not None:
        if is_lv_sized(wall_volume_ml(myocardium, label)):
            return frame_from_segmentation(myocardium, label)
        log.info("the myocardium given is not LV-sized; the LV frame comes from the counts")
    counts = smoothed_counts(volume)
    candidates = find_lv_candidates(volume, counts, CANDIDATES)
    for number, candidate in enumerate(candidates):
        try:
            frame = frame_from_counts(volume, counts, candidate)
        except InputError as error:
            log.debug("LV candidate %d (score %.3f) rejected: %s", number + 1, candidate.score, error)
            continue
        others = [c.score for c in candidates if c is not candidate]
        margin = 1.0 - max(others) / candidate.score if others and candidate.score > 0 else 1.0
        return LVFrame(frame.geometry, frame.radius_mm, float(np.clip(margin, 0, 1)) * frame.confidence,
                       frame.source, frame.wall_points)
    raise InputError("no left ventricle found in the volume: no place holds a hot cup-shaped wall around a colder "
                     "cavity")


def long_axis_of(landmarks: Sequence[Landmark], frame: LVFrame, confidence: Optional[float]) -> LongAxis:
    """The long axis from the placed LV_base to LV_apex when both are placed, else the frame's own."""
    by_label = {lm.label: lm.position_lps for lm in landmarks}
    if "LV_base" in by_label and "LV_apex" in by_label:
        return LongAxis(tuple(by_label["LV_base"]), tuple(by_label["LV_apex"]), confidence)
    return LongAxis(tuple(map(float, frame.geometry.base)), tuple(map(float, frame.geometry.apex)), confidence)


def place_landmarks(volume: Volume, template_volume: Volume, template_landmarks: Sequence[Landmark],
                    myocardium: Optional[Volume] = None, template_myocardium: Optional[Volume] = None,
                    target_frame: Optional[LVFrame] = None) -> Placement:
    """The template's landmarks placed in `volume` through the two LV frames, with the long axis and warnings."""
    target = target_frame or find_lv_frame(volume, myocardium)
    template = find_lv_frame(template_volume, template_myocardium)
    warnings = convention_warnings(template, template_landmarks)
    own = {"LV_center": target.geometry.center, "LV_apex": target.geometry.apex, "LV_base": target.geometry.base}
    carried = [lm for lm in template_landmarks if lm.label not in own]
    source = frame_from_landmarks(template_landmarks, template) if carried else template
    positions = dict(zip([lm.label for lm in carried], carry_landmarks(source, target, carried)))
    landmarks = []
    for landmark in template_landmarks:
        confidence = float(target.confidence * (1.0 if landmark.label in own else source.confidence))
        position = own[landmark.label] if landmark.label in own else positions[landmark.label]
        landmarks.append(Landmark(landmark.label, tuple(float(v) for v in position), confidence,
                                  landmark_description(confidence)))
    return Placement(landmarks, long_axis_of(landmarks, target, target.confidence), target, warnings)


def frame_from_landmarks(landmarks: Sequence[Landmark], counts_frame: LVFrame) -> LVFrame:
    """The template's frame from its own LV_center, LV_apex and LV_base when it has all three (they say where its
    annotator put them), with the LV radius from its counts; else `counts_frame`."""
    by_label = {lm.label: np.asarray(lm.position_lps, dtype=float) for lm in landmarks}
    if not all(label in by_label for label in LV_LANDMARK_NAMES):
        return counts_frame
    apex, base = by_label["LV_apex"], by_label["LV_base"]
    if np.linalg.norm(base - apex) == 0:
        return counts_frame
    axis = (base - apex) / np.linalg.norm(base - apex)
    geometry = LVGeometry(by_label["LV_center"], apex, base, axis)
    return LVFrame(geometry, counts_frame.radius_mm, 1.0, "template landmarks", counts_frame.wall_points)


class Localizer:
    """Places a template's landmarks in new volumes in the LV's own frame (the staged localiser); the stages use
    the study's counts (or its myocardium) only and load no network."""

    def __init__(self) -> None:
        self.model_id = MODEL_ID
        self.last_placement: Optional[Placement] = None

    def localize(self, volume: Volume, template_volume: Volume, template_landmarks: Sequence[Landmark],
                 progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None,
                 myocardium: Optional[Volume] = None) -> list[Landmark]:
        """The template's landmarks placed in `volume` (LPS mm), same labels, confidence in [0, 1] per point."""
        return self.localize_from_templates(volume, [(template_volume, template_landmarks)], progress, cancel,
                                            myocardium)

    def localize_from_templates(self, volume: Volume, templates: Sequence[tuple[Volume, Sequence[Landmark]]],
                                progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None,
                                myocardium: Optional[Volume] = None) -> list[Landmark]:
        """The landmarks of one or several templates placed in `volume`; several are combined per label by the
        geometric median (prnet.fusion). The placement with the long axis stays in `last_placement`."""
        return self.place(volume, templates, progress, cancel, myocardium).landmarks

    def place(self, volume: Volume, templates: Sequence[tuple[Volume, Sequence[Landmark]]],
              progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None,
              myocardium: Optional[Volume] = None) -> Placement:
        """`localize_from_templates` with the long axis, the LV frame and the warnings (a `Placement`)."""
        if not templates:
            raise InputError("give at least one template")
        for template_volume, template_landmarks in templates:
            check_template(template_volume, template_landmarks)
        require_counts(volume, "the volume")
        require_memory(volume.array.shape, LOCALIZE_BYTES_PER_VOXEL * (1 + len(templates)), "placing landmarks")
        report(progress, 0.0, "finding the left ventricle", cancel)
        target = find_lv_frame(volume, myocardium)
        unused = myocardium_warning(myocardium) if myocardium is not None and target.source != "segmentation" else []
        placements = []
        for number, (template_volume, template_landmarks) in enumerate(templates, start=1):
            report(progress, number / (len(templates) + 1), f"carrying template {number} of {len(templates)}",
                   cancel)
            placements.append(place_landmarks(volume, template_volume, template_landmarks, target_frame=target))
        if len(placements) == 1:
            only = placements[0]
            placement = Placement(only.landmarks, only.long_axis, only.frame, unused + only.warnings)
        else:
            fused = [_at_most(landmark, placements) for landmark in fuse_landmarks([p.landmarks for p in placements])]
            warnings = unused + [w for p in placements for w in p.warnings]
            confidences = [lm.confidence for lm in fused if lm.confidence is not None]
            axis_confidence = min(confidences) if confidences else None
            placement = Placement(fused, long_axis_of(fused, target, axis_confidence), target, warnings)
        report(progress, 1.0, "landmarks placed", cancel)
        self.last_placement = placement
        return placement


def myocardium_warning(myocardium: Volume) -> list[str]:
    """Why a myocardium given for the LV frame was not used, for the user."""
    low, high = LV_WALL_ML
    return [f"the myocardium given ({wall_volume_ml(myocardium):.0f} mL) is not LV-sized ({low:.0f}-{high:.0f} mL); "
            "the LV frame comes from the counts: check the classification"]


def _at_most(landmark: Landmark, placements: Sequence[Placement]) -> Landmark:
    """A fused landmark whose confidence is at most its placements' own (the templates agreeing on a landmark
    found in an uncertain LV frame leave it uncertain)."""
    own = [lm.confidence for p in placements for lm in p.landmarks if lm.label == landmark.label
           and lm.confidence is not None]
    if landmark.confidence is None or not own:
        return landmark
    confidence = min(landmark.confidence, *own)
    return Landmark(landmark.label, landmark.position_lps, confidence,
                    landmark_description(confidence, f"median of {len(placements)} templates"))


def check_template(template_volume: Volume, template_landmarks: Sequence[Landmark]) -> None:
    """Refuse a template without landmarks, without counts, or with a landmark outside its volume."""
    if not template_landmarks:
        raise InputError("the template has no landmarks")
    require_counts(template_volume, "the template volume")
    for landmark in template_landmarks:
        if not template_volume.contains_lps(landmark.position_lps):
            x, y, z = landmark.position_lps
            raise InputError(f"template landmark '{landmark.label}' at ({x:.1f}, {y:.1f}, {z:.1f}) mm LPS lies "
                             "outside the template volume")
