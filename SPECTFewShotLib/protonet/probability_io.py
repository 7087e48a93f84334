"""Writing per-class probabilities: one vector-valued volume, one component per class, named in the header.

3D Slicer loads such a file as a vector volume; "Vector to Scalar Volume" (or the component slider of the
Volumes module) shows one class's probability. The header keys `SPECTFewShot_class_labels` and
`SPECTFewShot_class_names` (separated by "|") say which class each component holds, in order.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_path, check_writable, full_suffix
from ..volume import Volume

PROBABILITY_SUFFIXES = (".nrrd", ".mha")  # formats that keep the class names in the header


def check_probability_output(path: str | os.PathLike) -> Path:
    """Refuse early an output path for probabilities that is not a single-file vector-volume format."""
    if full_suffix(path) not in PROBABILITY_SUFFIXES or full_suffix(path) == ".seg.nrrd":
        raise InputError(f"{Path(path).name}: write probabilities as {', '.join(PROBABILITY_SUFFIXES)}")
    return check_writable(path)


def write_probabilities(probabilities: np.ndarray, reference: Volume, class_labels: Sequence[int],
                        class_names: Sequence[str], path: str | os.PathLike) -> Path:
    """Write probabilities [C, k, j, i] on the reference grid as one C-component float32 volume (atomically)."""
    import SimpleITK as sitk

    check_probability_output(path)
    if probabilities.shape[1:] != reference.array.shape or probabilities.shape[0] != len(class_labels):
        raise InputError("the probabilities do not match the volume's grid and classes")
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.moveaxis(probabilities, 0, -1), dtype=np.float32),
                                   isVector=True)
    image.SetSpacing(reference.spacing)
    image.SetOrigin(reference.origin)
    image.SetDirection(reference.direction)
    image.SetMetaData("SPECTFewShot_class_labels", " ".join(str(int(v)) for v in class_labels))
    image.SetMetaData("SPECTFewShot_class_names", "|".join(class_names))
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), True)
    return Path(path)


def read_probabilities(path: str | os.PathLike) -> tuple[np.ndarray, list[int], list[str]]:
    """Read a file written by write_probabilities: probabilities [C, k, j, i], class labels, class names."""
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image)
    if image.GetNumberOfComponentsPerPixel() == 1:
        array = array[..., None]
    labels = [int(v) for v in image.GetMetaData("SPECTFewShot_class_labels").split()] \
        if image.HasMetaDataKey("SPECTFewShot_class_labels") else list(range(1, array.shape[-1] + 1))
    names = image.GetMetaData("SPECTFewShot_class_names").split("|") \
        if image.HasMetaDataKey("SPECTFewShot_class_names") else [f"label {v}" for v in labels]
    return np.moveaxis(array, -1, 0), labels, names
