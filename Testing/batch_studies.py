"""Small studies for the batch tests: 32^3 crops of the real studies painted on three slices (with their drawn
wall and its landmarks, to be templates), a small synthetic LV with its drawn wall, and a damaged volume."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional

import numpy as np

from SPECTFewShotLib.cardiac_landmarks import lv_landmarks
from SPECTFewShotLib.io.markups_io import write_landmarks
from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for, write_segmentation
from SPECTFewShotLib.io.volume_io import write_volume
from SPECTFewShotLib.research.evaluation.cases import shared_study_case, shared_study_paths
from SPECTFewShotLib.selftest.painting import paint
from Testing.cardiac_synthetic import synthetic_lv


def write_real_crop(folder: Path, patient: str, crop: int = 32) -> Optional[str]:
    """`p<patient>.nii.gz` (a crop around the LV), its 3-slice paint, drawn wall and wall landmarks; the name, or
    None where the study is not available."""
    if shared_study_paths(patient) is None:
        return None
    case = shared_study_case(patient, crop=crop)
    name = f"p{patient}"
    write_volume(case.volume, folder / f"{name}.nii.gz")
    support = paint(case.class_map, case.slices, "slices")
    write_segmentation(Segmentation(case.volume.with_array(support), segments_for(case.classes, case.class_names)),
                       folder / f"{name}_paint.seg.nrrd")
    wall = Segmentation(case.volume.with_array((case.class_map == 2).astype(np.uint8)),
                        segments_for([1], {1: "LV_myocardium"}))
    write_segmentation(wall, folder / f"{name}_wall.seg.nrrd")
    write_landmarks(lv_landmarks(wall.labels), folder / f"{name}_lm.mrk.json")
    return name


def write_synthetic(folder: Path, name: str = "lv", defect=(), depth: float = 0.5, roll_deg: float = 15.0) -> str:
    """A small synthetic LV (`name`.nii.gz) and its drawn wall (`name`_wall.seg.nrrd)."""
    lv = synthetic_lv(defect, depth=depth, shape=(28, 30, 32), spacing=5.0, blur_mm=8.0, roll_deg=roll_deg)
    write_volume(lv.image, folder / f"{name}.nii.gz")
    wall = Segmentation(lv.image.with_array(lv.wall.astype(np.uint8)), segments_for([1], {1: "LV_myocardium"}))
    write_segmentation(wall, folder / f"{name}_wall.seg.nrrd")
    return name


def write_damaged(folder: Path, name: str = "damaged") -> str:
    """A file named like a NIfTI volume that is not one."""
    (folder / f"{name}.nii.gz").write_bytes(b"this is not a volume\n" * 10)
    return name


def write_manifest(path: Path, rows: list[dict]) -> Path:
    """A manifest CSV with the given rows (columns in the order of the first row's keys and any later ones)."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_rows(path: Path) -> dict[str, dict[str, str]]:
    """cohort.csv by id."""
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["id"]: row for row in csv.DictReader(handle)}
