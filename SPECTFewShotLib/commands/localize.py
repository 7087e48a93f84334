"""`spectfewshot localize VOLUME --template T --template-landmarks T.mrk.json -o OUT.mrk.json`: one-shot landmarks.

The template's landmarks (any names, LPS or RAS markups) are placed in VOLUME by the PRNet coarse-to-fine search
and written as a Slicer markups file with the template's labels, positions in mm, the coordinate system stated
and a confidence in [0, 1] per point. Give `--template` and `--template-landmarks` two or more times (in the same
order) to place the landmarks from several annotated studies and keep, per landmark, the geometric median
of the placements: more accurate than any one template (docs/prnet.md). Every input is checked before any computation;
a failure leaves an existing output file untouched.
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
    parser.add_argument("--template", required=True, action="append", metavar="TEMPLATE_VOLUME",
                        help="the annotated template volume (repeat for several templates)")
    parser.add_argument("--template-landmarks", required=True, action="append", metavar="TEMPLATE.mrk.json",
                        help="the template's landmarks (Slicer markups, LPS or RAS; one per --template, same order)")
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
    from ..prnet.fusion import confidence_note
    from ..prnet.localize import Localizer, check_template

    output = check_markups_output(args.output)
    if len(args.template) != len(args.template_landmarks):
        raise InputError(f"{len(args.template)} --template but {len(args.template_landmarks)} --template-landmarks: "
                         "give one landmarks file per template, in the same order")
    for landmarks_path in map(Path, args.template_landmarks):
        if landmarks_path.exists() and output.resolve() == landmarks_path.resolve():
            raise InputError(f"{output.name}: the output would overwrite the template landmarks; choose another file")
    volume = require_counts(read_volume(args.volume), Path(args.volume).name)
    templates = []
    for template_path, landmarks_path in zip(args.template, args.template_landmarks):
        template = require_counts(read_volume(template_path), Path(template_path).name)
        template_landmarks = read_landmarks(Path(landmarks_path))
        check_template(template, template_landmarks)
        templates.append((template, template_landmarks))
    localizer = Localizer(args.model, args.device)
    placed = localizer.localize_from_templates(volume, templates)
    write_landmarks(placed, output, args.coordinate_system)
    for landmark in placed:
        x, y, z = landmark.position_lps
        print(f"{landmark.label:<24} {x:8.1f} {y:8.1f} {z:8.1f} mm LPS   confidence {landmark.confidence:.2f}"
              f"{confidence_note(landmark.confidence)}")
    source = f", median of {len(templates)} templates" if len(templates) > 1 else ""
    print(f"wrote {output} ({len(placed)} landmarks, {args.coordinate_system}, model {localizer.model_id}{source})")
    return 0
