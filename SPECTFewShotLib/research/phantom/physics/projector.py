"""A rotation-based parallel-beam SPECT projector with attenuation and depth-dependent collimator blur.

For each view the volume is rotated about the body (k) axis so that the detector looks along the rows; the
attenuation to the detector is a cumulative line integral of the rotated attenuation map; depths are grouped in
slabs and each slab is blurred with the collimator's Gaussian at its distance from the detector; slabs are summed.
The back-projector applies the same steps transposed (blur, spread over depth, attenuate, rotate back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True)
class CollimatorResolution:
    """System FWHM at distance d from the collimator face: sqrt(intrinsic^2 + (slope * (d + offset))^2)."""

    intrinsic_mm: float
    slope: float
    offset_mm: float

    def fwhm(self, distance_mm: np.ndarray | float) -> np.ndarray:
        """System resolution (mm FWHM) at a distance from the collimator."""
        d = np.maximum(np.asarray(distance_mm, dtype=float), 0.0)
        return np.sqrt(self.intrinsic_mm**2 + (self.slope * (d + self.offset_mm)) ** 2)

    @classmethod
    def with_fwhm_at(cls, fwhm_mm: float, distance_mm: float, intrinsic_mm: float,
                     offset_mm: float) -> CollimatorResolution:
        """The collimator whose system resolution is `fwhm_mm` at `distance_mm`."""
        geometric = math.sqrt(max(fwhm_mm**2 - intrinsic_mm**2, 1e-6))
        return cls(intrinsic_mm, geometric / (distance_mm + offset_mm), offset_mm)


@dataclass(frozen=True)
class ProjectionGeometry:
    """Views of a parallel-hole acquisition: detector angles and distances, on a cubic-in-plane voxel grid.

    angles_rad: direction from the rotation axis to the detector in the transaxial plane, measured in the (x = left,
    y = posterior) plane from +x toward +y; radius_mm: rotation axis to collimator face, per view.
    """

    angles_rad: np.ndarray
    radius_mm: np.ndarray
    voxel_mm: float
    shape: tuple[int, int, int]  # (k, j, i) with j = i = M, rotation about the grid centre

    @property
    def views(self) -> int:
        """Number of views."""
        return len(self.angles_rad)


class Projector:
    """Forward and back projection for one geometry, attenuation map and collimator (or none: no blur)."""

    def __init__(self, geometry: ProjectionGeometry, mu: Optional[np.ndarray],
                 resolution: Optional[CollimatorResolution], slabs: int = 8) -> None:
        import torch

        self.torch = torch
        self.geometry = geometry
        _k, m, m2 = geometry.shape
        if m != m2:
            raise ValueError("the projector needs a square transaxial grid")
        if m % slabs:
            raise ValueError(f"the transaxial size {m} must be a multiple of the slab count {slabs}")
        self.slabs = slabs
        self.slab_sum = torch.from_numpy(np.kron(np.eye(slabs), np.ones(m // slabs)).astype(np.float32))  # [s, depth]
        self.forward_grids, self.backward_grids = _rotation_grids(geometry.angles_rad, m)
        self.attenuation = None if mu is None else self._attenuation_factors(mu)
        self.kernels = None if resolution is None else self._slab_kernels(resolution)

    # -------------------------------------------------------------------------------------------- setup

    def _attenuation_factors(self, mu: np.ndarray):
        torch = self.torch
        v = self.geometry.voxel_mm
        k, m, _ = self.geometry.shape
        factors = torch.empty((self.geometry.views, k, m, m), dtype=torch.float32)
        mu_t = torch.from_numpy(np.ascontiguousarray(mu, dtype=np.float32))[None]
        for start in range(0, self.geometry.views, 10):
            grids = self.forward_grids[start:start + 10]
            rotated = _rotate(torch, mu_t, grids)  # [v, k, depth, t]; depth 0 is nearest the detector
            integral = torch.cumsum(rotated, dim=2) - 0.5 * rotated
            torch.exp(-v * integral, out=factors[start:start + len(grids)])
        return factors

    def _slab_kernels(self, resolution: CollimatorResolution):
        """Gaussian blur matrices per view and slab, axial [v, s, k, k] and transaxial [v, s, t, t] (zero outside)."""
        torch = self.torch
        g = self.geometry
        k, m = g.shape[0], g.shape[1]
        c = (m - 1) / 2.0
        depth_per_slab = m // self.slabs
        slab_centres = np.arange(self.slabs) * depth_per_slab + (depth_per_slab - 1) / 2.0
        # distance of each slab from the collimator face, per view: radius - (distance of the slab past the axis)
        distances = g.radius_mm[:, None] - (c - slab_centres[None, :]) * g.voxel_mm
        self.slab_fwhm_mm = resolution.fwhm(distances)  # [views, slabs]
        sigma_vox = np.maximum(self.slab_fwhm_mm / FWHM_PER_SIGMA / g.voxel_mm, 1e-3)
        return _gaussian_matrices(torch, sigma_vox, k), _gaussian_matrices(torch, sigma_vox, m)

    def variant(self, attenuation: bool, blur: bool) -> Projector:
        """The same geometry with attenuation and/or collimator blur left out (shares the precomputed arrays)."""
        other = object.__new__(Projector)
        other.__dict__.update(self.__dict__)
        other.attenuation = self.attenuation if attenuation else None
        other.kernels = self.kernels if blur else None
        return other

    # -------------------------------------------------------------------------------------------- operators

    def forward(self, image, views: np.ndarray):
        """Projections [len(views), k, t] of an image [k, j, i] (torch tensor) for the given view indices."""
        torch = self.torch
        rotated = _rotate(torch, image[None], self.forward_grids[views])
        if self.attenuation is not None:
            rotated = rotated * self.attenuation[views]
        slabs = self.slab_sum @ rotated  # [n, k, s, t]
        if self.kernels is None:
            return slabs.sum(dim=2)
        blurred = self._blur(slabs.permute(0, 2, 1, 3), views)  # [n, s, k, t]
        return blurred.sum(dim=1)

    def back(self, projections, views: np.ndarray):
        """Back-projection (the transpose of `forward`) of projections [len(views), k, t], summed over views."""
        torch = self.torch
        n, k, t = projections.shape
        if self.kernels is None:
            slabs = projections[:, :, None, :].expand(n, k, self.slabs, t)
        else:
            expanded = projections[:, None, :, :].expand(n, self.slabs, k, t)
            slabs = self._blur(expanded, views).permute(0, 2, 1, 3)  # [n, k, s, t]
        spread = self.slab_sum.transpose(0, 1) @ slabs  # [n, k, depth, t]
        if self.attenuation is not None:
            spread = spread * self.attenuation[views]
        return _rotate(torch, spread, self.backward_grids[views]).sum(dim=0)

    def _blur(self, slabs, views: np.ndarray):
        """Gaussian blur (axial and transaxial) of [n, s, k, t] with each view's slab kernels (symmetric)."""
        axial, transaxial = self.kernels
        return axial[views] @ slabs @ transaxial[views]


