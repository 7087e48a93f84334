"""Training episodes: a few painted shots and the voxels to classify from them, drawn reproducibly from a generator.

Two kinds, both dense (every query voxel is scored):

- phantom episodes mimic the clinician: a random grouping of a phantom's tissues into classes (the LV myocardium
  always; blood pool, liver and other tissues as classes of their own or merged into "background"), one to three
  painted axial slices through the LV, painted fully or with one-voxel medial-axis strokes (painting.py), and
  query slices in and around the heart and anywhere else in the volume (every voxel is classified in use);
- superpixel episodes are self-supervised (SSL-ALPNet): Felzenszwalb superpixels of one slice become
  pseudo-classes; the support is the slice under one random affine and intensity transform, the query the same
  slice under another, so the network must recognise a region by its look and context, not its position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from SPECTFewShotLib.protonet.features import axial_slabs
from SPECTFewShotLib.selftest.painting import paint_slices, paint_strokes

MYOCARDIUM, BLOOD_POOL, LIVER = "LV_myocardium", "LV_blood_pool", "liver"
# chance that a tissue becomes a class of its own in a phantom episode (otherwise it is background)
CLASS_CHANCE = {MYOCARDIUM: 1.0, BLOOD_POOL: 0.85, LIVER: 0.75}
OTHER_TISSUE_CHANCE = 0.2
QUERY_MARGIN_SLICES = 4
MIN_SUPERPIXEL = 12


@dataclass(frozen=True, eq=False)
class Episode:
    """Slabs [n, 3, H, W] (normalised counts), painted class indices [n, H, W] (-1 = unpainted) and query
    targets [n, H, W] (-1 = not scored), for `n_classes` classes (index 0 is the background)."""

    slabs: np.ndarray
    support: np.ndarray
    query: np.ndarray
    n_classes: int


def augment_counts(normalized: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random global scale (x0.35-1.5) and gamma (0.7-1.4) of normalised counts: robustness to count levels and
    to extra-cardiac uptake hotter than the heart (which lowers the heart's normalised counts)."""
    gamma = float(np.exp(rng.uniform(np.log(0.7), np.log(1.4))))
    scale = float(np.exp(rng.uniform(np.log(0.35), np.log(1.5))))
    return (np.power(np.clip(normalized, 0, None), gamma) * scale).astype(np.float32)


def tissue_classes(tissues: np.ndarray, label_values: dict[str, int], slices: list[int],
                   rng: np.random.Generator) -> np.ndarray:
    """A class map [k, j, i]: 0 = background, 1.. = the tissues drawn to be classes (present on `slices`)."""
    present = {int(v) for k in slices for v in np.unique(tissues[k])}
    class_map = np.zeros(tissues.shape, dtype=np.int64)
    next_class = 1
    for name, value in sorted(label_values.items(), key=lambda item: item[1]):
        chance = CLASS_CHANCE.get(name, OTHER_TISSUE_CHANCE)
        if value in present and rng.random() < chance:
            class_map[tissues == value] = next_class
            next_class += 1
    return class_map


