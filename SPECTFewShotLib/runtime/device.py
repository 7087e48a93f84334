"""Choosing the torch device: 'auto' falls back to the CPU; asking for CUDA where there is none is an error."""

from __future__ import annotations

import logging

from ..errors import InputError

log = logging.getLogger(__name__)
DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto"):
    """The torch.device for 'auto', 'cpu' or 'cuda' ('cuda:N' too)."""
    import torch

    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError("CUDA was requested but no CUDA GPU is available to this torch build; use --device cpu")
        return torch.device(name)
    raise InputError(f"unknown device '{name}'; choose one of {', '.join(DEVICE_CHOICES)}")
