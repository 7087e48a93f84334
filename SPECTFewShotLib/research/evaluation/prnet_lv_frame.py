"""PRNet's feature search read in each study's LV frame against axial slices, same runs (issue 35 item 2).

Variants of the stage (prnet.refine.PRNetRefiner), each on the same placements: "none" (no stage); "axial" (the
stage before the frames: decoder features at the patch centre, axial slices in both studies); "lv centre" (centre
features, each study's patches in its own LV frame); "lv map turned" (the default since: the template's patches in
its LV frame, the new study's turned by the rotation of the map that placed the points, the last decoder map over
the patch's central 40 mm compared); "axial centre turned" (axial template patches, the new study's turned the same
way, centre features). Two questions:
- identity: a study localised in a copy of itself shifted and turned by 30 degrees (localize_identity's motions and
  landmarks: the three conventions' LV points, RV insertion points on phantoms), frames from the counts;
- error: real pairs (both ways) and held-out phantoms, in the conventions asked, frames from the counts (with the
  alignment) and frames from the walls (the target's classification painted on its mask's quartile slices, the
  template's mask), as `evaluate localize --conventions` runs them.
The stage is the localiser's last step: each placement is made once without it (the frames and the roll it used
recorded), and each variant refines the same positions with the same frames, as `place_landmarks` would.

    python -m SPECTFewShotLib.research.evaluation.prnet_lv_frame --real DIR [--phantoms 500 501] [--held-out 4]
        [--conventions ours extremal endocardial] [--radii 8 12] [--identity-only | --skip-identity]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import Iterator, Optional, Sequence
from unittest import mock

import numpy as np

from SPECTFewShotLib.io.markups_io import Landmark
from SPECTFewShotLib.landmarks.long_axis import angle_between_deg
from SPECTFewShotLib.volume import Volume

VARIANTS = ("none", "axial", "lv centre", "lv map turned", "axial centre turned")


@contextlib.contextmanager
def recorded_frames() -> Iterator[list]:
    """While open, each placement's (template frame, target frame, roll, map of template points into the study the
    placement used: the aligned map with frames from the counts, the frames' affine map otherwise) is appended."""
    from SPECTFewShotLib.landmarks import staged

    seen: list = []
    record: list = []
    profile, offset, refine_map = staged.roll_profile, staged.roll_offset, staged.refine_map

    def roll_profile(volume: Volume, counts: np.ndarray, frame):
        seen.append(frame)
        return profile(volume, counts, frame)

    def roll_offset(template_profile: np.ndarray, target_profile: np.ndarray):
        roll = offset(template_profile, target_profile)
        record.append([seen[-2], seen[-1], roll[0], staged.frame_map(seen[-2], seen[-1], roll[0])])
        return roll

    def aligned(volume, counts, target, template_volume, template_counts, initial):
        correct, correlation = refine_map(volume, counts, target, template_volume, template_counts, initial)
        record[-1][3] = lambda points: correct(initial(points))
        return correct, correlation

    with mock.patch.object(staged, "roll_profile", roll_profile), \
            mock.patch.object(staged, "roll_offset", roll_offset), mock.patch.object(staged, "refine_map", aligned):
        yield record


class Variants:
    """The stage's variants on one placement (see the module docstring)."""

    def __init__(self, radii: Sequence[float] = ()) -> None:
        """`radii`: further search radii (mm) of the stage now, as variants "lv map turned R mm"."""
        from SPECTFewShotLib.landmarks.prnet.refine import PRNetRefiner

        self.refiners = {"axial": PRNetRefiner(orientation="axial", match="centre", on_walls=True),
                         "lv centre": PRNetRefiner(orientation="lv", match="centre", on_walls=True),
                         "lv map turned": PRNetRefiner(orientation="lv", match="map", on_walls=True),
                         "axial centre turned": PRNetRefiner(orientation="axial", match="centre", on_walls=True)}
        self.radii = tuple(float(r) for r in radii)
        self.names = (*VARIANTS, *(f"lv map turned {r:g} mm" for r in self.radii))
        self.group = ""  # what the placements refined now belong to (for `gains`)
        self.gains: dict[tuple[str, str], list[float]] = {}

    def positions(self, template: Volume, template_points: np.ndarray, target: Volume, placed: np.ndarray,
                  record: list) -> dict[str, np.ndarray]:
        """Each variant's final positions (n, 3) from the placement `placed` made as `record` says."""
        from SPECTFewShotLib.landmarks.prnet.refine import FramePair, map_turn

        pair = FramePair(*record[:3])
        turned = map_turn(record[3], pair.template.geometry.center)
        found = {"none": placed}
        for name, refiner in self.refiners.items():
            turn = np.eye(3) if name == "axial" else turned if name.endswith("turned") else None
            result = refiner.refine(template, template_points, target, placed, frames=pair, turn=turn)
            found[name] = result.points
            self.gains.setdefault((self.group, name), []).extend(result.similarity - result.similarity_at_start)
        for radius in self.radii:
            found[f"lv map turned {radius:g} mm"] = self.refiners["lv map turned"].refine(
                template, template_points, target, placed, search_mm=radius, frames=pair, turn=turned).points
        return found

    def gain_lines(self) -> Iterator[str]:
        """Per group and variant: how much more similar the chosen point is than the carried one (cosine), the
        quantity a rule "move only where the match is clearly better" would threshold."""
        for (group, name), gains in self.gains.items():
            values = np.asarray(gains, dtype=float)
            yield (f"similarity gain, {group:<28} {name:<20} median {np.median(values):.5f}  90% "
                   f"{np.percentile(values, 90):.5f}  max {values.max():.5f}  min {values.min():.5f}")


