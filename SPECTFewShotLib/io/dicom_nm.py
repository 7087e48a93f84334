"""DICOM reading: multi-frame NM (reconstructed tomography) with pydicom, and one-series folders.

Nuclear-medicine files keep their geometry in the Detector Information Sequence and their slice spacing in
SpacingBetweenSlices or SliceThickness, which general readers often miss. Gated reconstructions (several time
slots in one file) are summed to one static volume with a notice: that is the ungated study a perfusion reading
uses, and refusing them would send users to a workstation for no gain.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import InputError, short_reason
from ..memory_guard import VOLUME_BYTES_PER_VOXEL, require_memory
from ..volume import Volume

log = logging.getLogger(__name__)

# ImageType value 3 of NM images that are projections or planar acquisitions, not reconstructed volumes.
_PROJECTION_TYPES = {"TOMO", "GATED TOMO", "STATIC", "WHOLE BODY", "DYNAMIC", "GATED"}
_TIME_SLOT_VECTOR = 0x00540070
_SLICE_VECTOR = 0x00540080
# Largest deviation of a slice gap from the typical gap, as a fraction of it, still taken as evenly spaced.
SLICE_GAP_TOLERANCE = 0.01


def is_dicom_file(path: Path) -> bool:
    """Whether a file starts like a DICOM Part 10 file (or has the .dcm suffix)."""
    if path.suffix.lower() == ".dcm":
        return True
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


@contextlib.contextmanager
def quiet_pydicom() -> Iterator[None]:
    """pydicom's warnings about non-conformant values stay out of the one line a user sees (logged at debug)."""
    pydicom_log = logging.getLogger("pydicom")
    level, propagate = pydicom_log.level, pydicom_log.propagate
    pydicom_log.setLevel(logging.ERROR)
    pydicom_log.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        for warning in caught:
            log.debug("pydicom: %s", warning.message)
    finally:
        pydicom_log.setLevel(level)
        pydicom_log.propagate = propagate


