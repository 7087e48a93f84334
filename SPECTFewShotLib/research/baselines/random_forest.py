"""An ilastik-style pixel classifier: a random forest of 100 trees on a Gaussian filter bank.

The filter bank is ilastik's default choice restricted to sigma 0.7-5 voxels: Gaussian smoothing, Laplacian of
Gaussian and Gaussian gradient magnitude at sigma 0.7, 1.0, 1.6, 3.5 and 5.0 (in voxels, 3D), plus the raw counts.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from SPECTFewShotLib.errors import InputError

FILTER_SIGMAS = (0.7, 1.0, 1.6, 3.5, 5.0)
N_TREES = 100
RANDOM_STATE = 0
N_JOBS = 2
PREDICT_BLOCK = 262144  # voxels per prediction block (bounds memory on large volumes)


def filter_bank(array: np.ndarray) -> np.ndarray:
    """Per-voxel features [N, 1 + 3 * len(FILTER_SIGMAS)] (float32): counts, smoothing, LoG, gradient magnitude."""
    values = np.asarray(array, dtype=np.float32)
    channels = [values]
    for sigma in FILTER_SIGMAS:
        channels.append(ndimage.gaussian_filter(values, sigma))
        channels.append(ndimage.gaussian_laplace(values, sigma))
        channels.append(ndimage.gaussian_gradient_magnitude(values, sigma))
    return np.stack([c.ravel() for c in channels], axis=1).astype(np.float32, copy=False)


def random_forest_segment(array: np.ndarray, support: np.ndarray, random_state: int = RANDOM_STATE,
                          n_jobs: int = N_JOBS) -> np.ndarray:
    """Labels [k, j, i] for every voxel, from a forest trained on the painted voxels of `support` (0 = unpainted)."""
    from sklearn.ensemble import RandomForestClassifier

    if array.shape != support.shape:
        raise InputError("the painted support is not on the volume's grid")
    painted = support.ravel() != 0
    if len(np.unique(support.ravel()[painted])) < 2:
        raise InputError("the random forest needs at least two painted classes")
    features = filter_bank(array)
    forest = RandomForestClassifier(n_estimators=N_TREES, random_state=random_state, n_jobs=n_jobs)
    forest.fit(features[painted], support.ravel()[painted])
    labels = np.empty(features.shape[0], dtype=np.int32)
    for start in range(0, features.shape[0], PREDICT_BLOCK):
        labels[start:start + PREDICT_BLOCK] = forest.predict(features[start:start + PREDICT_BLOCK])
    return labels.reshape(array.shape)
