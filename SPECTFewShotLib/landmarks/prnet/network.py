"""The PRNet: a U-Net-like encoder–decoder with skip connections and a position head on the bottleneck.

The encoder halves the patch once per level (4 poolings with the default 5 widths); the decoder climbs back
with skip connections and reconstructs the input patch; a small fully connected head on the flattened
bottleneck outputs the position vector p(x) (3 numbers: L, P, S). Convolutions are 3D for the "3d" variant and
2D for "2.5d" (neighbouring axial slices as channels).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .config import ScaleConfig


class PRNetOutput(NamedTuple):
    """What one forward pass gives: position vector, reconstructed patch, and decoder features."""

    position: torch.Tensor  # [n, 3]
    reconstruction: torch.Tensor  # [n, C, *patch]
    features: torch.Tensor  # [n, F]: decoder features at the patch centre (for confidence)


def _conv(dims: int):
    return nn.Conv3d if dims == 3 else nn.Conv2d


def _double_conv(dims: int, c_in: int, c_out: int, norm: str) -> nn.Sequential:
    conv = _conv(dims)
    layers: list[nn.Module] = []
    for c_from in (c_in, c_out):
        layers.append(conv(c_from, c_out, 3, padding=1))
        if norm == "batch":
            layers.append(nn.BatchNorm3d(c_out) if dims == 3 else nn.BatchNorm2d(c_out))
        layers.append(nn.LeakyReLU(0.1, inplace=True))
    return nn.Sequential(*layers)


class PRNet(nn.Module):
    """Encoder–decoder with skip connections and a position head (see the module docstring)."""

    def __init__(self, config: ScaleConfig) -> None:
        super().__init__()
        self.config = config
        dims, widths = config.dims, config.channels
        self.dims = dims
        self.encoders = nn.ModuleList()
        c_in = config.in_channels
        for width in widths:
            self.encoders.append(_double_conv(dims, c_in, width, config.norm))
            c_in = width
        self.pool = nn.MaxPool3d(2) if dims == 3 else nn.MaxPool2d(2)
        up = nn.ConvTranspose3d if dims == 3 else nn.ConvTranspose2d
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for deeper, width in zip(reversed(widths[1:]), reversed(widths[:-1])):
            self.ups.append(up(deeper, width, 2, stride=2))
            self.decoders.append(_double_conv(dims, 2 * width, width, config.norm))
        self.reconstruct = _conv(dims)(widths[0], config.in_channels, 1)
        bottleneck_side = config.patch_voxels // 2 ** (len(widths) - 1)
        flat = widths[-1] * bottleneck_side ** dims
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, 128), nn.LeakyReLU(0.1, inplace=True),
                                  nn.Linear(128, config.embedding_dims))
        self.feature_dims = widths[1] + widths[0]
        for module in self.modules():
            if isinstance(module, (nn.Conv3d, nn.Conv2d, nn.ConvTranspose3d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, a=0.1, nonlinearity="leaky_relu")
                nn.init.zeros_(module.bias)
        if dims == 3:  # channels-last 3D convolutions are several times faster on CPUs (backward above all)
            self.to(memory_format=torch.channels_last_3d)

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last_3d) if self.dims == 3 else x

    def _encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self._layout(x)
        skips = []
        for level, encoder in enumerate(self.encoders):
            if level:
                x = self.pool(x)
            x = encoder(x)
            skips.append(x)
        return skips

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Position vector p(x) only (the encoder and the head; no decoder)."""
        return self.head(self._encode(x)[-1])

    def _decode(self, skips: list[torch.Tensor]) -> list[torch.Tensor]:
        """Every decoder level's feature map, coarsest first, from the encoder's levels `skips`."""
        y = skips[-1]
        decoded = []
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips[:-1])):
            y = decoder(torch.cat([up(y), skip], dim=1))
            decoded.append(y)
        return decoded

    def decoded(self, x: torch.Tensor) -> torch.Tensor:
        """The last decoder level's feature map [n, widths[0], *patch] of a batch of patches (no head)."""
        return self._decode(self._encode(x))[-1]

    def forward(self, x: torch.Tensor) -> PRNetOutput:
        """Position vector, reconstruction and centre decoder features of a batch of patches [n, C, *patch]."""
        skips = self._encode(x)
        position = self.head(skips[-1])
        decoded = self._decode(skips)
        reconstruction = self.reconstruct(decoded[-1])
        features = torch.cat([_centre(decoded[-2]), _centre(decoded[-1])], dim=1)
        return PRNetOutput(position, reconstruction, features)


def _centre(feature_map: torch.Tensor) -> torch.Tensor:
    """Mean of the central 2^d voxels of a feature map [n, F, *spatial] -> [n, F]."""
    index = tuple(slice(s // 2 - 1, s // 2 + 1) for s in feature_map.shape[2:])
    region = feature_map[(slice(None), slice(None), *index)]
    return region.flatten(2).mean(dim=2)


def network_input(patches: torch.Tensor, scale: ScaleConfig) -> torch.Tensor:
    """Sampled patches [n, D, H, W] as network input: one channel for 3D, slices as channels for 2.5D."""
    return patches.unsqueeze(1) if scale.variant == "3d" else patches