def read_dicom_file(path: Path) -> Volume:
    """Read one DICOM file: a multi-frame NM reconstruction, or a refusal saying why it is not a volume."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    with quiet_pydicom():
        try:
            dataset = pydicom.dcmread(str(path))
        except InvalidDicomError:
            dataset = _read_without_preamble(path)
        except Exception as error:  # pydicom raises many types for damaged files
            raise InputError(f"{path.name}: not a readable DICOM file ({short_reason(error)})") from None
        return volume_from_dataset(dataset, path.name)


def _read_without_preamble(path: Path) -> Any:
    """A DICOM dataset written without the Part 10 preamble (older exporters), or a refusal: not DICOM."""
    import pydicom

    try:
        dataset = pydicom.dcmread(str(path), force=True)
    except Exception:
        dataset = None
    if dataset is None or not any(key in dataset for key in ("SOPClassUID", "Modality", "PixelData")):
        raise InputError(f"{path.name}: not a DICOM file (no DICOM header found)")
    return dataset


def volume_from_dataset(dataset: Any, name: str) -> Volume:
    """A volume from a pydicom dataset of an NM reconstruction (or a clear refusal)."""
    with quiet_pydicom():
        try:
            return _volume_from_dataset(dataset, name)
        except InputError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as error:
            # a header value that is not what the standard says (e.g. '1A' for a number)
            raise InputError(f"{name}: the DICOM header is damaged ({short_reason(error)})") from None


def _volume_from_dataset(dataset: Any, name: str) -> Volume:
    modality = str(dataset.get("Modality", ""))
    image_type = [str(v).upper() for v in dataset.get("ImageType", [])]
    kind = image_type[2] if len(image_type) > 2 else ""
    if kind in _PROJECTION_TYPES:
        raise InputError(
            f"{name} holds {kind.lower()} projection data (ImageType {kind}), not a reconstructed volume: "
            "reconstruct it on the camera workstation and load the RECON TOMO series"
        )
    if "PixelData" not in dataset:
        what = f"a {modality} object" if modality else "no modality"
        raise InputError(f"{name} holds no image ({what}); SPECTFewShot needs a reconstructed 3D volume")
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if frames < 2:
        raise InputError(f"{name} is a single 2D image; SPECTFewShot needs a reconstructed 3D volume")
    bits = int(dataset.get("BitsAllocated", 16) or 16)
    samples = int(dataset.get("SamplesPerPixel", 1) or 1)
    shape = (frames, int(dataset.get("Rows", 0) or 0), int(dataset.get("Columns", 0) or 0))
    require_memory(shape, max(bits // 8, 1) * samples + VOLUME_BYTES_PER_VOXEL, f"reading {name}")
    try:
        pixels = np.asarray(dataset.pixel_array)
    except Exception as error:
        raise InputError(f"{name}: cannot decode the pixel data ({short_reason(error)})") from None
    if pixels.ndim == 4:
        raise InputError(f"{name} has {pixels.shape[-1]} values per pixel (colour); SPECTFewShot needs one count "
                         "value per voxel")
    if pixels.ndim != 3:
        raise InputError(f"{name}: expected {frames} frames of 2D pixels, found an array of shape {pixels.shape}")

    notices = []
    slots = int(dataset.get("NumberOfTimeSlots", 1) or 1)
    if slots > 1 or "GATED" in kind:
        pixels, slots = _sum_time_slots(dataset, pixels, name)
        notices.append(f"gated study: {slots} time slots summed into one static volume")

    values, units = _real_world_values(dataset, pixels)
    spacing, origin, direction, geometry_notices = _nm_geometry(dataset)
    notices.extend(geometry_notices)
    for notice in notices:
        log.warning("%s: %s", name, notice)
    source = {
        "format": "DICOM",
        "file": name,
        "image_type": "\\".join(image_type),
        "manufacturer": str(dataset.get("Manufacturer", "")),
        "series_description": str(dataset.get("SeriesDescription", "")),
        "notices": notices,
    }
    return Volume(values, spacing, origin, direction, modality=modality, units=units, source=source)


def read_dicom_directory(folder: Path) -> Volume:
    """Read the one DICOM series in a folder (a multi-frame NM file, or a stack of single-slice files)."""
    with quiet_pydicom():
        try:
            return _read_dicom_directory(folder)
        except InputError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as error:
            raise InputError(f"{folder.name}: a DICOM header in the folder is damaged ({short_reason(error)})"
                             ) from None


def _read_dicom_directory(folder: Path) -> Volume:
    import pydicom

    series: dict[str, list[tuple[Path, Any]]] = defaultdict(list)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            with quiet_pydicom():
                header = pydicom.dcmread(str(path), stop_before_pixels=True)
        except Exception:
            continue  # not DICOM: DICOMDIR companions, notes, thumbnails
        if "SeriesInstanceUID" in header:
            series[str(header.SeriesInstanceUID)].append((path, header))
    if not series:
        raise InputError(f"{folder} holds no DICOM images")
    if len(series) > 1:
        names = ", ".join(sorted(f"'{items[0][1].get('SeriesDescription', '?')}'" for items in series.values()))
        raise InputError(f"{folder} holds {len(series)} DICOM series ({names}); put one series in the folder")
    (items,) = series.values()
    multi_frame = [p for p, h in items if int(h.get("NumberOfFrames", 1) or 1) > 1]
    if len(items) == 1 or multi_frame:
        if len(multi_frame) > 1:
            raise InputError(f"{folder} holds {len(multi_frame)} multi-frame files of one series; give one file")
        return read_dicom_file(multi_frame[0] if multi_frame else items[0][0])
    return _read_slice_stack(folder, items)


def _read_slice_stack(folder: Path, items: list[tuple[Path, Any]]) -> Volume:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    uid = str(items[0][1].SeriesInstanceUID)
    files = reader.GetGDCMSeriesFileNames(str(folder), uid, False, True)  # sorted along the slice normal
    if not files:
        raise InputError(f"{folder.name}: the DICOM files of the series hold no images that can be read")
    header = items[0][1]
    _check_even_slices(folder, [h for _, h in items])
    shape = (len(files), int(header.get("Rows", 0) or 0), int(header.get("Columns", 0) or 0))
    require_memory(shape, 8 + VOLUME_BYTES_PER_VOXEL, f"reading the series in {folder.name}")
    reader.SetFileNames(files)
    try:
        image = reader.Execute()
    except RuntimeError as error:
        raise InputError(f"{folder}: cannot read the DICOM series ({short_reason(error)})") from None
    units = str(header.get("Units", "")) or ("counts" if header.get("Modality") == "NM" else "")
    source = {"format": "DICOM", "file": str(folder), "series_description": str(header.get("SeriesDescription", ""))}
    return Volume.from_sitk(image, modality=str(header.get("Modality", "")), units=units, source=source)


def _check_even_slices(folder: Path, headers: list[Any]) -> None:
    """Refuse a slice stack whose slices are not evenly spaced (missing or repeated slices, several stacks).

    The reader would otherwise place the slices on an even grid and every distance and volume would be wrong.
    """
    orientation = headers[0].get("ImageOrientationPatient")
    if orientation is None or any(h.get("ImagePositionPatient") is None for h in headers):
        return
    normal = np.cross([float(v) for v in orientation[:3]], [float(v) for v in orientation[3:6]])
    positions = np.sort([float(np.dot(normal, [float(v) for v in h.ImagePositionPatient])) for h in headers])
    gaps = np.diff(positions)
    if gaps.size == 0:
        return
    typical = float(np.median(gaps))
    if typical <= 0 or float(np.abs(gaps - typical).max()) > max(SLICE_GAP_TOLERANCE * typical, 0.01):
        raise InputError(f"{folder.name}: the slices are not evenly spaced (gaps from {gaps.min():.3g} to "
                         f"{gaps.max():.3g} mm: missing, repeated or several stacks); export one evenly spaced series")


def _nm_geometry(dataset: Any) -> tuple[tuple, tuple, tuple, list[str]]:
    """Spacing, origin and direction of an NM reconstruction, with notices for what had to be assumed."""
    notices = []
    detector = dataset.get("DetectorInformationSequence")
    item = detector[0] if detector else dataset
    position = item.get("ImagePositionPatient", dataset.get("ImagePositionPatient"))
    orientation = item.get("ImageOrientationPatient", dataset.get("ImageOrientationPatient"))
    if position is None or orientation is None:
        notices.append("no ImagePositionPatient/ImageOrientationPatient: origin (0, 0, 0) and axial slices assumed")
        position = position if position is not None else [0.0, 0.0, 0.0]
        orientation = orientation if orientation is not None else [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    row = np.asarray([float(v) for v in orientation[:3]])
    col = np.asarray([float(v) for v in orientation[3:6]])
    normal = np.cross(row, col)
    pixel_spacing = dataset.get("PixelSpacing")
    if pixel_spacing is None:
        raise InputError("the NM image has no PixelSpacing: its voxel size is unknown")
    row_spacing, col_spacing = (float(v) for v in pixel_spacing)
    slice_spacing = dataset.get("SpacingBetweenSlices") or dataset.get("SliceThickness")
    if slice_spacing is None:
        notices.append("no SpacingBetweenSlices or SliceThickness: slices assumed as thick as the pixels are wide")
        slice_spacing = col_spacing
    slice_spacing = abs(float(slice_spacing))
    direction = np.column_stack([row, col, normal]).ravel()
    return (col_spacing, row_spacing, slice_spacing), tuple(float(v) for v in position), tuple(direction), notices


def _sum_time_slots(dataset: Any, pixels: np.ndarray, name: str) -> tuple[np.ndarray, int]:
    """Sum the time slots of a gated reconstruction, ordering frames by the Slice and Time Slot Vectors."""
    frames = pixels.shape[0]
    slot_vector = dataset.get(_TIME_SLOT_VECTOR)
    slice_vector = dataset.get(_SLICE_VECTOR)
    if slot_vector is not None and slice_vector is not None:
        slots_of_frame = np.asarray([int(v) for v in slot_vector.value]) - 1
        slice_of_frame = np.asarray([int(v) for v in slice_vector.value]) - 1
        if len(slots_of_frame) != frames or len(slice_of_frame) != frames:
            raise InputError(f"{name}: the gating vectors do not match the {frames} frames")
        n_slices = int(slice_of_frame.max()) + 1
        summed = np.zeros((n_slices, *pixels.shape[1:]), dtype=np.float64)
        np.add.at(summed, slice_of_frame, pixels.astype(np.float64))
        return summed, int(slots_of_frame.max()) + 1
    slots = int(dataset.get("NumberOfTimeSlots", 1) or 1)
    if slots < 2 or frames % slots:
        raise InputError(f"{name}: a gated study whose {frames} frames cannot be split into time slots")
    # Without the vectors, frames are stored slot after slot (each slot a full volume).
    summed = pixels.reshape(slots, frames // slots, *pixels.shape[1:]).astype(np.float64).sum(axis=0)
    return summed, slots


def _real_world_values(dataset: Any, pixels: np.ndarray) -> tuple[np.ndarray, str]:
    """Apply the Real World Value Mapping (or Rescale Slope/Intercept) and name the units."""
    mapping = dataset.get("RealWorldValueMappingSequence")
    if mapping:
        item = mapping[0]
        slope = float(item.get("RealWorldValueSlope", 1.0))
        intercept = float(item.get("RealWorldValueIntercept", 0.0))
        units_code = item.get("MeasurementUnitsCodeSequence")
        units = str(units_code[0].get("CodeValue", "")) if units_code else ""
        return _scaled(pixels, slope, intercept), units or "counts"
    slope = float(dataset.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(dataset.get("RescaleIntercept", 0.0) or 0.0)
    units = str(dataset.get("Units", "") or dataset.get("RescaleType", "") or "counts")
    return _scaled(pixels, slope, intercept), units


def _scaled(pixels: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    if slope == 1.0 and intercept == 0.0:
        return pixels
    return (pixels.astype(np.float64) * slope + intercept).astype(np.float32)
