"""Refusing, before allocating, work whose memory would not fit: a clear line instead of a crash or a frozen machine.

The available memory is the smallest of what the system reports (psutil when installed, else /proc/meminfo's
MemAvailable) and what the process's cgroup still allows (containers, batch queues). Where none can be read (an
unknown platform) nothing is refused.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Optional, Sequence, Union

from ..errors import InputError

# Work may use this fraction of the available memory; the rest stays for the application and the system.
USABLE_FRACTION = 0.8
# Peak bytes per voxel of whole-volume work, for callers to pass to `require_memory`.
VOLUME_BYTES_PER_VOXEL = 4 + 8  # the float32 volume and one float64 working copy
# Classification: the volume and its normalised copy, per-class probabilities, distances to the paint and the
# learner's per-class scores (float32, several working copies) and the labels. Measured as the growth of the peak
# resident memory of `spectfewshot classify` on the bundled study (245,000 voxels) from 5 to 26 painted classes:
# about 35 bytes per voxel per class (checked by protonet.support.check_support before any per-class work).
CLASSIFY_BASE_BYTES_PER_VOXEL = 16
CLASSIFY_BYTES_PER_VOXEL_PER_CLASS = 64
# Localisation: the target and each template as float32, resampled float32 copies at the search scales, masks.
LOCALIZE_BYTES_PER_VOXEL = 32
_CGROUP_V2 = Path("/sys/fs/cgroup")
_CGROUP_V1 = Path("/sys/fs/cgroup/memory")


def available_memory_bytes() -> Optional[int]:
    """Bytes this process can still allocate, as far as the system and its cgroup say; None when unknown."""
    candidates = [value for value in (_system_available(), _cgroup_available()) if value is not None]
    return min(candidates) if candidates else None


def classification_bytes_per_voxel(n_classes: int) -> int:
    """Estimated peak bytes per voxel of classifying a volume into `n_classes` classes."""
    return CLASSIFY_BASE_BYTES_PER_VOXEL + CLASSIFY_BYTES_PER_VOXEL_PER_CLASS * max(int(n_classes), 1)


def require_memory(size: Union[int, Sequence[int]], bytes_per_voxel: float, what: str,
                   available: Optional[int] = None) -> int:
    """Refuse (InputError) work on `size` voxels (a count or a shape) that would exceed the available memory.

    Returns the estimated peak in bytes. `what` names the work in the message ("reading study.nii.gz").
    """
    voxels = int(size) if isinstance(size, (int, float)) else math.prod(int(n) for n in size)
    needed = int(voxels * float(bytes_per_voxel))
    limit = available_memory_bytes() if available is None else int(available)
    if limit is None or needed <= limit * USABLE_FRACTION:
        return needed
    shape = "" if isinstance(size, (int, float)) else f" ({' x '.join(str(int(n)) for n in reversed(tuple(size)))})"
    raise InputError(
        f"{what} needs about {format_bytes(needed)} of memory for {voxels:,} voxels{shape}, but only "
        f"{format_bytes(limit)} is available: crop the volume to the heart (Slicer's Crop Volume module) or resample "
        "it to larger voxels (e.g. 4 mm), then try again")


def format_bytes(count: float) -> str:
    """A byte count for people: '512 MB', '3.2 GB', '1.5 PB'."""
    value = float(count)
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB"):
        if abs(value) < 1000 or unit == "PB":
            return f"{value:.0f} {unit}" if unit in ("bytes", "kB", "MB") else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} PB"


def _system_available() -> Optional[int]:
    try:
        import psutil
    except ImportError:
        return _meminfo_available()
    return int(psutil.virtual_memory().available)


def _meminfo_available() -> Optional[int]:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def _cgroup_available() -> Optional[int]:
    """The memory limit of this process's cgroup less what it uses (v2, then v1); None without a limit."""
    if os.name == "nt":
        return None
    v2, v1 = _own_cgroup("0::", _CGROUP_V2, "memory.max"), _own_cgroup(":memory:", _CGROUP_V1, "memory.limit_in_bytes")
    for limit_file, usage_file in ((v2 / "memory.max", v2 / "memory.current"),
                                   (v1 / "memory.limit_in_bytes", v1 / "memory.usage_in_bytes")):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and limit < 1 << 60:  # v1 reports "no limit" as a huge number
            return max(limit - (usage or 0), 0)
    return None


def _own_cgroup(marker: str, root: Path, probe: str) -> Path:
    """This process's own cgroup folder under `root` (from /proc/self/cgroup), else the root (a container's view)."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith(marker) or (marker.startswith(":") and marker in line):
                folder = root / line.split(":", 2)[2].strip().lstrip("/")
                if (folder / probe).exists():
                    return folder
    except OSError:
        pass
    return root


def _read_int(path: Path) -> Optional[int]:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
