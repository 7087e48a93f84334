"""The dense embedding network: a ResNet-18 trunk over axial slabs plus a full-resolution shallow branch.

Input: three neighbouring axial slices of normalised counts as the three channels (ResNet-18's RGB input, with
through-plane context). The trunk (resnet_trunk.py) keeps torchvision's ResNet-18 layer names, shapes (`conv1`,
`bn1`, `layer1` .. `layer3`) and initialisation without importing torchvision, so ImageNet weights load into it; it
stops after `layer3` (or earlier, `trunk_depth`), which keeps the weights small and the receptive field large enough
to see the whole heart. A feature-pyramid head brings the
stages to the stride of `layer1` (4) and projects them to `deep_dim` channels, which are then interpolated to the
output grid; a small convolutional branch on the input itself, at the output grid's resolution, adds sharp
intensity and edge features (`shallow_dim` channels). The embedding is the concatenation of both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ModelError
from .resnet_trunk import resnet18_trunk

# Normalised counts lie in [0, 3] with most tissue below 1: centre them roughly, as images are for ImageNet.
INPUT_MEAN = 0.25
INPUT_STD = 0.3
TRUNK_CHANNELS = (64, 128, 256)
TRUNK_PREFIXES = ("conv1.", "bn1.", "layer1.", "layer2.", "layer3.")
METRICS = ("euclidean", "cosine")
# The trunk works on axial slices resampled to this pixel size (SPECT resolution is 5-15 mm FWHM): its stride-4
# features are then 12 mm apart and its deepest stage (stride 16) sees the whole heart, for any voxel size.
WORKING_PIXEL_MM = 3.0
TRUNK_SCALE_RANGE = (0.5, 2.5)


def trunk_scale_for(spacing_mm: float) -> float:
    """How much to resize an axial slice of this in-plane voxel size for the trunk (clamped to 0.5-2.5)."""
    low, high = TRUNK_SCALE_RANGE
    return float(min(high, max(low, spacing_mm / WORKING_PIXEL_MM)))


@dataclass(frozen=True)
class EmbeddingConfig:
    """Architecture of the embedding network (stored with the weights)."""

    trunk_depth: int = 3  # ResNet-18 stages used: 1, 2 or 3
    head_channels: int = 64  # channels of the feature-pyramid head
    deep_dim: int = 32  # embedding channels from the trunk
    shallow_dim: int = 16  # embedding channels from the full-resolution branch
    metric: str = "euclidean"  # distance between embeddings and prototypes

    def __post_init__(self) -> None:
        if self.trunk_depth not in (1, 2, 3):
            raise ModelError(f"trunk_depth must be 1, 2 or 3, not {self.trunk_depth}")
        if self.metric not in METRICS:
            raise ModelError(f"metric must be one of {', '.join(METRICS)}, not {self.metric!r}")
        if min(self.head_channels, self.deep_dim) < 1 or self.shallow_dim < 0:
            raise ModelError("the embedding's channel counts must be positive")

    @property
    def dim(self) -> int:
        """Number of channels of the embedding."""
        return self.deep_dim + self.shallow_dim

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain JSON-able values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> EmbeddingConfig:
        """A configuration from stored values (unknown keys are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in dict(values).items() if k in known})


class DenseEmbedding(nn.Module):
    """Per-pixel embeddings of axial slabs [B, 3, H, W] -> [B, dim, H, W]."""

    def __init__(self, config: EmbeddingConfig | None = None, for_training: bool = True) -> None:
        """A new network, initialised for training as torchvision initialises ResNet-18; `for_training=False`
        skips the initialisation when trained weights will be loaded into it."""
        super().__init__()
        self.config = config or EmbeddingConfig()
        stem, stages = resnet18_trunk(self.config.trunk_depth, initialise=for_training)
        self.conv1, self.bn1, self.relu, self.maxpool = stem
        for index, stage in enumerate(stages, start=1):
            setattr(self, f"layer{index}", stage)
        head = self.config.head_channels
        self.lateral = nn.ModuleList(nn.Conv2d(c, head, 1) for c in TRUNK_CHANNELS[: self.config.trunk_depth])
        self.deep_out = nn.Sequential(nn.BatchNorm2d(head), nn.ReLU(inplace=True),
                                      nn.Conv2d(head, self.config.deep_dim, 1))
        if self.config.shallow_dim:
            width = max(8, self.config.shallow_dim)
            self.shallow = nn.Sequential(
                nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                nn.Conv2d(width, self.config.shallow_dim, 3, padding=1),
            )
        # log of the softmax temperature applied to distances; learned in pre-training
        self.log_temperature = nn.Parameter(torch.zeros(()))

    @property
    def temperature(self) -> float:
        """The distance temperature (distances are divided by it before the softmax)."""
        return float(self.log_temperature.detach().exp())

    def stages(self) -> list[nn.Module]:
        """The ResNet-18 stages in use."""
        return [getattr(self, f"layer{i}") for i in range(1, self.config.trunk_depth + 1)]

    def forward(self, slabs: torch.Tensor, trunk_scale: float = 1.0) -> torch.Tensor:
        """Embed slabs of normalised counts [B, 3, H, W] -> [B, dim, H, W].

        The trunk sees the slabs resized by `trunk_scale` (voxel size / WORKING_PIXEL_MM), so that its strides and
        receptive fields span the same millimetres whatever the voxel size.
        """
        x = (slabs - INPUT_MEAN) / INPUT_STD
        height, width = x.shape[-2:]
        trunk_input = x
        if abs(trunk_scale - 1.0) > 1e-3:
            size = (max(16, round(x.shape[-2] * trunk_scale)), max(16, round(x.shape[-1] * trunk_scale)))
            trunk_input = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        h = self.maxpool(self.relu(self.bn1(self.conv1(trunk_input))))
        pyramid = None
        for stage, lateral in zip(self.stages(), self.lateral):
            h = stage(h)
            level = lateral(h)
            pyramid = level if pyramid is None else pyramid + F.interpolate(
                level, size=pyramid.shape[-2:], mode="bilinear", align_corners=False)
        deep = F.interpolate(self.deep_out(pyramid), size=(height, width), mode="bilinear", align_corners=False)
        if not self.config.shallow_dim:
            return deep
        return torch.cat([deep, self.shallow(x)], dim=1)


def load_imagenet_trunk(model: DenseEmbedding, state: Mapping[str, torch.Tensor]) -> list[str]:
    """Copy ImageNet ResNet-18 weights (a torchvision state dict) into the trunk; returns the keys copied."""
    own = model.state_dict()
    copied = {k: v for k, v in state.items() if k.startswith(TRUNK_PREFIXES) and k in own}
    mismatched = [k for k, v in copied.items() if tuple(v.shape) != tuple(own[k].shape)]
    if not copied or mismatched:
        raise ModelError("the weights file is not a ResNet-18 state dict (no matching trunk layers)")
    model.load_state_dict(copied, strict=False)
    return sorted(copied)
