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

import contextlib
from typing import Any, Iterator, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ModelError
from .embedding_config import (  # noqa: F401 (the configuration's names, where they were before)
    INPUT_MEAN,
    INPUT_STD,
    METRICS,
    TRUNK_SCALE_RANGE,
    WORKING_PIXEL_MM,
    EmbeddingConfig,
    trunk_scale_for,
    trunk_size,
)
from .resnet_trunk import resnet18_trunk

TRUNK_CHANNELS = (64, 128, 256)
TRUNK_PREFIXES = ("conv1.", "bn1.", "layer1.", "layer2.", "layer3.")


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
        size = None
        if abs(trunk_scale - 1.0) > 1e-3:
            size = trunk_size(tuple(slabs.shape[-2:]), trunk_scale)
        return self.embed(slabs, size)

    def embed(self, slabs: torch.Tensor, trunk_size: Optional[Sequence[Any]] = None) -> torch.Tensor:
        """Embed slabs [B, 3, H, W] -> [B, dim, H, W], the trunk seeing them resized to `trunk_size` (height,
        width; None: as they are). The ONNX export calls this with sizes read from a tensor's shape."""
        x = (slabs - INPUT_MEAN) / INPUT_STD
        height, width = x.shape[-2:]
        trunk_input = x
        if trunk_size is not None:
            trunk_input = F.interpolate(x, size=trunk_size, mode="bilinear", align_corners=False)
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


class TorchSlabEmbedder:
    """DenseEmbedding as a features.SlabEmbedder: numpy slabs in, numpy embeddings out, on a torch device."""

    def __init__(self, network: DenseEmbedding, device: torch.device | str = "cpu") -> None:
        """The network (put in eval mode on `device`)."""
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()
        self.config = network.config

    @property
    def temperature(self) -> float:
        """The network's distance temperature."""
        return self.network.temperature

    def embed_slabs(self, slabs: np.ndarray, trunk_scale: float) -> np.ndarray:
        """Embeddings [B, dim, H, W] (float32) of slabs [B, 3, H, W], without gradients."""
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(slabs, dtype=np.float32)).to(self.device)
            return self.network(x, trunk_scale=trunk_scale).float().cpu().numpy()

    @contextlib.contextmanager
    def parallel(self) -> Iterator[int]:
        """On the CPU, as many single-threaded batches side by side as torch has threads (see one_thread)."""
        from ..runtime.threads import one_thread

        workers = torch.get_num_threads() if self.device.type == "cpu" else 1
        if workers <= 1:
            yield 1
            return
        with one_thread():
            yield workers