def place_once(target: Volume, template: Volume, landmarks: Sequence[Landmark], myocardium: Optional[Volume] = None,
               template_myocardium: Optional[Volume] = None) -> tuple[np.ndarray, list, float]:
    """The localiser's positions without the stage, what it placed them with (`recorded_frames`), its seconds."""
    from SPECTFewShotLib.landmarks.staged import Localizer

    started = time.perf_counter()
    with recorded_frames() as record:
        placement = Localizer(prnet=False).place(
            target, [(template, list(landmarks))], myocardium=myocardium,
            template_myocardia=None if template_myocardium is None else [template_myocardium])
    return (np.array([lm.position_lps for lm in placement.landmarks]), record[-1],
            time.perf_counter() - started)


def identity(real: Optional[str], seeds: Sequence[int], variants: Variants) -> Iterator[str]:
    """Per study and motion, each variant's worst landmark (mm) against the voxel size."""
    from SPECTFewShotLib.landmarks.staged import find_lv_frame
    from SPECTFewShotLib.research.evaluation.localize_cases import moved_copy
    from SPECTFewShotLib.research.evaluation.localize_conventions import CONVENTIONS, convention_landmarks
    from SPECTFewShotLib.research.evaluation.localize_identity import MOTIONS, SHIFT_MM, studies

    worst_all = {name: 0.0 for name in variants.names}
    means: dict[str, list] = {name: [] for name in variants.names}
    for study, volume, wall, others in studies(real, seeds):
        landmarks = [Landmark(f"{convention}:{label}", tuple(map(float, point)))
                     for convention in CONVENTIONS
                     for label, point in convention_landmarks(wall, volume, convention).items()] + list(others)
        points = np.array([lm.position_lps for lm in landmarks])
        toward_apex = -find_lv_frame(volume).geometry.axis
        voxel = min(volume.spacing)
        for motion, axis, degrees in MOTIONS:
            moved, truth = moved_copy(volume, landmarks, SHIFT_MM, toward_apex if axis == "lv" else axis, degrees)
            placed, frames, _ = place_once(moved, volume, landmarks)
            true = np.array([lm.position_lps for lm in truth])
            cells = []
            variants.group = f"identity {study}"
            for name, positions in variants.positions(volume, points, moved, placed, frames).items():
                errors = np.linalg.norm(positions - true, axis=1)
                worst_all[name] = max(worst_all[name], float(errors.max()) / voxel)
                means[name].extend(errors.tolist())
                cells.append(f"{name} {errors.max():4.1f}/{errors.mean():3.1f}")
            yield f"{study:<12} {motion:<26} worst/mean mm: " + "  ".join(cells) + f"  (voxel {voxel:.1f} mm)"
    yield ("identity, worst of all in voxels (mean mm): "
           + "  ".join(f"{name} {worst_all[name]:.2f} ({np.mean(means[name]):.2f})" for name in variants.names))


