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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import InputError, short_reason
from ..runtime.memory_guard import VOLUME_BYTES_PER_VOXEL, require_memory
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
    readable = reader.GetGDCMSeriesFileNames(str(folder), uid, False, True)
    if not readable:
        raise InputError(f"{folder.name}: the DICOM files of the series hold no images that can be read")
    headers = {str(Path(p).resolve()): h for p, h in items}
    stack = [(Path(p), headers[str(Path(p).resolve())]) for p in readable if str(Path(p).resolve()) in headers]
    if not stack:
        raise InputError(f"{folder.name}: the DICOM files of the series hold no images that can be read")
    geometry = stack_geometry(folder.name, [h for _, h in stack])
    header = stack[0][1]
    shape = (len(stack), int(header.get("Rows", 0) or 0), int(header.get("Columns", 0) or 0))
    require_memory(shape, 8 + VOLUME_BYTES_PER_VOXEL, f"reading the series in {folder.name}")
    reader.SetFileNames([str(stack[n][0]) for n in geometry.order])
    try:
        image = reader.Execute()
    except RuntimeError as error:
        raise InputError(f"{folder}: cannot read the DICOM series ({short_reason(error)})") from None
    if image.GetDimension() != 3 or image.GetDepth() != len(stack):
        raise InputError(f"{folder.name}: the {len(stack)} slice files do not stack into one volume")
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    image.SetDirection(geometry.direction)
    for notice in geometry.notices:
        log.warning("%s: %s", folder.name, notice)
    units = str(header.get("Units", "")) or ("counts" if header.get("Modality") == "NM" else "")
    source = {"format": "DICOM", "file": str(folder), "series_description": str(header.get("SeriesDescription", "")),
              "notices": list(geometry.notices)}
    return Volume.from_sitk(image, modality=str(header.get("Modality", "")), units=units, source=source)


@dataclass(frozen=True)
class StackGeometry:
    """Where the slices of a one-slice-per-file series lie: their order and the grid they span."""

    order: tuple[int, ...]  # file indices from the first slice to the last along the slice axis
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    notices: tuple[str, ...] = ()


def _slice_field(header: Any, keyword: str) -> Any:
    """A per-slice geometry field: in the dataset, else in its Detector Information Sequence (NM)."""
    value = header.get(keyword)
    if value is None:
        detector = header.get("DetectorInformationSequence")
        if detector:
            value = detector[0].get(keyword)
    return value


