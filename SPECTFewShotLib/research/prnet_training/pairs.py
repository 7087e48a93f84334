"""Self-supervised training pairs: patches of the same study and their offsets c_a − c_b in millimetres.

Patches are drawn in groups: all patches of a group come from one study, seen through one random rotation Q
and scale s (applied through the sampling grid, as if the study itself were rotated and scaled), and every
two patches of a group form a pair, so one forward pass of k patches gives k(k−1)/2 pairs. Positions are
expressed in the group's own frame, y = Q^T x / s, so the offset of a pair is y_a − y_b.
Fine groups gather around one centre (pairs within the scale's pair radius); coarse groups spread over the
whole body. Centres lie in the body (foreground voxels), half of them chosen in proportion to counts (the
organs where landmarks are), half uniformly. Blur, intensity and noise change from patch to patch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from SPECTFewShotLib.cardiac_views.rotations import axis_rotation
from SPECTFewShotLib.landmarks.prnet.config import ScaleConfig
from SPECTFewShotLib.landmarks.prnet.patches import (
    FOREGROUND_THRESHOLD,
    PreparedVolume,
    normalised_counts,
    prepare_volume,
    sample_patches,
)
from SPECTFewShotLib.research.prnet_training.config import TrainingConfig
from SPECTFewShotLib.volume import Volume


@dataclass
class PatchGroup:
    """Patches [k, D, H, W] of one study and their positions [k, 3] in mm in the group's frame."""

    patches: torch.Tensor
    positions_mm: torch.Tensor


@dataclass
class TrainingStudy:
    """A study prepared at several blur levels, its foreground points and sampling weights favouring counts."""

    levels: list[PreparedVolume]  # levels[0]: the study as is; then more and more blurred copies
    foreground: np.ndarray  # (n, 3) LPS mm
    weights: np.ndarray  # (n,) probabilities

    @property
    def prepared(self) -> PreparedVolume:
        """The study without extra blur."""
        return self.levels[0]

    @classmethod
    def from_volume(cls, volume: Volume, spacing_mm: float, blur_levels_mm: Sequence[float] = (0.0,)
                    ) -> TrainingStudy:
        """Normalise and prepare a study at each blur level; collect its foreground (and count weights)."""
        counts = normalised_counts(volume)
        levels = [prepare_volume(volume, spacing_mm, counts, blur) for blur in blur_levels_mm]
        foreground = levels[0].foreground_lps()
        weights = np.clip(sample_values(levels[0], foreground), 1e-3, None)
        return cls(levels, foreground, weights / weights.sum())

    def centres(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """`count` body positions (LPS mm): half weighted by counts, half uniform, jittered within a voxel."""
        weighted = rng.random(count) < 0.5
        index = np.where(weighted, rng.choice(len(self.foreground), size=count, p=self.weights),
                         rng.integers(0, len(self.foreground), size=count))
        voxel = float(np.max(self.prepared.volume.spacing))
        return self.foreground[index] + rng.uniform(-0.5, 0.5, size=(count, 3)) * voxel


def sample_values(prepared: PreparedVolume, points_lps: np.ndarray) -> np.ndarray:
    """Normalised counts at LPS points (trilinear)."""
    values = sample_patches(prepared, points_lps, (1, 1, 1), (1.0, 1.0, 1.0))
    return values.reshape(-1).numpy()


def random_rotation(max_degrees: float, rng: np.random.Generator) -> np.ndarray:
    """A rotation matrix about a random axis by an angle up to `max_degrees`."""
    axis = rng.normal(size=3)
    return axis_rotation(axis, rng.uniform(-max_degrees, max_degrees))


def sample_group(study: TrainingStudy, count: int, scale: ScaleConfig, training: TrainingConfig,
                 rng: np.random.Generator) -> PatchGroup:
    """`count` patches of one study in one random rotated and scaled frame, with their frame positions."""
    rotation = random_rotation(training.rotation_degrees, rng)
    factor = float(np.exp(rng.uniform(-training.scale_jitter, training.scale_jitter)))
    if scale.whole_body:
        points = study.centres(count, rng)
    else:  # fine: around one centre, every pair within the pair radius
        centre = study.centres(1, rng)[0]
        half = 0.5 * np.asarray(scale.pair_radius_mm)
        frame = rng.uniform(-1.0, 1.0, size=(count, 3)) * half
        points = centre + factor * frame @ rotation.T
        inside = sample_values(study.prepared, points) >= 0.5 * FOREGROUND_THRESHOLD
        if inside.sum() >= 2:
            points = points[inside]
    positions = (points @ rotation) / factor  # y = Q^T x / s
    n = len(points)
    q = torch.as_tensor(np.broadcast_to(rotation, (n, 3, 3)).copy(), dtype=torch.float32)
    s = torch.full((n,), factor, dtype=torch.float32)
    # Appearance differs patch by patch (blur, gain, gamma, noise): the position must not depend on it, or each
    # study would get its own offset in p, invisible within a study and fatal across studies.
    level = rng.integers(0, len(study.levels), size=n)
    patches = torch.empty((n, *scale.patch_shape))
    for value in np.unique(level):
        chosen = np.nonzero(level == value)[0]
        patches[chosen] = sample_patches(study.levels[value], points[chosen], scale.patch_shape,
                                         scale.patch_spacing, q[chosen], s[chosen])
    jitter = training.intensity_jitter
    gain = torch.as_tensor(np.exp(rng.uniform(-jitter, jitter, n)), dtype=torch.float32).reshape(-1, 1, 1, 1)
    gamma = torch.as_tensor(np.exp(rng.uniform(-jitter, jitter, n)), dtype=torch.float32).reshape(-1, 1, 1, 1)
    patches = gain * patches.clamp_min(0) ** gamma
    if training.noise_level > 0:
        noise = torch.as_tensor(rng.standard_normal(patches.shape), dtype=torch.float32)
        level_of_noise = torch.as_tensor(rng.uniform(0, training.noise_level, n), dtype=torch.float32)
        patches = (patches + noise * patches.sqrt() * level_of_noise.reshape(-1, 1, 1, 1)).clamp_min(0)
    return PatchGroup(patches, torch.as_tensor(positions, dtype=torch.float32))


def group_pairs(sizes: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (a, b) of every pair a < b within each group of a batch concatenated from groups of `sizes`."""
    first, second, start = [], [], 0
    for size in sizes:
        a, b = torch.triu_indices(size, size, offset=1)
        first.append(a + start)
        second.append(b + start)
        start += size
    return torch.cat(first), torch.cat(second)
