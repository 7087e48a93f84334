"""One-shot landmarks in stages, each with its own confidence: find the LV (heart_search), estimate its frame
(lv_frame: from the counts, or from a myocardium segmentation when one is given), then place the landmarks.

With a template, the template rules: every landmark of the template, its LV landmarks (LV_center, LV_apex,
LV_base) included, is carried over in the LV frame (carry): written in the template's frame (found in the template
the same way as in the new study: from its counts, or from its myocardium segmentation when one is given), turned
about the axis to where the two studies' counts around the LV agree (carry.roll_offset) and read back in the new
study's frame. Where the template's annotator puts the apex, the base or the centre relative to their LV is where
they land on the new LV. The built-in definitions (`vocabulary.LANDMARKS`, `cardiac_landmarks.lv_geometry`) place
the LV landmarks only when no template is given (`localize` without `--template`), and warn when a template's LV
landmark lies far from its definition on the template's own LV. The long axis (long_axis) runs from the placed
LV_base to the placed LV_apex.

The LV frame from a segmentation uses only its LV-shaped piece (lv_frame.lv_shaped_wall), and is checked against
the frame found in the counts: farther than `FRAME_AGREEMENT_MM` or `FRAME_AGREEMENT_DEG` apart, it is not used
and the user is told in one line (`LVFrame.note`, `Placement.warnings`); `Placement.frame.source` says which frame
was used.

Confidence of a landmark placed from a template: from evidence about that point (landmarks.confidence): how far its
independent estimates (carried, after the local alignment, before PRNet) lie from it, how far from the LV's axis it
lies, whether a frame comes from the counts; below `fusion.LOW_CONFIDENCE` it is shown to the user as "check this
landmark". Without a template, the LV frame's own (the heart search's margin times the fraction of rays meeting a wall
that fits the LV's ellipsoid).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Optional, Sequence

import numpy as np

from ..errors import InputError
from ..io.markups_io import Landmark
from ..io.volume_io import require_counts
from ..runtime.memory_guard import LOCALIZE_BYTES_PER_VOXEL, require_memory
from ..runtime.progress import CancelToken, ProgressCallback, report
from ..volume import Volume
from .carry import carry_landmarks, convention_warnings, roll_offset, roll_profile, to_frame
from .confidence import PointEvidence, gather_evidence, point_confidence
from .fusion import fuse_landmarks, landmark_description
from .heart_search import find_lv_candidates, smoothed_counts
from .local_alignment import MAX_CORRECTION_MM, frame_map, refine_map
from .long_axis import LongAxis, angle_between_deg
from .lv_frame import LVFrame, frame_from_counts, frame_from_segmentation
from .prnet.refine import FramePair, map_turn
from .template_segmentation import OneShotWall, shell_coverage

if TYPE_CHECKING:
    from .prnet.refine import PRNetRefiner

log = logging.getLogger(__name__)
CANDIDATES = 3
MODEL_ID = "staged LV frame"
# A segmentation's LV frame farther than this from the counts' one (centre mm, axis degrees) is not used: the
# counts' frame and a classification of the same LV agree within about 15 mm and 10 degrees on the real studies.
FRAME_AGREEMENT_MM = 25.0
FRAME_AGREEMENT_DEG = 35.0


@dataclass(frozen=True)
class Placement:
    """The landmarks placed in a study, its LV long axis, the LV frame found and warnings for the user."""

    landmarks: list[Landmark]
    long_axis: Optional[LongAxis]
    frame: LVFrame
    warnings: list[str] = field(default_factory=list)
    evidence: Optional[PointEvidence] = None  # what each landmark's confidence came from (one template)


def find_lv_frame(volume: Volume, myocardium: Optional[Volume] = None, label: Optional[int] = None,
                  counts: Optional[np.ndarray] = None, wall_name: str = "the myocardium given",
                  advice: str = ": check the classification") -> LVFrame:
    """The LV frame of a study: from the LV-shaped piece of `myocardium` (a segmentation on any grid; nonzero voxels
    or `label`) when given and it agrees with the counts' frame, else from the counts (the best of heart_search's
    candidates around which lv_frame finds an LV-shaped wall; its confidence includes the search's margin over the
    runner-up). `LVFrame.note` tells the user when a segmentation given was not used, and why; it names the wall
    `wall_name` and ends with `advice`."""
    counts = smoothed_counts(volume) if counts is None else counts
    try:
        from_counts: Optional[LVFrame] = frame_in_counts(volume, counts)
        counts_error = ""
    except InputError as error:
        from_counts, counts_error = None, str(error)
    if myocardium is None:
        if from_counts is None:
            raise InputError(counts_error)
        return from_counts
    try:
        from_wall = frame_from_segmentation(myocardium, label)
    except InputError as error:
        if from_counts is None:
            raise InputError(f"{error}; and {counts_error}") from None
        return replace(from_counts, note=f"{wall_name} was not used for the LV frame ({error}); the frame comes "
                                         f"from the counts{advice}")
    if from_counts is None:
        return from_wall
    distance = float(np.linalg.norm(from_wall.geometry.center - from_counts.geometry.center))
    angle = angle_between_deg(from_wall.geometry.axis, from_counts.geometry.axis)
    if distance > FRAME_AGREEMENT_MM or angle > FRAME_AGREEMENT_DEG:
        return replace(from_counts, note=f"{wall_name} makes an LV frame {distance:.0f} mm and {angle:.0f} deg "
                                         f"from the LV in the counts; not used, the frame comes from the counts"
                                         f"{advice}")
    return from_wall


def frame_in_counts(volume: Volume, counts: np.ndarray) -> LVFrame:
    """The LV frame from the study's smoothed counts: the first heart_search candidate around which lv_frame finds
    an LV-shaped wall, its confidence times the search's margin. Raises InputError when none has one."""
    candidates = find_lv_candidates(volume, counts, CANDIDATES)
    for number, candidate in enumerate(candidates):
        try:
            frame = frame_from_counts(volume, counts, candidate)
        except InputError as error:
            log.debug("LV candidate %d (score %.3f) rejected: %s", number + 1, candidate.score, error)
            continue
        others = [c.score for c in candidates if c is not candidate]
        margin = 1.0 - max(others) / candidate.score if others and candidate.score > 0 else 1.0
        return replace(frame, confidence=float(np.clip(margin, 0, 1)) * frame.confidence)
    raise InputError("no left ventricle found in the volume: no place holds a hot cup-shaped wall around a colder "
                     "cavity")


