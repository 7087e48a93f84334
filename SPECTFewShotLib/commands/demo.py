"""`spectfewshot demo [-o DIR]`: the main job on the bundled real perfusion study."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..io.segmentation_io import Segmentation, read_segmentation, segments_for, write_segmentation
from ..io.volume_io import read_volume, require_counts
from ..resources import sample_study
from ..volume_stats import describe
from .info import format_info


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `demo` subcommand."""
    parser = subparsers.add_parser("demo", help="run the main job on the bundled real SPECT study",
                                   description=__doc__)
    parser.add_argument("-o", "--output", default="output/demo", help="folder for the results (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the bundled study, report it, and write its LV-wall mask as a Slicer segmentation."""
    image_path, mask_path = sample_study()
    volume = require_counts(read_volume(image_path), image_path.name)
    print("Bundled study: PhysioNet MPS patient001, rest Tc-99m sestamibi, GE Discovery NM 530c (CZT)")
    print(format_info(describe(volume), image_path.name))
    mask = read_segmentation(mask_path)
    wall = mask.labels.array > 0
    print(f"LV wall mask: {int(wall.sum())} voxels, {wall.sum() * volume.voxel_volume_ml:.1f} mL, "
          f"mean counts {float(volume.array[wall].mean()):.1f} (whole volume {float(volume.array.mean()):.1f})")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    reference = Segmentation(mask.labels.with_array(wall.astype(np.uint8)), segments_for([1], {1: "LV_myocardium"}))
    written = write_segmentation(reference, out / "reference_LV_wall.seg.nrrd")
    print(f"wrote {written}")
    return 0
