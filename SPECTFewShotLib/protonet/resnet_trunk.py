"""The first stages of ResNet-18, module for module and draw for draw as torchvision builds them, without torchvision.

Names and shapes (`conv1`, `bn1`, `layerN.M.conv1`, ..., `layerN.0.downsample.0/1`) are torchvision's, so a
torchvision ResNet-18 state dict (ImageNet weights, say) loads into the trunk and the trunk's state loads into a
torchvision ResNet-18. `resnet18_trunk(depth, initialise=True)` also initialises the trunk as torchvision's
`resnet18(weights=None)` does: every convolution Kaiming-normal (fan-out, ReLU gain), every batch norm weight 1 and
bias 0, and the stages the trunk drops (`layer4`) and the classifier (`fc`) are built and discarded so that the
random number generator ends where torchvision leaves it; with the same seed both give the same tensors and the
modules built after the trunk draw the same numbers. Loading trained weights overwrites every parameter, so
inference builds the trunk with `initialise=False` and skips those draws.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

RESNET18_STAGES = 4
RESNET18_CLASSES = 1000


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
    """layer1 .. layer4 of ResNet-18 (two basic blocks; layers 2 to 4 halve the resolution)."""
    planes = 64 * 2 ** (index - 1)
    inplanes = 64 if index == 1 else planes // 2
    stride = 1 if index == 1 else 2
    return nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes))


def resnet18_trunk(depth: int, initialise: bool = True
                   ) -> tuple[tuple[nn.Module, nn.Module, nn.Module, nn.Module], list[nn.Sequential]]:
    """The stem and the first `depth` stages of ResNet-18; `initialise` as torchvision's `resnet18(weights=None)`."""
    stem = resnet18_stem()
    stages = [resnet18_stage(index) for index in range(1, depth + 1)]
    if initialise:
        discarded = [resnet18_stage(index) for index in range(depth + 1, RESNET18_STAGES + 1)]
        discarded.append(nn.Linear(512, RESNET18_CLASSES))
        for part in (*stem, *stages, *discarded):
            _initialise_like_torchvision(part)
    return stem, stages


def _initialise_like_torchvision(module: nn.Module) -> None:
    """torchvision ResNet's initialisation, applied to the module and its children in registration order."""
    for child in module.modules():
        if isinstance(child, nn.Conv2d):
            nn.init.kaiming_normal_(child.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(child, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(child.weight, 1)
            nn.init.constant_(child.bias, 0)
