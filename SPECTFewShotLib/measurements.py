"""Numbers a clinician reads off a result: per-class volume and mean counts, distances between landmarks."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Sequence

import numpy as np

from .errors import InputError
from .io.markups_io import Landmark
from .io.segmentation_io import Segmentation
from .volume import Volume

# Named distances between the project's landmarks; other pairs are reported as "A to B distance".
NAMED_DISTANCES = {frozenset(("LV_apex", "LV_base")): "LV length (LV_apex to LV_base)"}


@dataclass(frozen=True)
class Measurement:
    """One reported number: what it is, its value and its unit."""

    name: str
    value: float
    unit: str


def class_measurements(volume: Volume, segmentation: Segmentation) -> list[Measurement]:
    """Volume (mL), voxel count and mean counts of every segment, on the volume's grid."""
    if segmentation.labels.array.shape != volume.array.shape or segmentation.labels.grid_differences(volume):
        raise InputError("the segmentation is not on the volume's grid")
    labels = segmentation.labels.array
    rows = []
    for info in segmentation.segments:
        mask = labels == info.label
        voxels = int(mask.sum())
        mean = float(volume.array[mask].mean()) if voxels else float("nan")
        rows += [
            Measurement(f"{info.name} volume", voxels * volume.voxel_volume_ml, "mL"),
            Measurement(f"{info.name} mean counts", mean, "counts"),
            Measurement(f"{info.name} voxels", float(voxels), "voxels"),
        ]
    return rows


def landmark_measurements(landmarks: Sequence[Landmark]) -> list[Measurement]:
    """Distance (mm) between every pair of landmarks (LV length named as such), and each point's confidence."""
    rows = []
    for first, second in combinations(landmarks, 2):
        distance = float(np.linalg.norm(np.subtract(first.position_lps, second.position_lps)))
        name = NAMED_DISTANCES.get(frozenset((first.label, second.label)),
                                   f"{first.label} to {second.label} distance")
        rows.append(Measurement(name, distance, "mm"))
    rows += [Measurement(f"{landmark.label} confidence", float(landmark.confidence), "")
             for landmark in landmarks if landmark.confidence is not None]
    return rows
