"""PRNet's two self-supervised losses: relative position through R ⊙ tanh, and masked reconstruction."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def predicted_offset_mm(p0: torch.Tensor, p1: torch.Tensor, range_mm: torch.Tensor) -> torch.Tensor:
    """Predicted offset c0 − c1 in mm: R ⊙ tanh(p(x0) − p(x1))."""
    return range_mm * torch.tanh(p0 - p1)


def distance_loss(p0: torch.Tensor, p1: torch.Tensor, offset_mm: torch.Tensor, range_mm: torch.Tensor
                  ) -> torch.Tensor:
    """L_dis: MSE between R ⊙ tanh(p0 − p1) and the true offset, both divided by R (unit-free, axis-balanced)."""
    return F.mse_loss(predicted_offset_mm(p0, p1, range_mm) / range_mm, offset_mm / range_mm)


def reconstruction_loss(reconstruction: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """L_rec: MSE between the reconstruction of the masked input and the unmasked patch."""
    return F.mse_loss(reconstruction, original)
