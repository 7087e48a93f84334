"""Shared test fixtures: small synthetic volumes, paint and networks that several test files use.

Tests import these from here (never from one another), so a test file can move or change on its own.
"""

from __future__ import annotations

import numpy as np

from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for
from SPECTFewShotLib.volume import Volume

# An oblique, non-trivial geometry: rotated 30 degrees about the superior axis, anisotropic voxels.
_C, _S = np.cos(np.pi / 6), np.sin(np.pi / 6)
OBLIQUE = (_C, -_S, 0.0, _S, _C, 0.0, 0.0, 0.0, 1.0)
# The synthetic torso of `study`: SIZE^3 voxels of SPACING mm.
SPACING = 4.0
SIZE = 48


def make_volume(shape=(12, 10, 14), spacing=(4.42, 4.42, 5.0), origin=(-120.5, -95.25, 310.0),
                direction=OBLIQUE, seed=0) -> Volume:
    rng = np.random.default_rng(seed)
    return Volume(rng.poisson(50.0, size=shape).astype(np.int16), spacing, origin, direction)


def tiny_network():
    """A one-stage DenseEmbedding with a few channels, seeded (imports torch)."""
    import torch

    from SPECTFewShotLib.protonet.embedding import DenseEmbedding, EmbeddingConfig

    torch.manual_seed(0)
    return DenseEmbedding(EmbeddingConfig(trunk_depth=1, head_channels=8, deep_dim=4, shallow_dim=4)).eval()


def ring_volume(size: int = 24, seed: int = 0) -> tuple[Volume, np.ndarray]:
    """A hot cylindrical shell (class 2) around a cool cavity (class 3) in a warm background (class 1)."""
    rng = np.random.default_rng(seed)
    k, j, i = np.mgrid[:size, :size, :size]
    radius = np.hypot(j - size / 2, i - size / 2)
    classes = np.ones((size, size, size), dtype=np.int32)
    classes[(radius < 7) & (k > 3) & (k < size - 4)] = 2
    classes[(radius < 4) & (k > 3) & (k < size - 4)] = 3
    counts = np.choose(classes - 1, [20.0, 100.0, 35.0]) + rng.normal(0, 3, classes.shape)
    volume = Volume(counts.astype(np.float32), (4.0, 4.0, 4.0), (-40.0, -30.0, 100.0))
    return volume, classes


def ring_prior(size: int = 24):
    """ring_volume(size)'s volume and classes, and a FewShotSession with tiny_network() on that volume (the network
    run once)."""
    from SPECTFewShotLib.classification.prior_session import FewShotSession

    volume, classes = ring_volume(size=size)
    prior = FewShotSession(device="cpu", network=tiny_network())
    prior.set_volume(volume)
    return volume, classes, prior


def paint_prior(prior, volume: Volume, classes: np.ndarray, slices):
    """Give `prior` (ring_prior's session) the paint of `classes` on the axial `slices`; return the painted class
    index map and the painted voxels, as the product's cross-fitted prior reads them."""
    from SPECTFewShotLib.protonet.support import class_index_map, painted_voxels

    prior.set_support(support_from(volume, classes, slices))
    painted = class_index_map(prior._support)
    return painted, painted_voxels(painted, prior._support.slices)


def support_from(volume: Volume, classes: np.ndarray, slices, values=None, names=None) -> Segmentation:
    painted = np.zeros_like(classes)
    for k in slices:
        painted[k] = classes[k]
    if values is not None:
        painted = np.asarray(values, dtype=np.int32)[painted]
    labels = [int(v) for v in np.unique(painted) if v]
    return Segmentation(volume.with_array(painted), segments_for(labels, names))


