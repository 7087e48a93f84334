"""Carry and axis-fit variants on the classification path, side by side in one run (issue 35: the carry's rules).

The LV frames come from walls: the target's classification (`classify` painted on its wall mask's quartile slices,
as `evaluate localize --conventions` does) and the template's mask. Templates in the three conventions
(localize_conventions), real pairs of --real (both ways) and --held-out phantoms (each with the next as template).
The conventions' annotations and truths stand on the annotators' own axis fit (localize_conventions.
annotator_axis), so no variant moves the exam. Variants, each replacing one piece of the product for the run
(unittest.mock):
- "before": the along-axis coordinate without the endocardial knot (the frame's centre-to-apex proportion), and
  without the two rules below (the product before f7ee494).
- "knot": the product before the two rules (commit 77c639a): carry.along_knots (base, centre, where the cavity
  ends on the axis, apex), every point's across coordinates from the centreline.
- "frame": the product as it is: the knot, points near the base carried relative to both of their level's
  centres (carry.base_reference_weights) and a template LV_center off its wall's centroid carried part of the way
  by its own apex and base (carry.centre_by_ends, carry.centre_rule_weight).
- "frame-base": "frame" without the base's two centres; "frame-centre": without the centre rule;
  "frame+centre0.5", "frame+centre0.75", "frame+centre1": the centre rule at the fixed weight 0.5 (the product's
  before the agreement weight, and still its weight for one-shot and counts frames), 0.75 and 1 for every frame
  (carry.centre_rule_weight).
- "frame+agree4", "frame+agree8": the centre rule's weight from how far its two estimates lie apart
  (`agreeing_weight`: d^2 / (d^2 + s^2), s 4 or 8 mm) for every frame: where they agree within the placed ends'
  noise the frame's carry counts, where they are far apart (LVs of different proportions) the ends' (issue 35,
  helper J, docs/evaluation/landmarks/localize_centre_rule.txt); the product takes s = 4 for frames from the
  study's own wall only (carry.CENTRE_AGREEMENT_MM).
- "knot+steady": "knot" with the steady revolution-axis fit (`steady_axis`) in place of
  cardiac_landmarks.revolution_axis in the frames (the annotators' axis stays); since issue 35's helper I the
  product's own fit is that steady fit, so "knot+steady" is "knot".
- "frame+single": "frame" with the single ring-spread fit (`single_axis`, the product's revolution_axis before
  issue 35's helper I) in the frames.
- "frame+dilated": "frame" with the revolution-axis fit run on the wall dilated by one voxel (`dilated_axis`):
  a classification and a mask differ mostly by single voxels at the wall's rims, which a one-voxel dilation fills.
- "frame+combined": "frame" with the fit on the sum of the wall's ring spread and its dilated wall's, each over
  its best (`combined_axis`).
- "registration": the affine registration baseline (research.baselines.registration), for the time.

With --reproducibility it prints instead how far the axis fit moves on each real study's own mask and on its
classification when the wall is turned exactly (no resampling) by `TURN_DEG` about random axes, or loses a random
`DROP_FRACTION` of its voxels (`axis_reproducibility`): the exam's own noise floor, beside the classification's
distance from the exam's axis, where the classification's and the mask's voxels differ (`wall_difference`), and
the product's (steady), single, dilated and combined fits on the classifications of 14 other paintings (`paintings`),
against the annotators' single fit and the exam's steady fit on the mask.

    python -m SPECTFewShotLib.research.evaluation.localize_variants [--real DIR] [--held-out 8] [--validation 8]
    python -m SPECTFewShotLib.research.evaluation.localize_variants --real DIR --reproducibility
    python -m SPECTFewShotLib.research.evaluation.localize_variants --real DIR --exam-axis
    python -m SPECTFewShotLib.research.evaluation.localize_variants --real DIR --product-axis
    python -m SPECTFewShotLib.research.evaluation.localize_variants --real DIR --timing

With --product-axis: the product's frame-axis fit (cardiac_landmarks.revolution_axis, the steady fit) beside the
single fit it replaced (`single_axis`), each one's move from its own unperturbed fit under the same perturbations,
on both real masks and classifications and four training-range phantoms' true walls and classifications
(`product_axis_rows`).

With --timing: the median seconds per real pair of the classification, one-shot and counts paths with the product's
fit and with the single fit in its place (everywhere the product calls revolution_axis, the one-shot wall's cut
included; `frame_fit_timing`), beside the registration baseline, interleaved in one process.

With --exam-axis: the candidate fits for the exam's annotator axis (`exam_axis_candidates`), each one's move from
its own unperturbed fit under the same perturbations, on both real masks and four training-range phantoms' true
walls (`exam_axis_rows`): the reproducibility the exam's axis was chosen by (issue 35, helper H).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import Callable, Iterator, Sequence
from unittest import mock

import numpy as np

from SPECTFewShotLib.volume import Volume

VARIANTS = ("before", "knot", "frame", "frame-base", "frame-centre", "frame+centre0.5", "frame+centre0.75",
            "frame+centre1", "frame+agree4", "frame+agree8", "knot+steady", "frame+single", "frame+dilated",
            "frame+combined", "registration")
DEFAULT_VARIANTS = ("knot", "frame", "frame-base", "frame-centre", "frame+centre1", "knot+steady", "registration")
TURN_DEG, DROP_FRACTION, TRIES = 3.0, 0.01, 10  # the reproducibility's perturbations, each tried this many times


def shifted_spread(points: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """cardiac_landmarks.shifted_spread with the product's slab and shifts (the ring spread averaged over shifted
    slab cuts)."""
    from SPECTFewShotLib.cardiac_landmarks import SLAB_MM, STEADY_SHIFTS
    from SPECTFewShotLib.cardiac_landmarks import shifted_spread as shifted

    return shifted(points, directions, SLAB_MM, STEADY_SHIFTS)


def steady_axis(points: np.ndarray) -> np.ndarray:
    """cardiac_landmarks.steady_direction with the product's constants (`shifted_spread`): what the product's
    revolution_axis computes since issue 35's helper I, called directly (a variant that patches revolution_axis
    does not reach it)."""
    from SPECTFewShotLib import cardiac_landmarks as lm

    return lm.steady_direction(points, shifted_spread, lm.AXIS_DIRECTIONS, lm.AXIS_REFINE_DEGREES,
                               lm.STEADY_GRID_DEG, lm.STEADY_RADIUS_DEG, lm.STEADY_TEMPERATURE)


def single_axis(points: np.ndarray) -> np.ndarray:
    """The single ring-spread fit (cardiac_landmarks.least_spread_direction with the product's lattice and
    refinement): the product's revolution_axis before issue 35's helper I."""
    from SPECTFewShotLib.cardiac_landmarks import least_spread_direction

    return least_spread_direction(points)


def dilated_points(points: np.ndarray) -> np.ndarray:
    """The wall `points` (voxel centres of an axis-aligned grid, LPS) dilated by one voxel (26-neighbourhood); the
    spacing is the points' least nearest-neighbour distance."""
    from scipy.spatial import cKDTree

    spacing = float(cKDTree(points).query(points, k=2)[0][:, 1].min())
    offsets = np.array([(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)], dtype=float)
    cells = np.round((points[:, None, :] + spacing * offsets[None]) / spacing - points[0] / spacing).astype(int)
    unique = np.unique(cells.reshape(-1, 3), axis=0)
    return unique * spacing + points[0]


