"""Reading SPECT volumes from NIfTI, NRRD, MetaImage and DICOM, and writing volumes atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError, short_reason
from ..volume import Volume
from .atomic import atomic_path, check_writable, full_suffix
from .dicom_nm import is_dicom_file, read_dicom_directory, read_dicom_file

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
# Single-file formats only for output: a two-file format (.nhdr, .mhd) cannot be replaced atomically.
WRITE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")
_FORMAT_NAMES = {".nii": "NIfTI", ".nii.gz": "NIfTI", ".nrrd": "NRRD", ".nhdr": "NRRD", ".mha": "MetaImage",
                 ".mhd": "MetaImage", ".seg.nrrd": "NRRD"}


def read_volume(path: str | os.PathLike) -> Volume:
    """Read a 3D scalar volume (NIfTI, NRRD, MetaImage, NM DICOM file or one-series DICOM folder).

    Refuses, with one clear line, what is not a usable 3D volume: missing or unreadable files, 2D and 4D
    images, multi-component pixels, projections, and voxels that are not finite numbers.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found")
    if p.is_dir():
        volume = read_dicom_directory(p)
    elif is_dicom_file(p):
        volume = read_dicom_file(p)
    else:
        volume = _read_with_sitk(p)
    _check_shape(volume, p.name)
    _check_finite(volume, p.name)
    return volume


def require_counts(volume: Volume, name: str = "the volume") -> Volume:
    """Refuse an intensity volume that holds no counts (every voxel 0 or one constant value)."""
    array = volume.array
    if not np.any(array):
        raise InputError(f"{name} is empty: every voxel is 0")
    if float(array.max()) == float(array.min()):
        raise InputError(f"{name} is constant: every voxel is {float(array.max()):g}")
    if float(array.max()) <= 0:
        raise InputError(f"{name} holds no positive counts")
    return volume


def write_volume(volume: Volume, path: str | os.PathLike) -> Path:
    """Write a volume (NIfTI, NRRD or MetaImage by suffix) atomically; returns the path."""
    import SimpleITK as sitk

    check_volume_output(path)
    with atomic_path(path) as tmp:
        sitk.WriteImage(volume.to_sitk(), str(tmp), True)
    return Path(path)


def check_volume_output(path: str | os.PathLike) -> Path:
    """Refuse early an output path whose format is not a single-file volume format, or whose folder is missing."""
    if full_suffix(path) not in WRITE_SUFFIXES:
        raise InputError(f"{Path(path).name}: unsupported output format; use one of {', '.join(WRITE_SUFFIXES)}")
    return check_writable(path)


def _read_with_sitk(p: Path) -> Volume:
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(p))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        raise InputError(
            f"{p.name}: not an image file SPECTFewShot can read (NIfTI, NRRD, MetaImage or DICOM)"
        ) from None
    dimension = reader.GetDimension()
    size = reader.GetSize()
    if dimension == 2 or (dimension == 3 and min(size) == 1):
        raise InputError(f"{p.name} is a 2D image {size}; SPECTFewShot needs a reconstructed 3D volume")
    if dimension == 4:
        raise InputError(
            f"{p.name} is a 4D image {size} (several volumes, e.g. gated or dynamic frames): "
            "sum or pick the frames into one 3D volume first"
        )
    if dimension != 3:
        raise InputError(f"{p.name} is a {dimension}D image; SPECTFewShot needs a 3D volume")
    if reader.GetNumberOfComponents() != 1:
        raise InputError(f"{p.name} has {reader.GetNumberOfComponents()} values per voxel (colour?); "
                         "SPECTFewShot needs one count value per voxel")
    try:
        image = reader.Execute()
    except RuntimeError as error:
        raise InputError(f"{p.name}: the file is damaged or truncated ({short_reason(error)})") from None
    suffix = full_suffix(p)
    source = {"format": _FORMAT_NAMES.get(suffix, suffix.lstrip(".").upper()), "file": p.name}
    modality = image.GetMetaData("modality") if image.HasMetaDataKey("modality") else ""
    units = image.GetMetaData("units") if image.HasMetaDataKey("units") else ""
    return Volume.from_sitk(image, modality=modality, units=units, source=source)


def _check_shape(volume: Volume, name: str) -> None:
    if min(volume.size) < 2:
        raise InputError(f"{name} is a 2D image {volume.size}; SPECTFewShot needs a reconstructed 3D volume")


def _check_finite(volume: Volume, name: str) -> None:
    if np.issubdtype(volume.array.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(volume.array)))
        if bad:
            raise InputError(f"{name} has {bad} voxels that are not numbers (NaN or infinite); "
                             "fix or re-export the reconstruction")
