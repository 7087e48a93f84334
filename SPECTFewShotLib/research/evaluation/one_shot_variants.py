"""One-shot wall variants side by side in one run (issue 35: the one-shot frame's long axis and confidence).

The one-shot frame (`localize` with a template myocardium and no study segmentation) takes the study's LV frame from
its wall classified by ProtoNet from the template's (landmarks/template_segmentation.py). Each variant replaces how
that classification becomes the wall (unittest.mock on `OneShotWall.wall`); the network's probabilities are
computed once per case and shared by every variant, so the variants differ only in the rule. Templates in the three
conventions (localize_conventions), real pairs of --real (both ways) and phantoms (each with the next as template):
--phantoms training-range seeds from --phantom-start (tuning), or --held-out seeds (measured only). Variants:
- "before": the wall rule of 918b653 (the wall class's argmax within the LV region, above the count floor), no
  `uncovered` evidence in the confidence (confidence.UNCOVERED_MM 0);
- "band": the wall also within lv_frame.WALL_BAND_MM of the counts' myocardium (da8d100), UNCOVERED_MM 0;
- "band+cover": the band and the `uncovered` evidence: the product before the closed-ring cut;
- "product": the product as it is (also cut where the study's closed ring ends plus the template's own overhang,
  template_segmentation.basal_overhang, and the `uncovered` evidence);
- "ring-inner", "own-inner" (8 mm), "own6-inner" (6 mm), "paint-sure": candidates for the frame's axis screened by
  one_shot_axis (the product's wall less the voxels curled 8 mm into their ring about the counts' axis, or about the
  wall's own; a second round classified from the product wall's sure voxels painted on its quartile slices), the
  `uncovered` evidence as the product's;
- "cut-slab", "cut-half": the product's closed-ring cut one 5 mm slab (half a slab) shorter (the template's overhang
  less RING_SLAB_MM, or half of it);
- "own6-basal-axis" (issue 35, helper M): the frame's long axis from the "own6-basal" wall (the basal curl trimmed),
  everything else (the wall the frame keeps, its centre, apex, base, radius, the `uncovered` evidence) from the
  product's untrimmed wall: `lv_frame.frame_from_segmentation` of that wall redone with the trimmed wall's axis
  (`with_axis`; `cardiac_landmarks.lv_geometry` takes an axis chosen beforehand);
- "own6-basal-ends": the trimmed wall's frame's axis and apex, the untrimmed wall's frame's centre and base point as
  they are (`with_ends`); "own6-basal-ends-half": the same with the whole wall cut as "cut-half";
- "fit-axis", "fit-apex", "fit-found", "fit-frame" (issue 35, helper N): the template's wall fitted to the study's
  one-shot wall (research.evaluation.one_shot_shape_fit, `frame_rules`), the frame the product's with the template's
  axis mapped through the fit (its apex the product's, the template's mapped, or found on the wall along the new
  axis), or the template's whole frame mapped.

    python -m SPECTFewShotLib.research.evaluation.one_shot_variants --real DIR [--phantoms 8] [--held-out 0]
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

SURE, WITHIN_MM, FAR_MM = 0.8, 8.0, 15.0


class Probabilities:
    """The one-shot network's wall probabilities per (study, template) pair, computed once (the product's
    `OneShotWall.wall` up to the rule that makes them a wall)."""

    def __init__(self) -> None:
        from SPECTFewShotLib.landmarks.template_segmentation import OneShotWall

        self.one_shot = OneShotWall()
        self.one_shot.session()
        self.cache: dict[tuple[int, int], np.ndarray] = {}

    def __call__(self, template_volume: Volume, template_myocardium: Volume, volume: Volume) -> np.ndarray:
        """Class probabilities (3, k, j, i) of `volume` against the template's prototypes."""
        from SPECTFewShotLib.landmarks.template_segmentation import on_grid, template_classes

        key = (id(volume), id(template_volume))
        if key not in self.cache:
            session = self.one_shot.session()
            session.set_volume(template_volume)
            classes = template_classes(on_grid(template_myocardium, template_volume), template_volume.spacing[::-1])
            prototypes = session.prototypes(classes, np.argwhere(classes >= 0))
            session.set_volume(volume)
            self.cache[key] = np.asarray(session.grid.to_voxels(session.grid_probabilities(prototypes)))
        return self.cache[key]


