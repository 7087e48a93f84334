"""Settings of the phantom simulator: what a caller may fix, everything else is drawn from the seed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.research.phantom.heart import SegmentDefect

CAMERA_CHOICES = ("mixed", "parallel", "czt")
VOXEL_RANGE_MM = (2.0, 8.0)  # what the simulator accepts; clinical defaults are drawn in 4-7 mm
MATRIX_RANGE = (16, 160)
DEFAULT_DIRECTION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # as the real study: k runs toward inferior


@dataclass(frozen=True)
class PhantomConfig:
    """What to simulate; `None` means "drawn from the seed" (the clinical mix the models are trained on).

    matrix/slices: output voxels in-plane (i = j) and axially (k; None = matrix).
    voxel_mm: isotropic voxel size (None: 4.0-4.8 mm for CZT, 4.4-6.8 mm for parallel-hole cameras).
    camera: "mixed" (40 % CZT, 60 % parallel-hole), "parallel" (LEHR, 8-15 mm FWHM) or "czt" (5-7 mm FWHM).
    system_fwhm_mm: camera resolution at the heart's distance (None: drawn in the camera's range).
    counts: detected counts of the whole acquisition (None: clinical rest levels, 2-12 million).
    views, iterations, subsets: acquisition views over 180 degrees and OSEM settings (None: camera defaults).
    attenuation_correction / scatter_correction / resolution_recovery: reconstruction options (None: drawn).
    post_filter_fwhm_mm: 3D Gaussian post-filter of the reconstruction (None: drawn; 0 = none).
    noise: Poisson counts (False: noise-free expected projections, for tests of the physics).
    defect_probability: chance of a perfusion defect (reduced uptake in a coronary territory).
    segment_defect: a defect of set depth over named AHA segments, instead of the drawn one (polar-map validation).
    supersample: activity and attenuation rasterised on a grid this many times finer (partial-volume effect).
    direction: output axis directions in LPS (each axis along one of L/P/S; default as the real study).
    threads: torch CPU threads while simulating (restored afterwards). 1 is the default because the simulator runs
        many small operations that stall badly with more threads whenever other work shares the cores; make
        studies in parallel processes instead.
    """

    matrix: int = 64
    slices: Optional[int] = None
    voxel_mm: Optional[float] = None
    camera: str = "mixed"
    system_fwhm_mm: Optional[float] = None
    counts: Optional[float] = None
    views: Optional[int] = None
    iterations: Optional[int] = None
    subsets: Optional[int] = None
    attenuation_correction: Optional[bool] = None
    scatter_correction: Optional[bool] = None
    resolution_recovery: Optional[bool] = None
    post_filter_fwhm_mm: Optional[float] = None
    noise: bool = True
    defect_probability: float = 0.4
    segment_defect: Optional[SegmentDefect] = None
    supersample: int = 2
    direction: tuple = DEFAULT_DIRECTION
    threads: int = 1

    def __post_init__(self) -> None:
        validate_config(self)

    @property
    def slice_count(self) -> int:
        """Number of output slices (k)."""
        return int(self.slices if self.slices is not None else self.matrix)


def validate_config(config: PhantomConfig) -> None:
    """Refuse settings the simulator cannot honour, with one line saying which."""
    lo, hi = MATRIX_RANGE
    for name, value in (("matrix", config.matrix), ("slices", config.slices)):
        if value is not None and not (lo <= int(value) <= hi):
            raise InputError(f"{name} must be between {lo} and {hi} voxels, not {value}")
    if config.voxel_mm is not None and not (VOXEL_RANGE_MM[0] <= config.voxel_mm <= VOXEL_RANGE_MM[1]):
        raise InputError(f"voxel size must be between {VOXEL_RANGE_MM[0]:g} and {VOXEL_RANGE_MM[1]:g} mm, "
                         f"not {config.voxel_mm:g}")
    if config.camera not in CAMERA_CHOICES:
        raise InputError(f"camera must be one of {', '.join(CAMERA_CHOICES)}, not {config.camera!r}")
    if config.system_fwhm_mm is not None and not (2.0 <= config.system_fwhm_mm <= 25.0):
        raise InputError(f"system resolution must be between 2 and 25 mm FWHM, not {config.system_fwhm_mm:g}")
    if config.counts is not None and not (1e3 <= config.counts <= 1e9):
        raise InputError(f"counts must be between 1e3 and 1e9, not {config.counts:g}")
    if config.views is not None and not (4 <= config.views <= 180):
        raise InputError(f"views must be between 4 and 180, not {config.views}")
    if config.iterations is not None and not (1 <= config.iterations <= 50):
        raise InputError(f"iterations must be between 1 and 50, not {config.iterations}")
    if config.subsets is not None and not (1 <= config.subsets <= 30):
        raise InputError(f"subsets must be between 1 and 30, not {config.subsets}")
    if config.views is not None and config.subsets is not None and config.views % config.subsets:
        raise InputError(f"views ({config.views}) must be a multiple of subsets ({config.subsets})")
    if config.post_filter_fwhm_mm is not None and not (0.0 <= config.post_filter_fwhm_mm <= 30.0):
        raise InputError(f"post-filter must be between 0 and 30 mm FWHM, not {config.post_filter_fwhm_mm:g}")
    if not (0.0 <= config.defect_probability <= 1.0):
        raise InputError(f"defect probability must be between 0 and 1, not {config.defect_probability:g}")
    if config.segment_defect is not None:
        segments, depth = config.segment_defect.segments, config.segment_defect.depth
        if not segments or any(int(n) != n or not 1 <= n <= 17 for n in segments):
            raise InputError(f"defect segments must be AHA segment numbers 1-17, not {list(segments)}")
        if not (0.0 < depth <= 1.0):
            raise InputError(f"defect depth must be a fraction in (0, 1], not {depth:g}")
    if not (1 <= config.supersample <= 4):
        raise InputError(f"supersample must be between 1 and 4, not {config.supersample}")
    if not (1 <= config.threads <= 256):
        raise InputError(f"threads must be between 1 and 256, not {config.threads}")
    axis_signs(config.direction)


def axis_signs(direction: tuple) -> tuple[int, int, int]:
    """The sign of each output axis along L, P, S; refuses directions that are not axis-aligned that way."""
    values = [float(v) for v in direction]
    if len(values) != 9:
        raise InputError("direction needs 9 numbers (a 3x3 matrix, row-major)")
    signs = []
    for column in range(3):
        axis = [values[row * 3 + column] for row in range(3)]
        if abs(abs(axis[column]) - 1.0) > 1e-6 or any(abs(axis[r]) > 1e-6 for r in range(3) if r != column):
            raise InputError("direction must keep i along L/R, j along P/A and k along S/I (signs may flip)")
        signs.append(1 if axis[column] > 0 else -1)
    return signs[0], signs[1], signs[2]


REAL_LIKE_GRID = (70, 50)  # in-plane and axial voxels of the shared real studies (GE Discovery NM 530c)


def real_like_config(**overrides) -> PhantomConfig:
    """Phantoms like the shared real studies: CZT camera (4-4.8 mm voxels drawn), a 70 x 70 x 50 heart-centred grid;
    `overrides` fix further fields."""
    matrix, slices = REAL_LIKE_GRID
    return PhantomConfig(**{"matrix": matrix, "slices": slices, "camera": "czt", **overrides})
