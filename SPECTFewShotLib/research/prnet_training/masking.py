"""Random block masking of input patches, so that reconstruction cannot copy its input through the skips.

Blocks are cut along the patch's three spatial axes (slice, row, column) of every sample — the authors' code
indexed the wrong axis and masked almost nothing. Blocks are added until the requested fraction is masked.
"""

from __future__ import annotations

import torch


def block_mask(shape: tuple[int, int, int], count: int, fraction: float, block_fraction: float,
               generator: torch.Generator) -> torch.Tensor:
    """Boolean masks [count, D, H, W], each True on random blocks covering about `fraction` of the voxels."""
    masks = torch.zeros((count, *shape), dtype=torch.bool)
    if fraction <= 0:
        return masks
    sides = [max(1, round(n * block_fraction)) for n in shape]
    total = shape[0] * shape[1] * shape[2]
    for sample in range(count):
        for _ in range(200):  # a generous bound; the fraction is reached long before
            if masks[sample].sum().item() >= fraction * total:
                break
            start = [int(torch.randint(0, n - s + 1, (1,), generator=generator)) for n, s in zip(shape, sides)]
            masks[sample, start[0]:start[0] + sides[0], start[1]:start[1] + sides[1],
                  start[2]:start[2] + sides[2]] = True
    return masks


def mask_patches(patches: torch.Tensor, fraction: float, block_fraction: float,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Patches [n, D, H, W] with random blocks set to 0, and the mask itself (True where masked)."""
    masks = block_mask(tuple(patches.shape[1:]), patches.shape[0], fraction, block_fraction, generator)
    return patches.masked_fill(masks, 0.0), masks
