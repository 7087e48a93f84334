"""Building the embedding network from registered (or user-given) weights, and saving trained weights compactly."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import torch

from ..errors import ModelError
from ..io.atomic import atomic_path
from ..models.registry import ModelEntry, load_weights
from .embedding import DenseEmbedding, EmbeddingConfig

TASK = "protonet"


def load_embedding(model: Optional[str] = None, device: torch.device | str = "cpu"
                   ) -> tuple[DenseEmbedding, ModelEntry]:
    """The embedding network with verified weights (registry id, the default, or a .pt path), in eval mode."""
    state, entry = load_weights(TASK, model)
    if not entry.config:
        raise ModelError(f"weights {entry.id} carry no ProtoNet configuration; train them with "
                         "`spectfewshot train protonet`")
    network = DenseEmbedding(EmbeddingConfig.from_dict(entry.config), for_training=False)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        raise ModelError(f"weights {entry.id} do not fit the ProtoNet network ({str(error).splitlines()[0][:120]})"
                         ) from None
    return network.to(device).eval(), entry


def save_embedding(network: DenseEmbedding, path: str | os.PathLike, metadata: dict[str, Any] | None = None
                   ) -> Path:
    """Write the network's weights in float16 with its configuration (atomically); returns the path."""
    state = {k: v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()
             for k, v in network.state_dict().items()}
    payload = {"state_dict": state, "config": network.config.to_dict(), "metadata": dict(metadata or {})}
    with atomic_path(path) as tmp:
        torch.save(payload, str(tmp))
    return Path(path)