def study(center=(10.0, -8.0, 4.0), apex_direction=(0.6, -0.5, -0.6), liver=True, rim=True, seed=0):
    """A torso with an LV cup (hot shell, cold cavity, open base), a larger and hotter solid liver, hot voxels at
    the rim of the field of view, noise; and the LV's true centre, apex, base and apex direction (LPS)."""
    rng = np.random.default_rng(seed)
    origin = -np.full(3, (SIZE - 1) * SPACING / 2)
    volume = Volume(np.zeros((SIZE,) * 3, np.float32), (SPACING,) * 3, tuple(origin), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    k, j, i = np.indices((SIZE,) * 3)
    lps = volume.index_to_lps(np.stack([i, j, k], -1).reshape(-1, 3).astype(float)).reshape(SIZE, SIZE, SIZE, 3)
    toward_apex = np.asarray(apex_direction, dtype=float) / np.linalg.norm(apex_direction)
    c = np.asarray(center, dtype=float)
    rel = lps - c
    along = rel @ toward_apex
    radial = np.linalg.norm(rel - along[..., None] * toward_apex, axis=-1)
    outer = (along / 44.0) ** 2 + (radial / 28.0) ** 2 <= 1
    inner = (along / 34.0) ** 2 + (radial / 18.0) ** 2 <= 1
    wall = outer & ~inner & (along >= -18.0)
    array = 0.1 * (np.linalg.norm(lps, axis=-1) < 90) + 1.0 * wall
    if liver:  # solid, larger and hotter than the heart, about 70 mm away
        array += 1.6 * (np.linalg.norm((lps - c - np.array([-55.0, 20.0, -45.0])) / [35, 30, 25], axis=-1) <= 1)
    if rim:
        array[:, :, :2] += 3.0 * (rng.random((SIZE, SIZE, 2)) > 0.7)
    array += rng.normal(0, 0.03, array.shape)
    truth_points = lps[wall]
    return (volume.with_array(np.clip(array, 0, None).astype(np.float32) * 1000),
            volume.with_array(wall.astype(np.uint8)), truth_points.mean(axis=0), c + 44.0 * toward_apex,
            c - 18.0 * toward_apex, toward_apex)


def cup_mask(cavity_along_mm: float, center=(2.0, -3.0, 1.0), apex_direction=(0.6, -0.5, -0.6)) -> Volume:
    """An LV-wall mask: an ellipsoidal cup (outer semi-axes 44 mm along the axis, 28 across; open base 18 mm from
    the centre) whose cavity reaches `cavity_along_mm` towards the apex (apical wall 44 - that thick on the axis)."""
    origin = -np.full(3, (SIZE - 1) * SPACING / 2)
    grid = Volume(np.zeros((SIZE,) * 3, np.uint8), (SPACING,) * 3, tuple(origin), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    k, j, i = np.indices((SIZE,) * 3)
    lps = grid.index_to_lps(np.stack([i, j, k], -1).reshape(-1, 3).astype(float)).reshape(SIZE, SIZE, SIZE, 3)
    toward_apex = np.asarray(apex_direction, dtype=float) / np.linalg.norm(apex_direction)
    rel = lps - np.asarray(center, dtype=float)
    along = rel @ toward_apex
    radial = np.linalg.norm(rel - along[..., None] * toward_apex, axis=-1)
    outer = (along / 44.0) ** 2 + (radial / 28.0) ** 2 <= 1
    inner = (along / cavity_along_mm) ** 2 + (radial / 18.0) ** 2 <= 1
    return grid.with_array((outer & ~inner & (along >= -18.0)).astype(np.uint8))


def ring_study(size: int = 24, end_margin: int = 4) -> tuple[Volume, np.ndarray]:
    """A hot ring (the wall) around a cool disc on the axial slices more than `end_margin` from either end, on a
    warm background: an LV-like study and its wall mask."""
    k, j, i = np.indices((size, size, size))
    r = np.hypot(j - size / 2, i - size / 2)
    inside = (k > end_margin) & (k < size - end_margin)
    wall = (r > 4) & (r < 8) & inside
    image = 10.0 + 90.0 * wall + 20.0 * ((r <= 4) & inside)
    return Volume(image.astype(np.float32), (4.0, 4.0, 4.0), (0.0, 0.0, 0.0)), wall


def counts_frame_pair(template: Volume, target: Volume):
    """The two studies' LV frames from their counts (a prnet.refine.FramePair with the roll between them) and the
    turn (3x3) of the map that places the template's points in the target (the frames' map aligned on the counts),
    as the localiser's `place_landmarks` finds them when neither study has a myocardium."""
    from SPECTFewShotLib.landmarks.carry import roll_offset, roll_profile
    from SPECTFewShotLib.landmarks.heart_search import smoothed_counts
    from SPECTFewShotLib.landmarks.local_alignment import frame_map, refine_map
    from SPECTFewShotLib.landmarks.prnet.refine import FramePair, map_turn
    from SPECTFewShotLib.landmarks.staged import find_lv_frame

    template_counts, target_counts = smoothed_counts(template), smoothed_counts(target)
    template_frame = find_lv_frame(template, counts=template_counts)
    target_frame = find_lv_frame(target, counts=target_counts)
    roll, _ = roll_offset(roll_profile(template, template_counts, template_frame),
                          roll_profile(target, target_counts, target_frame))
    initial = frame_map(template_frame, target_frame, roll)
    correct, _ = refine_map(target, target_counts, target_frame, template, template_counts, initial)
    return FramePair(template_frame, target_frame, roll), map_turn(initial, template_frame.geometry.center,
                                                                   then=correct)


def centre_off_centroid_pair(fraction: float = 0.4):
    """Two LV frames from cup masks, the target's base 16 mm farther along its axis (a longer LV on the base side),
    and the template's LV_center `fraction` of the way from its apex to its base (an annotator's convention, not the
    wall's centroid) with its LV_apex and LV_base: (template frame, target frame, landmarks)."""
    from dataclasses import replace

    from SPECTFewShotLib.io.markups_io import Landmark
    from SPECTFewShotLib.landmarks.lv_frame import frame_from_segmentation

    template = frame_from_segmentation(cup_mask(28.0))
    target = frame_from_segmentation(cup_mask(28.0, center=(-6.0, 4.0, 10.0), apex_direction=(0.2, -0.9, -0.3)))
    target = replace(target, geometry=replace(target.geometry, base=target.geometry.base
                                              + 16.0 * target.geometry.axis))
    g = template.geometry
    landmarks = [Landmark("LV_center", tuple(g.apex + fraction * (g.base - g.apex))),
                 Landmark("LV_apex", tuple(g.apex)), Landmark("LV_base", tuple(g.base))]
    return template, target, landmarks