WallRule = Callable[[np.ndarray, Volume, object, np.ndarray, float], np.ndarray]


def rule_product(probabilities: np.ndarray, volume: Volume, near, counts: np.ndarray, overhang_mm: float
                 ) -> np.ndarray:
    """The product's rule as it is (template_segmentation.wall_from_probabilities with the template's overhang)."""
    from SPECTFewShotLib.landmarks.template_segmentation import wall_from_probabilities

    return wall_from_probabilities(probabilities, volume, near, counts, overhang_mm)


def rule_band(probabilities: np.ndarray, volume: Volume, near, counts: np.ndarray, overhang_mm: float
              ) -> np.ndarray:
    """The product's rule before the closed-ring cut (wall_from_probabilities without an overhang)."""
    from SPECTFewShotLib.landmarks.template_segmentation import wall_from_probabilities

    return wall_from_probabilities(probabilities, volume, near, counts)


def rule_before(probabilities: np.ndarray, volume: Volume, near, counts: np.ndarray, overhang_mm: float
                ) -> np.ndarray:
    """The rule of 918b653: the wall class's argmax, within the LV region, above the count floor."""
    from SPECTFewShotLib.landmarks.local_alignment import lv_region
    from SPECTFewShotLib.landmarks.lv_frame import WALL_FRACTION, mid_wall_points
    from SPECTFewShotLib.landmarks.template_segmentation import WALL

    _, level = mid_wall_points(volume, counts, near.geometry.center)
    return (np.argmax(probabilities, axis=0) == WALL) & lv_region(volume, near) & (counts >= WALL_FRACTION * level)


def rule_ring_inner(probabilities: np.ndarray, volume: Volume, near, counts: np.ndarray, overhang_mm: float
                    ) -> np.ndarray:
    """The product's wall less the voxels more than 8 mm inside their 5 mm slab's ring about the counts' axis
    (one_shot_axis.ring_rule: a wall curled into the cavity on one side)."""
    from SPECTFewShotLib.research.evaluation.one_shot_axis import RULES as SCREENED

    return SCREENED["ring 8 inner"](probabilities, volume, near, counts, overhang_mm)


def rule_own_inner(probabilities: np.ndarray, volume: Volume, near, counts: np.ndarray, overhang_mm: float
                   ) -> np.ndarray:
    """The product's wall less the voxels more than 8 mm inside their 5 mm slab's ring about the wall's own
    revolution axis (one_shot_axis "own 8 inner")."""
    from SPECTFewShotLib.research.evaluation.one_shot_axis import RULES as SCREENED

    return SCREENED["own 8 inner"](probabilities, volume, near, counts, overhang_mm)


def rule_own6_inner(probabilities: np.ndarray, volume: Volume, near, counts: np.ndarray, overhang_mm: float
                    ) -> np.ndarray:
    """As "own-inner" with 6 mm (one_shot_axis "own 6 inner")."""
    from SPECTFewShotLib.research.evaluation.one_shot_axis import RULES as SCREENED

    return SCREENED["own 6 inner"](probabilities, volume, near, counts, overhang_mm)


def rule_own6_basal(probabilities: np.ndarray, volume: Volume, near, counts: np.ndarray, overhang_mm: float
                    ) -> np.ndarray:
    """As "own6-inner" in the wall's basal half only (the apical cap is no ring; one_shot_axis "own 6 basal")."""
    from SPECTFewShotLib.research.evaluation.one_shot_axis import RULES as SCREENED

    return SCREENED["own 6 basal"](probabilities, volume, near, counts, overhang_mm)


