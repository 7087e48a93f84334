"""`spectfewshot info FILE [--json]`: what a file holds, for every file the tool reads or writes.

A volume (NIfTI, NRRD, MetaImage, DICOM file or folder): geometry, modality, units and voxel statistics. A
segmentation (`.seg.nrrd`, as `classify` writes it): its geometry and each segment's label, name, voxels and mL.
Probabilities (the vector `.nrrd` / `.mha` of `classify --probabilities`): geometry and, per class, the voxels where
it is the most probable and its mean probability. A markups file (`.mrk.json`, as `localize` writes landmarks and
the long axis): each point's label, LPS position and confidence.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..io.atomic import full_suffix
from ..io.volume_io import read_volume, require_counts
from ..io.volume_stats import describe

PROBABILITY_LABELS_KEY = "SPECTFewShot_class_labels"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `info` subcommand."""
    parser = subparsers.add_parser("info", help="describe a SPECT volume, a segmentation, probabilities or markups",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("volume", metavar="FILE",
                        help="NIfTI, NRRD, MetaImage or DICOM file, a folder with one DICOM series, a .seg.nrrd, "
                             "a probabilities .nrrd/.mha or a .mrk.json")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the description of one file."""
    path = Path(args.volume)
    suffix = full_suffix(path)
    if suffix == ".mrk.json":
        info, text = _markups(path)
    elif suffix == ".seg.nrrd" and path.is_file():
        info, text = _segmentation(path, args.volume)
    elif suffix in (".nrrd", ".mha") and _is_probability_file(path):
        info, text = _probabilities(path, args.volume)
    else:
        info = describe(require_counts(read_volume(path), path.name))
        text = format_info(info, args.volume)
    print(json.dumps(info) if args.json else text)
    return 0


def format_info(info: dict, name: str) -> str:
    """The text form of `describe`'s dictionary."""
    lines = [f"volume     {name}", *_geometry_lines(info),
             f"modality   {info['modality'] or 'unknown'}",
             f"units      {info['units'] or 'unknown'}",
             f"voxels     min {info['min']:.6g}, max {info['max']:.6g}, mean {info['mean']:.6g}, sum {info['sum']:.6g}"]
    return "\n".join(lines)


def _geometry_lines(info: dict) -> list[str]:
    fmt = ", ".join
    return [f"size       {' x '.join(str(s) for s in info['size'])} voxels (i, j, k)",
            f"spacing    {fmt(f'{s:.4g}' for s in info['spacing'])} mm",
            f"origin     {fmt(f'{o:.2f}' for o in info['origin_lps'])} mm (LPS)",
            f"direction  {fmt(f'{d:.4g}' for d in info['direction'])}"]


def _geometry(volume) -> dict:
    return {"size": list(volume.size), "spacing": list(volume.spacing), "origin_lps": list(volume.origin),
            "direction": list(volume.direction)}


def _segmentation(path: Path, name: str) -> tuple[dict, str]:
    from ..io.segmentation_io import read_segmentation

    segmentation = read_segmentation(path)
    labels = segmentation.labels
    counts = np.bincount(labels.array.ravel()) if labels.array.size else np.zeros(1, dtype=int)
    segments = [{"label": s.label, "name": s.name, "voxels": int(counts[s.label]) if s.label < len(counts) else 0,
                 "ml": (int(counts[s.label]) if s.label < len(counts) else 0) * labels.voxel_volume_ml}
                for s in segmentation.segments]
    info = {"kind": "segmentation", **_geometry(labels), "segments": segments}
    lines = [f"segmentation {name}", *_geometry_lines(info)]
    lines += [f"segment    {s['label']:>3}  {s['name']:<24} {s['voxels']:>9} voxels {s['ml']:9.1f} mL"
              for s in segments]
    return info, "\n".join(lines)


def _is_probability_file(path: Path) -> bool:
    """Whether a file is `classify --probabilities` output: several components, class labels in the header."""
    import SimpleITK as sitk

    if not path.is_file():
        return False
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return False
    return PROBABILITY_LABELS_KEY in reader.GetMetaDataKeys()


def _probabilities(path: Path, name: str) -> tuple[dict, str]:
    import SimpleITK as sitk

    from ..errors import InputError, short_reason
    from ..io.header_checks import check_image_file
    from ..protonet.probability_io import read_probabilities

    check_image_file(path)
    try:
        probabilities, labels, names = read_probabilities(path)
        image = sitk.ReadImage(str(path))
    except (RuntimeError, ValueError) as error:
        raise InputError(f"{path.name}: not a readable probabilities file ({short_reason(error)})") from None
    if probabilities.shape[0] != len(labels) or len(names) != len(labels):
        raise InputError(f"{path.name}: its header names {len(labels)} classes but it holds "
                         f"{probabilities.shape[0]} components")
    winner = np.bincount(np.argmax(probabilities, axis=0).ravel(), minlength=len(labels))
    geometry = {"size": list(image.GetSize()), "spacing": list(image.GetSpacing()),
                "origin_lps": list(image.GetOrigin()), "direction": list(image.GetDirection())}
    classes = [{"label": label, "name": class_name, "most_probable_voxels": int(count),
                "mean_probability": float(probabilities[n].mean())}
               for n, (label, class_name, count) in enumerate(zip(labels, names, winner))]
    info = {"kind": "probabilities", **geometry, "classes": classes}
    lines = [f"probabilities {name} (one component per class)", *_geometry_lines(info)]
    lines += [f"class      {c['label']:>3}  {c['name']:<24} most probable in {c['most_probable_voxels']:>9} voxels, "
              f"mean {c['mean_probability']:.3f}" for c in classes]
    return info, "\n".join(lines)


def _markups(path: Path) -> tuple[dict, str]:
    from ..io.markups_io import read_landmarks

    points = read_landmarks(path)
    info = {"kind": "markups", "points": [{"label": p.label, "position_lps": list(p.position_lps),
                                           "confidence": p.confidence} for p in points]}
    lines = [f"markups    {path}: {len(points)} points (positions in mm, LPS)"]
    for p in points:
        confidence = "" if p.confidence is None else f"   confidence {p.confidence:.2f}"
        x, y, z = p.position_lps
        lines.append(f"point      {p.label:<24} {x:8.1f} {y:8.1f} {z:8.1f}{confidence}")
    return info, "\n".join(lines)
