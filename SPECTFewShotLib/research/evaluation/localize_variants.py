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
  centres (carry.base_reference_weights) and a template LV_center off its wall's centroid half carried by its own
  apex and base (carry.centre_by_ends).
- "frame-base": "frame" without the base's two centres; "frame-centre": without the centre rule;
  "frame+centre1": the centre rule at full weight (carry.CENTRE_RULE_WEIGHT 1).
- "knot+steady": "knot" with a steadier revolution-axis fit (`steady_axis`) in place of
  cardiac_landmarks.revolution_axis in the frames (the annotators' axis stays).
- "registration": the affine registration baseline (research.baselines.registration), for the time.

    python -m SPECTFewShotLib.research.evaluation.localize_variants --real DIR [--held-out 8] [--variants ...]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import Iterator, Sequence
from unittest import mock

import numpy as np

from SPECTFewShotLib.volume import Volume

VARIANTS = ("before", "knot", "frame", "frame-base", "frame-centre", "frame+centre1", "knot+steady", "registration")
DEFAULT_VARIANTS = ("knot", "frame", "frame-base", "frame-centre", "frame+centre1", "knot+steady", "registration")
STEADY_SHIFTS = 4  # slab cuts averaged, offset by this fraction of SLAB_MM each
STEADY_GRID_DEG, STEADY_RADIUS_DEG = 2.0, 12.0  # near-best directions around the fitted axis
STEADY_TEMPERATURE = 0.01  # their weights: exp(-(score - best) / (this * best))


def shifted_spread(points: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """cardiac_landmarks.ring_spread averaged over `STEADY_SHIFTS` slab cuts shifted along each direction (the
    score no longer jumps where a slab boundary crosses a ring of voxels)."""
    from SPECTFewShotLib.cardiac_landmarks import ring_spread

    spreads = np.zeros(len(directions))
    for shift in range(STEADY_SHIFTS):
        spreads += ring_spread(points, directions, offset=shift / STEADY_SHIFTS)
    return spreads / STEADY_SHIFTS


def steady_axis(points: np.ndarray) -> np.ndarray:
    """The lattice search and refinement of cardiac_landmarks.revolution_axis on `shifted_spread`, then the
    weighted centre of the directions within `STEADY_RADIUS_DEG` of it (a `STEADY_GRID_DEG` grid)."""
    from SPECTFewShotLib.cardiac_landmarks import AXIS_REFINE_DEGREES, direction_lattice

    lattice = direction_lattice()
    axis = lattice[np.argmin(shifted_spread(points, lattice))]

    def around(centre: np.ndarray, degrees: float, steps: int) -> np.ndarray:
        first = np.cross(centre, [1.0, 0.0, 0.0] if abs(centre[0]) < 0.9 else [0.0, 1.0, 0.0])
        first /= np.linalg.norm(first)
        second = np.cross(centre, first)
        step = np.tan(np.radians(degrees))
        tries = np.array([centre + a * step * first + b * step * second for a in range(-steps, steps + 1)
                          for b in range(-steps, steps + 1) if a * a + b * b <= steps * steps])
        return tries / np.linalg.norm(tries, axis=1, keepdims=True)

    for degrees in AXIS_REFINE_DEGREES:
        tries = around(axis, degrees, 1)
        axis = tries[np.argmin(shifted_spread(points, tries))]
    grid = around(axis, STEADY_GRID_DEG, round(STEADY_RADIUS_DEG / STEADY_GRID_DEG))
    scores = shifted_spread(points, grid)
    weights = np.exp(-(scores - scores.min()) / (STEADY_TEMPERATURE * scores.min()))
    mean = weights @ grid
    return mean / np.linalg.norm(mean)


def _proportional_knot(frame) -> float:
    """The endocardial knot where the centre-to-apex proportion puts it: the map without the knot."""
    from SPECTFewShotLib.landmarks.carry import ENDOCARDIAL_ALONG

    geometry = frame.geometry
    return ENDOCARDIAL_ALONG * max(float((geometry.apex - geometry.center) @ -geometry.axis), 1e-9)


@contextlib.contextmanager
def variant(name: str) -> Iterator[None]:
    """The product with `name`'s replacement in place for the duration ("registration" runs under "knot")."""
    carry = "SPECTFewShotLib.landmarks.carry"
    base_off = mock.patch(f"{carry}.BASE_REFERENCE_MM", float("inf"))
    centre_off = mock.patch(f"{carry}.CENTRE_RULE_WEIGHT", 0.0)
    with contextlib.ExitStack() as stack:
        if name in ("before", "knot", "knot+steady", "registration"):
            stack.enter_context(base_off)
            stack.enter_context(centre_off)
        if name == "before":
            stack.enter_context(mock.patch(f"{carry}.endocardial_apex_mm", _proportional_knot))
        elif name == "knot+steady":
            stack.enter_context(mock.patch("SPECTFewShotLib.cardiac_landmarks.revolution_axis", steady_axis))
        elif name == "frame-base":
            stack.enter_context(base_off)
        elif name == "frame-centre":
            stack.enter_context(centre_off)
        elif name == "frame+centre1":
            stack.enter_context(mock.patch(f"{carry}.CENTRE_RULE_WEIGHT", 1.0))
        elif name not in ("knot", "frame", "registration"):
            raise ValueError(f"unknown variant {name!r}")
        yield


def groups_of(real: str | None, held_out: int) -> dict[str, tuple[list, list, dict]]:
    """Per group: the cases, their template walls and the targets' classified walls (by target volume id)."""
    from SPECTFewShotLib.research.evaluation.localize_cases import classified_wall, phantom_cases, real_pair_cases
    from SPECTFewShotLib.research.seeds import held_out_seeds

    groups = {}
    if real:
        cases = real_pair_cases(real)
        walls = {case.name.split(" -> ")[1]: case.target_wall for case in cases}
        groups["real pairs"] = (cases, [walls[case.name.split(" -> ")[0]] for case in cases])
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
    parser.add_argument("--variants", nargs="*", default=list(DEFAULT_VARIANTS), choices=VARIANTS)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    groups = groups_of(args.real, args.held_out)
    sys.stdout.write("convention  group             variant      error mean/max (mm) per landmark, long axis, "
                     "median seconds per case\n")
    for line in rows(groups, args.variants):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    sys.stdout.write(f"took {time.perf_counter() - started:.0f} s\n")


if __name__ == "__main__":
    main()