def rule_paint_sure(probabilities: np.ndarray, volume: Volume, near, counts: np.ndarray, overhang_mm: float
                    ) -> np.ndarray:
    """A second round: the product wall's sure voxels (wall probability >= 0.9) and sure non-wall (< 0.1) painted on
    its quartile axial slices, the study classified from that paint as `classify` does (one_shot_axis.second_round)."""
    from SPECTFewShotLib.research.evaluation.one_shot_axis import RULES as SCREENED

    return SCREENED["paint sure"](probabilities, volume, near, counts, overhang_mm)


def rule_cut_slab(probabilities: np.ndarray, volume: Volume, near, counts: np.ndarray, overhang_mm: float
                  ) -> np.ndarray:
    """The product's rule with the closed-ring cut one slab (template_segmentation.RING_SLAB_MM) shorter: no
    farther than the template's overhang less 5 mm past the study's closed ring (one_shot_axis "allow -5")."""
    from SPECTFewShotLib.landmarks.template_segmentation import RING_SLAB_MM

    return rule_product(probabilities, volume, near, counts, overhang_mm - RING_SLAB_MM)


def rule_cut_half(probabilities: np.ndarray, volume: Volume, near, counts: np.ndarray, overhang_mm: float
                  ) -> np.ndarray:
    """The product's rule with the closed-ring cut half a slab (RING_SLAB_MM / 2) shorter (one_shot_axis
    "allow -2.5")."""
    from SPECTFewShotLib.landmarks.template_segmentation import RING_SLAB_MM

    return rule_product(probabilities, volume, near, counts, overhang_mm - 0.5 * RING_SLAB_MM)


def with_axis(frame, other, spacing_mm: float):
    """`frame` (an lv_frame.LVFrame from a wall of `spacing_mm` voxels) with its geometry redone on its own wall
    points about `other`'s long axis (cardiac_landmarks.lv_geometry: centre, apex, base and the axis's sense from
    those points) and its radius the points' mean distance from that axis."""
    from dataclasses import replace

    from SPECTFewShotLib.cardiac_landmarks import lv_geometry

    geometry = lv_geometry(frame.wall_points, spacing_mm, other.geometry.axis)
    return replace(frame, geometry=geometry, radius_mm=radius_about(frame.wall_points, geometry))


def with_ends(frame, other, spacing_mm: float):
    """`frame` with its long axis and apex from `other` (the axis's sense as `frame`'s), its centre, base and wall
    points its own, its radius its wall's mean distance from that axis."""
    from dataclasses import replace

    from SPECTFewShotLib.cardiac_landmarks import LVGeometry

    axis = other.geometry.axis * (1.0 if other.geometry.axis @ frame.geometry.axis >= 0 else -1.0)
    geometry = LVGeometry(frame.geometry.center, other.geometry.apex, frame.geometry.base, axis)
    return replace(frame, geometry=geometry, radius_mm=radius_about(frame.wall_points, geometry))


def radius_about(points: np.ndarray, geometry) -> float:
    """Mean distance of `points` (n, 3) from `geometry`'s long axis (through its centre)."""
    relative = points - geometry.center
    along = relative @ geometry.axis
    return float(np.linalg.norm(relative - along[:, None] * geometry.axis, axis=1).mean())


FRAME_RULE_NAMES = ("fit-axis", "fit-apex", "fit-found", "fit-frame")  # frame_rules()
# variant -> (wall rule, confidence.UNCOVERED_MM for the run; None: the product's)
RULES: dict[str, tuple[WallRule, float | None]] = {"before": (rule_before, 0.0), "band": (rule_band, 0.0),
                                                   "band+cover": (rule_band, None), "product": (rule_product, None),
                                                   "ring-inner": (rule_ring_inner, None),
                                                   "paint-sure": (rule_paint_sure, None),
                                                   "cut-slab": (rule_cut_slab, None),
                                                   "cut-half": (rule_cut_half, None),
                                                   "own-inner": (rule_own_inner, None),
                                                   "own6-inner": (rule_own6_inner, None),
                                                   "own6-basal": (rule_own6_basal, None),
                                                   "own6-basal-axis": (rule_product, None),
                                                   "own6-basal-ends": (rule_product, None),
                                                   "own6-basal-ends-half": (rule_cut_half, None),
                                                   **{name: (rule_product, None) for name in FRAME_RULE_NAMES}}
