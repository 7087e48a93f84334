"""Writing a phantom study to a folder: image, labels (+ colour table), label table, landmarks, drawn parameters."""

from __future__ import annotations

import json
import os
from pathlib import Path

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.io.atomic import write_text_atomic
from SPECTFewShotLib.io.markups_io import write_landmarks
from SPECTFewShotLib.io.segmentation_io import color_table_path, write_segmentation
from SPECTFewShotLib.io.volume_io import write_volume
from SPECTFewShotLib.research.phantom.study import PhantomStudy

STUDY_FILES = ("image.nii.gz", "labels.nii.gz", "labels.json", "landmarks.mrk.json", "phantom.json")


def study_paths(folder: str | os.PathLike) -> dict[str, Path]:
    """The files a study folder holds, by name."""
    root = Path(folder)
    return {name: root / name for name in STUDY_FILES}


def check_study_folder(folder: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse early a folder that is a file, or that already holds study files (unless overwrite); create it."""
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise InputError(f"output {root} is a file; give a folder")
    existing = [p.name for p in study_paths(root).values() if p.exists()]
    if color_table_path(root / "labels.nii.gz").exists():
        existing.append("labels.ctbl")
    if existing and not overwrite:
        raise InputError(f"{root} already holds {', '.join(existing)}; choose another folder or pass --overwrite")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create the output folder {root} ({error.strerror})") from None
    return root


def write_study(study: PhantomStudy, folder: str | os.PathLike) -> dict[str, Path]:
    """Write the study's files atomically (same seed and config: the same bytes)."""
    paths = study_paths(folder)
    write_volume(study.image, paths["image.nii.gz"])
    write_segmentation(study.labels, paths["labels.nii.gz"])
    write_text_atomic(paths["labels.json"], json.dumps(study.label_values, indent=2) + "\n")
    write_landmarks(study.landmarks, paths["landmarks.mrk.json"])
    write_text_atomic(paths["phantom.json"], json.dumps(study.metadata, indent=2, sort_keys=True) + "\n")
    return paths
