"""`spectfewshot localize VOLUME [--template T --template-landmarks T.mrk.json] -o OUT.mrk.json`: one-shot landmarks.

The staged localiser finds the LV in VOLUME, estimates its own frame (centre, long axis from base to apex) and
places the template's landmarks (any names, LPS or RAS markups), every one of them (LV_center, LV_apex and LV_base
included) where the template puts it relative to its own LV: carried over in the LV frame, turned about the axis
to where the two studies' counts agree, and refined by aligning the counts around the LV; with `--prnet`, then
moved within 4 mm to where the study's PRNet features best match the template's, both read in the LV frame (the
template's short-axis slices, the study's turned as the placement turned it; points placed between two walls
stay). Without
`--template`,
LV_center, LV_apex and LV_base are placed by their built-in definitions (`vocabulary.LANDMARKS`) on the LV found.
A template LV landmark far from its definition on the template's own LV is warned about. With
`--template-segmentation` (one per template, same order) the template's LV frame comes from its myocardium and,
unless `--segmentation` gives the study's own or `--no-one-shot` is given, the study's from its wall classified by
ProtoNet from the template's myocardium (one shot), checked against the counts' frame, which is used (and the user
told) when they disagree.
They are written as a Slicer markups
file with the template's labels, positions in mm, the coordinate system stated and a confidence in [0, 1] per
point. The LV long axis (base centre to apex, with its angles) is printed and, with `--long-axis`, written as a
Slicer line markup. Give `--template` and `--template-landmarks` two or more times (in the same order) to combine
several annotated studies per landmark by the geometric median. With `--segmentation` (the study's classification,
or any segmentation holding its LV myocardium, on any grid) the LV frame comes from that myocardium instead of the
counts: the landmarks then follow the wall the user painted or classified. Every input is checked before any
computation; a failure leaves existing output files untouched.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from ..volume import Volume


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `localize` subcommand."""
    parser = subparsers.add_parser("localize", help="place a template's landmarks in a new volume (staged LV frame)",
                                   description=__doc__)
    parser.add_argument("volume", help="the volume to place landmarks in (NIfTI, NRRD, MetaImage, DICOM)")
    parser.add_argument("--template", action="append", default=[], metavar="TEMPLATE_VOLUME",
                        help="the annotated template volume (repeat for several templates); without it, LV_center, "
                             "LV_apex and LV_base are placed by their built-in definitions")
    parser.add_argument("--template-landmarks", action="append", default=[], metavar="TEMPLATE.mrk.json",
                        help="the template's landmarks (Slicer markups, LPS or RAS; one per --template, same order)")
    parser.add_argument("--template-segmentation", action="append", default=[], metavar="TEMPLATE_SEG",
                        help="the template's LV myocardium (one per --template, same order): its LV frame comes "
                             "from it instead of its counts")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.mrk.json", help="landmarks file to write")
    parser.add_argument("--long-axis", metavar="AXIS.mrk.json",
                        help="also write the LV long axis (base centre to apex) as a Slicer line markup")
    parser.add_argument("--segmentation", metavar="SEG",
                        help="the study's LV myocardium (e.g. the output of classify; .seg.nrrd or labelmap): the LV "
                             "frame comes from it instead of the counts")
    parser.add_argument("--label", help="with --segmentation: the myocardium's segment name or label value "
                                        "(default: LV_myocardium)")
    parser.add_argument("--template-label", metavar="LABEL",
                        help="with --template-segmentation: the template myocardium's segment name or label value "
                             "(default: LV_myocardium, or the only segment)")
    parser.add_argument("--one-shot", action=argparse.BooleanOptionalAction, default=None,
                        help="the study's LV frame from its wall classified by ProtoNet from the template's "
                             "myocardium (the template as a one-shot support; checked against the counts' frame, "
                             "which is used when they disagree): the default with --template-segmentation and "
                             "without --segmentation; --no-one-shot: the study's frame from its counts")
    parser.add_argument("--prnet", action="store_true",
                        help="add the PRNet stage: each point moved within 4 mm to where the study's PRNet features, "
                             "read in the LV frame, best match the template's at that landmark; not where both "
                             "frames come from walls (off by default: it keeps a template localised in a rotated "
                             "copy of itself, but on the real pairs it moves the mean error by -0.2 to +0.2 mm, on "
                             "held-out phantoms it lowers it by 0.7-1.0 mm, and it takes seconds)")
    parser.add_argument("--prnet-model", metavar="ID_OR_FILE",
                        help="with --prnet: the PRNet weights, a registered model id or a .pt file (default: the "
                             "registry's default)")
    parser.add_argument("--coordinate-system", choices=("LPS", "RAS"), default="LPS",
                        help="coordinate system of the output file (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate every input, localise, write the markups file atomically."""
    from ..errors import InputError
    from ..io.markups_io import check_markups_output, read_landmarks, write_landmarks
    from ..io.volume_io import read_volume, require_counts
    from ..landmarks.fusion import confidence_note, low_confidence_labels
    from ..landmarks.long_axis import write_long_axis
    from ..landmarks.staged import Localizer, check_template

    output = check_markups_output(args.output)
    axis_output = check_markups_output(args.long_axis) if args.long_axis else None
    if axis_output is not None and axis_output.resolve() == output.resolve():
        raise InputError("--long-axis and -o name the same file; choose another file for the long axis")
    if len(args.template) != len(args.template_landmarks):
        raise InputError(f"{len(args.template)} --template but {len(args.template_landmarks)} --template-landmarks: "
                         "give one landmarks file per template, in the same order")
    for landmarks_path in map(Path, args.template_landmarks):
        for written in (output, axis_output):
            if written is not None and landmarks_path.exists() and written.resolve() == landmarks_path.resolve():
                raise InputError(f"{written.name}: the output would overwrite the template landmarks; choose "
                                 "another file")
    if args.template_segmentation and len(args.template_segmentation) != len(args.template):
        raise InputError(f"{len(args.template)} --template but {len(args.template_segmentation)} "
                         "--template-segmentation: give one per template, in the same order")
    if args.label is not None and args.segmentation is None:
        raise InputError("--label names the myocardium of --segmentation; give --segmentation too")
    if args.template_label is not None and not args.template_segmentation:
        raise InputError("--template-label names the myocardium of --template-segmentation; give "
                         "--template-segmentation too")
    volume = require_counts(read_volume(args.volume), Path(args.volume).name)
    myocardium = study_myocardium(volume, args.segmentation, args.label) if args.segmentation else None
    templates, template_walls = [], []
    for number, (template_path, landmarks_path) in enumerate(zip(args.template, args.template_landmarks)):
        template = require_counts(read_volume(template_path), Path(template_path).name)
        template_landmarks = read_landmarks(Path(landmarks_path))
        check_template(template, template_landmarks)
        templates.append((template, template_landmarks))
        template_walls.append(study_myocardium(template, args.template_segmentation[number], args.template_label,
                                               "--template-label") if args.template_segmentation else None)
    one_shot = args.one_shot if args.one_shot is not None else bool(args.template_segmentation) and \
        not args.segmentation
    if args.one_shot and not args.template_segmentation:
        raise InputError("--one-shot classifies the study's wall from the template's myocardium; give "
                         "--template-segmentation too")
    if args.one_shot and args.segmentation:
        raise InputError("--one-shot gives the study's LV frame from the template's myocardium, --segmentation from "
                         "the study's own: give one of them")
    if args.prnet_model and not args.prnet:
        raise InputError("--prnet-model names the weights of the PRNet stage; give --prnet too")
    localizer = Localizer(prnet=args.prnet and bool(templates), prnet_model=args.prnet_model,
                          one_shot=one_shot)
    placement = localizer.place(volume, templates, myocardium=myocardium, template_myocardia=template_walls)
    placed = placement.landmarks
    for warning in placement.warnings:
        print(f"warning: {warning}")
    write_landmarks(placed, output, args.coordinate_system)
    if axis_output is not None and placement.long_axis is not None:
        write_long_axis(placement.long_axis, axis_output, args.coordinate_system)
    for landmark in placed:
        x, y, z = landmark.position_lps
        print(f"{landmark.label:<24} {x:8.1f} {y:8.1f} {z:8.1f} mm LPS   confidence {landmark.confidence:.2f}"
              f"{confidence_note(landmark.confidence)}")
    if placement.long_axis is not None:
        print(f"{'LV long axis':<24} {placement.long_axis.description()}")
    from_wall = myocardium is not None and placement.frame.source == "segmentation"
    frame_source = ("the myocardium of " + Path(args.segmentation).name if from_wall else
                    "the wall classified from the template's myocardium" if placement.frame.source == "one-shot"
                    else "the counts")
    note = placement.frame.note if from_wall or one_shot else ""
    print(f"LV frame from {frame_source}" + (f" ({note})" if note else ""))
    to_check = low_confidence_labels(placed)
    if to_check:
        print(f"check these points: {', '.join(to_check)}")
    source = f", median of {len(templates)} templates" if len(templates) > 1 else \
        ("" if templates else ", by the built-in definitions (no template)")
    print(f"wrote {output} ({len(placed)} landmarks, {args.coordinate_system}, {localizer.model_id}{source})")
    if axis_output is not None:
        print(f"wrote {axis_output} (LV long axis line, {args.coordinate_system})")
    return 0


def study_myocardium(volume: Volume, path: str, label: Optional[str] = None, option: str = "--label") -> Volume:
    """The LV myocardium of the segmentation at `path` as a mask volume on its own grid, checked to lie in `volume`;
    `option`: the option that names its myocardium, for the error line."""
    import numpy as np

    from ..cardiac_landmarks import MIN_WALL_VOXELS
    from ..cardiac_views.analysis import myocardium_mask
    from ..errors import InputError
    from ..io.segmentation_io import read_segmentation

    segmentation = read_segmentation(path)
    try:
        wall = myocardium_mask(segmentation, label, option)
    except InputError as error:
        raise InputError(f"{Path(path).name}: {error}") from None
    if wall.sum() < MIN_WALL_VOXELS:
        raise InputError(f"{Path(path).name}: the myocardium has {int(wall.sum())} voxels; too few for an LV frame")
    mask = segmentation.labels.with_array(wall.astype(np.uint8))
    centre_kji = np.argwhere(wall).mean(axis=0)
    if not volume.contains_lps(mask.index_to_lps(centre_kji[::-1])):
        raise InputError(f"{Path(path).name}: its myocardium lies outside the volume; is it this study's segmentation?")
    return mask