def dilated_axis(points: np.ndarray) -> np.ndarray:
    """cardiac_landmarks' revolution-axis search (`least_spread_direction`) on the wall dilated by one voxel."""
    from SPECTFewShotLib.cardiac_landmarks import least_spread_direction

    return least_spread_direction(dilated_points(points))


def combined_axis(points: np.ndarray) -> np.ndarray:
    """cardiac_landmarks' revolution-axis search on the sum of two ring spreads, each over its best on the
    direction lattice: the wall's own and that of the wall dilated by one voxel (`dilated_points`)."""
    from SPECTFewShotLib.cardiac_landmarks import direction_lattice, least_spread_direction, ring_spread

    dilated = dilated_points(points)
    lattice = direction_lattice()
    own, thick = ring_spread(points, lattice).min(), ring_spread(dilated, lattice).min()

    def spread(_: np.ndarray, directions: np.ndarray) -> np.ndarray:
        return ring_spread(points, directions) / own + ring_spread(dilated, directions) / thick

    return least_spread_direction(points, spread)


def _line_angle(first: np.ndarray, second: np.ndarray) -> float:
    """Angle in degrees between two lines (0..90)."""
    from SPECTFewShotLib.landmarks.long_axis import angle_between_deg

    angle = angle_between_deg(first, second)
    return min(angle, 180.0 - angle)


def _turn(degrees: float, rng: np.random.Generator) -> np.ndarray:
    """A rotation matrix by `degrees` about a random axis."""
    return rotation_matrix(rng.normal(size=3), degrees)