def _gaussian_matrices(torch, sigma_vox: np.ndarray, size: int):
    """Symmetric Gaussian convolution matrices [*sigma.shape, size, size] (truncated at 3 sigma, zero padding)."""
    offsets = np.arange(size)[:, None] - np.arange(size)[None, :]
    half = np.ceil(3.0 * sigma_vox)[..., None, None]
    weights = np.exp(-0.5 * (offsets / sigma_vox[..., None, None]) ** 2) * (np.abs(offsets) <= half)
    x = np.arange(-int(half.max()), int(half.max()) + 1)
    norm = (np.exp(-0.5 * (x / sigma_vox[..., None]) ** 2) * (np.abs(x) <= half[..., 0])).sum(axis=-1)
    return torch.from_numpy((weights / norm[..., None, None]).astype(np.float32))


def _rotation_grids(angles: np.ndarray, m: int):
    """Sampling grids (normalised, align_corners=True) for rotating into each view's frame and back."""
    import torch

    c = (m - 1) / 2.0
    idx = (np.arange(m) - c) / c  # normalised offsets from the centre
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    # view frame [depth d, transaxial t]: point = t * e_t + (-d) * n, with n = (cos, sin), e_t = (-sin, cos)
    d, t = idx[None, :, None], idx[None, None, :]
    fx = t * (-sin) + (-d) * cos
    fy = t * cos + (-d) * sin
    forward = np.stack([fx, fy], axis=-1)  # grid[..., 0] samples i (x), grid[..., 1] samples j (y)
    # image frame [j, i]: t = p . e_t, d = -p . n
    y, x = idx[None, :, None], idx[None, None, :]
    bt = x * (-sin) + y * cos
    bd = -(x * cos + y * sin)
    backward = np.stack([bt, bd], axis=-1)  # grid[..., 0] samples t (columns), grid[..., 1] samples depth (rows)
    return (torch.from_numpy(forward.astype(np.float32)), torch.from_numpy(backward.astype(np.float32)))


def _rotate(torch, volume, grids):
    """Resample [1 or n, k, a, b] volumes on n 2D grids (bilinear, zero outside); returns [n, k, a', b']."""
    n = grids.shape[0]
    source = volume.expand(n, *volume.shape[1:]) if volume.shape[0] == 1 else volume
    return torch.nn.functional.grid_sample(source, grids, mode="bilinear", padding_mode="zeros", align_corners=True)
