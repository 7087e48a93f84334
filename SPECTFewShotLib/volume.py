"""The one volume type of the library: voxels plus their true geometry in LPS millimetres."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import InputError

# "The same grid" within: spacing to 0.1 %, origin to 1 % of a voxel, direction cosines to 1e-4.
SPACING_RTOL = 1e-3
ORIGIN_TOLERANCE_VOXELS = 1e-2
DIRECTION_TOLERANCE = 1e-4


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3D image: `array` is indexed [k, j, i] (slice, row, column) like SimpleITK's arrays.

    `spacing` and `origin` are (i, j, k)-ordered millimetres; `origin` is the centre of voxel (0, 0, 0) in LPS;
    `direction` is the 3x3 matrix whose columns are the i, j, k axis directions in LPS (ITK's convention).
    """

    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    modality: str = ""
    units: str = ""
    source: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise InputError(f"a volume needs 3 dimensions, this one has {self.array.ndim}")
        object.__setattr__(self, "spacing", tuple(float(s) for s in self.spacing))
        object.__setattr__(self, "origin", tuple(float(o) for o in self.origin))
        object.__setattr__(self, "direction", tuple(float(d) for d in np.asarray(self.direction).ravel()))
        if len(self.spacing) != 3 or len(self.origin) != 3 or len(self.direction) != 9:
            raise InputError("a volume needs 3 spacings, 3 origin coordinates and a 3x3 direction")

    @property
    def size(self) -> tuple[int, int, int]:
        """Number of voxels along i, j, k."""
        k, j, i = self.array.shape
        return (i, j, k)

    @property
    def direction_matrix(self) -> np.ndarray:
        """3x3 direction matrix (columns: i, j, k axes in LPS)."""
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def index_to_lps_matrix(self) -> np.ndarray:
        """4x4 homogeneous matrix mapping continuous (i, j, k) indices to LPS millimetres."""
        m = np.eye(4)
        m[:3, :3] = self.direction_matrix * np.asarray(self.spacing)[None, :]
        m[:3, 3] = self.origin
        return m

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in millilitres."""
        return float(np.prod(self.spacing)) / 1000.0

    def index_to_lps(self, ijk: Sequence[float] | np.ndarray) -> np.ndarray:
        """Continuous (i, j, k) index (or an array of them, shape (n, 3)) to LPS millimetres."""
        ijk = np.asarray(ijk, dtype=float)
        m = self.index_to_lps_matrix
        return ijk @ m[:3, :3].T + m[:3, 3]

    def lps_to_index(self, lps: Sequence[float] | np.ndarray) -> np.ndarray:
        """LPS millimetres (or an array of points, shape (n, 3)) to continuous (i, j, k) indices."""
        lps = np.asarray(lps, dtype=float)
        m = self.index_to_lps_matrix
        return (lps - m[:3, 3]) @ np.linalg.inv(m[:3, :3]).T

    def contains_lps(self, lps: Sequence[float], margin_voxels: float = 0.5) -> bool:
        """Whether an LPS point lies inside the volume's field of view (voxel edges, plus a margin)."""
        ijk = self.lps_to_index(lps)
        upper = np.asarray(self.size, dtype=float) - 1.0 + margin_voxels
        return bool(np.all(ijk >= -margin_voxels) and np.all(ijk <= upper))

    def with_array(self, array: np.ndarray, **changes: Any) -> Volume:
        """A new volume on the same grid holding `array` (shape [k, j, i])."""
        if array.shape != self.array.shape:
            raise InputError(f"array shape {array.shape} does not match the volume's grid {self.array.shape}")
        return replace(self, array=array, **changes)

    def with_axis_reversed(self, axis: int) -> Volume:
        """The same voxels with array axis `axis` (0 = k, 2 = i) stored in the other order: every voxel keeps its
        LPS position (the origin moves to the former last voxel, that axis's direction turns round)."""
        column = 2 - axis  # the direction matrix's columns are i, j, k
        direction = self.direction_matrix.copy()
        direction[:, column] *= -1
        last = [0, 0, 0]
        last[column] = self.array.shape[axis] - 1
        return replace(self, array=np.ascontiguousarray(np.flip(self.array, axis=axis)),
                       origin=tuple(float(v) for v in self.index_to_lps(last)),
                       direction=tuple(float(v) for v in direction.ravel()))

    def grid_differences(self, other: Volume) -> list[str]:
        """Human-readable differences between this grid and `other`'s (empty when they match)."""
        diffs = []
        if self.size != other.size:
            diffs.append(f"size {other.size} instead of {self.size}")
        if not np.allclose(self.spacing, other.spacing, rtol=SPACING_RTOL, atol=0):
            diffs.append(f"spacing {_fmt(other.spacing)} mm instead of {_fmt(self.spacing)} mm")
        if not np.allclose(self.origin, other.origin, rtol=0, atol=ORIGIN_TOLERANCE_VOXELS * min(self.spacing)):
            diffs.append(f"origin {_fmt(other.origin)} mm instead of {_fmt(self.origin)} mm")
        if not np.allclose(self.direction, other.direction, rtol=0, atol=DIRECTION_TOLERANCE):
            diffs.append(f"direction {_fmt(other.direction)} instead of {_fmt(self.direction)}")
        return diffs

    def to_sitk(self) -> Any:
        """The volume as a SimpleITK image (array copied)."""
        import SimpleITK as sitk

        image = sitk.GetImageFromArray(np.ascontiguousarray(self.array))
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image

    @classmethod
    def from_sitk(
        cls, image: Any, modality: str = "", units: str = "", source: Mapping[str, Any] | None = None
    ) -> Volume:
        """A volume from a 3D scalar SimpleITK image."""
        import SimpleITK as sitk

        if image.GetDimension() != 3:
            raise InputError(f"expected a 3D image, got {image.GetDimension()}D")
        return cls(
            array=sitk.GetArrayFromImage(image),
            spacing=image.GetSpacing(),
            origin=image.GetOrigin(),
            direction=image.GetDirection(),
            modality=modality,
            units=units,
            source=dict(source or {}),
        )


def _fmt(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"