def phantom_episode(normalized: np.ndarray, tissues: np.ndarray, label_values: dict[str, int],
                    rng: np.random.Generator, query_slices: int = 7) -> Episode:
    """One clinician-like episode on a phantom (normalised counts and tissue labels, both [k, j, i])."""
    depth = normalized.shape[0]
    ks = np.nonzero((tissues == label_values[MYOCARDIUM]).any(axis=(1, 2)))[0]
    n_support = int(rng.choice([1, 2, 3], p=[0.15, 0.25, 0.6]))
    n_support = min(n_support, len(ks))
    support_slices = sorted(int(k) for k in rng.choice(ks, size=n_support, replace=False))
    class_map = tissue_classes(tissues, label_values, support_slices, rng)
    painter = paint_strokes if rng.random() < 0.5 else paint_slices
    painted = painter(class_map + 1, support_slices) - 1  # painting works on values >= 1
    painted_classes = np.unique(painted[support_slices])
    painted_classes = painted_classes[painted_classes >= 0]
    lookup = np.full(int(class_map.max()) + 1, -1, dtype=np.int64)
    lookup[painted_classes] = np.arange(len(painted_classes))
    low = max(0, int(ks.min()) - QUERY_MARGIN_SLICES)
    high = min(depth - 1, int(ks.max()) + QUERY_MARGIN_SLICES)
    near = np.array([k for k in range(low, high + 1) if k not in support_slices])
    query = [int(k) for k in rng.choice(near, size=min((query_slices + 1) // 2, len(near)), replace=False)]
    far = np.array([k for k in range(depth) if k not in support_slices and k not in query])
    query += [int(k) for k in rng.choice(far, size=min(query_slices - len(query), len(far)), replace=False)]
    query.sort()
    slices = support_slices + query
    augmented = augment_counts(normalized, rng)
    slabs = np.concatenate([axial_slabs(augmented, k, k + 1) for k in slices])
    support = np.full((len(slices), *normalized.shape[1:]), -1, dtype=np.int64)
    targets = np.full_like(support, -1)
    for row, k in enumerate(slices):
        if k in support_slices:
            paint_k = painted[k]
            support[row] = np.where(paint_k >= 0, lookup[np.maximum(paint_k, 0)], -1)
        else:
            targets[row] = lookup[class_map[k]]
    return Episode(slabs, support, targets, len(painted_classes))


def superpixel_episode(normalized: np.ndarray, rng: np.random.Generator, ways: int = 3) -> Episode:
    """One self-supervised episode: superpixels of a slice as classes, support and query under two transforms."""
    from skimage.segmentation import felzenszwalb

    depth = normalized.shape[0]
    totals = normalized.reshape(depth, -1).mean(1)
    candidates = np.nonzero(totals > 0.25 * totals.max())[0]
    k = int(rng.choice(candidates))
    slab = axial_slabs(augment_counts(normalized, rng), k, k + 1)[0]
    centre = slab[1] / max(float(slab[1].max()), 1e-6)
    segments = felzenszwalb(centre, scale=float(rng.uniform(50, 200)), sigma=0.5, min_size=MIN_SUPERPIXEL)
    sizes = np.bincount(segments.ravel())
    mean = ndimage.mean(centre, segments, index=np.arange(len(sizes)))
    usable = np.nonzero((sizes >= MIN_SUPERPIXEL) & (mean > 0.1))[0]
    chosen = rng.choice(usable, size=min(ways, len(usable)), replace=False)
    class_map = np.zeros(segments.shape, dtype=np.int64)
    for index, segment in enumerate(chosen, start=1):
        class_map[segments == segment] = index
    views, maps = [], []
    for _ in range(2):
        image, labels = _random_affine(slab, class_map, rng)
        views.append(image)
        maps.append(labels)
    present = np.intersect1d(np.unique(maps[0]), np.unique(maps[1]))
    lookup = np.full(len(chosen) + 1, -1, dtype=np.int64)
    lookup[present] = np.arange(len(present))
    support = np.stack([lookup[maps[0]], np.full_like(maps[1], -1)])
    targets = np.stack([np.full_like(maps[0], -1), lookup[maps[1]]])
    return Episode(np.stack(views).astype(np.float32), support, targets, len(present))


def _random_affine(slab: np.ndarray, labels: np.ndarray, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The slab and its label map under one random rotation (+-20 deg), scale (0.85-1.15) and shift (+-4 px)."""
    angle = np.deg2rad(rng.uniform(-20, 20))
    scale = rng.uniform(0.85, 1.15)
    matrix = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) / scale
    centre = (np.array(labels.shape) - 1) / 2.0
    offset = centre - matrix @ centre + rng.uniform(-4, 4, size=2)
    image = np.stack([ndimage.affine_transform(c, matrix, offset, order=1, mode="nearest") for c in slab])
    image *= float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
    image += rng.normal(0, 0.02, size=image.shape).astype(np.float32)
    warped = ndimage.affine_transform(labels, matrix, offset, order=0, mode="constant", cval=0)
    return np.clip(image, 0, None), warped.astype(np.int64)
