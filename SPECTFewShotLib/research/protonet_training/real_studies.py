"""Real studies as training material: augmented copies of a study with its LV-wall mask, for episodes in which the
myocardium is painted against everything else (the only class a real mask gives), and, with a RealRecipe, episodes
that look like the product's use of the prior on real studies.

A copy is the study turned in-plane (+-15 degrees), scaled (0.9-1.1), shifted (+-3 voxels), possibly mirrored
left-right and front-back, with extra Poisson noise of 5-10 % per voxel; the mask follows the same transform.
A RealRecipe adds to each copy: the LV cavity as a class of its own (the cavity the moved wall encloses, slice by
slice, by the evaluation's own cases.enclosed_cavity), random cubic crops around the wall (as a user crops around
the LV, faces possibly cutting the cavity) and low-count (Poisson-thinned) versions, as evaluate classify's
conditions rehearse them. Leave-one-study-out training passes every study but the one it is checked on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from SPECTFewShotLib.research.protonet_training.episodes import BLOOD_POOL, MYOCARDIUM
from SPECTFewShotLib.research.protonet_training.phantom_cache import CachedStudy
from SPECTFewShotLib.volume import Volume

MYOCARDIUM_VALUE = 7  # the vocabulary's phantom label value of the LV myocardium (any value > 0 would do)
BLOOD_POOL_VALUE = 8  # the label value of the LV cavity in real copies with a cavity class (any other value > 0)
REAL_SEED_BASE = -1_000  # CachedStudy.seed of real copies: negative, never a phantom seed


@dataclass(frozen=True)
class RealRecipe:
    """How real copies are turned into training studies beyond the plain whole-volume, two-class copy: the cavity
    as a class, `crops` random crops per copy (sides `crop_sizes`, centre moved up to `crop_shift` of the side),
    and the chance that a copy or crop is thinned to `low_counts` expected counts at its hottest voxels."""

    cavity: bool = False
    crops: int = 0
    crop_sizes: tuple[int, int] = (24, 48)
    crop_shift: float = 0.35
    low_count_fraction: float = 0.0
    low_counts: tuple[float, float] = (4.0, 16.0)

    @property
    def plain(self) -> bool:
        """True when the recipe adds nothing to the plain copies."""
        return not self.cavity and self.crops == 0 and self.low_count_fraction <= 0


def augmented_copies(volume: Volume, wall: np.ndarray, copies: int, rng: np.random.Generator,
                     study_index: int = 0, cavity: bool = False) -> list[CachedStudy]:
    """`copies` augmented copies of a real study (image and wall mask [k, j, i]) as training studies; with `cavity`,
    the cavity the moved wall encloses is a tissue of its own (BLOOD_POOL_VALUE)."""
    from scipy import ndimage

    from SPECTFewShotLib.research.evaluation.cases import enclosed_cavity

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
        labels = {MYOCARDIUM: MYOCARDIUM_VALUE}
        if cavity:
            tissues[enclosed_cavity(np.ascontiguousarray(moved_mask))] = BLOOD_POOL_VALUE
            labels[BLOOD_POOL] = BLOOD_POOL_VALUE
        seed = REAL_SEED_BASE - 100 * study_index - number
        studies.append(CachedStudy(seed, volume.with_array(moved), np.ascontiguousarray(tissues), labels))
    return studies


def recipe_variants(copy: CachedStudy, recipe: RealRecipe, rng: np.random.Generator) -> list[CachedStudy]:
    """The training studies a RealRecipe makes of one augmented copy: the copy itself (whole volume), then
    `recipe.crops` random cubic crops around its wall; each possibly thinned to low counts."""
    from SPECTFewShotLib.research.evaluation.cases import crop_around_wall, low_count_copy

    wall = copy.tissues == MYOCARDIUM_VALUE
    out = [copy]
    for _ in range(recipe.crops):
        size = int(rng.integers(recipe.crop_sizes[0], recipe.crop_sizes[1] + 1))
        size = min(size, *wall.shape)
        shift = np.round(rng.uniform(-recipe.crop_shift, recipe.crop_shift, size=3) * size).astype(int)
        cropped, box = crop_around_wall(copy.image, wall, size, shift)
        out.append(CachedStudy(copy.seed, cropped, np.ascontiguousarray(copy.tissues[box]), copy.label_values))
    thinned = []
    for study in out:
        if rng.random() < recipe.low_count_fraction:
            counts = float(np.exp(rng.uniform(np.log(recipe.low_counts[0]), np.log(recipe.low_counts[1]))))
            study = CachedStudy(study.seed, low_count_copy(study.image, counts, int(rng.integers(2**31))),
                                study.tissues, study.label_values)
        thinned.append(study)
    return thinned


def resampled_noise(image: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """The image with extra Poisson noise: its counted voxels' mean taken as 200 x `level` counts, so the added noise
    is 5-10 % per voxel, about the real studies' own high-frequency noise."""
    counted = image[image > 0]
    if not counted.size:
        return image.astype(np.float32)
    per_count = float(counted.mean()) / (200.0 * level)
    return (rng.poisson(image / per_count) * per_count).astype(np.float32)


def real_training_studies(studies: Sequence[tuple[Volume, np.ndarray]], copies: int, seed: int,
                          recipe: RealRecipe = RealRecipe()) -> list[CachedStudy]:
    """Augmented copies of every (volume, wall mask) study, reproducible by `seed`, made into training studies by
    `recipe` (the plain recipe: the copies themselves, as before recipes existed)."""
    rng = np.random.default_rng(seed)
    out: list[CachedStudy] = []
    for index, (volume, wall) in enumerate(studies):
        out.extend(augmented_copies(volume, wall, copies, rng, index, recipe.cavity))
    if recipe.crops == 0 and recipe.low_count_fraction <= 0:
        return out
    variants = np.random.default_rng([seed, 1])  # its own stream: the copies stay those of the plain recipe
    return [study for copy in out for study in recipe_variants(copy, recipe, variants)]