def rotation_matrix(axis: np.ndarray, degrees: float) -> np.ndarray:
    """The rotation matrix by `degrees` about `axis`."""
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    cross = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    angle = np.radians(degrees)
    return np.eye(3) + np.sin(angle) * cross + (1.0 - np.cos(angle)) * cross @ cross


def turn_averaged_axis(points: np.ndarray, degrees: float = 8.0, axes: int = 6) -> np.ndarray:
    """localize_conventions.annotator_axis (the single fit) averaged over the wall `points` turned exactly by
    `degrees` each way about `axes` directions of cardiac_landmarks.direction_lattice, and unturned, each fit turned
    back: the line nearest all of them (principal direction of their outer products; sense arbitrary)."""
    from SPECTFewShotLib.cardiac_landmarks import direction_lattice
    from SPECTFewShotLib.research.evaluation.localize_conventions import annotator_axis

    turns = [np.eye(3)] + [rotation_matrix(axis, sense * degrees) for axis in direction_lattice(2 * axes)
                           for sense in (1.0, -1.0)]
    centre = points.mean(axis=0)
    lines = np.array([annotator_axis((points - centre) @ turn.T + centre) @ turn for turn in turns])
    return np.linalg.eigh(lines.T @ lines)[1][:, -1]


EXAM_AXIS_PHANTOMS = 4  # training-range phantoms (their true walls) beside the real masks in `exam_axis_rows`


def exam_axis_candidates() -> dict[str, object]:
    """The candidate fits for the exam's annotator axis, by name (issue 35, helper H): the single fit ("single",
    localize_conventions.annotator_axis as before), its average over the wall turned by 4 or 8 degrees about 6
    axes each way ("turned 4", "turned 8"), the fit on the wall dilated by one voxel ("dilated"), the wall's and
    dilated wall's spreads summed ("combined") and the steady fit ("steady": slab cuts averaged, near-best
    directions weighted; localize_conventions.reproducible_annotator_axis)."""
    from SPECTFewShotLib.research.evaluation.localize_conventions import annotator_axis, reproducible_annotator_axis

    return {"single": annotator_axis, "turned 4": lambda points: turn_averaged_axis(points, 4.0),
            "turned 8": turn_averaged_axis, "dilated": dilated_axis, "combined": combined_axis,
            "steady": reproducible_annotator_axis}


def exam_axis_rows(real: str, phantoms: int = EXAM_AXIS_PHANTOMS) -> Iterator[str]:
    """Per candidate exam axis (`exam_axis_candidates`) and wall (each real study's mask, `phantoms` training-range
    phantoms' true walls): how far the fit moves from its own unperturbed fit (and its apex from its own apex)
    under exact `TURN_DEG` turns and `DROP_FRACTION` drops (`axis_reproducibility`), and its angle from the single
    fit; the landmarks' errors are not looked at."""
    from SPECTFewShotLib.research.evaluation.localize_cases import real_pair_cases
    from SPECTFewShotLib.research.evaluation.localize_conventions import annotator_axis
    from SPECTFewShotLib.research.phantom import generate_study
    from SPECTFewShotLib.research.seeds import training_seeds

    walls = [(case.name.split(" -> ")[1], case.target_volume, case.target_wall) for case in real_pair_cases(real)[:2]]
    for seed in training_seeds(phantoms):
        study = generate_study(seed)
        walls.append((f"phantom {seed}", study.image,
                      study.labels.labels.array == study.label_values["LV_myocardium"]))
    yield from fit_rows(walls, exam_axis_candidates(), annotator_axis)


def product_axis_rows(real: str, phantoms: int = EXAM_AXIS_PHANTOMS) -> Iterator[str]:
    """Per product frame-axis fit (cardiac_landmarks.revolution_axis, the steady fit, and `single_axis`, the one it
    replaced) and wall (each real study's mask and its classification painted on the mask's quartile slices,
    `phantoms` training-range phantoms' true walls and classifications, the LV-shaped piece as the frame takes
    it): how far the fit moves from its own unperturbed fit under exact `TURN_DEG` turns and `DROP_FRACTION`
    drops (`fit_rows`); the landmarks' errors are not looked at."""
    from SPECTFewShotLib.cardiac_landmarks import revolution_axis
    from SPECTFewShotLib.landmarks.lv_frame import lv_shaped_wall
    from SPECTFewShotLib.research.evaluation.localize_cases import classified_wall, real_pair_cases
    from SPECTFewShotLib.research.phantom import generate_study
    from SPECTFewShotLib.research.seeds import training_seeds

    walls = [(case.name.split(" -> ")[1], case.target_volume, case.target_wall) for case in real_pair_cases(real)[:2]]
    for seed in training_seeds(phantoms):
        study = generate_study(seed)
        walls.append((f"phantom {seed}", study.image,
                      study.labels.labels.array == study.label_values["LV_myocardium"]))
    shown = []
    for name, volume, wall in walls:
        shown.append((f"{name} mask", volume, wall))
        points = lv_shaped_wall(classified_wall(volume, wall, "slices"))[0]
        shown.append((f"{name} class.", volume, points))
    yield from fit_rows(shown, {"steady": revolution_axis, "single": single_axis}, single_axis)


