"""Landmarks for the demo: place LV centre, apex and base on a study with the staged localiser, and draw them.

The template is the simulated phantom (for a CZT camera, like the bundled study) of a fixed training-range seed
with its LV landmarks annotated in our convention (the definitions applied to its exact LV wall, which is its
myocardium segmentation too). The staged localiser carries every template landmark in the LV frame; with the
study's classified myocardium and the template's wall, the frames are the two walls' own, so the template's
annotation lands where it says on the study's wall (a template annotated in another convention,
`endocardial_convention`, is followed). When the study's LV-wall mask is given, the reference
landmarks derived from it (`cardiac_landmarks`) are written next to the placed ones with the distance between,
and the long axis is written as a line markup.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from SPECTFewShotLib.cardiac_landmarks import LVGeometry
from SPECTFewShotLib.io.markups_io import Landmark, write_landmarks
from SPECTFewShotLib.vocabulary import LV_LANDMARK_NAMES
from SPECTFewShotLib.volume import Volume

DEMO_TEMPLATE_SEED = 0
MARKERS = {"LV_center": "o", "LV_apex": "^", "LV_base": "s"}


@functools.lru_cache(maxsize=2)
def _demo_study(seed: int) -> Any:
    """The phantom study of the template (once per seed and process)."""
    from SPECTFewShotLib.research.evaluation.localize_cases import REAL_STUDY_CAMERA
    from SPECTFewShotLib.research.phantom import PhantomConfig, generate_study

    return generate_study(seed, PhantomConfig(camera=REAL_STUDY_CAMERA))


def demo_template_wall(seed: int = DEMO_TEMPLATE_SEED) -> Volume:
    """The template's exact LV wall (1 inside), its myocardium segmentation."""
    study = _demo_study(seed)
    return study.image.with_array((study.labels.labels.array == study.label_values["LV_myocardium"]).astype(np.uint8))


def demo_template(seed: int = DEMO_TEMPLATE_SEED) -> tuple[Volume, list[Landmark]]:
    """The phantom template (volume and its LV landmarks: our definitions on its wall) of a training-range seed,
    simulated for a CZT camera."""
    from SPECTFewShotLib.cardiac_landmarks import lv_landmarks

    landmarks = lv_landmarks(demo_template_wall(seed))
    return _demo_study(seed).image, [lm for lm in landmarks if lm.label in LV_LANDMARK_NAMES]


def endocardial_convention(mask: Volume, geometry: Optional[LVGeometry] = None) -> list[Landmark]:
    """LV_center, LV_apex and LV_base annotated on an LV-wall mask in another convention than ours (the demo's
    template and its truth): the apex where the cavity begins on the long axis (walking from our epicardial apex
    towards the base, the first point past the wall: the endocardial apex; the epicardial one when no cavity begins
    within the apical half), the base at the centre of the basal ring (the wall's last `SLAB_MM` towards the
    base, not moved to the valve plane), the centre halfway between them."""
    from SPECTFewShotLib.cardiac_landmarks import SLAB_MM, lv_geometry, wall_points_lps

    points = wall_points_lps(mask)
    geometry = lv_geometry(points, min(mask.spacing))
    length = float(np.linalg.norm(geometry.base - geometry.apex))
    apex, entered = geometry.apex, False
    for depth in np.arange(0.0, length / 2, 0.5):
        point = geometry.apex + depth * geometry.axis
        i, j, k = np.round(mask.lps_to_index(point)).astype(int)
        in_wall = bool(mask.array[k, j, i])
        if entered and not in_wall:
            apex = point
            break
        entered = entered or in_wall
    along = (points - geometry.center) @ geometry.axis
    ring = points[along >= along.max() - SLAB_MM].mean(axis=0)
    positions = {"LV_center": (apex + ring) / 2, "LV_apex": apex, "LV_base": ring}
    return [Landmark(label, tuple(float(v) for v in positions[label])) for label in LV_LANDMARK_NAMES]


