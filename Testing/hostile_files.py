"""Damaged and strange NIfTI / NRRD files, written byte by byte, for the hostile-file tests and the corpus table.

Each case is (class, name, bytes): the class groups cases for the table in
docs/evaluation/reliability/hostile_corpus.md. The headers are written here rather than by a library, so a case can
say exactly what a broken exporter writes: a spacing of zero, a sheared direction, a size the data cannot back, NaN
voxels.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

SHAPE = (6, 7, 8)  # [k, j, i]
SPACING = (4.0, 4.0, 4.0)
# A negative voxel size is a mirrored axis in NIfTI's and NRRD's geometry, which ITK (and so Slicer) reads as such:
# a well-defined volume, expected to give a result whose direction has that axis reversed.
NEGATIVE_SPACING = "negative spacing (a mirrored axis)"
NM_SLICE_FOLDER = "NM slice folder (single-frame files)"
VALID_CLASSES = ("valid control", NEGATIVE_SPACING, NM_SLICE_FOLDER)


def counts(shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    """A small volume of positive counts with a bright blob (so a classifier has something to separate)."""
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    radius = np.sqrt(sum(g * g for g in grids))
    return (10 + 90 * np.exp(-4 * radius ** 2)).astype(np.float32)


def nifti(array: np.ndarray, spacing=SPACING, affine: np.ndarray | None = None, qform: bool = False,
          dims: list[int] | None = None, datatype: int = 16, intent_vector: bool = False) -> bytes:
    """A NIfTI-1 single file (`.nii`): `array` is [k, j, i] (or any shape when `dims` is given)."""
    data = np.ascontiguousarray(array, dtype="<f4" if datatype == 16 else "<i2")
    if dims is None:
        dims = [array.ndim, *reversed(array.shape)]
    dim = (dims + [1] * 8)[:8]
    header = bytearray(348)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, *dim)
    if intent_vector:
        struct.pack_into("<h", header, 68, 1007)  # NIFTI_INTENT_VECTOR
    struct.pack_into("<hh", header, 70, datatype, 32 if datatype == 16 else 16)
    pixdim = [1.0, *spacing, 1.0, 1.0, 1.0, 1.0][:8]
    struct.pack_into("<8f", header, 76, *pixdim)
    struct.pack_into("<f", header, 108, 352.0)  # vox_offset
    struct.pack_into("<f", header, 112, 1.0)  # scl_slope
    header[123] = 2 | 8  # xyzt_units: mm, s
    if affine is None:
        affine = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])  # RAS-to-LPS flip as a LPS identity
    if qform:
        struct.pack_into("<hh", header, 252, 1, 0)
        struct.pack_into("<6f", header, 256, 0.0, 0.0, 1.0, *affine[:3, 3])  # quaternion of a 180-degree z turn
    else:
        struct.pack_into("<hh", header, 252, 0, 1)
        for row in range(3):
            struct.pack_into("<4f", header, 280 + 16 * row, *affine[row])
    header[344:348] = b"n+1\0"
    return bytes(header) + b"\0" * 4 + data.tobytes()


def nrrd(array: np.ndarray, fields: dict[str, str] | None = None, gzip_data: bool = False,
         sizes: tuple[int, ...] | None = None) -> bytes:
    """A NRRD single file; `fields` replace or add header lines ('space directions', 'sizes', ...)."""
    shape = sizes or tuple(reversed(array.shape))
    header = {
        "type": "float",
        "dimension": str(len(shape)),
        "space": "left-posterior-superior",
        "sizes": " ".join(str(n) for n in shape),
        "space directions": " ".join(
            "(" + ",".join(f"{SPACING[a] if a == b else 0.0:g}" for b in range(3)) + ")" for a in range(3)),
        "space origin": "(0,0,0)",
        "endian": "little",
        "encoding": "gzip" if gzip_data else "raw",
    }
    for key, value in (fields or {}).items():
        if value is None:
            header.pop(key, None)
        else:
            header[key] = value
    text = "NRRD0004\n" + "".join(f"{key}: {value}\n" for key, value in header.items()) + "\n"
    data = np.ascontiguousarray(array, dtype="<f4").tobytes()
    return text.encode("ascii") + (gzip.compress(data, mtime=0) if gzip_data else data)


def _gz(content: bytes) -> bytes:
    return gzip.compress(content, mtime=0)


def _with_values(*values: float) -> np.ndarray:
    array = counts()
    for index, value in enumerate(values):
        array[3, 3, 2 + index] = value
    return array


def hostile_cases() -> list[tuple[str, str, bytes]]:
    """Every damaged NIfTI / NRRD case: (class, file name, bytes)."""
    good = counts()
    nii, nrrd_raw, nrrd_gz = nifti(good), nrrd(good), nrrd(good, gzip_data=True)
    cases: list[tuple[str, str, bytes]] = [
        ("valid control", "control.nii", nii),
        ("valid control", "control.nii.gz", _gz(nii)),
        ("valid control", "control.nrrd", nrrd_raw),
        ("valid control", "control_gzip.nrrd", nrrd_gz),
    ]
    for name, content in (("nii", nii), ("nii.gz", _gz(nii)), ("nrrd", nrrd_raw), ("gzip.nrrd", nrrd_gz)):
        for label, length in (("empty", 0), ("10 bytes", 10), ("mid-header", 200),
                              ("half", len(content) // 2), ("last byte missing", len(content) - 1)):
            cases.append(("truncated", f"truncated_{label.replace(' ', '_')}.{name}", content[:length]))
    for axis_spacing, label in ((0.0, "zero"), (-4.0, "negative"), (float("nan"), "nan"), (1e-30, "tiny")):
        spacing = (4.0, axis_spacing, 4.0)
        kind = NEGATIVE_SPACING if label == "negative" else "zero / NaN / tiny spacing"
        cases.append((kind, f"spacing_{label}_qform.nii", nifti(good, spacing, qform=True)))
        affine = np.diag([-4.0, -axis_spacing, 4.0, 1.0])
        cases.append((kind, f"spacing_{label}_sform.nii.gz", _gz(nifti(good, affine=affine))))
        cases.append((kind, f"spacing_{label}.nrrd",
                      nrrd(good, {"space directions": f"(4,0,0) (0,{axis_spacing:g},0) (0,0,4)"})))
        cases.append((kind, f"spacings_field_{label}.nrrd",
                      nrrd(good, {"space": None, "space directions": None, "space origin": None,
                                  "spacings": f"4 {axis_spacing:g} 4"})))
    sheared = np.array([[-4.0, -2.0, 0, 0], [0, -4.0, 0, 0], [0, 0, 4.0, 0], [0, 0, 0, 1.0]])
    cases.append(("non-orthogonal direction", "sheared_sform.nii", nifti(good, affine=sheared)))
    cases.append(("non-orthogonal direction", "sheared.nrrd",
                  nrrd(good, {"space directions": "(4,0,0) (2,4,0) (0,0,4)"})))
    cases.append(("non-orthogonal direction", "parallel_axes.nrrd",
                  nrrd(good, {"space directions": "(4,0,0) (4,0,0) (0,0,4)"})))
    cases.append(("non-orthogonal direction", "infinite_origin.nrrd", nrrd(good, {"space origin": "(inf,0,0)"})))
    huge = [3, 32000, 32000, 32000]  # NIfTI-1 sizes are 16-bit
    cases.append(("header claims a huge size", "huge.nii", nifti(good, dims=huge)))
    cases.append(("header claims a huge size", "huge.nii.gz", _gz(nifti(good, dims=huge))))
    cases.append(("header claims a huge size", "huge.nrrd", nrrd(good, sizes=(60000, 60000, 60000))))
    cases.append(("header claims a huge size", "huge_gzip.nrrd",
                  nrrd(good, gzip_data=True, sizes=(60000, 60000, 60000))))
    cases.append(("header claims a huge size", "negative_size.nii", nifti(good, dims=[3, 8, -7, 6])))
    cases.append(("header claims a huge size", "zero_size.nrrd", nrrd(good, sizes=(8, 0, 6))))
    for label, values in (("one_nan", (np.nan,)), ("inf", (np.inf,)), ("minus_inf", (-np.inf,)),
                          ("nan_and_inf", (np.nan, np.inf, -np.inf))):
        array = _with_values(*values)
        cases.append(("NaN / infinite voxels", f"{label}.nii.gz", _gz(nifti(array))))
        cases.append(("NaN / infinite voxels", f"{label}.nrrd", nrrd(array)))
    all_nan = np.full(SHAPE, np.nan, dtype=np.float32)
    cases.append(("NaN / infinite voxels", "all_nan.nii", nifti(all_nan)))
    cases.append(("wrong dimensionality", "2d.nii", nifti(good[3])))
    cases.append(("wrong dimensionality", "2d.nrrd", nrrd(good[3], {"space directions": "(4,0,0) (0,4,0)"})))
    cases.append(("wrong dimensionality", "1d.nii", nifti(good[3, 3])))
    cases.append(("wrong dimensionality", "one_slice.nii", nifti(good[:1])))
    four = np.stack([good, good])
    cases.append(("wrong dimensionality", "4d.nii.gz", _gz(nifti(four))))
    cases.append(("wrong dimensionality", "4d.nrrd", nrrd(four, {"space directions": None, "space": None,
                                                                  "space origin": None})))
    cases.append(("wrong dimensionality", "5d.nii", nifti(np.stack([four, four]))))
    vector = np.stack([good, good, good], axis=-1)
    cases.append(("wrong dimensionality", "vector.nii", nifti(vector, dims=[5, 8, 7, 6, 1, 3], intent_vector=True)))
    cases.append(("wrong dimensionality", "vector.nrrd",
                  nrrd(vector, {"kinds": "vector domain domain domain",
                                "space directions": "none (4,0,0) (0,4,0) (0,0,4)"}, sizes=(3, 8, 7, 6))))
    rng = np.random.default_rng(29)
    cases.append(("not an image", "random_bytes.nii", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()))
    noise = rng.integers(0, 256, 512, dtype=np.uint8).tobytes()
    cases.append(("not an image", "random_bytes.nrrd", b"NRRD0004\n" + noise))
    cases.append(("not an image", "text.nii.gz", b"this is not an image\n"))
    cases.append(("not an image", "bad_gzip.nii.gz", _gz(nii)[:20] + b"\0" * 64 + _gz(nii)[84:]))
    return cases


def write_cases(folder: Path) -> list[tuple[str, Path]]:
    """Write every case into `folder`; returns (class, path) pairs."""
    written = []
    for kind, name, content in hostile_cases():
        path = folder / name
        path.write_bytes(content)
        written.append((kind, path))
    return written


def write_dicom_folders(folder: Path) -> list[tuple[str, Path]]:
    """Folders of single-frame NM files (one slice per file) as cameras and converters write them: consistent,
    shuffled, positions only in the Detector Information Sequence, no positions at all (read with a notice), and
    unusable geometry (uneven spacing, positions in only some files, two orientations). Returns (class, folder)."""
    import pydicom

    from Testing.nm_dicom_factory import write_nm_slices

    frames = np.round(counts((8, 10, 12)) * 10).astype(np.uint16)
    unusable = "NM slice folder, unusable geometry"
    cases = [(NM_SLICE_FOLDER, "nm_slices_consistent", {}),
             (NM_SLICE_FOLDER, "nm_slices_shuffled", {"shuffle": True}),
             (NM_SLICE_FOLDER, "nm_slices_detector_positions", {"positions": "detector"}),
             (NM_SLICE_FOLDER, "nm_slices_no_positions", {"positions": "none", "shuffle": True}),
             (unusable, "nm_slices_uneven", {"slice_gaps": [4.0, 4.0, 4.0, 8.0, 4.0, 4.0, 4.0]}),
             (unusable, "nm_slices_some_positions", {"positions": "some"}),
             (unusable, "nm_slices_two_orientations", {})]
    written = []
    for kind, name, options in cases:
        files = write_nm_slices(folder / name, frames, **options)
        if name == "nm_slices_two_orientations":
            ds = pydicom.dcmread(str(files[3]))
            ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
            ds.save_as(str(files[3]), enforce_file_format=True)
        written.append((kind, folder / name))
    return written
