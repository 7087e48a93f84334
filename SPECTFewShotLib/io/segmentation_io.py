"""Label volumes with segment names and colors: labelmaps with a Slicer color table, and Slicer `.seg.nrrd` files.

A `.seg.nrrd` also carries each segment's standard terminology (SNOMED CT codes in Slicer's `TerminologyEntry`
tag): the one read from the file, else the vocabulary's for a known tissue name.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError, short_reason
from ..vocabulary import tissue_color, tissue_terminology
from ..volume import Volume
from .atomic import atomic_path, check_writable, full_suffix, write_text_atomic
from .volume_io import read_volume

log = logging.getLogger(__name__)

LABELMAP_SUFFIXES = (".nii.gz", ".nii", ".nrrd")
SEGMENTATION_SUFFIX = ".seg.nrrd"
TERMINOLOGY_TAG = "TerminologyEntry"  # vtkSegment::GetTerminologyEntryTagName()

# Fallback palette for other names, by label value.
_PALETTE = [(0.50, 0.68, 0.50), (0.94, 0.84, 0.57), (0.69, 0.48, 0.40), (0.44, 0.72, 0.82), (0.85, 0.40, 0.31),
            (0.87, 0.51, 0.36), (0.56, 0.44, 0.68), (0.95, 0.63, 0.18), (0.30, 0.54, 0.82), (0.86, 0.66, 0.80)]


@dataclass(frozen=True)
class SegmentInfo:
    """One class: its value in the label volume, its name, its color (RGB, 0..1) and its terminology entry."""

    label: int
    name: str
    color: tuple[float, float, float]
    terminology: str = ""  # Slicer's serialised terminology entry; "" = the vocabulary's for the name, if any

    def terminology_entry(self) -> str:
        """The terminology entry written for this segment: its own, else the vocabulary's for its name."""
        return self.terminology or tissue_terminology(self.name)


@dataclass(frozen=True, eq=False)
class Segmentation:
    """A label volume (0 = no segment) with the name and color of every label value it uses."""

    labels: Volume
    segments: tuple[SegmentInfo, ...] = field(default_factory=tuple)

    def segment(self, label: int) -> SegmentInfo:
        """The segment of a label value (a generated name and color when the file had none)."""
        for info in self.segments:
            if info.label == label:
                return info
        return SegmentInfo(label, f"label {label}", default_color(f"label {label}", label))

    def painted_labels(self) -> list[int]:
        """Label values present in the volume, in increasing order (0 excluded)."""
        return [int(v) for v in np.unique(self.labels.array) if v != 0]


def default_color(name: str, label: int) -> tuple[float, float, float]:
    """A stable color for a segment name (known tissues) or label value."""
    return tissue_color(name) or _PALETTE[(label - 1) % len(_PALETTE)]


def segments_for(labels: Sequence[int], names: dict[int, str] | None = None) -> tuple[SegmentInfo, ...]:
    """Segment descriptions for label values, with given or generated names and default colors."""
    names = names or {}
    out = []
    for label in labels:
        name = names.get(int(label), f"label {int(label)}")
        out.append(SegmentInfo(int(label), name, default_color(name, int(label))))
    return tuple(out)


# ---------------------------------------------------------------------------------------------------- reading


def read_segmentation(path: str | os.PathLike) -> Segmentation:
    """Read a label volume: a Slicer `.seg.nrrd`, or a labelmap (with names from a `.ctbl` beside it)."""
    p = Path(path)
    if full_suffix(p) == SEGMENTATION_SUFFIX and p.exists():
        return _read_seg_nrrd(p)
    volume = read_volume(p)
    array = volume.array
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.equal(np.mod(array, 1), 0)):
        raise InputError(f"{p.name} holds fractional values; a label volume holds whole numbers (0 = unpainted)")
    if array.min() < 0:
        raise InputError(f"{p.name} holds negative values; a label volume holds 0 (unpainted) and positive labels")
    labels = volume.with_array(array.astype(np.int32))
    table = read_color_table(color_table_path(p)) if color_table_path(p).exists() else {}
    segments = []
    for value in (int(v) for v in np.unique(labels.array) if v != 0):
        name, color = table.get(value, (f"label {value}", default_color(f"label {value}", value)))
        segments.append(SegmentInfo(value, name, color))
    return Segmentation(labels, tuple(segments))


