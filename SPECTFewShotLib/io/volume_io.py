"""Reading SPECT volumes from NIfTI, NRRD, MetaImage and DICOM, and writing volumes atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError, short_reason
from ..runtime.memory_guard import VOLUME_BYTES_PER_VOXEL, require_memory
from ..volume import Volume
from .atomic import atomic_path, check_writable, full_suffix
from .dicom_nm import is_dicom_file, read_dicom_directory, read_dicom_file
from .header_checks import PERPENDICULAR_TOLERANCE, check_image_file, sheared_grid_error

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
# Single-file formats only for output: a two-file format (.nhdr, .mhd) cannot be replaced atomically.
WRITE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")
# Voxel sizes outside this range (mm) are a header in the wrong units or a damaged one, not a SPECT study.
PLAUSIBLE_SPACING_MM = (0.01, 1000.0)
_FORMAT_NAMES = {".nii": "NIfTI", ".nii.gz": "NIfTI", ".nrrd": "NRRD", ".nhdr": "NRRD", ".mha": "MetaImage",
                 ".mhd": "MetaImage", ".seg.nrrd": "NRRD"}


def read_volume(path: str | os.PathLike) -> Volume:
    """Read a 3D scalar volume (NIfTI, NRRD, MetaImage, NM DICOM file or one-series DICOM folder).

    Refuses, with one clear line, what is not a usable 3D volume: missing, unreadable, truncated or damaged files,
    2D and 4D images, multi-component pixels, projections, voxels that are not finite numbers, voxel sizes that are
    zero or implausible, axes that are not perpendicular, and volumes too large for the available memory.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found")
    if p.is_dir():
        volume = read_dicom_directory(p)
    elif is_dicom_file(p):
        volume = read_dicom_file(p)
    else:
        check_image_file(p)
        volume = _read_with_sitk(p)
    _check_shape(volume, p.name)
    _check_geometry(volume, p.name)
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


_PIXEL_BYTES = {"8-bit signed integer": 1, "8-bit unsigned integer": 1, "16-bit signed integer": 2,
                "16-bit unsigned integer": 2, "32-bit signed integer": 4, "32-bit unsigned integer": 4,
                "64-bit signed integer": 8, "64-bit unsigned integer": 8, "32-bit float": 4, "64-bit float": 8}


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
    pixel_bytes = sitk.GetPixelIDValueAsString(reader.GetPixelID())
    require_memory(size[::-1], _PIXEL_BYTES.get(pixel_bytes, 8) * 2 + VOLUME_BYTES_PER_VOXEL, f"reading {p.name}")
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


def _check_geometry(volume: Volume, name: str) -> None:
    """Refuse voxel sizes that are zero, not numbers or implausible, an origin that is not a number, sheared axes."""
    low, high = PLAUSIBLE_SPACING_MM
    spacing = np.asarray(volume.spacing, dtype=float)
    if not np.all(np.isfinite(spacing)) or np.any(spacing < low) or np.any(spacing > high):
        sizes = ", ".join(f"{s:.4g}" for s in spacing)
        raise InputError(f"{name} has a voxel size of ({sizes}) mm, outside {low:g}-{high:g} mm: the header is "
                         "damaged or in other units; fix the voxel size (Slicer: Volumes module, Volume Information)")
    if not np.all(np.isfinite(volume.origin)):
        raise InputError(f"{name} has an origin that is not a number; fix the header or export it again")
    direction = volume.direction_matrix
    if not np.all(np.isfinite(direction)):
        raise InputError(f"{name} has an orientation that is not a number; fix the header or export it again")
    if float(np.abs(direction.T @ direction - np.eye(3)).max()) > PERPENDICULAR_TOLERANCE:
        raise sheared_grid_error(name)


def _check_finite(volume: Volume, name: str) -> None:
    if np.issubdtype(volume.array.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(volume.array)))
        if bad:
            raise InputError(f"{name} has {bad} voxels that are not numbers (NaN or infinite); "
                             "fix or re-export the reconstruction")
