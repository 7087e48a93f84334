"""Whether a change to the study classifier changes its answers: labels and probabilities on fixed inputs, written by
one checkout and compared element by element with another's.

    python -m SPECTFewShotLib.research.evaluation.classify_identity dump before.npz   # in the old checkout
    python -m SPECTFewShotLib.research.evaluation.classify_identity dump after.npz    # in the new one
    python -m SPECTFewShotLib.research.evaluation.classify_identity compare before.npz after.npz

The inputs: `bench live-update --size 128`'s (the bundled study resampled to 128^3, full labels on its quartile
slices, then five half-ring strokes; full and preview stages after each); patient001 and patient003 at their own
size with myocardium and background, and with the blood pool too (the cavity the wall mask encloses, as the
evaluation's cases make it), segments named and unnamed, slices and strokes protocols; patient003 resampled to
128^3, the same three, slices. The real studies are read from `--real-dir` (default: the shipped sample data's
folder when it holds them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterator

import numpy as np

STROKES = 5


def resampled(volume, wall: np.ndarray, size: int) -> tuple:
    """The volume (linear) and a wall mask (nearest) resampled to size^3 voxels over the same field of view (as
    `bench live-update --size` does)."""
    from scipy import ndimage

    from SPECTFewShotLib.volume import Volume

    factors = [size / n for n in volume.array.shape]
    array = ndimage.zoom(volume.array.astype(np.float32), factors, order=1)
    mask = ndimage.zoom(wall.astype(np.uint8), factors, order=0) > 0
    k, j, i = factors
    spacing = tuple(s / f for s, f in zip(volume.spacing, (i, j, k)))
    return Volume(array, spacing, volume.origin, volume.direction, volume.modality, volume.units), mask


def _bench_paints(size: int = 128) -> tuple:
    """The live-update benchmark's volume, segments, first paint and the paints after each stroke."""
    from SPECTFewShotLib.io.segmentation_io import read_segmentation, segments_for
    from SPECTFewShotLib.io.volume_io import read_volume, require_counts
    from SPECTFewShotLib.resources import sample_study
    from SPECTFewShotLib.selftest.painting import paint_slices, quartile_slices

    image_path, mask_path = sample_study()
    volume = require_counts(read_volume(image_path), image_path.name)
    wall = read_segmentation(mask_path).labels.array > 0
    volume, wall = resampled(volume, wall, size)
    slices = [int(k) for k in quartile_slices(wall)]
    first = paint_slices(np.where(wall, 1, 2).astype(np.int32), slices)
    wall_slices = [k for k in np.nonzero(wall.any(axis=(1, 2)))[0] if k not in slices]
    paints, current = [], first
    for n in range(STROKES):
        k = int(wall_slices[n * len(wall_slices) // STROKES])
        half = int(np.median(np.nonzero(wall[k].any(axis=1))[0])) + 1
        current = current.copy()
        current[k, :half][wall[k, :half]] = 1
        paints.append(current)
    return volume, segments_for([1, 2], {1: "LV_myocardium", 2: "background"}), first, paints


def answers(real_dir: Path) -> Iterator[tuple[str, np.ndarray]]:
    """(name, array) of every label map and probability map on the fixed inputs, from this checkout's code."""
    from SPECTFewShotLib.classification.session import StudySession
    from SPECTFewShotLib.io.segmentation_io import Segmentation, read_segmentation, segments_for
    from SPECTFewShotLib.io.volume_io import read_volume
    from SPECTFewShotLib.research.evaluation.cases import enclosed_cavity
    from SPECTFewShotLib.selftest.painting import paint, quartile_slices

    volume, segments, first, paints = _bench_paints()
    session = StudySession(device="cpu")
    session.set_volume(volume)
    for n, painted in enumerate([first, *paints]):
        session.set_support(Segmentation(volume.with_array(painted), segments))
        for stages in ("full", "preview"):
            result = session.predict(stages)
            yield f"bench{n}_{stages}_labels", result.labels.labels.array
            yield f"bench{n}_{stages}_probabilities", result.probabilities
    for patient in ("001", "003"):
        study = read_volume(real_dir / f"patient{patient}_image.nii.gz")
        study_wall = read_segmentation(real_dir / f"patient{patient}_mask.nii.gz").labels.array > 0
        for size in ((0,) if patient == "001" else (0, 128)):
            volume, wall = (study, study_wall) if not size else resampled(study, study_wall, size)
            cavity, slices = enclosed_cavity(wall), quartile_slices(wall)
            session = StudySession(device="cpu")
            session.set_volume(volume)
            for classes in ("2", "3", "3unnamed"):
                class_map = np.where(wall, 1, 2).astype(np.int32)
                names = {1: "LV_myocardium", 2: "background"}
                if classes != "2":
                    class_map[cavity] = 3
                    names[3] = "LV_blood_pool"
                values = sorted(names)
                for protocol in (("slices", "strokes") if not size else ("slices",)):
                    support = Segmentation(volume.with_array(paint(class_map, slices, protocol)),
                                           segments_for(values, None if classes == "3unnamed" else names))
                    session.set_support(support)
                    result = session.predict()
                    name = f"patient{patient}_{size or 'own'}_{classes}_{protocol}"
                    yield f"{name}_labels", result.labels.labels.array
                    yield f"{name}_probabilities", result.probabilities


def differences(before: dict, after: dict) -> list[str]:
    """One line per array that differs (or is missing from one side): labels by count, probabilities by the
    largest absolute difference; empty when every array is identical."""
    lines = []
    for name in sorted(set(before) | set(after)):
        if name not in before or name not in after:
            lines.append(f"{name}: only in {'after' if name not in before else 'before'}")
            continue
        old, new = np.asarray(before[name]), np.asarray(after[name])
        if old.shape != new.shape:
            lines.append(f"{name}: shape {old.shape} against {new.shape}")
        elif name.endswith("_labels") and (old != new).any():
            lines.append(f"{name}: {int((old != new).sum())} of {old.size} labels differ")
        elif not name.endswith("_labels") and not np.array_equal(old, new):
            lines.append(f"{name}: largest difference {float(np.abs(old - new).max()):.3g}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """`dump OUT.npz` or `compare BEFORE.npz AFTER.npz`; compare exits 1 when anything differs."""
    parser = argparse.ArgumentParser(prog="classify_identity", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    dump = commands.add_parser("dump", help="write this checkout's answers")
    dump.add_argument("output", type=Path)
    dump.add_argument("--real-dir", type=Path, default=_default_real_dir(),
                      help="folder of patient001/003_image/mask.nii.gz (default: %(default)s)")
    compare = commands.add_parser("compare", help="compare two dumps element by element")
    compare.add_argument("before", type=Path)
    compare.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "dump":
        if args.real_dir is None or not (args.real_dir / "patient001_image.nii.gz").is_file():
            sys.stderr.write("error: --real-dir must hold patient001_image.nii.gz and the other real studies\n")
            return 2
        np.savez_compressed(args.output, **dict(answers(args.real_dir)))
        return 0
    with np.load(args.before) as before, np.load(args.after) as after:
        lines = differences(dict(before), dict(after))
        count = len(before.files)
    sys.stdout.write(("\n".join(lines) if lines else f"identical: {count} arrays") + "\n")
    return 1 if lines else 0


def _default_real_dir() -> Path | None:
    """The shipped sample data's folder of the real studies, when it holds them."""
    from SPECTFewShotLib.resources import sample_study

    folder = sample_study()[0].parent
    return folder if (folder / "patient003_image.nii.gz").is_file() else None


if __name__ == "__main__":
    sys.exit(main())
