"""The first stages of ResNet-18, module for module as torchvision builds them, for loading trained weights fast.

torchvision's `resnet18` builds and initialises the trunk for training (embedding.py). Loading trained weights
overwrites every parameter, so the session builds the same modules here instead: importing torchvision costs
about 1.2 s of a classify command's 4-5 s on two cores. Names and shapes (`conv1`, `bn1`, `layerN.M.conv1`, ...,
`layerN.0.downsample.0/1`) are torchvision's, so the two are interchangeable state for state; a test checks that
they give identical outputs with the same weights.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn


class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock (expansion 1), same attribute names."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: Optional[nn.Sequential] = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv-bn-relu-conv-bn plus the (downsampled) input, then relu."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + identity)


def resnet18_stem() -> tuple[nn.Module, nn.Module, nn.Module, nn.Module]:
    """conv1, bn1, relu, maxpool of ResNet-18."""
    return (nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1))


def resnet18_stage(index: int) -> nn.Sequential:
    """layer1, layer2 or layer3 of ResNet-18 (two basic blocks; layers 2 and 3 halve the resolution)."""
    planes = 64 * 2 ** (index - 1)
    inplanes = 64 if index == 1 else planes // 2
    stride = 1 if index == 1 else 2
    return nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes))
