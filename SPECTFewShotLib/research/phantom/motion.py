"""Motion blur of an ungated study: the heart beats (wall thickening, endocardial excursion) and the diaphragm,
heart, liver and stomach move with breathing (mostly head to foot) during the minutes of acquisition."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from SPECTFewShotLib.research.phantom.anatomy import LABEL_VALUES
from SPECTFewShotLib.research.phantom.physics.projector import FWHM_PER_SIGMA

HEART_TISSUES = ("LV_myocardium", "LV_blood_pool", "RV_blood_pool", "RV_wall")


@dataclass(frozen=True)
class Motion:
    """Blur widths (mm FWHM) of cardiac motion (isotropic, heart only) and breathing (along z, everywhere)."""

    cardiac_fwhm_mm: float
    respiratory_fwhm_mm: float

    def as_dict(self) -> dict:
        """Plain dictionary."""
        return {"cardiac_fwhm_mm": round(self.cardiac_fwhm_mm, 2),
                "respiratory_fwhm_mm": round(self.respiratory_fwhm_mm, 2)}


def sample_motion(rng: np.random.Generator) -> Motion:
    """Draw cardiac (2-6 mm) and respiratory (0-12 mm) blur widths."""
    return Motion(rng.uniform(2.0, 6.0), rng.uniform(0.0, 12.0))


def blurred_by_motion(activity: np.ndarray, labels: np.ndarray, voxel_mm: float, motion: Motion) -> np.ndarray:
    """Activity averaged over the motion: the heart's part blurred isotropically, then everything along z (k)."""
    from scipy.ndimage import gaussian_filter, gaussian_filter1d

    heart = np.isin(labels, [LABEL_VALUES[name] for name in HEART_TISSUES])
    heart_activity = np.where(heart, activity, 0.0).astype(np.float32)
    sigma = motion.cardiac_fwhm_mm / FWHM_PER_SIGMA / voxel_mm
    moved = activity - heart_activity + gaussian_filter(heart_activity, sigma, mode="constant")
    if motion.respiratory_fwhm_mm > 0:
        moved = gaussian_filter1d(moved, motion.respiratory_fwhm_mm / FWHM_PER_SIGMA / voxel_mm, axis=0,
                                  mode="constant")
    return np.clip(moved, 0.0, None).astype(np.float32)
