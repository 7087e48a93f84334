"""One call for the CLI and the Slicer glue: pick the myocardium, build the frame, reorient, sample the polar map."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..errors import InputError
from ..io.markups_io import Landmark
from ..io.segmentation_io import Segmentation
from ..vocabulary import TISSUE_ALIASES, TISSUE_BY_NAME, tissue_of_segment
from ..volume import Volume
from .frame import CardiacFrame, frame_from_landmarks
from .polar_map import PolarMap, PolarMapSettings, compute_polar_map
from .reorientation import CardiacViews, reorient

MYOCARDIUM = "LV_myocardium"


@dataclass(frozen=True, eq=False)
class CardiacAnalysis:
    """The frame, the three reoriented views and the polar map of one study."""

    frame: CardiacFrame
    views: CardiacViews
    polar_map: PolarMap


def is_myocardium_name(name: str) -> bool:
    """Whether a segment name means the LV myocardium (LV_myocardium or an alias, ignoring case, spaces and
    hyphens)."""
    return tissue_of_segment(name) == MYOCARDIUM


def myocardium_mask(segmentation: Segmentation, label: Optional[str] = None, option: str = "--label") -> np.ndarray:
    """The LV wall of a segmentation (bool [k, j, i]): the segment `label` (a name or a label value), else the
    segment named LV_myocardium (or an alias), else the only segment; `option`: the command-line option that says
    which segment is the wall, named when none can be chosen."""
    present = segmentation.painted_labels()
    if not present:
        raise InputError("the segmentation is empty; it needs the LV myocardium")
    names = {segmentation.segment(value).name: value for value in present}
    if label is not None:
        text = str(label).strip()
        if text.isdigit():
            if int(text) not in present:
                raise InputError(f"the segmentation has no label {text}; it has {', '.join(map(str, present))}")
            return segmentation.labels.array == int(text)
        wanted = TISSUE_ALIASES.get(text, text).lower()
        for name, value in names.items():
            if TISSUE_ALIASES.get(name, name).lower() == wanted:
                return segmentation.labels.array == value
        raise InputError(f"the segmentation has no segment '{text}'; it has {', '.join(names)}")
    for name, value in names.items():
        if is_myocardium_name(name):
            return segmentation.labels.array == value
    myocardium_value = TISSUE_BY_NAME[MYOCARDIUM].label
    if len(present) == 1:
        return segmentation.labels.array == present[0]
    if all(name.startswith("label ") for name in names) and myocardium_value in present:
        return segmentation.labels.array == myocardium_value
    raise InputError(f"the segmentation has several segments ({', '.join(names)}) and none is named {MYOCARDIUM}; "
                     f"say which one is the LV wall with {option}")


def analyze(volume: Volume, wall: np.ndarray, landmarks: Sequence[Landmark],
            settings: Optional[PolarMapSettings] = None, spacing_mm: Optional[float] = None,
            frame: Optional[CardiacFrame] = None) -> CardiacAnalysis:
    """Frame from the landmarks (or the given frame), the three views and the polar map of one study."""
    frame = frame or frame_from_landmarks(landmarks)
    if not volume.contains_lps(frame.apex, margin_voxels=2.0) or not volume.contains_lps(frame.base, 2.0):
        raise InputError("the LV apex or base lies outside the volume; are the landmarks for this study?")
    return CardiacAnalysis(frame, reorient(volume, frame, spacing_mm), compute_polar_map(volume, wall, frame, settings))


def check_same_grid(volume: Volume, segmentation: Segmentation) -> None:
    """Refuse a segmentation that is not on the study's voxel grid, saying how it differs."""
    differences = volume.grid_differences(segmentation.labels)
    if differences:
        raise InputError("the segmentation is not on the volume's grid (" + "; ".join(differences) + "); "
                         "resample it onto the volume first")
