"""Checks of a NIfTI or NRRD file before an image library reads it: what ITK would silently repair or crash on.

ITK reads a truncated NIfTI file as if the missing voxels were 0, turns NaN voxels into 0, takes a voxel size of 0
or NaN as 1 mm, prints numerical-library warnings on a degenerate orientation and tries to allocate whatever size a
header claims. Each of these would give a clinician a wrong volume or a crash instead of a refusal, so this module
reads the header itself, checks that the data is all there (and, compressed, that the gzip stream is intact), and
asks the memory guard before anything is allocated.
"""

from __future__ import annotations

import gzip
import math
import re
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

import numpy as np

from ..errors import InputError
from ..runtime.memory_guard import VOLUME_BYTES_PER_VOXEL, require_memory
from .atomic import full_suffix

_CHUNK = 1 << 22
_NRRD_TYPES = {
    "signed char": 1, "int8": 1, "int8_t": 1, "uchar": 1, "unsigned char": 1, "uint8": 1, "uint8_t": 1,
    "short": 2, "short int": 2, "signed short": 2, "signed short int": 2, "int16": 2, "int16_t": 2,
    "ushort": 2, "unsigned short": 2, "unsigned short int": 2, "uint16": 2, "uint16_t": 2,
    "int": 4, "signed int": 4, "int32": 4, "int32_t": 4, "uint": 4, "unsigned int": 4, "uint32": 4, "uint32_t": 4,
    "longlong": 8, "long long": 8, "long long int": 8, "signed long long": 8, "signed long long int": 8,
    "int64": 8, "int64_t": 8, "ulonglong": 8, "unsigned long long": 8, "unsigned long long int": 8,
    "uint64": 8, "uint64_t": 8, "float": 4, "double": 8,
}
_NIFTI_FLOATS = {16: "f4", 64: "f8"}
# Largest |cosine| between two axes still taken as perpendicular (rounding in exporters).
PERPENDICULAR_TOLERANCE = 1e-3


def check_image_file(path: Path) -> None:
    """Refuse (InputError, one line) a NIfTI or NRRD file that is damaged, truncated or too large to read."""
    suffix = full_suffix(path)
    if suffix in (".nii", ".nii.gz"):
        _check_nifti(path, compressed=suffix == ".nii.gz")
    elif suffix in (".nrrd", ".nhdr", ".seg.nrrd"):
        _check_nrrd(path)


def _damaged(name: str, what: str) -> InputError:
    return InputError(f"{name} is damaged ({what}); export it again from the workstation")


# --- NIfTI --------------------------------------------------------------------------------------------------------


def _check_nifti(path: Path, compressed: bool) -> None:
    name = path.name
    if compressed:
        with open(path, "rb") as raw:
            if raw.read(2) != b"\x1f\x8b":
                return  # not gzip at all: the reader says it is not an image
    try:
        with _open(path, compressed) as handle:
            head = handle.read(540)
    except (OSError, EOFError, zlib.error):
        raise _damaged(name, "not a complete gzip file") from None
    header = _nifti_header(head, name)
    if header is None:
        return  # not NIfTI after all: the reader says what it is not
    dims, bytes_per_voxel, vox_offset, datatype = header
    voxels = math.prod(dims)
    expected = vox_offset + voxels * bytes_per_voxel
    if not compressed:
        actual = path.stat().st_size
        if actual < expected:
            raise _truncated(name, dims, expected, actual)
    require_memory(dims[::-1], bytes_per_voxel + VOLUME_BYTES_PER_VOXEL, f"reading {name}")
    dtype = _NIFTI_FLOATS.get(datatype)
    if not (compressed or dtype):
        return
    bad, actual = _scan(path, compressed, vox_offset, voxels * bytes_per_voxel,
                        np.dtype(header_endian(head) + dtype) if dtype else None, name)
    if actual < expected:
        raise _truncated(name, dims, expected, actual)
    if bad:
        raise InputError(f"{name} has {bad} voxels that are not numbers (NaN or infinite); "
                         "fix or re-export the reconstruction")


def header_endian(head: bytes) -> str:
    """'<' or '>': the byte order of a NIfTI header, from its sizeof_hdr field."""
    return "<" if struct.unpack("<i", head[:4])[0] in (348, 540) else ">"