def frame_fit_timing(real: str, repeats: int = 2) -> Iterator[str]:
    """Median seconds per real pair of --real (each case `repeats` times) of the classification path, the one-shot
    path, the counts' path and registration, with the product's fit ("steady", its cache emptied before every
    case) and with `single_axis` in place of cardiac_landmarks.revolution_axis and template_segmentation's
    (the product before issue 35's helper I), interleaved; the axis fits per case; each path's time over
    registration's."""
    from SPECTFewShotLib import cardiac_landmarks
    from SPECTFewShotLib.landmarks import template_segmentation
    from SPECTFewShotLib.landmarks.staged import Localizer
    from SPECTFewShotLib.landmarks.template_segmentation import OneShotWall
    from SPECTFewShotLib.research.baselines.registration import register_landmarks
    from SPECTFewShotLib.research.evaluation.localize_cases import classified_wall, real_pair_cases

    cases = real_pair_cases(real)
    walls = {case.name.split(" -> ")[1]: case.target_wall for case in cases}
    masks = {id(case.template_volume): case.template_volume.with_array(
        walls[case.name.split(" -> ")[0]].astype(np.uint8)) for case in cases}
    classified = {id(case.target_volume): classified_wall(case.target_volume, case.target_wall, "slices")
                  for case in cases}
    plain, one_shot = Localizer(prnet=False), Localizer(one_shot=True)
    one_shot._one_shot_wall = OneShotWall()
    one_shot._one_shot_wall.session()  # the embedding network, loaded before the clock runs
    methods = {
        "Classify": lambda case: plain.place(case.target_volume, [(case.template_volume, case.template_landmarks)],
                                             myocardium=classified[id(case.target_volume)],
                                             template_myocardia=[masks[id(case.template_volume)]]),
        "One-shot": lambda case: one_shot.place(case.target_volume, [(case.template_volume,
                                                                      case.template_landmarks)],
                                                template_myocardia=[masks[id(case.template_volume)]]),
        "Carry+align": lambda case: plain.localize(case.target_volume, case.template_volume,
                                                   case.template_landmarks),
        "Registration": lambda case: register_landmarks(case.target_volume, case.template_volume,
                                                        case.template_landmarks)}
    fits = {"single": single_axis, "steady": cardiac_landmarks.revolution_axis}
    seconds = {(fit, name): [] for fit in fits for name in methods}
    calls = {}
    for _ in range(repeats):
        for case in cases:
            for name, method in methods.items():
                for fit_name, fit in fits.items():
                    count = [0]

                    def counted(points: np.ndarray, fit=fit, count=count) -> np.ndarray:
                        count[0] += 1
                        return fit(points)

                    cardiac_landmarks.forget_fitted_axes()
                    with mock.patch.object(cardiac_landmarks, "revolution_axis", counted), \
                            mock.patch.object(template_segmentation, "revolution_axis", counted):
                        started = time.perf_counter()
                        method(case)
                        seconds[(fit_name, name)].append(time.perf_counter() - started)
                    calls[(fit_name, name)] = count[0]
    for name in methods:
        yield f"{name:<13} " + "; ".join(f"{fit} median {np.median(seconds[(fit, name)]):.2f} s ({calls[(fit, name)]} "
                                         f"axis fits per case)" for fit in fits)
    for fit in fits:
        registration = np.median(seconds[(fit, "Registration")])
        yield f"{fit}: " + ", ".join(f"{name} {np.median(seconds[(fit, name)]) / registration:.2f}x registration"
                                     for name in methods if name != "Registration")


