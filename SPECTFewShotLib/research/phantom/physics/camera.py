"""Camera and acquisition protocols of clinical rest MPI studies: parallel-hole (LEHR) and CZT, drawn per seed."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from SPECTFewShotLib.research.phantom.config import PhantomConfig

# Orbit: 180 degrees from RAO 45 to LPO 45 through anterior and left lateral. Angles are the direction from the
# body axis to the detector in the (x = left, y = posterior) plane: RAO 45 = -135 degrees, LPO 45 = +45 degrees.
ORBIT_START_DEG = -135.0
ORBIT_SPAN_DEG = 180.0


@dataclass(frozen=True)
class CameraProtocol:
    """Everything about the acquisition and reconstruction of one study."""

    camera: str  # "parallel" or "czt"
    voxel_mm: float
    system_fwhm_mm: float  # at the heart's mean distance
    intrinsic_mm: float
    collimator_offset_mm: float  # sets how fast resolution degrades with distance (large: nearly constant)
    views: int
    orbit: str  # "circular" or "contour"
    clearance_mm: float
    counts: float
    scatter_fraction: float  # scatter / primary in the projections
    scatter_fwhm_mm: float
    iterations: int
    subsets: int
    attenuation_correction: bool
    scatter_correction: bool
    resolution_recovery: bool
    post_filter_fwhm_mm: float
    circular_fov: bool  # CZT reconstructions are masked to a cylinder around the heart
    heart_centring: float  # 0: field of view centred on the body, 1: on the heart

    def as_dict(self) -> dict:
        """Plain dictionary (for metadata and reports)."""
        return {key: (round(value, 4) if isinstance(value, float) else value) for key, value in asdict(self).items()}

    def view_angles(self) -> np.ndarray:
        """Detector direction angles (radians) of the views, evenly over the 180-degree orbit."""
        step = ORBIT_SPAN_DEG / self.views
        return np.radians(ORBIT_START_DEG + (np.arange(self.views) + 0.5) * step)


def sample_protocol(rng: np.random.Generator, config: PhantomConfig) -> CameraProtocol:
    """Draw a clinical protocol, honouring every setting the config fixes."""
    camera = config.camera
    if camera == "mixed":
        camera = "czt" if rng.uniform() < 0.4 else "parallel"
    czt = camera == "czt"
    voxel = rng.uniform(4.0, 4.8) if czt else rng.uniform(4.4, 6.8)
    fwhm = rng.uniform(5.0, 7.0) if czt else rng.uniform(8.0, 15.0)
    counts = math.exp(rng.uniform(math.log(4e6), math.log(1.2e7)) if czt else rng.uniform(math.log(2e6), math.log(8e6)))
    iterations = int(rng.integers(3, 6)) if czt else int(rng.integers(2, 5))
    post = rng.uniform(6.0, 11.0) if czt else rng.uniform(7.0, 13.0)
    attenuation = bool(rng.uniform() < (0.15 if czt else 0.5))
    scatter = bool(rng.uniform() < (0.2 if czt else 0.4))
    recovery = bool(rng.uniform() < (0.7 if czt else 0.5))
    orbit = "contour" if czt or rng.uniform() < 0.5 else "circular"
    clearance = rng.uniform(10.0, 30.0) if czt else rng.uniform(15.0, 45.0)
    scatter_fraction = rng.uniform(0.25, 0.4) if not czt else rng.uniform(0.2, 0.3)
    centring = rng.uniform(0.7, 1.0) if czt else rng.uniform(0.0, 0.5)
    views = config.views or 60
    subsets = config.subsets or _default_subsets(views)
    return CameraProtocol(
        camera=camera,
        voxel_mm=float(config.voxel_mm or voxel),
        system_fwhm_mm=float(config.system_fwhm_mm or fwhm),
        intrinsic_mm=2.5 if czt else 3.8,
        collimator_offset_mm=150.0 if czt else 35.0,
        views=views,
        orbit=orbit,
        clearance_mm=clearance,
        counts=float(config.counts or counts),
        scatter_fraction=scatter_fraction,
        scatter_fwhm_mm=rng.uniform(40.0, 60.0),
        iterations=int(config.iterations or iterations),
        subsets=subsets,
        attenuation_correction=_given(config.attenuation_correction, attenuation),
        scatter_correction=_given(config.scatter_correction, scatter),
        resolution_recovery=_given(config.resolution_recovery, recovery),
        post_filter_fwhm_mm=float(post if config.post_filter_fwhm_mm is None else config.post_filter_fwhm_mm),
        circular_fov=czt,
        heart_centring=centring,
    )


def _given(value: Optional[bool], drawn: bool) -> bool:
    return bool(drawn if value is None else value)


def _default_subsets(views: int) -> int:
    for subsets in (10, 8, 6, 5, 4, 3, 2):
        if views % subsets == 0 and views // subsets >= 2:
            return subsets
    return 1


def orbit_radii(protocol: CameraProtocol, angles: np.ndarray, body_xy: np.ndarray) -> np.ndarray:
    """Distance from the rotation axis to the collimator face per view (circular or body-contouring orbit)."""
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    reach = (body_xy[:, :2] @ directions.T).max(axis=0)  # farthest body point toward each detector position
    if protocol.orbit == "circular":
        return np.full(len(angles), float(reach.max()) + protocol.clearance_mm)
    return reach + protocol.clearance_mm