def _nifti_header(head: bytes, name: str) -> Optional[tuple[list[int], int, int, int]]:
    """(sizes, bytes per voxel, data offset, datatype) of a NIfTI-1 or NIfTI-2 header, checked; None if not NIfTI."""
    if len(head) < 348:
        return None if len(head) < 4 else _short_header(head, name)
    endian = header_endian(head)
    size = struct.unpack(endian + "i", head[:4])[0]
    if size == 348:
        dim = struct.unpack_from(endian + "8h", head, 40)
        datatype, bitpix = struct.unpack_from(endian + "2h", head, 70)
        pixdim = struct.unpack_from(endian + "8f", head, 76)
        vox_offset = struct.unpack_from(endian + "f", head, 108)[0]
        qform_code, sform_code = struct.unpack_from(endian + "2h", head, 252)
        quatern = struct.unpack_from(endian + "6f", head, 256)
        srow = struct.unpack_from(endian + "12f", head, 280)
    elif size == 540 and len(head) >= 540:
        datatype, bitpix = struct.unpack_from(endian + "2h", head, 12)
        dim = struct.unpack_from(endian + "8q", head, 16)
        pixdim = struct.unpack_from(endian + "8d", head, 104)
        vox_offset = struct.unpack_from(endian + "q", head, 168)[0]
        qform_code, sform_code = struct.unpack_from(endian + "2i", head, 344)
        quatern = struct.unpack_from(endian + "6d", head, 352)
        srow = struct.unpack_from(endian + "12d", head, 400)
    else:
        return None
    rank = dim[0]
    if not 1 <= rank <= 7:
        raise _damaged(name, f"the header gives {rank} dimensions")
    sizes = [int(n) for n in dim[1:rank + 1]]
    if min(sizes) < 1:
        raise _damaged(name, f"the header gives a size of {min(sizes)} voxels along an axis")
    if bitpix <= 0 or bitpix % 8:
        raise _damaged(name, f"the header gives {bitpix} bits per voxel")
    if not math.isfinite(vox_offset) or vox_offset < 0:
        raise _damaged(name, "the header gives no valid data offset")
    spatial = min(rank, 3)
    if qform_code > 0 or sform_code <= 0:
        for axis, value in enumerate(pixdim[1:spatial + 1]):
            if not math.isfinite(value) or value == 0:
                raise _damaged(name, f"the header gives a voxel size of {value:g} mm along axis {axis + 1}")
        if qform_code > 0 and not all(math.isfinite(v) for v in quatern):
            raise _damaged(name, "the header's orientation (quaternion) holds values that are not numbers")
    if sform_code > 0:
        matrix = np.asarray(srow, dtype=float).reshape(3, 4)
        if not np.all(np.isfinite(matrix)):
            raise _damaged(name, "the header's orientation (sform) holds values that are not numbers")
        axes = matrix[:, :spatial]
        if np.linalg.matrix_rank(axes, tol=1e-6 * max(float(np.abs(axes).max()), 1e-30)) < spatial:
            raise _damaged(name, "the header's orientation (sform) gives a voxel size of 0 along an axis")
        _check_perpendicular(axes, name)
    return sizes, bitpix // 8, int(vox_offset), int(datatype)


def sheared_grid_error(name: str) -> InputError:
    """The refusal of a volume whose axes are not perpendicular."""
    return InputError(f"{name} has axes that are not perpendicular (a sheared grid): resample it onto a regular "
                      "grid first (Slicer: Resample Scalar Volume)")


def _check_perpendicular(axes: np.ndarray, name: str) -> None:
    """Refuse axis vectors (the columns of `axes`) that are not perpendicular to each other."""
    lengths = np.linalg.norm(axes, axis=0)
    if np.any(lengths == 0):
        raise _damaged(name, "the header gives a voxel size of 0 along an axis")
    unit = axes / lengths
    if float(np.abs(unit.T @ unit - np.eye(unit.shape[1])).max()) > PERPENDICULAR_TOLERANCE:
        raise sheared_grid_error(name)


def _short_header(head: bytes, name: str) -> None:
    if struct.unpack("<i", head[:4])[0] in (348, 540) or struct.unpack(">i", head[:4])[0] in (348, 540):
        raise _damaged(name, "the file ends inside its header")
    return None


def _truncated(name: str, sizes: list[int], expected: int, actual: int) -> InputError:
    shape = " x ".join(str(n) for n in sizes)
    return InputError(f"{name} is truncated: its header describes {shape} voxels ({expected:,} bytes) but the file "
                      f"holds {actual:,}; copy or export it again")


# --- NRRD ---------------------------------------------------------------------------------------------------------


def _check_nrrd(path: Path) -> None:
    name = path.name
    with open(path, "rb") as handle:
        magic = handle.read(8)
        if not magic.startswith(b"NRRD000"):
            return  # the reader says what it is not
        handle.seek(0)
        fields, header_bytes = _nrrd_fields(handle, name)
    dimension = _int_field(fields, "dimension", name)
    sizes = [_int(v, name, "sizes") for v in fields.get("sizes", "").split()]
    if dimension is None or len(sizes) != dimension:
        raise _damaged(name, "its header's sizes do not match its dimension")
    if min(sizes, default=0) < 1:
        raise _damaged(name, f"the header gives a size of {min(sizes, default=0)} voxels along an axis")
    kinds = fields.get("kinds", "").split()
    spatial = [axis for axis in range(dimension)
               if not kinds or axis >= len(kinds) or kinds[axis].lower() in ("domain", "space", "time")]
    _check_nrrd_geometry(fields, spatial, dimension, name)
    type_name = fields.get("type", "").strip().lower()
    bytes_per_voxel = _NRRD_TYPES.get(type_name)
    if bytes_per_voxel is None:
        return  # the reader names the unknown type
    voxels = math.prod(sizes)
    if "data file" in fields or "datafile" in fields or "line skip" in fields or "byte skip" in fields:
        require_memory(sizes[::-1], bytes_per_voxel + VOLUME_BYTES_PER_VOXEL, f"reading {name}")
        return  # detached or skipped data: the reader checks it
    encoding = fields.get("encoding", "").strip().lower()
    expected = voxels * bytes_per_voxel
    if encoding == "raw":
        actual = path.stat().st_size - header_bytes
        if actual < expected:
            raise _truncated(name, sizes, expected + header_bytes, path.stat().st_size)
    require_memory(sizes[::-1], bytes_per_voxel + VOLUME_BYTES_PER_VOXEL, f"reading {name}")
    if encoding in ("gzip", "gz"):
        _, actual = _scan(path, True, 0, expected, None, name, skip_compressed=header_bytes)
        if actual < expected:
            raise InputError(f"{name} is truncated: its header describes {' x '.join(map(str, sizes))} voxels "
                             f"({expected:,} bytes) but the compressed data holds {actual:,}; export it again")