# variant -> (a second wall rule, how the frame from RULES's wall takes from that wall's frame: with_axis, with_ends)
AXIS_RULES: dict[str, tuple[WallRule, Callable]] = {"own6-basal-axis": (rule_own6_basal, with_axis),
                                                    "own6-basal-ends": (rule_own6_basal, with_ends),
                                                    "own6-basal-ends-half": (rule_own6_basal, with_ends)}


def fit_rule(setting, compose: str) -> Callable:
    """A frame rule (`FRAME_RULES`): the study's one-shot frame composed with the template's wall fitted to the
    study's (research.evaluation.one_shot_shape_fit.study_fit with `setting`): `compose` "axis" (only the axis,
    with_fitted_axis), "axis+apex" (the axis and the template's apex mapped), "axis+found" (the axis and the apex
    found on the study's wall along it), "whole" (the template's frame mapped, fitted_frame)."""
    from SPECTFewShotLib.research.evaluation import one_shot_shape_fit as shape

    def rule(frame, template_frame, template_volume, volume, counts):
        fit = shape.study_fit(template_frame, template_volume, frame, volume, counts, setting)
        if compose == "whole":
            return shape.fitted_frame(template_frame, frame, fit)
        apex = {"axis": "own", "axis+apex": "fit", "axis+found": "found"}[compose]
        return shape.with_fitted_axis(frame, template_frame, fit, min(volume.spacing), apex)
    return rule


def frame_rules() -> dict[str, Callable]:
    """variant -> frame rule (frame, template frame, template volume, volume, counts) -> the frame the localiser
    takes instead of the one-shot wall's own (issue 35, helper N: the template's wall fitted to the study's)."""
    from SPECTFewShotLib.research.evaluation.one_shot_shape_fit import FitSetting

    chosen = FitSetting()  # chosen on the training-range phantoms' frames (one_shot_frame_axis_steady.txt, 7)
    return {"fit-axis": fit_rule(chosen, "axis"), "fit-apex": fit_rule(chosen, "axis+apex"),
            "fit-found": fit_rule(chosen, "axis+found"), "fit-frame": fit_rule(chosen, "whole")}