def place_demo_landmarks(volume: Volume, out_dir: str | os.PathLike, reference_mask: Optional[Volume] = None,
                         model: Optional[str] = None, template_seed: int = DEMO_TEMPLATE_SEED,
                         myocardium: Optional[Volume] = None,
                         template: Optional[tuple[Volume, list[Landmark], Volume]] = None
                         ) -> tuple[list[Landmark], list[Landmark], list[str]]:
    """Place the phantom template's LV landmarks on `volume`, in the LV frame of `myocardium` (the classified wall,
    the template's frame then from its wall) when given, else of the counts; write landmarks.mrk.json and
    long_axis.mrk.json. `template`: (volume, landmarks, wall) to use instead of the seed's (e.g. as read back from
    the files the demo writes). Returns the placed landmarks, the reference landmarks derived from `reference_mask`
    (none without it) and summary lines."""
    from SPECTFewShotLib.landmarks.fusion import confidence_note
    from SPECTFewShotLib.landmarks.long_axis import write_long_axis
    from SPECTFewShotLib.landmarks.staged import Localizer

    out = Path(out_dir)
    if template is None:
        template = (*demo_template(template_seed), demo_template_wall(template_seed))
    template_volume, template_landmarks, wall = template
    localizer = Localizer()
    template_wall = wall if myocardium is not None else None
    placement = localizer.place(volume, [(template_volume, template_landmarks)], myocardium=myocardium,
                                template_myocardia=[template_wall])
    placed = placement.landmarks
    written = write_landmarks(placed, out / "landmarks.mrk.json")
    source = "the classified myocardium" if myocardium is not None else "the counts"
    lines = [f"Landmarks ({localizer.model_id}, LV frame from {source}, labels from one phantom template, seed "
             f"{template_seed}):"]
    lines += [f"  warning: {warning}" for warning in placement.warnings]
    if placement.long_axis is not None:
        write_long_axis(placement.long_axis, out / "long_axis.mrk.json")
        lines.append(f"  LV long axis: {placement.long_axis.description()} (long_axis.mrk.json)")
    reference_landmarks: list[Landmark] = []
    if reference_mask is not None:
        from SPECTFewShotLib.cardiac_landmarks import lv_landmarks

        reference_landmarks = lv_landmarks(reference_mask)
        write_landmarks(reference_landmarks, out / "reference_landmarks.mrk.json")
    reference = {lm.label: np.asarray(lm.position_lps) for lm in reference_landmarks}
    for landmark in placed:
        x, y, z = landmark.position_lps
        line = f"  {landmark.label:<10} ({x:7.1f}, {y:7.1f}, {z:7.1f}) mm LPS, confidence {landmark.confidence:.2f}"
        if landmark.label in reference:
            distance = float(np.linalg.norm(np.asarray(landmark.position_lps) - reference[landmark.label]))
            line += f", {distance:.1f} mm from the mask-derived reference"
        lines.append(line + confidence_note(landmark.confidence))
    lines.append(f"wrote {written}" + (" and reference_landmarks.mrk.json" if reference else ""))
    return placed, reference_landmarks, lines


def draw_landmarks(ax: Any, volume: Volume, landmarks: Sequence[Landmark], k: Optional[int] = None,
                   reference: Sequence[Landmark] = (), title: str = "") -> int:
    """Draw axial slice k (default: nearest the landmarks' mean) with the landmarks; returns the slice drawn.

    Landmarks within 1.5 slices are filled markers, others hollow; `reference` landmarks are drawn as crosses.
    """
    points = {lm.label: volume.lps_to_index(lm.position_lps) for lm in landmarks}
    if k is None:
        k = int(np.clip(np.round(np.mean([p[2] for p in points.values()])), 0, volume.array.shape[0] - 1))
    window = float(np.percentile(volume.array, 99.5)) or None  # a few hot voxels would leave the rest black
    ax.imshow(volume.array[k], cmap="gray", origin="upper", vmin=0, vmax=window)
    for label, (i, j, kk) in points.items():
        near = abs(kk - k) <= 1.5
        marker = MARKERS.get(label, "o")
        ax.plot(i, j, marker, markersize=8, markeredgecolor="yellow", markerfacecolor="yellow" if near else "none")
        ax.annotate(label, (i, j), xytext=(4, 4), textcoords="offset points", color="yellow", fontsize=7)
    for landmark in reference:
        i, j, _ = volume.lps_to_index(landmark.position_lps)
        ax.plot(i, j, "x", color="cyan", markersize=7)
    ax.set_title(title or f"axial slice k={k}: landmarks (filled: within 1.5 slices); x: reference", fontsize=8)
    ax.set_axis_off()
    return k
