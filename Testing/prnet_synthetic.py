"""Small synthetic SPECT-like volumes for the PRNet and landmark tests: a body, a hot LV shell, a liver."""

from __future__ import annotations

import numpy as np

from SPECTFewShotLib.volume import Volume


def synthetic_torso(seed: int = 0, size: int = 40, spacing: float = 6.0, shift_mm=(0.0, 0.0, 0.0),
                    direction=(1, 0, 0, 0, 1, 0, 0, 0, 1)) -> tuple[Volume, dict[str, np.ndarray]]:
    """A torso-like volume (LPS geometry) and its landmarks {name: LPS mm}; anatomy jittered by `seed`."""
    rng = np.random.default_rng(seed)
    direction_matrix = np.asarray(direction, dtype=float).reshape(3, 3)
    extent = (size - 1) * spacing
    # Origin so that the field of view is centred on (0, 0, 0) LPS whatever the direction.
    origin = -direction_matrix @ np.full(3, extent / 2)
    volume = Volume(np.zeros((size, size, size), np.float32), (spacing,) * 3, tuple(origin), tuple(direction))
    k, j, i = np.indices((size, size, size), dtype=float)
    lps = volume.index_to_lps(np.stack([i, j, k], -1).reshape(-1, 3)).reshape(size, size, size, 3)
    lps = lps - np.asarray(shift_mm)
    jitter = rng.normal(0, 4.0, 3)
    heart = np.array([25.0, -5.0, 10.0]) + jitter
    axis = np.array([0.6, -0.5, -0.6]) + rng.normal(0, 0.05, 3)
    axis /= np.linalg.norm(axis)
    body = ((lps[..., 0] / 100) ** 2 + (lps[..., 1] / 75) ** 2 + (lps[..., 2] / 130) ** 2) <= 1
    array = 0.15 * body
    liver = (((lps[..., 0] + 40) / 60) ** 2 + ((lps[..., 1] - 5) / 45) ** 2 + ((lps[..., 2] + 45) / 35) ** 2) <= 1
    array = array + 0.6 * liver
    rel = lps - heart
    along = rel @ axis
    radial = np.linalg.norm(rel - along[..., None] * axis, axis=-1)
    ellipsoid = np.sqrt((along / 42.0) ** 2 + (radial / 28.0) ** 2)
    shell = (ellipsoid <= 1.0) & (ellipsoid >= 0.62) & (along <= 18.0)
    array = array + 1.0 * shell
    array = array + rng.normal(0, 0.02, array.shape) * body
    volume = volume.with_array(np.clip(array, 0, None).astype(np.float32) * 1000)
    landmarks = {"LV_center": heart + np.asarray(shift_mm), "LV_apex": heart - 42.0 * axis + np.asarray(shift_mm),
                 "LV_base": heart + 18.0 * axis + np.asarray(shift_mm)}
    return volume, landmarks
