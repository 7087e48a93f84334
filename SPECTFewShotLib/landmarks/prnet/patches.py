"""Count normalisation and patch sampling in LPS millimetres, whatever the voxel size and orientation.

A `PreparedVolume` holds a volume's counts divided by a robust high percentile, smoothed for one working
spacing, as a torch tensor, together with the map LPS mm -> grid_sample coordinates. Patches are sampled
on an LPS-aligned (optionally rotated and scaled) grid of fixed spacing centred at any LPS point, with
trilinear interpolation and zeros outside the field of view, so volumes with 4–7 mm voxels and any direction
matrix give the same patches of the same anatomy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.volume import Volume

NORMALISATION_PERCENTILE = 99.0
FOREGROUND_THRESHOLD = 0.08  # of the normalised counts: the body, not air


def count_scale(array: np.ndarray) -> float:
    """Robust high count level: the 99th percentile of the positive voxels."""
    positive = array[array > 0]
    if positive.size == 0:
        raise InputError("the volume holds no positive counts")
    return float(np.percentile(positive, NORMALISATION_PERCENTILE))


def normalised_counts(volume: Volume) -> np.ndarray:
    """Counts divided by their robust high level, as float32 [k, j, i], negatives clipped to 0."""
    array = np.asarray(volume.array, dtype=np.float32)
    return np.clip(array / count_scale(array), 0.0, None).astype(np.float32)


def normalised_counts_image(volume: Volume, normalised: np.ndarray | None = None):
    """Normalised counts (given, or computed) as a float32 SimpleITK image with the volume's geometry."""
    return volume.with_array(normalised_counts(volume) if normalised is None else normalised).to_sitk()


@dataclass
class PreparedVolume:
    """A normalised (and smoothed) volume ready for patch sampling."""

    tensor: torch.Tensor  # [1, 1, K, J, I] float32
    lps_to_grid: torch.Tensor  # [4, 4]: LPS mm -> grid_sample coordinates (x=i, y=j, z=k in [-1, 1])
    volume: Volume

    @property
    def centre_of_mass_lps(self) -> np.ndarray:
        """Count-weighted centroid in LPS mm (a robust place to start searching from)."""
        array = self.tensor[0, 0].numpy()
        weights = np.clip(array, 0, 1.5)
        total = float(weights.sum())
        if total <= 0:
            return self.field_of_view_centre_lps
        k, j, i = np.indices(array.shape, dtype=float)
        ijk = np.array([(i * weights).sum(), (j * weights).sum(), (k * weights).sum()]) / total
        return self.volume.index_to_lps(ijk)

    @property
    def field_of_view_centre_lps(self) -> np.ndarray:
        """Centre of the field of view in LPS mm."""
        return self.volume.index_to_lps((np.asarray(self.volume.size, dtype=float) - 1) / 2)

    def foreground_lps(self, threshold: float = FOREGROUND_THRESHOLD) -> np.ndarray:
        """LPS positions (n, 3) of the voxels above `threshold` of the normalised counts (the body)."""
        k, j, i = np.nonzero(self.tensor[0, 0].numpy() > threshold)
        if k.size == 0:
            raise InputError("the volume has no voxels with counts above the background")
        return self.volume.index_to_lps(np.stack([i, j, k], axis=1).astype(float))


def prepare_volume(volume: Volume, spacing_mm: float, normalised: np.ndarray | None = None,
                   extra_blur_mm: float = 0.0) -> PreparedVolume:
    """Normalise counts and smooth them for sampling at `spacing_mm` (Gaussian anti-aliasing when coarser),
    optionally blurred further by a Gaussian of `extra_blur_mm` sigma (training augmentation)."""
    array = normalised_counts(volume) if normalised is None else normalised
    voxel = np.asarray(volume.spacing, dtype=float)[::-1]  # (k, j, i) order
    anti_alias_mm = 0.4 * np.sqrt(np.clip(spacing_mm ** 2 - voxel ** 2, 0.0, None))
    sigma = np.sqrt(anti_alias_mm ** 2 + extra_blur_mm ** 2) / voxel
    if np.any(sigma > 0.05):
        array = ndimage.gaussian_filter(array, sigma=sigma, mode="constant")
    size = np.asarray(volume.size, dtype=float)
    index_to_grid = np.eye(4)
    index_to_grid[:3, :3] = np.diag(2.0 / np.maximum(size - 1, 1))
    index_to_grid[:3, 3] = -1.0
    lps_to_grid = index_to_grid @ np.linalg.inv(volume.index_to_lps_matrix)
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None, None]
    return PreparedVolume(tensor, torch.as_tensor(lps_to_grid, dtype=torch.float32), volume)


def patch_offsets_mm(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> torch.Tensor:
    """Offsets (L, P, S) in mm of a patch's voxels from its centre, shape [D, H, W, 3] (z, y, x order)."""
    axes = [(torch.arange(n, dtype=torch.float32) - (n - 1) / 2) * s for n, s in zip(shape, spacing[::-1])]
    z, y, x = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([x, y, z], dim=-1)


def sample_patches(prepared: PreparedVolume, centres_lps: torch.Tensor | np.ndarray, shape: tuple[int, int, int],
                   spacing: tuple[float, float, float], rotations: torch.Tensor | None = None,
                   scales: torch.Tensor | None = None) -> torch.Tensor:
    """Patches [n, D, H, W] centred at LPS points (n, 3); axes L, P, S (optionally rotated/scaled per patch)."""
    centres = torch.as_tensor(np.asarray(centres_lps, dtype=np.float32)).reshape(-1, 3)
    offsets = patch_offsets_mm(shape, spacing).reshape(-1, 3)  # [V, 3]
    n = centres.shape[0]
    if rotations is None:
        points = offsets[None].expand(n, -1, -1)
    else:
        points = torch.einsum("nab,vb->nva", rotations.float(), offsets)
    if scales is not None:
        points = points * scales.float().reshape(n, 1, 1)
    points = points + centres[:, None, :]
    m = prepared.lps_to_grid
    grid = points @ m[:3, :3].T + m[:3, 3]
    grid = grid.reshape(1, n * shape[0], shape[1], shape[2], 3)
    sampled = F.grid_sample(prepared.tensor, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return sampled.reshape(n, *shape)
