"""Settings of PRNet's self-supervised training of one scale (the network's own settings: landmarks.prnet.config)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainingConfig:
    """Self-supervised training of one scale: steps, batch of pairs, optimiser and augmentation."""

    steps: int = 3000
    groups_per_batch: int = 4  # studies per step
    patches_per_group: int = 8  # every two patches of a group form a pair: 28 pairs per group
    learning_rate: float = 1e-3
    mask_fraction: float = 0.3
    mask_block_fraction: float = 0.25
    rotation_degrees: float = 15.0
    scale_jitter: float = 0.1
    intensity_jitter: float = 0.2  # per patch: gain and gamma exp(U(-j, j))
    blur_levels_mm: tuple[float, ...] = (0.0, 3.0, 5.0)  # per patch: extra Gaussian blur (sigma, mm), one of these
    noise_level: float = 0.06  # per patch: Poisson-like noise sqrt(v)·N(0,1)·U(0, level)
    reconstruction_weight: float = 1.0
    position_from_unmasked: bool = True  # L_dis on the clean patches (a second encoder pass), L_rec on masked ones
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.groups_per_batch < 1 or self.patches_per_group < 2:
            raise ValueError("steps and groups must be positive, and a group needs at least 2 patches")
        if not 0.0 <= self.mask_fraction < 1.0:
            raise ValueError("mask_fraction must be in [0, 1)")