@contextlib.contextmanager
def variant(rule: WallRule, uncovered_mm: float | None, probabilities: Probabilities,
            axis_rule: tuple[WallRule, Callable] | None = None, frame_rule: Callable | None = None
            ) -> Iterator[None]:
    """`OneShotWall.wall` replaced by `rule` on the shared probabilities for the duration, and
    `confidence.UNCOVERED_MM` by `uncovered_mm` unless None; with `axis_rule` (a second wall rule, a composer), the
    frame the localiser makes from that wall (staged.frame_from_segmentation) is composed with the frame of the
    second rule's wall (`with_axis`, `with_ends`; unchanged where that wall makes no frame); with `frame_rule`
    (`frame_rules`), that frame is the rule's of it, the template's frame, the template volume, the study and its
    counts."""
    from SPECTFewShotLib.errors import InputError
    from SPECTFewShotLib.landmarks.heart_search import smoothed_counts
    from SPECTFewShotLib.landmarks.lv_frame import frame_from_segmentation
    from SPECTFewShotLib.landmarks.template_segmentation import basal_overhang

    axes: dict = {}  # the last wall made (the Volume object) -> the frame of the second rule's wall

    def wall(self, template_volume, template_myocardium, volume, near, counts=None, template_frame=None):
        counts = smoothed_counts(volume) if counts is None else counts
        template_frame = frame_from_segmentation(template_myocardium) if template_frame is None else template_frame
        shared = (probabilities(template_volume, template_myocardium, volume), volume, near, counts,
                  basal_overhang(template_frame))
        made = volume.with_array(rule(*shared).astype(np.uint8))
        axes.clear()
        if frame_rule is not None:
            axes[id(made)] = (made, (template_frame, template_volume, volume, counts))
        if axis_rule is not None:
            with contextlib.suppress(InputError):  # no frame from the second wall: the frame as it is
                axes[id(made)] = (made, frame_from_segmentation(
                    volume.with_array(axis_rule[0](*shared).astype(np.uint8))))
        return made

    def frame_with_axis(mask, label=None):
        frame = frame_from_segmentation(mask, label)
        if id(mask) in axes and axes[id(mask)][0] is mask:
            if frame_rule is not None:
                return frame_rule(frame, *axes[id(mask)][1])
            return axis_rule[1](frame, axes[id(mask)][1], min(mask.spacing))
        return frame

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch("SPECTFewShotLib.landmarks.template_segmentation.OneShotWall.wall", wall))
        if axis_rule is not None or frame_rule is not None:
            stack.enter_context(mock.patch("SPECTFewShotLib.landmarks.staged.frame_from_segmentation",
                                           frame_with_axis))
        if uncovered_mm is not None:
            stack.enter_context(mock.patch("SPECTFewShotLib.landmarks.confidence.UNCOVERED_MM", uncovered_mm))
        yield


def add_case_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose the cases (`groups_from`): --real, --phantoms, --phantom-start, --held-out."""
    parser.add_argument("--real", metavar="DIR", help="real studies with LV-wall masks (NAME_image, NAME_mask)")
    parser.add_argument("--phantoms", type=int, default=0, help="training-range phantoms (default: %(default)s)")
    parser.add_argument("--phantom-start", type=int, default=500, help="their first seed (default: %(default)s)")
    parser.add_argument("--held-out", type=int, default=0, help="held-out phantoms (default: %(default)s)")


def groups_from(args: argparse.Namespace) -> dict[str, tuple[list, list]]:
    """`groups_of` the cases `add_case_arguments`' options chose."""
    return groups_of(args.real, args.phantoms, args.phantom_start, args.held_out)


def groups_of(real: str | None, phantoms: int, phantom_start: int, held_out: int) -> dict[str, tuple[list, list]]:
    """Per group: the cases and their template walls."""
    from SPECTFewShotLib.research.evaluation.localize_cases import phantom_cases, real_pair_cases
    from SPECTFewShotLib.research.seeds import held_out_seeds, training_seeds

    groups = {}
    if real:
        cases = real_pair_cases(real)
        walls = {case.name.split(" -> ")[1]: case.target_wall for case in cases}
        groups["real pairs"] = (cases, [walls[case.name.split(" -> ")[0]] for case in cases])
    for title, seeds in ((f"phantoms {phantom_start}+", training_seeds(phantoms, phantom_start) if phantoms else []),
                         ("held-out phantoms", held_out_seeds(held_out) if held_out else [])):
        if seeds:
            cases = phantom_cases(seeds)
            groups[title] = (cases, [cases[(n + 1) % len(cases)].target_wall for n in range(len(cases))])
    return groups


def confidence_cells(result) -> str:
    """Points at >= 0.8 and the share of them within 8 mm; points off by > 15 mm and the share flagged."""
    from SPECTFewShotLib.landmarks.fusion import LOW_CONFIDENCE

    errors = np.array([e for label in result.errors for e in result.errors[label]])
    confidences = np.array([c for label in result.errors for c in result.confidences.get(label, [])])
    if len(confidences) != len(errors):
        return ""
    sure, far = confidences >= SURE, errors > FAR_MM
    within = f"{np.mean(errors[sure] <= WITHIN_MM):.0%}" if sure.any() else "-"
    flagged = f"{np.mean(confidences[far] < LOW_CONFIDENCE):.0%}" if far.any() else "-"
    return f"sure {int(sure.sum())}/{len(errors)} within8 {within} far {int(far.sum())} flagged {flagged}"


