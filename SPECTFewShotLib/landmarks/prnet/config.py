"""Settings of one PRNet scale (coarse or fine) and of the two-scale model: plain dataclasses with validation."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

VARIANTS = ("3d", "2.5d")


@dataclass(frozen=True)
class ScaleConfig:
    """One PRNet model: patch geometry in millimetres, offset range R, pair radius and network width.

    `variant` "3d" sees a cube of `patch_voxels`³ voxels; "2.5d" sees `slices` neighbouring axial slices of
    `patch_voxels`² pixels as input channels of a 2D network (the paper's per-slice design, with through-plane
    context). `spacing_mm` is the working spacing (in-plane and, for 3D, through-plane); `slice_spacing_mm` the
    distance between the 2.5D slices. `range_mm` is R (L, P, S) of R ⊙ tanh(p0 − p1); training pairs differ by
    at most `pair_radius_mm` per axis (fine scale) or lie anywhere in the body (`whole_body`, coarse scale;
    pairs further apart than R are left out of the loss).
    """

    variant: str = "3d"
    patch_voxels: int = 32
    slices: int = 1
    spacing_mm: float = 4.0
    slice_spacing_mm: float = 4.0
    range_mm: tuple[float, float, float] = (40.0, 40.0, 40.0)
    pair_radius_mm: tuple[float, float, float] = (30.0, 30.0, 30.0)
    channels: tuple[int, ...] = (8, 16, 32, 64, 64)
    embedding_dims: int = 3
    whole_body: bool = False  # training groups spread over the whole body (coarse) or gather around a centre
    norm: str = "none"  # "batch": batch normalisation after each convolution (trained slower here); "none"

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, not {self.variant!r}")
        object.__setattr__(self, "range_mm", tuple(float(r) for r in self.range_mm))
        object.__setattr__(self, "pair_radius_mm", tuple(float(r) for r in self.pair_radius_mm))
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        poolings = len(self.channels) - 1
        if poolings < 2:
            raise ValueError("the network needs at least 3 widths (2 poolings)")
        if self.patch_voxels % (2 ** poolings):
            raise ValueError(f"patch_voxels {self.patch_voxels} must be divisible by 2^{poolings} (one per pooling)")
        if self.variant == "3d" and self.slices != 1:
            raise ValueError("the 3d variant takes a cube: slices must be 1")
        if self.variant == "2.5d" and (self.slices < 1 or self.slices % 2 == 0):
            raise ValueError("the 2.5d variant needs an odd number of slices (centre slice in the middle)")
        if min(self.range_mm) <= 0 or min(self.pair_radius_mm) <= 0 or self.spacing_mm <= 0:
            raise ValueError("ranges, radii and spacing must be positive")
        if self.norm not in ("batch", "none"):
            raise ValueError(f"norm must be 'batch' or 'none', not {self.norm!r}")
        if self.embedding_dims != 3:
            raise ValueError("the position head outputs 3 numbers (L, P, S)")

    @property
    def dims(self) -> int:
        """Spatial dimensions of the network's convolutions (3 or 2)."""
        return 3 if self.variant == "3d" else 2

    @property
    def in_channels(self) -> int:
        """Input channels of the network (1 for 3D, the number of slices for 2.5D)."""
        return 1 if self.variant == "3d" else self.slices

    @property
    def patch_shape(self) -> tuple[int, int, int]:
        """Sampled patch shape (S, P, L) = (slices or depth, rows, columns)."""
        depth = self.patch_voxels if self.variant == "3d" else self.slices
        return (depth, self.patch_voxels, self.patch_voxels)

    @property
    def patch_spacing(self) -> tuple[float, float, float]:
        """Spacing (L, P, S) in mm of the sampled patch."""
        through = self.spacing_mm if self.variant == "3d" else self.slice_spacing_mm
        return (self.spacing_mm, self.spacing_mm, through)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (for the weights payload and the registry)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScaleConfig:
        """Rebuild from `to_dict`'s output."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def default_scales(variant: str = "2.5d") -> dict[str, ScaleConfig]:
    """The coarse and fine scales of the shipped models of a variant.

    Coarse: the whole body (about 300 mm across at 10–12 mm), R 120/120/100 mm. Fine: a heart-sized field
    (80–84 mm at 2.5–3.5 mm), R 30 mm, pairs within 20 mm per axis: a larger fine field anchors on the body
    around the heart, whose position vectors then take a different offset in each study.
    """
    if variant == "3d":
        return {
            "coarse": ScaleConfig("3d", 24, 1, 12.0, 12.0, (120.0, 120.0, 100.0), (120.0, 120.0, 100.0),
                                  (8, 16, 32, 64), whole_body=True),
            "fine": ScaleConfig("3d", 24, 1, 3.5, 3.5, (30.0, 30.0, 30.0), (20.0, 20.0, 20.0), (8, 16, 32, 64)),
        }
    if variant == "2.5d":
        return {
            "coarse": ScaleConfig("2.5d", 32, 7, 10.0, 10.0, (120.0, 120.0, 100.0), (120.0, 120.0, 100.0),
                                  (16, 32, 64, 128, 128), whole_body=True),
            "fine": ScaleConfig("2.5d", 32, 7, 2.5, 4.0, (30.0, 30.0, 30.0), (20.0, 20.0, 20.0),
                                (16, 32, 64, 128, 128)),
        }
    raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