def stack_geometry(name: str, headers: list[Any]) -> StackGeometry:
    """The grid of a stack of single-slice files, from each slice's position and orientation (any modality).

    Slices are ordered along the normal of their orientation; the slice spacing is the distance between their
    positions, checked to be even and along the normal. Slices that all lack a position are stacked in their
    InstanceNumber order from the origin with the spacing the header states, with a notice saying so; slices of
    which only some have a position, or with differing orientations, pixel sizes or image sizes, are refused.
    """
    positions = [_slice_field(h, "ImagePositionPatient") for h in headers]
    orientations = [_slice_field(h, "ImageOrientationPatient") for h in headers]
    pixel_spacing = headers[0].get("PixelSpacing")
    if pixel_spacing is None:
        raise InputError(f"{name}: the slices have no PixelSpacing: their voxel size is unknown")
    row_spacing, col_spacing = (float(v) for v in pixel_spacing)
    for header in headers[1:]:
        other = header.get("PixelSpacing")
        if other is None or not np.allclose([float(v) for v in other], [row_spacing, col_spacing], rtol=1e-3):
            raise InputError(f"{name}: the slice files have different pixel sizes; export one series of one grid")
        if (header.get("Rows"), header.get("Columns")) != (headers[0].get("Rows"), headers[0].get("Columns")):
            raise InputError(f"{name}: the slice files have different image sizes; export one series of one grid")
    missing = sum(p is None for p in positions)
    if 0 < missing < len(headers):
        raise InputError(f"{name}: {missing} of {len(headers)} slice files have no ImagePositionPatient, so the "
                         "slices' order and spacing are unknown; export the series again")
    known = [o for o in orientations if o is not None]
    if known and len(known) < len(headers):
        raise InputError(f"{name}: {len(headers) - len(known)} of {len(headers)} slice files have no "
                         "ImageOrientationPatient; export the series again")
    reference = np.asarray([float(v) for v in known[0]]) if known else np.asarray([1.0, 0, 0, 0, 1.0, 0])
    for orientation in known[1:]:
        if float(np.abs(np.asarray([float(v) for v in orientation]) - reference).max()) > 1e-4:
            raise InputError(f"{name}: the slice files have different orientations (several stacks or a "
                             "localizer); export one series of parallel slices")
    row, col = reference[:3], reference[3:6]
    normal = np.cross(row, col)
    direction = tuple(float(v) for v in np.column_stack([row, col, normal]).ravel())
    if missing:
        return _stack_without_positions(name, headers, (col_spacing, row_spacing), direction, bool(known))
    points = np.asarray([[float(v) for v in p] for p in positions])
    along = points @ normal
    order = tuple(int(n) for n in np.argsort(along, kind="stable"))
    points, along = points[list(order)], along[list(order)]
    if len(headers) < 2:
        raise InputError(f"{name} is a single 2D image; SPECTFewShot needs a reconstructed 3D volume")
    gaps = np.diff(along)
    typical = float(np.median(gaps))
    if typical <= 0 or float(np.abs(gaps - typical).max()) > max(SLICE_GAP_TOLERANCE * typical, 0.01):
        raise InputError(f"{name}: the slices are not evenly spaced (gaps from {gaps.min():.3g} to "
                         f"{gaps.max():.3g} mm: missing, repeated or several stacks); export one evenly spaced series")
    step = (points[-1] - points[0]) / (len(points) - 1)
    off_normal = float(np.linalg.norm(step - np.dot(step, normal) * normal))
    if off_normal > max(SLICE_GAP_TOLERANCE * typical, 0.01):
        raise InputError(f"{name}: each slice is shifted {off_normal:.3g} mm sideways from the one before (a tilted "
                         "gantry or a sheared stack); resample it onto a regular grid first")
    notices = []
    stated = headers[0].get("SpacingBetweenSlices")
    if stated is not None and abs(abs(float(stated)) - typical) > max(SLICE_GAP_TOLERANCE * typical, 0.01):
        notices.append(f"SpacingBetweenSlices says {abs(float(stated)):.4g} mm but the slice positions lie "
                       f"{typical:.4g} mm apart: the positions are used")
    return StackGeometry(order, (col_spacing, row_spacing, typical), tuple(float(v) for v in points[0]), direction,
                         tuple(notices))


def _stack_without_positions(name: str, headers: list[Any], pixel: tuple[float, float], direction: tuple,
                             oriented: bool) -> StackGeometry:
    """Slices without positions: InstanceNumber order, the stated slice spacing, origin (0, 0, 0), with a notice."""
    if len(headers) < 2:
        raise InputError(f"{name} is a single 2D image; SPECTFewShot needs a reconstructed 3D volume")
    numbers = [h.get("InstanceNumber") for h in headers]
    if all(n is not None for n in numbers) and len({int(n) for n in numbers}) == len(numbers):
        order, how = tuple(int(i) for i in np.argsort([int(n) for n in numbers], kind="stable")), "InstanceNumber"
    else:
        order, how = tuple(range(len(headers))), "file name"
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        stated = headers[0].get(keyword)
        if stated is not None and abs(float(stated)) > 0:
            spacing, said = abs(float(stated)), f"{abs(float(stated)):.4g} mm apart ({keyword})"
            break
    else:
        spacing, said = pixel[0], f"{pixel[0]:.4g} mm apart (as wide as the pixels)"
    axes = "" if oriented else ", axial"
    notice = (f"the slice files have no ImagePositionPatient: stacked in {how} order, {said}{axes}, origin "
              "(0, 0, 0) assumed; distances and volumes hold, positions in the patient do not")
    return StackGeometry(order, (pixel[0], pixel[1], spacing), (0.0, 0.0, 0.0), direction, (notice,))


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