def frame_description(frame: LVFrame) -> str:
    """Which LV frame was used, in words for the status line."""
    if frame.source == "one-shot":
        return "the study's wall classified from the template's myocardium"
    return "the classified myocardium" if frame.source == "segmentation" else "the counts"


def long_axis_of(landmarks: Sequence[Landmark], frame: LVFrame, confidence: Optional[float]) -> LongAxis:
    """The long axis from the placed LV_base to LV_apex when both are placed, else the frame's own."""
    by_label = {lm.label: lm.position_lps for lm in landmarks}
    if "LV_base" in by_label and "LV_apex" in by_label:
        return LongAxis(tuple(by_label["LV_base"]), tuple(by_label["LV_apex"]), confidence)
    return LongAxis(tuple(map(float, frame.geometry.base)), tuple(map(float, frame.geometry.apex)), confidence)


def place_landmarks(volume: Volume, template_volume: Volume, template_landmarks: Sequence[Landmark],
                    myocardium: Optional[Volume] = None, template_myocardium: Optional[Volume] = None,
                    target_frame: Optional[LVFrame] = None, counts: Optional[np.ndarray] = None,
                    align: bool = True, refiner: Optional[PRNetRefiner] = None,
                    counts_estimate: Optional[np.ndarray] = None, uncovered: float = 0.0) -> Placement:
    """Every template landmark carried into `volume` through the two LV frames (turned about the axis to where the
    counts agree); with `align`, the frame map refined on the counts around the LV (local_alignment), applied when
    a frame comes from the counts (two frames from myocardia are the walls' own and stay); with `refiner`, each
    point moved by PRNet's feature search (prnet.refine). Confidence per point from its evidence (landmarks.
    confidence, kept in `Placement.evidence`); `counts_estimate`: the points as placed from the two studies'
    counts' frames, one more estimate for that confidence (for a frame from a one-shot wall, whose errors the
    counts' frames do not share); `uncovered`: for a one-shot frame, the share of the counts' myocardium its wall
    leaves out (template_segmentation.shell_coverage), one more piece of that evidence. With the long axis and
    warnings. `counts`: the target's smoothed counts when already known."""
    counts = smoothed_counts(volume) if counts is None else counts
    target = target_frame or find_lv_frame(volume, myocardium, counts=counts)
    template_counts = smoothed_counts(template_volume)
    template = find_lv_frame(template_volume, template_myocardium, counts=template_counts)
    warnings = convention_warnings(template, template_landmarks)
    if template.note:
        warnings.append(f"template: {template.note}")
    roll, _ = roll_offset(roll_profile(template_volume, template_counts, template),
                          roll_profile(volume, counts, target))
    template_points = np.array([lm.position_lps for lm in template_landmarks], dtype=float)
    positions = np.asarray(carry_landmarks(template, target, template_landmarks, roll))
    estimates = [positions]  # independent estimates of each point, for its confidence (landmarks.confidence)
    correct: Optional[Callable[[np.ndarray], np.ndarray]] = None  # the alignment's correction of the frame map
    if align and "counts" in (template.source, target.source):  # two myocardia: their frames are the walls' own
        initial = frame_map(template, target, roll)
        correct, correlation = refine_map(volume, counts, target, template_volume, template_counts, initial)
        mapped = initial(template_points)
        aligned = correct(mapped)  # the alignment corrects the map it was run on
        # how far the alignment moved each point from where the map it corrected put it, not from the carried
        # position (carry's piecewise axis may put a point up to 20 mm from the affine map's: no correction)
        correction = np.linalg.norm(aligned - mapped, axis=1)
        if correlation > 0:
            estimates.append(aligned)
        positions = np.where((correction <= MAX_CORRECTION_MM)[:, None], aligned, positions)
    if refiner is not None:
        estimates.append(positions)
        # the patches turn as the map that placed the points turned the template (prnet.refine)
        turn = map_turn(frame_map(template, target, roll), template.geometry.center, then=correct)
        positions = refiner.refine(template_volume, template_points, volume, positions,
                                   frames=FramePair(template, target, roll), turn=turn).points
    if counts_estimate is not None:
        estimates.append(np.asarray(counts_estimate, dtype=float))
    evidence = gather_evidence(positions, estimates, to_frame(template, template_points)[:, :2],
                               "counts" in (template.source, target.source) or counts_estimate is not None,
                               uncovered)
    confidences = point_confidence(evidence)
    landmarks = [Landmark(landmark.label, tuple(float(v) for v in position), float(confidence),
                          landmark_description(float(confidence)))
                 for landmark, position, confidence in zip(template_landmarks, positions, confidences)]
    return Placement(landmarks, long_axis_of(landmarks, target, axis_confidence(landmarks)), target, warnings,
                     evidence)