def rows(groups: dict, names: Sequence[str], conventions: Sequence[str] | None = None,
         records: list | None = None) -> Iterator[str]:
    """One line per convention, group and variant: mean / max error per landmark (mm), long-axis angle per case,
    confidence figures, time."""
    from SPECTFewShotLib.landmarks.staged import Localizer
    from SPECTFewShotLib.research.evaluation.localize_conventions import CONVENTIONS, with_convention
    from SPECTFewShotLib.research.evaluation.localize_eval import evaluate_cases

    current = [""]
    probabilities = Probabilities()
    localizer = Localizer(one_shot=True)
    frames = frame_rules()
    for convention in conventions or CONVENTIONS:
        for title, (cases, template_walls) in groups.items():
            masks = {id(case.template_volume): case.template_volume.with_array(wall.astype(np.uint8))
                     for case, wall in zip(cases, template_walls)}

            def place(target: Volume, template: Volume, landmarks: list, masks: dict = masks,
                      convention: str = convention, title: str = title) -> list:
                placement = localizer.place(target, [(template, landmarks)], template_myocardia=[masks[id(template)]])
                if records is not None:  # each point's evidence, for the confidence's calibration
                    records.append({"convention": convention, "group": title, "variant": current[0],
                                    "source": placement.frame.source, "labels": [lm.label for lm in landmarks],
                                    "positions": [list(lm.position_lps) for lm in placement.landmarks],
                                    "confidence": [lm.confidence for lm in placement.landmarks],
                                    "evidence": placement.evidence.rows().tolist(),
                                    "uncovered": (placement.evidence.uncovered.tolist()
                                                  if placement.evidence.uncovered is not None else None)})
                return placement.landmarks

            converted = with_convention(cases, template_walls, convention)
            truths = [case.truth() for case in converted]
            first = len(records) if records is not None else 0
            for name in names:
                current[0] = name
                with variant(*RULES[name], probabilities=probabilities, axis_rule=AXIS_RULES.get(name),
                             frame_rule=frames.get(name)):
                    result = evaluate_cases(converted, {name: place})[name]
                summary = result.summary()
                cells = "  ".join(f"{label.replace('RV_insertion_', 'RV_')} {s['mean']:.1f}/{s['max']:.1f}"
                                  for label, s in summary.items())
                axes = " ".join(f"{a:.1f}" for a in result.axis_deg)
                if records is not None:  # the truth of each placement just recorded (cases in order)
                    for record, truth in zip(records[first:], truths):
                        record["truth"] = [list(map(float, truth[label])) for label in record["labels"]]
                    first = len(records)
                yield (f"{convention:<11} {title:<17} {name:<10} {cells}  axis {np.mean(result.axis_deg):.1f}/"
                       f"{np.max(result.axis_deg):.1f} deg ({axes})  {confidence_cells(result)}  "
                       f"{np.median(result.seconds):.2f} s")


def main(argv: Sequence[str] | None = None) -> None:
    """Print the variants' table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_case_arguments(parser)
    parser.add_argument("--variants", nargs="*", default=list(RULES), choices=list(RULES))
    parser.add_argument("--conventions", nargs="*", default=None, help="default: all three")
    parser.add_argument("--json", metavar="FILE", help="also write every placement's points, evidence and truth")
    args = parser.parse_args(argv)
    records: list | None = [] if args.json else None
    started = time.perf_counter()
    groups = groups_from(args)
    sys.stdout.write("convention  group             variant    error mean/max (mm) per landmark, long axis mean/max "
                     "(per case), confidence, median seconds per case\n")
    for line in rows(groups, args.variants, args.conventions, records):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    if args.json:
        import json

        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(records, handle)
    sys.stdout.write(f"took {time.perf_counter() - started:.0f} s\n")


if __name__ == "__main__":
    main()