def _read_seg_nrrd(p: Path) -> Segmentation:
    import SimpleITK as sitk

    from .header_checks import check_image_file

    check_image_file(p)  # truncated, damaged or oversized files are refused before ITK reads them
    try:
        image = sitk.ReadImage(str(p))
    except RuntimeError as error:
        raise InputError(f"{p.name}: not a readable segmentation file ({short_reason(error)})") from None
    meta = {key: image.GetMetaData(key) for key in image.GetMetaDataKeys()}
    layers = image.GetNumberOfComponentsPerPixel()
    if image.GetDimension() == 4:  # some writers keep the layer axis as a 4th dimension
        raise InputError(f"{p.name}: 4D segmentation layout not supported; re-save it from Slicer as .seg.nrrd")
    if image.GetDimension() != 3:
        raise InputError(f"{p.name} is not a 3D segmentation")
    array = sitk.GetArrayFromImage(image)  # [k, j, i] or [k, j, i, layer]
    if layers == 1:
        array = array[..., None]
    infos = _segment_fields(meta)
    if not infos:
        raise InputError(f"{p.name} has no segments (no Segment0_ fields in its header)")
    combined = np.zeros(array.shape[:3], dtype=np.int32)
    owners = np.zeros(array.shape[:3], dtype=np.int16)
    labels_used = [info["label"] for info in infos]
    renumber = len(set(labels_used)) != len(labels_used)  # several layers reuse values: give unique ones
    segments = []
    for number, info in enumerate(infos, start=1):
        layer = info["layer"] if info["layer"] < array.shape[3] else 0
        mask = array[..., layer] == info["label"]
        value = number if renumber else info["label"]
        combined[mask] = value
        owners += mask
        segments.append(SegmentInfo(value, info["name"], info["color"], info["terminology"]))
    overlap = owners > 1
    if overlap.any():
        log.warning("%s: %d voxels belong to several segments; they are left unpainted", p.name, int(overlap.sum()))
        combined[overlap] = 0
    geometry = Volume(combined, image.GetSpacing(), image.GetOrigin(), image.GetDirection(),
                      source={"format": "Slicer segmentation", "file": p.name})
    return Segmentation(geometry, tuple(segments))


def _segment_fields(meta: dict[str, str]) -> list[dict]:
    infos = []
    index = 0
    while f"Segment{index}_ID" in meta or f"Segment{index}_Name" in meta:
        prefix = f"Segment{index}_"
        name = meta.get(prefix + "Name", meta.get(prefix + "ID", f"Segment_{index + 1}"))
        color_text = meta.get(prefix + "Color", "")
        try:
            color = tuple(float(c) for c in color_text.split()[:3])
            if len(color) != 3:
                raise ValueError
        except ValueError:
            color = default_color(name, index + 1)
        infos.append({
            "name": name,
            "color": color,
            "label": int(meta.get(prefix + "LabelValue", index + 1)),
            "layer": int(meta.get(prefix + "Layer", 0)),
            "terminology": _tags(meta.get(prefix + "Tags", "")).get(TERMINOLOGY_TAG, ""),
        })
        index += 1
    return infos


def _tags(text: str) -> dict[str, str]:
    """A segment's `Tags` field ("key:value|key:value|") as a dict."""
    pairs = (item.split(":", 1) for item in text.split("|") if ":" in item)
    return {key: value for key, value in pairs}


# ---------------------------------------------------------------------------------------------------- writing


def check_segmentation_output(path: str | os.PathLike) -> Path:
    """Refuse early an output path that is neither a labelmap format nor `.seg.nrrd`."""
    suffix = full_suffix(path)
    if suffix not in (*LABELMAP_SUFFIXES, SEGMENTATION_SUFFIX):
        raise InputError(f"{Path(path).name}: write the segmentation as .seg.nrrd, .nrrd, .nii.gz or .nii")
    return check_writable(path)


def write_segmentation(segmentation: Segmentation, path: str | os.PathLike) -> Path:
    """Write a segmentation atomically: `.seg.nrrd` (names and colors in the header) or a labelmap + `.ctbl`."""
    check_segmentation_output(path)
    if full_suffix(path) == SEGMENTATION_SUFFIX:
        _write_seg_nrrd(segmentation, Path(path))
    else:
        _write_labelmap(segmentation, Path(path))
    return Path(path)


