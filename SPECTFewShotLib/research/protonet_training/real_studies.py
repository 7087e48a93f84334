"""Real studies as training material: augmented copies of a study with its LV-wall mask, for episodes in which the
myocardium is painted against everything else (the only class a real mask gives).

A copy is the study turned in-plane (+-15 degrees), scaled (0.9-1.1), shifted (+-3 voxels), possibly mirrored
left-right and front-back, with extra Poisson noise of 5-10 % per voxel; the mask follows the same transform.
Leave-one-study-out training passes every study but the one it is checked on.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from SPECTFewShotLib.research.protonet_training.episodes import MYOCARDIUM
from SPECTFewShotLib.research.protonet_training.phantom_cache import CachedStudy
from SPECTFewShotLib.volume import Volume

MYOCARDIUM_VALUE = 7  # the vocabulary's phantom label value of the LV myocardium (any value > 0 would do)
REAL_SEED_BASE = -1_000  # CachedStudy.seed of real copies: negative, never a phantom seed


def augmented_copies(volume: Volume, wall: np.ndarray, copies: int, rng: np.random.Generator,
                     study_index: int = 0) -> list[CachedStudy]:
    """`copies` augmented copies of a real study (image and wall mask [k, j, i]) as training studies."""
    from scipy import ndimage

    image = np.clip(np.asarray(volume.array, dtype=np.float32), 0.0, None)
    mask = np.asarray(wall, dtype=bool)
    studies = []
    for number in range(copies):
        angle = np.radians(rng.uniform(-15.0, 15.0))
        scale = rng.uniform(0.9, 1.1)
        flips = rng.random(2) < 0.5
        shift = rng.uniform(-3.0, 3.0, size=2)
        level = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) / scale
        centre = (np.array(image.shape[1:]) - 1) / 2.0
        offset = centre - rotation @ centre + shift
        moved = np.empty_like(image)
        moved_mask = np.empty_like(mask)
        for k in range(image.shape[0]):
            moved[k] = ndimage.affine_transform(image[k], rotation, offset, order=1, mode="constant")
            moved_mask[k] = ndimage.affine_transform(mask[k].astype(np.float32), rotation, offset, order=1,
                                                     mode="constant") > 0.5
        for axis, flip in zip((1, 2), flips):
            if flip:
                moved, moved_mask = np.flip(moved, axis), np.flip(moved_mask, axis)
        moved = resampled_noise(np.ascontiguousarray(moved), level, rng)
        tissues = np.where(moved_mask, MYOCARDIUM_VALUE, 0).astype(np.uint8)
        seed = REAL_SEED_BASE - 100 * study_index - number
        studies.append(CachedStudy(seed, volume.with_array(moved), np.ascontiguousarray(tissues),
                                   {MYOCARDIUM: MYOCARDIUM_VALUE}))
    return studies


def resampled_noise(image: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """The image with extra Poisson noise: its counted voxels' mean taken as 200 x `level` counts, so the added noise
    is 5-10 % per voxel, about the real studies' own high-frequency noise."""
    counted = image[image > 0]
    if not counted.size:
        return image.astype(np.float32)
    per_count = float(counted.mean()) / (200.0 * level)
    return (rng.poisson(image / per_count) * per_count).astype(np.float32)


def real_training_studies(studies: Sequence[tuple[Volume, np.ndarray]], copies: int, seed: int
                          ) -> list[CachedStudy]:
    """Augmented copies of every (volume, wall mask) study, reproducible by `seed`."""
    rng = np.random.default_rng(seed)
    out: list[CachedStudy] = []
    for index, (volume, wall) in enumerate(studies):
        out.extend(augmented_copies(volume, wall, copies, rng, index))
    return out
