"""`spectfewshot localize VOLUME --template T --template-landmarks T.mrk.json -o OUT.mrk.json`: one-shot landmarks.

The template's landmarks (any names, LPS or RAS markups) are placed in VOLUME by the PRNet coarse-to-fine search
and written as a Slicer markups file with the template's labels, positions in mm, the coordinate system stated
and a confidence in [0, 1] per point. Every input is checked before any computation; a failure leaves an
existing output file untouched.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..device import DEVICE_CHOICES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `localize` subcommand."""
    parser = subparsers.add_parser("localize", help="place a template's landmarks in a new volume (PRNet)",
                                   description=__doc__)
    parser.add_argument("volume", help="the volume to place landmarks in (NIfTI, NRRD, MetaImage, DICOM)")
    parser.add_argument("--template", required=True, metavar="TEMPLATE_VOLUME", help="the annotated template volume")
    parser.add_argument("--template-landmarks", required=True, metavar="TEMPLATE.mrk.json",
                        help="the template's landmarks (Slicer markups, LPS or RAS)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.mrk.json", help="landmarks file to write")
    parser.add_argument("--coordinate-system", choices=("LPS", "RAS"), default="LPS",
                        help="coordinate system of the output file (default: %(default)s)")
    parser.add_argument("--model", help="registered PRNet model id or a weights file (default: the default model)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="torch device (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate every input, localise, write the markups file atomically."""
    from ..errors import InputError
    from ..io.markups_io import check_markups_output, read_landmarks, write_landmarks
    from ..io.volume_io import read_volume, require_counts
    from ..prnet.localize import Localizer, check_template

    output = check_markups_output(args.output)
    landmarks_path = Path(args.template_landmarks)
    if landmarks_path.exists() and output.resolve() == landmarks_path.resolve():
        raise InputError(f"{output.name}: the output would overwrite the template landmarks; choose another file")
    volume = require_counts(read_volume(args.volume), Path(args.volume).name)
    template = require_counts(read_volume(args.template), Path(args.template).name)
    template_landmarks = read_landmarks(landmarks_path)
    check_template(template, template_landmarks)
    localizer = Localizer(args.model, args.device)
    placed = localizer.localize(volume, template, template_landmarks)
    write_landmarks(placed, output, args.coordinate_system)
    for landmark in placed:
        x, y, z = landmark.position_lps
        print(f"{landmark.label:<24} {x:8.1f} {y:8.1f} {z:8.1f} mm LPS   confidence {landmark.confidence:.2f}")
    print(f"wrote {output} ({len(placed)} landmarks, {args.coordinate_system}, model {localizer.model_id})")
    return 0
