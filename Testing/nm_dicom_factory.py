"""Writes NM DICOM test files with pydicom: reconstructions (plain, gated), projections, single frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

NM_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.20"


def write_nm_file(
    path: Path,
    frames: np.ndarray,
    *,
    image_type: str = "RECON TOMO",
    origin=(-120.5, -95.25, 310.0),
    orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    pixel_spacing=(4.42, 4.42),
    slice_spacing: float | None = 4.42,
    slice_thickness: float | None = None,
    time_slots: int = 1,
    rescale: tuple[float, float] | None = None,
    real_world: tuple[float, float, str] | None = None,
) -> Path:
    """Write `frames` (n_frames, rows, columns; uint16) as a multi-frame NM file."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = NM_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = NM_IMAGE_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "NM"
    ds.Manufacturer = "TestCam"
    ds.SeriesDescription = "test " + image_type
    ds.ImageType = ["ORIGINAL", "PRIMARY", image_type, "EMISSION"]
    ds.NumberOfFrames = frames.shape[0]
    ds.Rows, ds.Columns = frames.shape[1], frames.shape[2]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelSpacing = [f"{pixel_spacing[0]:g}", f"{pixel_spacing[1]:g}"]
    if slice_spacing is not None:
        ds.SpacingBetweenSlices = f"{slice_spacing:g}"
    if slice_thickness is not None:
        ds.SliceThickness = f"{slice_thickness:g}"
    detector = Dataset()
    detector.ImagePositionPatient = [f"{v:g}" for v in origin]
    detector.ImageOrientationPatient = [f"{v:g}" for v in orientation]
    ds.DetectorInformationSequence = Sequence([detector])
    n_slices = frames.shape[0] // time_slots
    if image_type.startswith("RECON"):
        ds.NumberOfSlices = n_slices
    if time_slots > 1:
        ds.NumberOfTimeSlots = time_slots
        # frames stored slot after slot; the vectors say which slot and slice each frame is
        ds.TimeSlotVector = [s + 1 for s in range(time_slots) for _ in range(n_slices)]
        ds.SliceVector = [k + 1 for _ in range(time_slots) for k in range(n_slices)]
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = (f"{v:g}" for v in rescale)
    if real_world is not None:
        item = Dataset()
        item.RealWorldValueSlope, item.RealWorldValueIntercept = real_world[0], real_world[1]
        unit = Dataset()
        unit.CodeValue = real_world[2]
        unit.CodingSchemeDesignator = "UCUM"
        unit.CodeMeaning = real_world[2]
        item.MeasurementUnitsCodeSequence = Sequence([unit])
        ds.RealWorldValueMappingSequence = Sequence([item])
    ds.PixelData = np.ascontiguousarray(frames.astype(np.uint16)).tobytes()
    pydicom.dcmwrite(str(path), ds, enforce_file_format=True)
    return path


def write_nm_slices(
    folder: Path,
    frames: np.ndarray,
    *,
    origin=(-100.0, -50.0, 20.0),
    orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    pixel_spacing=(4.0, 4.0),
    slice_gaps: list[float] | None = None,
    slice_thickness: float | None = 4.0,
    positions: str = "dataset",
    shuffle: bool = False,
    modality: str = "NM",
) -> list[Path]:
    """Write `frames` (n, rows, columns) as single-frame NM Image Storage files, one per slice, as cameras and
    converters write them: each with its ImagePositionPatient / ImageOrientationPatient (`positions`: "dataset",
    "detector" for the Detector Information Sequence only, "none", or "some" for only every other file), one
    SeriesInstanceUID, InstanceNumber in slice order. Slice k lies sum(slice_gaps[:k]) mm along the normal of the
    orientation (default: `slice_thickness` apart). `shuffle` names the files in a scrambled order."""
    folder.mkdir(parents=True, exist_ok=True)
    n = frames.shape[0]
    gaps = list(slice_gaps) if slice_gaps is not None else [float(slice_thickness or 4.0)] * (n - 1)
    offsets = np.concatenate([[0.0], np.cumsum(gaps)])
    normal = np.cross(orientation[:3], orientation[3:6])
    series, study, frame_of_reference = generate_uid(), generate_uid(), generate_uid()
    names = np.random.default_rng(5).permutation(n) if shuffle else np.arange(n)
    written = []
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = NM_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"IM{int(names[k]):04d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = NM_IMAGE_STORAGE
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame_of_reference
        ds.Modality = modality
        ds.SeriesDescription = "test NM slices"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
        ds.InstanceNumber = k + 1
        ds.Rows, ds.Columns = frames.shape[1], frames.shape[2]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.PixelSpacing = [f"{pixel_spacing[0]:g}", f"{pixel_spacing[1]:g}"]
        if slice_thickness is not None:
            ds.SliceThickness = f"{slice_thickness:g}"
        position = [f"{v:.6g}" for v in np.asarray(origin) + offsets[k] * normal]
        cosines = [f"{v:.6g}" for v in orientation]
        if positions == "dataset" or (positions == "some" and k % 2 == 0):
            ds.ImagePositionPatient, ds.ImageOrientationPatient = position, cosines
        elif positions == "detector":
            detector = Dataset()
            detector.ImagePositionPatient, detector.ImageOrientationPatient = position, cosines
            ds.DetectorInformationSequence = Sequence([detector])
        elif positions == "some":
            ds.ImageOrientationPatient = cosines
        ds.PixelData = np.ascontiguousarray(frames[k].astype(np.uint16)).tobytes()
        pydicom.dcmwrite(str(path), ds, enforce_file_format=True)
        written.append(path)
    return written