def _nrrd_fields(handle: BinaryIO, name: str) -> tuple[dict[str, str], int]:
    """The header fields (lower-case keys) and the header's length in bytes, up to the blank line."""
    fields: dict[str, str] = {}
    consumed = 0
    for _ in range(4096):
        line = handle.readline(1 << 16)
        consumed += len(line)
        if not line:
            if "data file" in fields or "datafile" in fields:
                return fields, consumed  # a detached header (.nhdr) may end without a blank line
            raise _damaged(name, "the file ends inside its header")
        text = line.decode("latin-1").rstrip("\r\n")
        if consumed == len(line) or text.startswith("#"):
            continue
        if not text:
            return fields, consumed
        if ":=" in text:
            continue  # key/value pairs carry no geometry
        key, sep, value = text.partition(": ")
        if sep:
            fields[key.strip().lower()] = value.strip()
    raise _damaged(name, "its header never ends")


def _check_nrrd_geometry(fields: dict[str, str], spatial: list[int], dimension: int, name: str) -> None:
    if "spacings" in fields:
        values = fields["spacings"].split()
        for axis in spatial:
            if axis < len(values):
                value = _float(values[axis], name, "spacings")
                if not math.isfinite(value) or value == 0:
                    raise _damaged(name, f"the header gives a voxel size of {values[axis]} mm along axis {axis + 1}")
    if "space directions" in fields:
        vectors = re.findall(r"none|\([^)]*\)", fields["space directions"].replace(" ", ""), flags=re.IGNORECASE)
        axes = []
        for axis, text in enumerate(vectors[:dimension]):
            if text.lower() == "none":
                continue
            parts = [_float(v, name, "space directions") for v in text.strip("()").split(",") if v]
            if not all(math.isfinite(v) for v in parts) or not any(parts):
                raise _damaged(name, f"the header gives the direction {text} for axis {axis + 1}")
            axes.append(parts)
        if len({len(a) for a in axes}) == 1:
            _check_perpendicular(np.asarray(axes, dtype=float).T, name)
    if "space origin" in fields:
        parts = [_float(v, name, "space origin") for v in fields["space origin"].strip("() ").split(",") if v]
        if not all(math.isfinite(v) for v in parts):
            raise _damaged(name, f"the header gives the origin {fields['space origin']}")


def _int_field(fields: dict[str, str], key: str, name: str) -> Optional[int]:
    return _int(fields[key], name, key) if key in fields else None


def _int(text: str, name: str, key: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _damaged(name, f"its header's {key} '{text[:20]}' is not a whole number") from None


def _float(text: str, name: str, key: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise _damaged(name, f"its header's {key} '{text[:20]}' is not a number") from None


# --- data ---------------------------------------------------------------------------------------------------------


def _open(path: Path, compressed: bool) -> BinaryIO:
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _scan(path: Path, compressed: bool, offset: int, length: int, dtype: Optional[np.dtype], name: str,
          skip_compressed: int = 0) -> tuple[int, int]:
    """(voxels that are not finite, bytes present): reads the whole (decompressed) stream, which checks its CRC."""
    bad = position = 0
    carry = b""
    end = offset + length
    try:
        for block in _blocks(path, compressed, skip_compressed):
            start, position = position, position + len(block)
            if dtype is None or position <= offset or start >= end:
                continue
            data = carry + block[max(offset - start, 0): max(end - start, 0)]
            usable = len(data) // dtype.itemsize * dtype.itemsize
            values = np.frombuffer(data[:usable], dtype=dtype)
            bad += int(values.size - np.count_nonzero(np.isfinite(values)))
            carry = data[usable:]
    except (OSError, EOFError, zlib.error):
        raise _damaged(name, "its compressed data is cut short or corrupt") from None
    return bad, position


def _blocks(path: Path, compressed: bool, skip: int) -> Iterator[bytes]:
    """The file's bytes after `skip` raw bytes, decompressed when `compressed`, block by block."""
    with open(path, "rb") as raw:
        raw.seek(skip)
        handle = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        while True:
            block = handle.read(_CHUNK)
            if not block:
                return
            yield block