def fit_rows(walls: Sequence[tuple[str, Volume, np.ndarray]], candidates: dict, baseline) -> Iterator[str]:
    """Per candidate fit and wall (name, volume, and its mask [k, j, i] or its LPS points (n, 3)): the fit's move
    from its own unperturbed fit (and its apex's) under `axis_reproducibility`'s perturbations, its angle from
    `baseline`'s fit ("single") and its time per fit; then its worst move."""
    from SPECTFewShotLib.cardiac_landmarks import lv_geometry

    for name, fit in candidates.items():
        worst = 0.0
        for wall_name, volume, wall in walls:
            if wall.ndim == 3:
                k, j, i = np.nonzero(wall)
                points = volume.index_to_lps(np.stack([i, j, k], axis=1).astype(float))
            else:
                points = wall
            started = time.perf_counter()
            own = fit(points)
            seconds = time.perf_counter() - started
            spacing = min(volume.spacing)
            apex = lv_geometry(points, spacing, axis=own).apex
            result = axis_reproducibility(points, spacing, own, apex, fit)
            worst = max(worst, float(result["turn"][:, 0].max()), float(result["drop"][:, 0].max()))
            cells = [f"from single {_line_angle(own, baseline(points)):4.1f} deg"]
            for kind in ("turn", "drop"):
                angles, apices = result[kind][:, 0], result[kind][:, 1]
                cells.append(f"{kind} median {np.median(angles):4.1f} max {angles.max():4.1f} deg, apex median "
                             f"{np.median(apices):4.1f} max {apices.max():4.1f} mm")
            yield f"{name:<9} {wall_name:<18} " + "; ".join(cells) + f"; {seconds:.2f} s per fit"
        yield f"{name:<9} worst move over the walls, turns and drops: {worst:.1f} deg"


def axis_reproducibility(points: np.ndarray, spacing_mm: float, reference: np.ndarray, reference_apex: np.ndarray,
                         fit, prepare=None, seed: int = 0) -> dict[str, np.ndarray]:
    """`fit`'s long axis of the wall `points` (`prepare`d first, e.g. `dilated_points`, before any turn) turned
    exactly by `TURN_DEG` about random axes through the centroid (then turned back) and with a random
    `DROP_FRACTION` of the points left out, `TRIES` times each: per perturbation the axis's angle (degrees) from
    `reference` and the apex's (lv_geometry of the points on that axis) distance (mm) from `reference_apex`, under
    "turn" and "drop"; "plain": the unperturbed fit's."""
    from SPECTFewShotLib.cardiac_landmarks import lv_geometry

    prepare = prepare or (lambda given: given)
    rng = np.random.default_rng(seed)
    centre = points.mean(axis=0)

    def measured(kept: np.ndarray, turn: np.ndarray) -> tuple[float, float]:
        axis = fit((prepare(kept) - centre) @ turn.T + centre) @ turn
        geometry = lv_geometry(kept, spacing_mm, axis=axis)
        return _line_angle(axis, reference), float(np.linalg.norm(geometry.apex - reference_apex))

    result = {"plain": np.array([measured(points, np.eye(3))])}
    result["turn"] = np.array([measured(points, _turn(TURN_DEG, rng)) for _ in range(TRIES)])
    result["drop"] = np.array([measured(points[rng.random(len(points)) >= DROP_FRACTION], np.eye(3))
                               for _ in range(TRIES)])
    return result


