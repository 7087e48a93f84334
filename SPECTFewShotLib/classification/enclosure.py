"""The LV blood pool is the cavity the myocardium encloses: blood-pool voxels the wall does not surround are not.

Cold voxels just outside the heart look like the cavity, and when the background is painted far away (a stroke at
the edge of the field) nothing in the counts or the distances to the paint tells them apart: the learner calls
them blood pool around the apex and the base. Anatomy does: a voxel is enclosed when rays from it along at least
ENCLOSED_SHARE of the 26 neighbour directions meet the myocardium within REACH_MM. Inside the cavity nearly every
ray does (the valve plane is open to a few); a voxel outside the wall's outline sees the wall along fewer than half
of them, since no ray pointing away from it can. A ray that leaves the volume first says nothing (a crop that cuts
the heart, a wall cut at the volume's face): only the rays that stay inside are counted."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..protonet.refinement import bounding_box, keep_connected_to_paint

DIRECTIONS = np.array([(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1) if (a, b, c) != (0, 0, 0)])
REACH_MM = 100.0  # farther than across the widest LV cavity
ENCLOSED_SHARE = 0.5
# A wall whose box holds more voxels than this is tested on cells of s^3 voxels (a cell is wall when any of its
# voxels is), every point taking its cell's share: enclosure is a matter of centimetres, not of single voxels
ENCLOSURE_VOXELS = 30_000


def enclosed_share(wall: np.ndarray, points: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """For each voxel of `points` [n, 3] (k, j, i), the share of the 26 neighbour directions along which a ray
    meets `wall` (bool [k, j, i], the whole volume's grid) within REACH_MM, among the rays that say anything: a ray
    that leaves the volume before meeting the wall is no evidence (the volume may be a crop that cuts the heart), so
    it counts neither way; a point all of whose rays leave the volume gets 1. `spacing`: voxel size (mm) along k, j,
    i."""
    share = np.zeros(len(points))
    box = bounding_box(wall)
    if box is None or len(points) == 0:
        return share
    low = np.array([b.start for b in box])
    local = wall[box]
    # the box's faces that are the volume's faces: a ray leaving the box there leaves the volume
    open_low = low == 0
    open_high = np.array([b.stop for b in box]) >= np.array(wall.shape)
    extent = np.array(local.shape)
    # A point outside the wall's box sees it along at most 9 of the 26 directions: left at 0
    inside = np.flatnonzero(np.all((points >= low) & (points - low < extent), axis=1))
    stride = 1
    while np.prod(-(-extent // stride)) > ENCLOSURE_VOXELS:
        stride += 1
    if stride > 1:
        padded = np.pad(local, [(0, -n % stride) for n in extent])
        cells = [n // stride for n in padded.shape]
        local = padded.reshape(cells[0], stride, cells[1], stride, cells[2], stride).any(axis=(1, 3, 5))
        extent, spacing = np.array(local.shape), tuple(stride * float(s) for s in spacing)
    start, back = np.unique((points[inside] - low) // stride, axis=0, return_inverse=True)
    hits = np.zeros(len(start), dtype=np.int32)
    unknown = np.zeros(len(start), dtype=np.int32)
    for direction in DIRECTIONS:
        steps = int(REACH_MM / float(np.linalg.norm(direction * np.asarray(spacing, dtype=float))))
        active, position = np.arange(len(start)), start.copy()
        for _ in range(steps):
            position += direction
            within = np.all((position >= 0) & (position < extent), axis=1)  # a ray leaving the box cannot return
            left = ~within
            if left.any():
                through_face = ((position[left] < 0) & open_low) | ((position[left] >= extent) & open_high)
                unknown[active[left][through_face.any(axis=1)]] += 1
            active, position = active[within], position[within]
            met = local[position[:, 0], position[:, 1], position[:, 2]]
            hits[active[met]] += 1
            active, position = active[~met], position[~met]
            if len(active) == 0:
                break
    known = len(DIRECTIONS) - unknown
    share[inside] = np.where(known > 0, hits / np.maximum(known, 1), 1.0)[back.ravel()]
    return share


def drop_unenclosed_blood_pool(scores: np.ndarray, painted: np.ndarray, myocardium: int, blood_pool: int,
                               spacing: tuple[float, float, float]) -> np.ndarray:
    """Class indices [k, j, i] from `scores` [C, k, j, i] (whose argmax are the current labels; edited in place)
    after unpainted blood-pool voxels the myocardium does not enclose go to the best class that is neither, and
    every class again keeps only its regions that touch its paint (`painted`: class indices, -1 unpainted)."""
    labels = scores.argmax(0)
    candidates = np.argwhere((labels == blood_pool) & (painted != blood_pool))
    outside = candidates[enclosed_share(labels == myocardium, candidates, spacing) < ENCLOSED_SHARE]
    if len(outside) == 0:
        return labels
    k, j, i = outside.T
    for c in range(scores.shape[0]):
        if c in (myocardium, blood_pool):
            scores[c, k, j, i] = 0.0
        else:
            scores[c, k, j, i] += 1e-6  # the best other class wins even where its probability is 0
    return keep_connected_to_paint(scores, painted)


CAVITY_SAMPLE = 500  # painted voxels per class whose enclosure is tested when the classes' roles are inferred
# How much brighter than its cavity a wall must be: under the lowest myocardium / LV blood-pool count ratio of real
# perfusion studies (1.34 over 42 studies, METHODS section 8), over the body-to-cold-region ratios of background
WALL_CONTRAST = 1.25


def cavity_from_paint(labels: np.ndarray, points: np.ndarray, classes: np.ndarray, brightness: np.ndarray,
                      spacing: tuple[float, float, float]) -> Optional[tuple[int, int]]:
    """(wall, cavity) class indices read from the paint, for segments whose names do not say: a class whose painted
    voxels (`points` [n, 3] on `labels`' grid, of class indices `classes`) are, in the median, enclosed by the region
    `labels` gives a class at least WALL_CONTRAST times brighter (`brightness`: each class's mean painted counts)
    is that class's cavity; the brightest such wall wins. None with fewer than three classes, or when no class is
    enclosed."""
    n_classes = len(brightness)
    if n_classes < 3:
        return None
    rng = np.random.default_rng(0)
    sample = {}
    for c in range(n_classes):
        rows = np.flatnonzero(classes == c)
        sample[c] = points[rows if len(rows) <= CAVITY_SAMPLE else rng.choice(rows, CAVITY_SAMPLE, replace=False)]
    for wall in np.argsort(brightness)[::-1]:
        enclosed = [(float(np.median(enclosed_share(labels == wall, sample[c], spacing))), c)
                    for c in range(n_classes) if WALL_CONTRAST * brightness[c] <= brightness[wall] and len(sample[c])]
        share, cavity = max(enclosed, default=(0.0, -1))
        if share >= ENCLOSED_SHARE:
            return int(wall), int(cavity)
    return None
