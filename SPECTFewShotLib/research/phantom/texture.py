"""Uptake texture: real tissue is not uniform (muscle, fat, vessels, bowel content), so the activity of the
organs outside the heart is multiplied by a smooth random field."""

from __future__ import annotations

import numpy as np

from SPECTFewShotLib.research.phantom.anatomy import LABEL_VALUES

TEXTURED_TISSUES = ("body", "lungs", "liver", "spleen", "stomach_gut", "kidneys")
TEXTURED_ORGANS = ("liver", "spleen", "kidneys")  # more uniform than muscle and fat


def smooth_field(shape: tuple[int, int, int], voxel_mm: float, correlation_mm: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Gaussian random field with zero mean and unit standard deviation, smooth over `correlation_mm` (sigma)."""
    from scipy.ndimage import gaussian_filter

    noise = rng.standard_normal(shape).astype(np.float32)
    field = gaussian_filter(noise, sigma=correlation_mm / voxel_mm, mode="wrap")
    return (field - field.mean()) / max(float(field.std()), 1e-6)


def textured(activity: np.ndarray, labels: np.ndarray, voxel_mm: float, rng: np.random.Generator) -> np.ndarray:
    """Activity times a smooth texture outside the heart: 10-30 % in soft tissue and lungs, half that in organs."""
    amplitude = rng.uniform(0.10, 0.30)
    field = smooth_field(activity.shape, voxel_mm, rng.uniform(8.0, 20.0), rng)
    organs = np.isin(labels, [LABEL_VALUES[name] for name in TEXTURED_ORGANS])
    strength = np.where(organs, 0.5 * amplitude, amplitude).astype(np.float32)
    factor = np.clip(1.0 + strength * field, 0.3, None)
    where = np.isin(labels, [LABEL_VALUES[name] for name in TEXTURED_TISSUES])
    return np.where(where, activity * factor, activity).astype(np.float32)
