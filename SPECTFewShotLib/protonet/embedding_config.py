"""The embedding network's configuration and input geometry, without torch (the ONNX Runtime path reads them too)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from ..errors import ModelError

# Normalised counts lie in [0, 3] with most tissue below 1: centre them roughly, as images are for ImageNet.
INPUT_MEAN = 0.25
INPUT_STD = 0.3
METRICS = ("euclidean", "cosine")
# The trunk works on axial slices resampled to this pixel size (SPECT resolution is 5-15 mm FWHM): its stride-4
# features are then 12 mm apart and its deepest stage (stride 16) sees the whole heart, for any voxel size.
WORKING_PIXEL_MM = 3.0
TRUNK_SCALE_RANGE = (0.5, 2.5)


def trunk_scale_for(spacing_mm: float) -> float:
    """How much to resize an axial slice of this in-plane voxel size for the trunk (clamped to 0.5-2.5)."""
    low, high = TRUNK_SCALE_RANGE
    return float(min(high, max(low, spacing_mm / WORKING_PIXEL_MM)))


def trunk_size(size: tuple[int, int], trunk_scale: float) -> tuple[int, int]:
    """The (height, width) an axial slab of `size` is resized to for the trunk (at least 16 x 16)."""
    return max(16, round(size[0] * trunk_scale)), max(16, round(size[1] * trunk_scale))


@dataclass(frozen=True)
class EmbeddingConfig:
    """Architecture of the embedding network (stored with the weights)."""

    trunk_depth: int = 3  # ResNet-18 stages used: 1, 2 or 3
    head_channels: int = 64  # channels of the feature-pyramid head
    deep_dim: int = 32  # embedding channels from the trunk
    shallow_dim: int = 16  # embedding channels from the full-resolution branch
    metric: str = "euclidean"  # distance between embeddings and prototypes

    def __post_init__(self) -> None:
        if self.trunk_depth not in (1, 2, 3):
            raise ModelError(f"trunk_depth must be 1, 2 or 3, not {self.trunk_depth}")
        if self.metric not in METRICS:
            raise ModelError(f"metric must be one of {', '.join(METRICS)}, not {self.metric!r}")
        if min(self.head_channels, self.deep_dim) < 1 or self.shallow_dim < 0:
            raise ModelError("the embedding's channel counts must be positive")

    @property
    def dim(self) -> int:
        """Number of channels of the embedding."""
        return self.deep_dim + self.shallow_dim

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain JSON-able values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> EmbeddingConfig:
        """A configuration from stored values (unknown keys are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in dict(values).items() if k in known})
