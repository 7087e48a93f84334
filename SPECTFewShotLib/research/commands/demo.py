"""`spectfewshot demo [-o DIR]`: the main job on the bundled real perfusion study, step by step.

1. describe the study;
2. few-shot classification: a simulated clinician paints three axial slices through the LV (background and
   myocardium), the study classifier (a learner fitted on the paint, then a graph cut) classifies every other
   voxel, GrowCut ("Grow from seeds") gets the same paint; the segmentations, the probability map and a report
   figure are written, with Dice on the unpainted slices; then the same slices painted with one-voxel strokes,
   classified again from the cached study features;
3. landmarks: the staged localiser finds the LV and places its centre, apex and base and the long axis, next to
   the reference landmarks derived from the study's LV-wall mask, in markups files and a report figure; its
   template (a phantom with its LV landmarks) is written too, for the README's command-line chain;
4. cardiac views: short axis, vertical and horizontal long axis and the 17-segment polar map of the classified
   myocardium along the placed axis, next to the polar map from the mask.
Steps are functions in DEMO_STEPS, each given the shared DemoContext; a new step is one more function there.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from SPECTFewShotLib.commands.info import format_info
from SPECTFewShotLib.io.segmentation_io import Segmentation, read_segmentation, segments_for, write_segmentation
from SPECTFewShotLib.io.volume_io import read_volume, require_counts, write_volume
from SPECTFewShotLib.io.volume_stats import describe
from SPECTFewShotLib.resources import SAMPLE_DIR, sample_study, template_study
from SPECTFewShotLib.volume import Volume

# The landmarks step writes its template (a phantom with its LV landmarks) beside the results, so that the command
# line chain of the README (classify, localize, polar-map) reproduces the demo's landmarks and polar map.
TEMPLATE_FILE = "template.nrrd"
TEMPLATE_LANDMARKS = "template_landmarks.mrk.json"
TEMPLATE_MYOCARDIUM = "template_myocardium.seg.nrrd"
# The rigid motion of the copy the demo places a template in another convention in (as the self-test's).
CONVENTION_ROTATION_AXIS, CONVENTION_ROTATION_DEGREES = (1.0, 1.0, 1.0), 20.0
CONVENTION_SHIFT_MM = np.array([12.0, -8.0, 16.0])


@dataclass
class DemoContext:
    """What the demo's steps share: the study, its LV-wall mask, the output folder, and the steps' results."""

    volume: Volume
    wall: np.ndarray
    output: Path
    results: dict = field(default_factory=dict)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `demo` subcommand."""
    parser = subparsers.add_parser("demo", help="run the main job on the bundled real SPECT study",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", default="output/demo", help="folder for the results (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run every demo step in order."""
    image_path, mask_path = sample_study()
    volume = require_counts(read_volume(image_path), image_path.name)
    wall = read_segmentation(mask_path).labels.array > 0
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    context = DemoContext(volume, wall, out)
    for step in DEMO_STEPS:
        print()
        step(context)
    return 0


def describe_step(context: DemoContext) -> None:
    """Step 1: what the study is, and its reference LV-wall mask as a Slicer segmentation."""
    volume, wall = context.volume, context.wall
    print("== 1. The bundled study: PhysioNet MPS patient001, rest Tc-99m sestamibi, GE Discovery NM 530c (CZT)")
    print(format_info(describe(volume), sample_study()[0].name))
    print(f"LV wall mask: {int(wall.sum())} voxels, {wall.sum() * volume.voxel_volume_ml:.1f} mL, "
          f"mean counts {float(volume.array[wall].mean()):.1f} (whole volume {float(volume.array.mean()):.1f})")
    reference = Segmentation(volume.with_array(wall.astype(np.uint8)), segments_for([1], {1: "LV_myocardium"}))
    print(f"wrote {write_segmentation(reference, context.output / 'reference_LV_wall.seg.nrrd')}")


def classify_step(context: DemoContext) -> None:
    """Step 2: paint three slices, classify with the study classifier and GrowCut, write results, report Dice."""
    from SPECTFewShotLib.classification.session import StudySession
    from SPECTFewShotLib.protonet.probability_io import write_probabilities
    from SPECTFewShotLib.research.baselines.growcut import grow_from_seeds
    from SPECTFewShotLib.research.evaluation.cases import real_study_case
    from SPECTFewShotLib.research.evaluation.classify_figure import classification_figure
    from SPECTFewShotLib.research.evaluation.metrics import dice
    from SPECTFewShotLib.selftest.painting import paint, unpainted_slices

    case = real_study_case()
    volume, out = case.volume, context.output
    myocardium = 2
    where = unpainted_slices(case.class_map.shape, case.slices)
    truth = case.class_map == myocardium
    segments = segments_for(case.classes, case.class_names)
    print(f"== 2. Few-shot classification: a clinician paints axial slices k = {', '.join(map(str, case.slices))} "
          f"(background and myocardium; the LV wall spans k = {int(np.nonzero(truth.any(axis=(1, 2)))[0].min())}"
          f"..{int(np.nonzero(truth.any(axis=(1, 2)))[0].max())})")
    session = StudySession()
    started = time.perf_counter()
    session.set_volume(volume)
    feature_seconds = time.perf_counter() - started
    print(f"study classifier: features of {volume.array.size} voxels in {feature_seconds:.2f} s")
    lines, figure_data = [], {}
    for protocol in ("slices", "strokes"):
        support = paint(case.class_map, case.slices, protocol)
        painted = Segmentation(volume.with_array(support), segments)
        started = time.perf_counter()
        session.set_support(painted)
        result = session.predict()
        ours_seconds = time.perf_counter() - started
        started = time.perf_counter()
        growcut = grow_from_seeds(volume, support)
        growcut_seconds = time.perf_counter() - started
        ours = result.labels.labels.array == myocardium
        ours_dice = dice(ours, truth, where)
        growcut_dice = dice(growcut == myocardium, truth, where)
        name = "full labels on 3 slices" if protocol == "slices" else "one-voxel strokes on the same 3 slices"
        print(f"{name} ({int((support != 0).sum())} painted voxels): myocardium Dice on the unpainted slices "
              f"SPECTFewShot {ours_dice:.3f} (re-classified in {ours_seconds * 1000:.0f} ms), "
              f"GrowCut {growcut_dice:.3f} ({growcut_seconds:.2f} s)")
        lines.append(f"{protocol}: SPECTFewShot {ours_dice:.3f}, GrowCut {growcut_dice:.3f}")
        context.results[f"myocardium_dice_{protocol}"] = {"SPECTFewShot": ours_dice, "GrowCut": growcut_dice}
        if protocol == "slices":
            context.results["classified_myocardium"] = ours
            probability = result.probabilities[result.class_labels.index(myocardium)]
            written = [write_segmentation(painted, out / "painted_slices.seg.nrrd"),
                       write_segmentation(result.labels, out / "classes.seg.nrrd"),
                       write_probabilities(result.probabilities, volume, result.class_labels, result.class_names,
                                           out / "probabilities.nrrd"),
                       write_segmentation(Segmentation(volume.with_array(growcut), segments),
                                          out / "growcut_segmentation.seg.nrrd")]
            figure_data = {"support": support, "ours": ours, "growcut": growcut == myocardium,
                           "probability": probability}
    ks = [int(k) for k in np.nonzero(truth.any(axis=(1, 2)))[0] if int(k) not in case.slices]
    shown = [ks[int(i)] for i in np.linspace(0, len(ks) - 1, 4).round()]  # four unpainted slices through the LV
    figure = classification_figure(volume.array, figure_data["support"], truth, figure_data["ours"],
                                   figure_data["growcut"], figure_data["probability"], case.slices, shown,
                                   "PhysioNet MPS patient001: 3 painted slices, the rest classified", lines,
                                   out / "classification_report.png")
    for path in [*written, figure]:
        print(f"wrote {path}")


def landmarks_step(context: DemoContext) -> None:
    """Step 3: LV landmarks from one phantom template, compared with the mask-derived reference; figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from SPECTFewShotLib.commands.localize import study_myocardium
    from SPECTFewShotLib.io.atomic import atomic_path
    from SPECTFewShotLib.io.markups_io import read_landmarks, write_landmarks
    from SPECTFewShotLib.landmarks.staged import Localizer
    from SPECTFewShotLib.research.demo_landmarks import (
        DEMO_TEMPLATE_SEED,
        demo_template,
        demo_template_wall,
        draw_landmarks,
        place_demo_landmarks,
    )

    volume, out = context.volume, context.output
    mask = volume.with_array(context.wall.astype(np.uint8))
    print(f"== 3. Landmarks: the staged localiser places the LV centre, apex and base and the long axis in the LV "
          f"frame of the myocardium classified in step 2 (labels from one phantom template, seed "
          f"{DEMO_TEMPLATE_SEED}); x = reference derived from the LV-wall mask")
    started = time.perf_counter()
    # the classification and the template as written, as the README's chain reads them: the same landmarks to the
    # last digit
    classified = study_myocardium(volume, str(out / "classes.seg.nrrd"))
    template, template_landmarks = demo_template(DEMO_TEMPLATE_SEED)
    template_wall = demo_template_wall(DEMO_TEMPLATE_SEED)
    written = [write_volume(template, out / TEMPLATE_FILE),
               write_landmarks(template_landmarks, out / TEMPLATE_LANDMARKS),
               write_segmentation(Segmentation(template_wall, segments_for([1], {1: "LV_myocardium"})),
                                  out / TEMPLATE_MYOCARDIUM)]
    template = require_counts(read_volume(written[0]), TEMPLATE_FILE)
    template_landmarks = read_landmarks(written[1])
    template_wall = study_myocardium(template, str(written[2]))
    placed, reference, lines = place_demo_landmarks(volume, out, mask, myocardium=classified,
                                                    template=(template, template_landmarks, template_wall))
    seconds = time.perf_counter() - started
    print("\n".join(lines))
    print(f"(template simulated and landmarks placed in {seconds:.1f} s)")
    counts_only = Localizer().place(volume, [(template, template_landmarks)]).landmarks
    truth = {lm.label: np.asarray(lm.position_lps) for lm in reference}
    errors = [f"{lm.label} {np.linalg.norm(np.asarray(lm.position_lps) - truth[lm.label]):.1f} mm"
              for lm in counts_only if lm.label in truth]
    print(f"  for comparison, the LV frame from the counts alone: {', '.join(errors)} from the reference")
    context.results["landmarks"] = read_landmarks(out / "landmarks.mrk.json")  # as written, as the chain reads them
    _convention_followed(volume, classified, mask)
    print(f"wrote {written[0]}, {written[1].name} and {written[2].name} (the template: `spectfewshot localize "
          "--template ... --template-landmarks ... --template-segmentation ... --segmentation classes.seg.nrrd` with "
          "these three files and step 2's classification gives these landmarks; without --segmentation the study's "
          "frame comes from its wall classified from the template's (one-shot); for your own study take "
          "Resources/SampleData/physionet-mps/patient003_*)")
    figure, axes = plt.subplots(1, len(placed), figsize=(4 * len(placed), 4.3))
    for ax, landmark in zip(np.atleast_1d(axes), placed):
        k = int(np.clip(np.round(volume.lps_to_index(landmark.position_lps)[2]), 0, volume.array.shape[0] - 1))
        draw_landmarks(ax, volume, placed, k, reference, f"{landmark.label}: axial slice k={k}")
    figure.suptitle("PhysioNet MPS patient001: LV landmarks of the staged localiser (x: mask-derived reference)",
                    fontsize=9)
    figure.tight_layout()
    path = out / "landmarks_report.png"
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110)
    plt.close(figure)
    print(f"wrote {path}")


def _convention_followed(volume: Volume, myocardium: Volume, mask: Volume) -> None:
    """Print where the points of a template annotated in another convention land (apex at the endocardial
    apex, base at the basal ring's centre, centre halfway: research.demo_landmarks.endocardial_convention, made on
    the fly from an LV-wall mask): each placed point's distance to that convention's point on the target, next to
    its distance to our definition's (cardiac_landmarks). Two templates: this study itself placed in a copy of it
    turned and shifted (the frames from its mask and the mask moved with the copy; the target's points are the
    template's moved), and the bundled patient003 placed in this study (the frames from this study's classified wall
    and patient003's mask; the target's points from this study's mask)."""
    from SPECTFewShotLib.cardiac_landmarks import lv_geometry, wall_points_lps
    from SPECTFewShotLib.cardiac_views.rotations import axis_rotation
    from SPECTFewShotLib.landmarks.staged import Localizer
    from SPECTFewShotLib.research.demo_landmarks import endocardial_convention

    def distances(placed: list, theirs: list, ours: list) -> str:
        by_label = {lm.label: np.asarray(lm.position_lps) for lm in placed}
        return ", ".join(f"{t.label} {np.linalg.norm(by_label[t.label] - t.position_lps):.1f} mm "
                         f"({np.linalg.norm(by_label[t.label] - o.position_lps):.1f})" for t, o in zip(theirs, ours))

    def conventions(wall: Volume) -> tuple[list, list]:
        geometry = lv_geometry(wall_points_lps(wall), min(wall.spacing))
        return endocardial_convention(wall, geometry), geometry.landmarks()

    mine, ours = conventions(mask)
    rotation = axis_rotation(CONVENTION_ROTATION_AXIS, CONVENTION_ROTATION_DEGREES)
    centre = volume.index_to_lps((np.asarray(volume.size, dtype=float) - 1) / 2)

    def move(point: object) -> tuple:
        return tuple(rotation @ (np.asarray(point, dtype=float) - centre) + centre + CONVENTION_SHIFT_MM)

    print("  a template in another convention (apex where the cavity begins on the long axis, base at the basal "
          "ring's centre short of the valve plane, centre halfway), annotated on the fly from an LV-wall mask; each "
          "placed point's distance to that convention's point on the target (in brackets: to our definition's):")
    moved = Volume(volume.array, volume.spacing, move(volume.origin),
                   tuple((rotation @ volume.direction_matrix).ravel()))
    itself = Localizer().place(moved, [(volume, mine)], myocardium=moved.with_array(mask.array),
                               template_myocardia=[mask]).landmarks
    print(f"    this study as the template, placed in a copy of it turned {CONVENTION_ROTATION_DEGREES:.0f} deg and "
          f"shifted {np.linalg.norm(CONVENTION_SHIFT_MM):.0f} mm (LV frames from the two walls): "
          + distances(itself, [type(lm)(lm.label, move(lm.position_lps)) for lm in mine],
                      [type(lm)(lm.label, move(lm.position_lps)) for lm in ours]))
    image_path, mask_path = template_study()[0], SAMPLE_DIR / "patient003_mask.nii.gz"
    template = require_counts(read_volume(image_path), image_path.name)
    template_wall = template.with_array((read_segmentation(mask_path).labels.array > 0).astype(np.uint8))
    template_points, template_ours = conventions(template_wall)
    placed = Localizer().place(volume, [(template, template_points)], myocardium=myocardium,
                               template_myocardia=[template_wall]).landmarks
    print("    patient003 as the template (LV frames from this study's classified wall and patient003's mask; the "
          "target's points from this study's mask): " + distances(placed, mine, ours))

    def apical_wall(points: list, defined: list) -> float:
        (theirs,), (own,) = ([lm.position_lps for lm in group if lm.label == "LV_apex"] for group in (points, defined))
        return float(np.linalg.norm(np.subtract(theirs, own)))

    print(f"    (the masks draw the apical wall {apical_wall(mine, ours):.0f} mm (this study) and "
          f"{apical_wall(template_points, template_ours):.0f} mm (patient003) thick on the long axis: the carry keeps "
          "a point's fraction of the apical wall and of the cavity (a knot where the cavity ends on the axis), so the "
          "apex lands where this mask's cavity begins; this convention's centre, halfway between its apex and base and "
          "so not the wall's centroid, is carried by its place in the LV frame and moved toward the same fraction of "
          "the way between the placed apex and base, the farther the more: d^2 / (d^2 + 4^2) of the way when the two "
          "lie d mm apart and both frames come from walls)")


def views_step(context: DemoContext) -> None:
    """Step 4: short-axis and long-axis views and the 17-segment polar map of the classified myocardium along the
    placed long axis, next to the same polar map from the reference mask."""
    from SPECTFewShotLib.cardiac_views.analysis import analyze
    from SPECTFewShotLib.cardiac_views.polar_figure import reduced_segments_text, write_polar_figure
    from SPECTFewShotLib.cardiac_views.polar_map import segments_csv
    from SPECTFewShotLib.cardiac_views.reorientation import display_aligned
    from SPECTFewShotLib.io.atomic import write_text_atomic

    volume, out = context.volume, context.output
    classified = context.results["classified_myocardium"]
    print("== 4. Cardiac views and the 17-segment polar map of the classified myocardium along the placed long axis")
    started = time.perf_counter()
    result = analyze(volume, classified, context.results["landmarks"])
    seconds = time.perf_counter() - started
    reference = analyze(volume, context.wall, context.results["landmarks"])
    differences = [abs(a.uptake_percent - b.uptake_percent)
                   for a, b in zip(result.polar_map.segments, reference.polar_map.segments)]
    print(f"views and polar map in {seconds:.2f} s; reduced segments (< 70 % of the myocardial maximum): "
          f"{reduced_segments_text(result.polar_map)}; uptake from the classification vs from the mask: "
          f"{sum(d <= 5.0 for d in differences)}/17 segments within 5 points (largest difference "
          f"{max(differences):.1f})")
    for name, view in result.views.items():  # axis-aligned, as `polar-map` writes them: the Red view shows them
        print(f"wrote {write_volume(display_aligned(view, result.frame.center), out / f'{name}.nii.gz')}")
    write_text_atomic(out / "segments.csv", segments_csv(result.polar_map))
    write_polar_figure(result.polar_map, out / "polar_map.png", "PhysioNet MPS patient001")
    print(f"wrote {out / 'segments.csv'} and {out / 'polar_map.png'}")


DEMO_STEPS: list[Callable[[DemoContext], None]] = [describe_step, classify_step, landmarks_step, views_step]