def _label_image(segmentation: Segmentation):
    """The label volume as a SimpleITK image of the smallest unsigned type that holds its values."""
    array = segmentation.labels.array
    if array.min() < 0 or array.max() > 65535:
        raise InputError("label values must lie between 0 and 65535")
    dtype = np.uint8 if array.max() <= 255 else np.uint16
    return segmentation.labels.with_array(array.astype(dtype)).to_sitk()


def _write_labelmap(segmentation: Segmentation, path: Path) -> None:
    import SimpleITK as sitk

    image = _label_image(segmentation)
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), True)
    write_color_table(segmentation.segments, color_table_path(path))


def _write_seg_nrrd(segmentation: Segmentation, path: Path) -> None:
    import SimpleITK as sitk

    image = _label_image(segmentation)
    array = segmentation.labels.array
    meta = {
        "Segmentation_MasterRepresentation": "Binary labelmap",
        "Segmentation_SourceRepresentation": "Binary labelmap",
        "Segmentation_ContainedRepresentationNames": "Binary labelmap|",
        "Segmentation_ReferenceImageExtentOffset": "0 0 0",
        "Segmentation_ConversionParameters": "",
    }
    for index, info in enumerate(segmentation.segments):
        prefix = f"Segment{index}_"
        where = np.nonzero(array == info.label)
        if where[0].size:
            k, j, i = where
            extent = f"{i.min()} {i.max()} {j.min()} {j.max()} {k.min()} {k.max()}"
        else:
            extent = "0 -1 0 -1 0 -1"
        meta.update({
            prefix + "ID": _segment_id(info.name, index),
            prefix + "Name": info.name,
            prefix + "NameAutoGenerated": "0",
            prefix + "Color": " ".join(f"{c:.6g}" for c in info.color),
            prefix + "ColorAutoGenerated": "0",
            prefix + "LabelValue": str(info.label),
            prefix + "Layer": "0",
            prefix + "Extent": extent,
            prefix + "Tags": _tags_field(info),
        })
    for key, value in meta.items():
        image.SetMetaData(key, value)
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), True)


def _tags_field(info: SegmentInfo) -> str:
    """The segment's `Tags` field: its terminology entry when it has one (Slicer's form, "|"-terminated)."""
    terminology = info.terminology_entry()
    return f"{TERMINOLOGY_TAG}:{terminology}|" if terminology else "|"


def _segment_id(name: str, index: int) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in name)
    return cleaned or f"Segment_{index + 1}"


# ---------------------------------------------------------------------------------------------------- color table


def color_table_path(labelmap_path: str | os.PathLike) -> Path:
    """The Slicer color table that goes with a labelmap: `labels.nii.gz` -> `labels.ctbl`."""
    p = Path(labelmap_path)
    stem = p.name[: -len(full_suffix(p))] if full_suffix(p) else p.name
    return p.with_name(stem + ".ctbl")


def write_color_table(segments: Sequence[SegmentInfo], path: str | os.PathLike) -> Path:
    """Write a Slicer `.ctbl` color table (value, name, R G B A in 0..255) atomically."""
    lines = [f"# Color table file {Path(path).name}", f"# {len(segments) + 1} values", "0 Background 0 0 0 0"]
    for info in sorted(segments, key=lambda s: s.label):
        r, g, b = (round(255 * c) for c in info.color)
        lines.append(f"{info.label} {info.name.replace(' ', '_')} {r} {g} {b} 255")
    write_text_atomic(path, "\n".join(lines) + "\n")
    return Path(path)


def read_color_table(path: str | os.PathLike) -> dict[int, tuple[str, tuple[float, float, float]]]:
    """Read a Slicer `.ctbl`: label value -> (name, RGB 0..1); background (0) excluded."""
    table = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#") or len(parts) < 5:
            continue
        try:
            value = int(parts[0])
            color = tuple(int(c) / 255.0 for c in parts[2:5])
        except ValueError:
            continue
        if value != 0:
            table[value] = (parts[1], color)
    return table