def error_groups(real: Optional[str], held_out: int) -> dict[str, tuple[list, list]]:
    """Per group: the cases and their template walls (real pairs both ways, held-out phantoms)."""
    from SPECTFewShotLib.research.evaluation.localize_cases import phantom_cases, real_pair_cases
    from SPECTFewShotLib.research.seeds import held_out_seeds

    groups = {}
    if real:
        cases = real_pair_cases(real)
        walls = {case.name.split(" -> ")[1]: case.target_wall for case in cases}
        groups["real pairs"] = (cases, [walls[case.name.split(" -> ")[0]] for case in cases])
    if held_out:
        cases = phantom_cases(held_out_seeds(held_out))
        groups["held-out phantoms"] = (cases, [cases[(n + 1) % len(cases)].target_wall for n in range(len(cases))])
    return groups


def errors(real: Optional[str], held_out: int, conventions: Sequence[str], variants: Variants) -> Iterator[str]:
    """Per group, convention and frame source, each variant's mean / worst error (mm) and long-axis angle."""
    from SPECTFewShotLib.research.evaluation.localize_cases import classified_wall
    from SPECTFewShotLib.research.evaluation.localize_conventions import with_convention

    for title, (cases, template_walls) in error_groups(real, held_out).items():
        classified = [classified_wall(case.target_volume, case.target_wall, "slices") for case in cases]
        for convention in conventions:
            converted = with_convention(cases, template_walls, convention)
            for source in ("counts", "walls"):
                found: dict[str, list] = {name: [] for name in variants.names}
                axis: dict[str, list] = {name: [] for name in variants.names}
                per_label: dict[str, dict[str, list]] = {name: {} for name in variants.names}
                seconds = []
                for case, wall, mine in zip(converted, template_walls, classified):
                    labels = [lm.label for lm in case.template_landmarks]
                    points = np.array([lm.position_lps for lm in case.template_landmarks])
                    mask = case.template_volume.with_array(wall.astype(np.uint8))
                    placed, frames, took = place_once(case.target_volume, case.template_volume,
                                                      case.template_landmarks, *((mine, mask) if source == "walls"
                                                                                 else ()))
                    seconds.append(took)
                    truth = case.truth()
                    true = np.array([truth[label] for label in labels])
                    variants.group = f"{title} -> {case.name.split(' -> ')[-1].split(' (')[0]} ({source})"
                    for name, positions in variants.positions(case.template_volume, points, case.target_volume,
                                                              placed, frames).items():
                        error = np.linalg.norm(positions - true, axis=1)
                        found[name].extend(error.tolist())
                        for label, value in zip(labels, error):
                            per_label[name].setdefault(label, []).append(float(value))
                        if "LV_apex" in labels and "LV_base" in labels:
                            a, b = labels.index("LV_apex"), labels.index("LV_base")
                            axis[name].append(angle_between_deg(positions[a] - positions[b], true[a] - true[b]))
                yield f"{title} ({len(cases)} cases), convention '{convention}', frames from the {source} " \
                      f"(placement {np.median(seconds):.1f} s median)"
                for name in variants.names:
                    labels_text = "  ".join(f"{label.replace('RV_insertion_', 'RV_')} {np.mean(v):.1f}"
                                            for label, v in per_label[name].items())
                    yield (f"  {name:<9} mean {np.mean(found[name]):5.2f}  worst {np.max(found[name]):5.1f}  axis "
                           f"{np.mean(axis[name]) if axis[name] else float('nan'):4.1f} deg   {labels_text}")


def main(argv: Sequence[str] | None = None) -> None:
    """Print the identity and the error tables."""
    from SPECTFewShotLib.research.evaluation.localize_conventions import CONVENTIONS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", metavar="DIR", help="real studies with LV-wall masks (NAME_image, NAME_mask)")
    parser.add_argument("--held-out", type=int, default=0, help="held-out phantoms (default: %(default)s)")
    parser.add_argument("--phantoms", type=int, nargs="*", default=[],
                        help="training-range phantom seeds for the identity (default: none)")
    parser.add_argument("--conventions", nargs="*", default=["ours"], choices=CONVENTIONS)
    parser.add_argument("--radii", type=float, nargs="*", default=[],
                        help="further search radii (mm) of the stage now, each one more variant")
    parser.add_argument("--skip-identity", action="store_true")
    parser.add_argument("--identity-only", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    variants = Variants(args.radii)
    lines: list[Iterator[str]] = []
    if not args.skip_identity:
        lines.append(identity(args.real, args.phantoms, variants))
    if not args.identity_only:
        lines.append(errors(args.real, args.held_out, args.conventions, variants))
    for block in [*lines, variants.gain_lines()]:
        for line in block:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    sys.stdout.write(f"{time.perf_counter() - started:.0f} s\n")


if __name__ == "__main__":
    main()