def wall_difference(volume: Volume, mask: np.ndarray, classified: np.ndarray) -> str:
    """Where the classified wall and the mask differ, in the mask's annotators' frame: voxels only in each, by
    half of the LV (apical or basal of the mask's centre) and side of the wall (inside or outside the mask's
    median distance from the axis in that voxel's `SLAB_MM` slab)."""
    from SPECTFewShotLib.cardiac_landmarks import SLAB_MM, lv_geometry
    from SPECTFewShotLib.research.evaluation.localize_conventions import annotator_axis

    def points_of(selected: np.ndarray) -> np.ndarray:
        k, j, i = np.nonzero(selected)
        return volume.index_to_lps(np.stack([i, j, k], axis=1).astype(float))

    wall = points_of(mask)
    geometry = lv_geometry(wall, min(volume.spacing), axis=annotator_axis(wall))

    def place(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = (points - geometry.center) @ geometry.axis
        return t, np.linalg.norm(points - geometry.center - t[:, None] * geometry.axis, axis=1)

    wall_t, wall_r = place(wall)
    wall_slab = np.floor(wall_t / SLAB_MM).astype(int)
    medians = {slab: float(np.median(wall_r[wall_slab == slab])) for slab in np.unique(wall_slab)}
    parts = [f"mask {int(mask.sum())} voxels, classification {int(classified.sum())}, "
             f"both {int((mask & classified).sum())}"]
    for name, selected in (("only classified", classified & ~mask), ("only in the mask", mask & ~classified)):
        t, r = place(points_of(selected))
        slab = np.floor(t / SLAB_MM).astype(int)
        outside = np.array([r[n] > medians.get(slab[n], np.inf) for n in range(len(r))], dtype=bool)
        parts.append(f"{name} {len(t)} (apical half {int((t < 0).sum())}, basal {int((t >= 0).sum())}; outer side "
                     f"{int(outside.sum())}, inner {int((~outside).sum())})")
    return "; ".join(parts)


def paintings(mask: np.ndarray) -> dict[str, tuple[list[int], str]]:
    """Other ways a user could paint the study's wall mask: its quartile slices shifted by -2..2 slices, its
    tertile and quintile slices, each painted as whole slices and as strokes."""
    from SPECTFewShotLib.selftest.painting import quartile_slices

    filled = np.nonzero(mask.any(axis=(1, 2)))[0]
    sets = {f"quartiles{shift:+d}": [k + shift for k in quartile_slices(mask)] for shift in range(-2, 3)}
    sets["tertiles"] = sorted({int(k) for k in np.round(np.percentile(filled, [33, 67]))})
    sets["quintiles"] = sorted({int(k) for k in np.round(np.percentile(filled, [20, 40, 60, 80]))})
    return {f"{name} {protocol}": (slices, protocol) for name, slices in sets.items()
            for protocol in ("slices", "strokes")}


def classified_with(volume: Volume, mask: np.ndarray, slices: Sequence[int], protocol: str) -> Volume:
    """The product's classification of `volume` painted from `mask` on `slices` by `protocol`, its myocardium
    as a mask volume (localize_cases.classified_wall on other slices)."""
    from SPECTFewShotLib.classification.session import StudySession
    from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for
    from SPECTFewShotLib.selftest.painting import paint

    class_map = np.where(mask, 2, 1).astype(np.int32)
    support = Segmentation(volume.with_array(paint(class_map, slices, protocol)),
                           segments_for([1, 2], {1: "background", 2: "LV_myocardium"}))
    session = StudySession()
    session.set_volume(volume)
    session.set_support(support)
    return volume.with_array((session.predict().labels.labels.array == 2).astype(np.uint8))


def reproducibility_rows(real: str) -> Iterator[str]:
    """Per real study: where its classification and mask differ, and the reproducibility of the annotators' fit
    on its mask and of the product's fits on its classification, against the annotators' single-fit axis and apex
    on the mask ('ours'); over 14 other paintings (`paintings`), each fit's angle from that axis and from the
    exam's (localize_conventions.reproducible_annotator_axis) on the mask."""
    from SPECTFewShotLib.cardiac_landmarks import least_spread_direction, lv_geometry, revolution_axis
    from SPECTFewShotLib.landmarks.lv_frame import lv_shaped_wall
    from SPECTFewShotLib.research.evaluation.localize_cases import classified_wall, real_pair_cases
    from SPECTFewShotLib.research.evaluation.localize_conventions import annotator_axis

    for case in real_pair_cases(real)[:2]:
        name, volume, mask = case.name.split(" -> ")[1], case.target_volume, case.target_wall
        classified = classified_wall(volume, mask, "slices")
        yield f"{name}: {wall_difference(volume, mask, classified.array > 0)}"
        k, j, i = np.nonzero(mask)
        wall = volume.index_to_lps(np.stack([i, j, k], axis=1).astype(float))
        reference = annotator_axis(wall)
        apex = lv_geometry(wall, min(volume.spacing), axis=reference).apex
        classified_points = lv_shaped_wall(classified)[0]
        for label, points, fit, prepare in (
                ("mask, annotators' fit", wall, annotator_axis, None),
                ("classification, product fit", classified_points, revolution_axis, None),
                ("classification, single fit", classified_points, single_axis, None),
                ("mask, dilated fit", wall, least_spread_direction, dilated_points),
                ("classification, dilated fit", classified_points, least_spread_direction, dilated_points),
                ("mask, product fit", wall, revolution_axis, None),
                ("mask, single fit", wall, single_axis, None)):
            result = axis_reproducibility(points, min(volume.spacing), reference, apex, fit, prepare)
            cells = [f"plain {result['plain'][0, 0]:.1f} deg / {result['plain'][0, 1]:.1f} mm"]
            for kind in ("turn", "drop"):
                angles, apices = result[kind][:, 0], result[kind][:, 1]
                cells.append(f"{kind} median {np.median(angles):.1f} max {angles.max():.1f} deg (within 6 deg "
                             f"{int((angles <= 6.0).sum())}/{len(angles)}), apex median {np.median(apices):.1f} max "
                             f"{apices.max():.1f} mm")
            yield f"  {label:<28} " + "; ".join(cells)
        walls = [lv_shaped_wall(classified_with(volume, mask, slices, protocol))[0]
                 for slices, protocol in paintings(mask).values()]
        exam = annotator_axis(wall, True)
        for label, fit in (("product fit", revolution_axis), ("single fit", single_axis),
                           ("dilated fit", dilated_axis), ("combined fit", combined_axis)):
            fitted = [fit(points) for points in walls]
            for name, axis in (("annotators' single fit", reference), ("exam's steady fit", exam)):
                angles = np.array([_line_angle(found, axis) for found in fitted])
                yield (f"  {len(walls)} paintings, {label:<13} axis from the {name} on the mask: mean "
                       f"{angles.mean():.1f} median {np.median(angles):.1f} max {angles.max():.1f} deg, within 6 "
                       f"deg {int((angles <= 6.0).sum())}/{len(angles)} ({' '.join(f'{a:.0f}' for a in angles)})")


def _proportional_knot(frame) -> float:
    """The endocardial knot where the centre-to-apex proportion puts it: the map without the knot."""
    from SPECTFewShotLib.landmarks.carry import ENDOCARDIAL_ALONG

    geometry = frame.geometry
    return ENDOCARDIAL_ALONG * max(float((geometry.apex - geometry.center) @ -geometry.axis), 1e-9)


def agreeing_weight(scale_mm: float) -> Callable[..., float]:
    """carry.centre_rule_weight as d^2 / (d^2 + scale_mm^2) for every study frame, d mm between the frame's carry
    of the centre and the ends' (the product takes it for frames from the study's own wall only)."""

    def weight(target_frame, apart_mm: float) -> float:
        return apart_mm ** 2 / (apart_mm ** 2 + scale_mm ** 2)

    return weight


def fixed_weight(value: float) -> Callable[..., float]:
    """carry.centre_rule_weight as `value` for every study frame."""

    def weight(target_frame, apart_mm: float) -> float:
        return value

    return weight


@contextlib.contextmanager
def variant(name: str) -> Iterator[None]:
    """The product with `name`'s replacement in place for the duration ("registration" runs under "knot")."""
    carry = "SPECTFewShotLib.landmarks.carry"
    base_off = mock.patch(f"{carry}.BASE_REFERENCE_MM", float("inf"))
    centre_off = mock.patch(f"{carry}.centre_rule_weight", fixed_weight(0.0))
    with contextlib.ExitStack() as stack:
        if name in ("before", "knot", "knot+steady", "registration"):
            stack.enter_context(base_off)
            stack.enter_context(centre_off)
        if name == "before":
            stack.enter_context(mock.patch(f"{carry}.endocardial_apex_mm", _proportional_knot))
        elif name == "knot+steady":
            stack.enter_context(mock.patch("SPECTFewShotLib.cardiac_landmarks.revolution_axis", steady_axis))
        elif name == "frame+single":
            stack.enter_context(mock.patch("SPECTFewShotLib.cardiac_landmarks.revolution_axis", single_axis))
        elif name == "frame+dilated":
            stack.enter_context(mock.patch("SPECTFewShotLib.cardiac_landmarks.revolution_axis", dilated_axis))
        elif name == "frame+combined":
            stack.enter_context(mock.patch("SPECTFewShotLib.cardiac_landmarks.revolution_axis", combined_axis))
        elif name == "frame-base":
            stack.enter_context(base_off)
        elif name == "frame-centre":
            stack.enter_context(centre_off)
        elif name in ("frame+agree4", "frame+agree8"):
            stack.enter_context(mock.patch(f"{carry}.centre_rule_weight",
                                           agreeing_weight(float(name.removeprefix("frame+agree")))))
        elif name in ("frame+centre0.5", "frame+centre0.75", "frame+centre1"):
            stack.enter_context(mock.patch(f"{carry}.centre_rule_weight",
                                           fixed_weight(float(name.removeprefix("frame+centre")))))
        elif name not in ("knot", "frame", "registration"):
            raise ValueError(f"unknown variant {name!r}")
        yield


def groups_of(real: str | None, held_out: int, validation: int = 0) -> dict[str, tuple[list, list, dict]]:
    """Per group: the cases, their template walls and the targets' classified walls (by target volume id);
    `validation` training-range validation phantoms (for choosing a setting) before the held-out ones."""
    from SPECTFewShotLib.research.evaluation.localize_cases import classified_wall, phantom_cases, real_pair_cases
    from SPECTFewShotLib.research.seeds import held_out_seeds, validation_seeds

    groups = {}
    if real:
        cases = real_pair_cases(real)
        walls = {case.name.split(" -> ")[1]: case.target_wall for case in cases}
        groups["real pairs"] = (cases, [walls[case.name.split(" -> ")[0]] for case in cases])
    if validation:
        cases = phantom_cases(validation_seeds(validation))
        groups["valid. phantoms"] = (cases, [cases[(n + 1) % len(cases)].target_wall for n in range(len(cases))])
    if held_out:
        cases = phantom_cases(held_out_seeds(held_out))
        groups["held-out phantoms"] = (cases, [cases[(n + 1) % len(cases)].target_wall for n in range(len(cases))])
    return {title: (cases, template_walls,
                    {id(case.target_volume): classified_wall(case.target_volume, case.target_wall, "slices")
                     for case in cases})
            for title, (cases, template_walls) in groups.items()}


def rows(groups: dict, names: Sequence[str]) -> Iterator[str]:
    """One line per convention, group and variant: mean / max error per landmark (mm), long-axis angle, time."""
    from SPECTFewShotLib.landmarks.staged import Localizer
    from SPECTFewShotLib.research.baselines.registration import register_landmarks
    from SPECTFewShotLib.research.evaluation.localize_conventions import CONVENTIONS, with_convention
    from SPECTFewShotLib.research.evaluation.localize_eval import evaluate_cases

    localizer = Localizer()
    for convention in CONVENTIONS:
        for title, (cases, template_walls, classified) in groups.items():
            masks = {id(case.template_volume): case.template_volume.with_array(wall.astype(np.uint8))
                     for case, wall in zip(cases, template_walls)}

            def place(target: Volume, template: Volume, landmarks: list, walls: dict = classified,
                      masks: dict = masks) -> list:
                return localizer.place(target, [(template, landmarks)], myocardium=walls[id(target)],
                                       template_myocardia=[masks[id(template)]]).landmarks

            for name in names:
                with variant(name):
                    converted = with_convention(cases, template_walls, convention)
                    result = evaluate_cases(converted, {name: register_landmarks if name == "registration"
                                                        else place})[name]
                summary = result.summary()
                cells = "  ".join(f"{label.replace('RV_insertion_', 'RV_')} {s['mean']:.1f}/{s['max']:.1f}"
                                  for label, s in summary.items())
                yield (f"{convention:<11} {title:<17} {name:<12} {cells}  axis {np.mean(result.axis_deg):.1f}/"
                       f"{np.max(result.axis_deg):.1f} deg  {np.median(result.seconds):.2f} s")


def main(argv: Sequence[str] | None = None) -> None:
    """Print the variants' table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", metavar="DIR", help="real studies with LV-wall masks (NAME_image, NAME_mask)")
    parser.add_argument("--held-out", type=int, default=8, help="held-out phantoms (default: %(default)s)")
    parser.add_argument("--validation", type=int, default=0,
                        help="training-range validation phantoms, for choosing a setting (default: %(default)s)")
    parser.add_argument("--variants", nargs="*", default=list(DEFAULT_VARIANTS), choices=VARIANTS)
    parser.add_argument("--reproducibility", action="store_true",
                        help="the axis fits' reproducibility on --real's studies instead of the variants' table")
    parser.add_argument("--product-axis", action="store_true",
                        help="instead: the product's frame-axis fit's reproducibility beside the single fit's, on "
                             "--real's masks and classifications and training phantoms (product_axis_rows)")
    parser.add_argument("--timing", action="store_true",
                        help="instead: seconds per real pair with the product's fit and the single fit "
                             "(frame_fit_timing)")
    parser.add_argument("--exam-axis", action="store_true",
                        help="instead: the candidate exam axes' reproducibility on --real's masks and training "
                             "phantoms (exam_axis_rows)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.exam_axis or args.product_axis or args.timing:
        if not args.real:
            parser.error("--exam-axis, --product-axis and --timing need --real")
        rows_of = exam_axis_rows if args.exam_axis else product_axis_rows if args.product_axis else frame_fit_timing
        for line in rows_of(args.real):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        sys.stdout.write(f"took {time.perf_counter() - started:.0f} s\n")
        return
    if args.reproducibility:
        if not args.real:
            parser.error("--reproducibility needs --real")
        for line in reproducibility_rows(args.real):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        sys.stdout.write(f"took {time.perf_counter() - started:.0f} s\n")
        return
    groups = groups_of(args.real, args.held_out, args.validation)
    sys.stdout.write("convention  group             variant      error mean/max (mm) per landmark, long axis, "
                     "median seconds per case\n")
    for line in rows(groups, args.variants):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    sys.stdout.write(f"took {time.perf_counter() - started:.0f} s\n")


if __name__ == "__main__":
    main()
