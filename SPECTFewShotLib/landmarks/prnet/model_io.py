"""The PRNet weights file: the coarse and the fine network of one variant together, with their settings.

Weights are stored as float16 (half the size; localisation moves by well under a millimetre) and loaded as
float32. One file holds both scales because they only work as a pair (the fine model refines the coarse model's answer,
trained on the same data): one SHA-256 then guarantees a matching pair. The state dict keys are
"coarse.<param>" and "fine.<param>"; the settings travel in the payload's "config" (and the registry entry).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import torch

from SPECTFewShotLib.errors import ModelError
from SPECTFewShotLib.landmarks.prnet.config import ScaleConfig
from SPECTFewShotLib.landmarks.prnet.network import PRNet
from SPECTFewShotLib.models.registry import ModelEntry, load_weights

SCALES = ("coarse", "fine")
TASK = "prnet"


def save_pair(models: dict[str, PRNet], path: str | os.PathLike, extra: Optional[dict[str, Any]] = None) -> Path:
    """Save coarse and fine networks (float16 state dicts and settings) in one torch file."""
    state = {f"{name}.{key}": value.detach().to(torch.float16).contiguous() for name in SCALES
             for key, value in models[name].state_dict().items()}
    config = {"scales": {name: models[name].config.to_dict() for name in SCALES}, **(extra or {})}
    torch.save({"state_dict": state, "config": config}, str(path))
    return Path(path)


def build_pair(state: dict[str, Any], config: dict[str, Any]) -> dict[str, PRNet]:
    """Rebuild the coarse and fine networks (eval mode) from a state dict and its settings."""
    scales = config.get("scales") if isinstance(config, dict) else None
    if not isinstance(scales, dict) or set(SCALES) - set(scales):
        raise ModelError("the PRNet weights do not say how the coarse and fine networks are built")
    models = {}
    for name in SCALES:
        try:
            model = PRNet(ScaleConfig.from_dict(dict(scales[name])))
            prefix = f"{name}."
            model.load_state_dict({k[len(prefix):]: v.float() for k, v in state.items() if k.startswith(prefix)})
        except (TypeError, ValueError, RuntimeError) as error:
            raise ModelError(f"the PRNet weights do not match their {name} network ({str(error)[:120]})") from None
        models[name] = model.eval()
    return models


def load_pair(model: Optional[str] = None) -> tuple[dict[str, PRNet], ModelEntry]:
    """The registered (default) PRNet pair, or one from a weights file path, verified and rebuilt."""
    state, entry = load_weights(TASK, model)
    return build_pair(state, entry.config), entry
