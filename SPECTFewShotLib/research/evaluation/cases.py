"""Evaluation cases: a volume, the reference class of every voxel, and the axial slices a clinician paints.

The bundled real study has two classes (LV myocardium from its wall mask, background for every other voxel).
A phantom study has the LV myocardium, the LV blood pool and the liver (when the liver shows on the painted
slices) as classes, with their phantom label values; every other voxel is background (value 1). The painted
slices are the rounded quartiles of the myocardium's axial extent (painting.quartile_slices).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from SPECTFewShotLib.io.segmentation_io import read_segmentation
from SPECTFewShotLib.io.volume_io import read_volume
from SPECTFewShotLib.painting import quartile_slices
from SPECTFewShotLib.resources import sample_study
from SPECTFewShotLib.volume import Volume

BACKGROUND = 1
PHANTOM_CLASSES = ("LV_myocardium", "LV_blood_pool", "liver")


@dataclass(frozen=True, eq=False)
class ClassificationCase:
    """One volume with its reference class map [k, j, i] (every voxel >= 1), class names and painted slices."""

    name: str
    volume: Volume
    class_map: np.ndarray
    class_names: dict[int, str]
    slices: list[int]

    @property
    def classes(self) -> list[int]:
        """The class values, increasing."""
        return sorted(self.class_names)


def real_study_case() -> ClassificationCase:
    """The bundled PhysioNet study: LV myocardium (value 2) against background (1)."""
    image_path, mask_path = sample_study()
    volume = read_volume(image_path)
    wall = read_segmentation(mask_path).labels.array > 0
    class_map = np.where(wall, 2, BACKGROUND).astype(np.int32)
    return ClassificationCase("real study (PhysioNet patient001)", volume, class_map,
                              {BACKGROUND: "background", 2: "LV_myocardium"}, quartile_slices(wall))


def phantom_case(name: str, image: Volume, tissues: np.ndarray, label_values: dict[str, int]) -> ClassificationCase:
    """A phantom study as a case: myocardium, blood pool and (if painted) liver, everything else background."""
    myocardium = tissues == label_values["LV_myocardium"]
    slices = quartile_slices(myocardium)
    class_map = np.full(tissues.shape, BACKGROUND, dtype=np.int32)
    names = {BACKGROUND: "background"}
    for tissue in PHANTOM_CLASSES:
        value = label_values[tissue]
        region = tissues == value
        if region[slices].any():
            class_map[region] = value
            names[value] = tissue
    return ClassificationCase(name, image, class_map, names, slices)