def axis_confidence(landmarks: Sequence[Landmark]) -> Optional[float]:
    """The long axis's confidence: the least of its ends' (LV_apex, LV_base; of every landmark when it has
    neither), None when none has one."""
    ends = [lm for lm in landmarks if lm.label in ("LV_apex", "LV_base")] or list(landmarks)
    confidences = [lm.confidence for lm in ends if lm.confidence is not None]
    return min(confidences) if confidences else None


def defined_landmarks(frame: LVFrame) -> list[Landmark]:
    """LV_center, LV_apex and LV_base by their definitions (vocabulary.LANDMARKS) on the LV of `frame`: the
    template-free placement."""
    return [Landmark(lm.label, lm.position_lps, frame.confidence, landmark_description(frame.confidence,
                                                                                      "by its definition"))
            for lm in frame.geometry.landmarks()]


class Localizer:
    """Places a template's landmarks in new volumes in the LV's own frame (the staged localiser), then, with
    `prnet` (off by default: it lowers the mean error only on phantoms, docs/prnet.md), moves each point placed from
    a counts frame by PRNet's feature search on short-axis slices of each study's LV frame, the target's patches
    turned by the map that placed the points (prnet/refine.py; points between two walls stay), with the registry's
    default PRNet, or `prnet_model`: a registered id or a weights file, loaded at the first placement with a
    template."""

    def __init__(self, prnet: bool = False, prnet_model: Optional[str] = None, one_shot: bool = False) -> None:
        """`one_shot`: where a template has a myocardium and the study none, the study's LV frame comes from its
        wall classified from the template's (template_segmentation.OneShotWall), checked against the counts'."""
        self.prnet = prnet
        self.prnet_model = prnet_model
        self.one_shot = one_shot
        self._one_shot_wall: Optional[OneShotWall] = None
        self._refiner: Optional[PRNetRefiner] = None
        self.model_id = MODEL_ID + (" + PRNet search" if prnet else "")
        self.last_placement: Optional[Placement] = None

    def refiner(self) -> Optional[PRNetRefiner]:
        """The PRNet stage (loaded once, weights checked), or None without `prnet`."""
        if self.prnet and self._refiner is None:
            from .prnet.refine import PRNetRefiner

            self._refiner = PRNetRefiner(self.prnet_model)
            self.model_id = f"{MODEL_ID} + PRNet search ({self._refiner.model_id})"
        return self._refiner

    def one_shot_frame(self, volume: Volume, counts: np.ndarray, from_counts: LVFrame, template_volume: Volume,
                       template_myocardium: Volume) -> tuple[LVFrame, float]:
        """The study's LV frame from its wall classified in one shot from the template's myocardium, or
        `from_counts` (with a note why) when that wall is no LV or disagrees with the counts' frame; and the share
        of the counts' myocardium that wall leaves out (template_segmentation.shell_coverage; 0 without one)."""
        try:
            template_frame = frame_from_segmentation(template_myocardium)
        except InputError:  # the template's own myocardium is no LV wall: it cannot teach one (it is warned about)
            return from_counts, 0.0
        if self._one_shot_wall is None:
            self._one_shot_wall = OneShotWall()
        wall = self._one_shot_wall.wall(template_volume, template_myocardium, volume, from_counts, counts,
                                        template_frame)
        if not wall.array.any():
            return replace(from_counts, note="no wall of the study was classified from the template's myocardium; "
                                             "the frame comes from the counts"), 0.0
        uncovered = 1.0 - shell_coverage(wall.array != 0, volume, from_counts)
        frame = find_lv_frame(volume, wall, counts=counts, advice="",
                              wall_name="the study's wall classified from the template's myocardium")
        # an accepted wall's own note is about pieces of a segmentation the user never gave
        if frame.source != "segmentation":
            return frame, 0.0
        return replace(frame, source="one-shot", note=""), uncovered

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
        geometric median (landmarks.fusion). The placement with the long axis stays in `last_placement`."""
        return self.place(volume, templates, progress, cancel, myocardium).landmarks

    def place(self, volume: Volume, templates: Sequence[tuple[Volume, Sequence[Landmark]]],
              progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None,
              myocardium: Optional[Volume] = None,
              template_myocardia: Optional[Sequence[Optional[Volume]]] = None) -> Placement:
        """`localize_from_templates` with the long axis, the LV frame and the warnings (a `Placement`). Without
        templates, LV_center, LV_apex and LV_base by their definitions on the LV found (`defined_landmarks`).
        `template_myocardia`: each template's myocardium segmentation (or None), for its LV frame."""
        for template_volume, template_landmarks in templates:
            check_template(template_volume, template_landmarks)
        walls = list(template_myocardia) if template_myocardia is not None else [None] * len(templates)
        if len(walls) != len(templates):
            raise InputError(f"{len(walls)} template myocardia for {len(templates)} templates")
        require_counts(volume, "the volume")
        require_memory(volume.array.shape, LOCALIZE_BYTES_PER_VOXEL * (1 + len(templates)), "placing landmarks")
        report(progress, 0.0, "finding the left ventricle", cancel)
        counts = smoothed_counts(volume)
        target = find_lv_frame(volume, myocardium, counts=counts)
        unused = [target.note] if target.note and myocardium is not None and target.source != "segmentation" else []
        if not templates:
            landmarks = defined_landmarks(target)
            placement = Placement(landmarks, long_axis_of(landmarks, target, target.confidence), target, unused)
            report(progress, 1.0, "landmarks placed", cancel)
            self.last_placement = placement
            return placement
        refiner = self.refiner()
        placements = []
        for number, ((template_volume, template_landmarks), wall) in enumerate(zip(templates, walls), start=1):
            report(progress, number / (len(templates) + 1), f"carrying template {number} of {len(templates)}",
                   cancel)
            frame, from_counts, uncovered = target, None, 0.0
            if self.one_shot and myocardium is None and wall is not None:
                frame, uncovered = self.one_shot_frame(volume, counts, target, template_volume, wall)
            if frame.source == "one-shot":  # the counts' placement: a second opinion for each point's confidence
                from_counts = np.array([lm.position_lps for lm in place_landmarks(
                    volume, template_volume, template_landmarks, target_frame=target, counts=counts).landmarks])
            placement = place_landmarks(volume, template_volume, template_landmarks, target_frame=frame,
                                        template_myocardium=wall, counts=counts, refiner=refiner,
                                        counts_estimate=from_counts, uncovered=uncovered)
            told = [frame.note] if frame is not target and frame.note else []  # why the one-shot frame was not used
            placements.append(replace(placement, warnings=told + placement.warnings))
        if len(placements) == 1:
            only = placements[0]
            placement = Placement(only.landmarks, only.long_axis, only.frame, unused + only.warnings, only.evidence)
        else:
            fused = [_at_most(landmark, placements) for landmark in fuse_landmarks([p.landmarks for p in placements])]
            warnings = unused + [w for p in placements for w in p.warnings]
            placement = Placement(fused, long_axis_of(fused, target, axis_confidence(fused)), target, warnings)
        report(progress, 1.0, "landmarks placed", cancel)
        self.last_placement = placement
        return placement


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
