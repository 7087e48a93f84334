"""The identity under rigid motion (issue 35's target): a study localised in a copy of itself, shifted and turned by
up to 30 degrees about any axis (the LV's own included), must return every landmark, in every convention, within
one voxel of its own point moved the same way.

Studies: training-range phantoms (with their RV insertion points) and the real studies of a directory (NAME_image
with NAME_mask); landmarks: each convention's (localize_conventions) on the study's own wall, all placed at once
(the frames do not depend on the points), from the counts (`localize` as a user runs it).

    python -m SPECTFewShotLib.research.evaluation.localize_identity [--real DIR] [--phantoms 500 501]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from SPECTFewShotLib.io.markups_io import Landmark
from SPECTFewShotLib.volume import Volume

SHIFT_MM = (5.0, -4.0, 6.0)
# (name, axis or "lv" for the LV's own long axis, degrees)
MOTIONS = (("shift only", (1.0, 0.0, 0.0), 0.0), ("30 deg about the LV axis", "lv", 30.0),
           ("-30 deg about the LV axis", "lv", -30.0), ("30 deg about x", (1.0, 0.0, 0.0), 30.0),
           ("-30 deg about y", (0.0, 1.0, 0.0), -30.0), ("30 deg about z", (0.0, 0.0, 1.0), 30.0),
           ("30 deg about (1, 1, 1)", (1.0, 1.0, 1.0), 30.0))


def studies(real: str | None, seeds: Sequence[int]) -> list[tuple[str, Volume, np.ndarray, list[Landmark]]]:
    """(name, volume, wall mask [k, j, i], landmarks other than the LV's) of the phantoms and the real studies."""
    from SPECTFewShotLib.io.volume_io import read_volume
    from SPECTFewShotLib.research.phantom import generate_study

    found = []
    for seed in seeds:
        study = generate_study(seed)
        wall = study.labels.labels.array == study.label_values["LV_myocardium"]
        found.append((f"phantom {seed}", study.image, wall,
                      [lm for lm in study.landmarks if not lm.label.startswith("LV_")]))
    if real:
        for image in sorted(Path(real).glob("*_image.nii*")):
            mask = image.with_name(image.name.replace("_image", "_mask"))
            if mask.exists():
                found.append((image.name.split("_image")[0], read_volume(image), read_volume(mask).array > 0, []))
    return found


def identity_errors(volume: Volume, wall: np.ndarray, others: Sequence[Landmark]) -> list[tuple[str, dict]]:
    """Per motion, each landmark's distance (mm) from the study's own point moved the same way."""
    from SPECTFewShotLib.landmarks.staged import Localizer, find_lv_frame
    from SPECTFewShotLib.research.evaluation.localize_cases import moved_copy
    from SPECTFewShotLib.research.evaluation.localize_conventions import CONVENTIONS, convention_landmarks

    landmarks = [Landmark(f"{convention}:{label}", tuple(map(float, point)))
                 for convention in CONVENTIONS
                 for label, point in convention_landmarks(wall, volume, convention).items()] + list(others)
    toward_apex = -find_lv_frame(volume).geometry.axis
    localizer, rows = Localizer(), []
    for name, axis, degrees in MOTIONS:
        moved, truth = moved_copy(volume, landmarks, SHIFT_MM, toward_apex if axis == "lv" else axis, degrees)
        placed = localizer.localize(moved, volume, landmarks)
        rows.append((name, {lm.label: float(np.linalg.norm(np.subtract(lm.position_lps, true.position_lps)))
                            for lm, true in zip(placed, truth)}))
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    """Print, per study and motion, the worst landmark and its error against the study's voxel size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", metavar="DIR", help="real studies with LV-wall masks")
    parser.add_argument("--phantoms", type=int, nargs="*", default=[500, 501],
                        help="training-range phantom seeds (default: %(default)s)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    worst_all = 0.0
    for name, volume, wall, others in studies(args.real, args.phantoms):
        voxel = min(volume.spacing)
        for motion, errors in identity_errors(volume, wall, others):
            label, worst = max(errors.items(), key=lambda item: item[1])
            worst_all = max(worst_all, worst / voxel)
            by_convention = "  ".join(
                f"{prefix} {max(v for k, v in errors.items() if k.startswith(prefix + ':')):.1f}"
                for prefix in ("ours", "extremal", "endocardial"))
            rv = [v for k, v in errors.items() if ":" not in k]
            sys.stdout.write(f"{name:<14} {motion:<26} worst {worst:4.1f} mm ({label}; voxel {voxel:.1f} mm)  by "
                             f"convention: {by_convention}" + (f"  RV points {max(rv):.1f}" if rv else "") + "\n")
            sys.stdout.flush()
    sys.stdout.write(f"worst of all: {worst_all:.2f} voxels; {time.perf_counter() - started:.0f} s\n")


if __name__ == "__main__":
    main()
