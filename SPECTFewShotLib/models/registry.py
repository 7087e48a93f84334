"""The model registry: shipped weights with id, task, file, SHA-256, classes, spacing, licence and model card.

`Resources/Models/registry.json` lists every shipped model. Weights are verified against their SHA-256 before
loading and loaded with `torch.load(..., weights_only=True)`: a file that was changed, truncated or replaced is
refused, and no pickled code ever runs. A user may also give the path of a weights file of their own
(for example ImageNet-initialised weights they have); it is loaded the same safe way.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..errors import ModelError
from ..io.atomic import write_text_atomic
from ..resources import RESOURCES_DIR

MODELS_DIR = RESOURCES_DIR / "Models"
REGISTRY_PATH = MODELS_DIR / "registry.json"


@dataclass(frozen=True)
class ModelEntry:
    """One registered model."""

    id: str
    task: str  # "protonet" or "prnet"
    file: str  # relative to Resources/Models
    sha256: str
    default: bool = False
    classes: list = field(default_factory=list)
    spacing_mm: Optional[float] = None
    license: str = "BSD-3-Clause"
    card: str = ""
    config: dict = field(default_factory=dict)  # architecture parameters needed to rebuild the network
    trained_with: str = ""  # the exact command that produced the weights

    @property
    def path(self) -> Path:
        """Absolute path of the weights file."""
        return MODELS_DIR / self.file


def sha256_of(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_models(task: Optional[str] = None, registry_path: Path = REGISTRY_PATH) -> list[ModelEntry]:
    """Registered models, optionally of one task."""
    if not registry_path.exists():
        return []
    try:
        document = json.loads(registry_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ModelError(f"the model registry {registry_path.name} is damaged ({error.msg})") from None
    entries = [ModelEntry(**item) for item in document.get("models", [])]
    return [e for e in entries if task is None or e.task == task]


def find_model(task: str, model: Optional[str] = None, registry_path: Path = REGISTRY_PATH) -> ModelEntry:
    """The registered model with this id (or the task's default when `model` is None)."""
    entries = list_models(task, registry_path)
    if model is None:
        defaults = [e for e in entries if e.default] or entries
        if not defaults:
            raise ModelError(f"no {task} model is registered; train one with `spectfewshot train {task}`")
        return defaults[0]
    for entry in entries:
        if entry.id == model:
            return entry
    known = ", ".join(e.id for e in entries) or "none"
    raise ModelError(f"unknown {task} model '{model}' (registered: {known}); or give the path of a weights file")


def load_weights(task: str, model: Optional[str] = None, registry_path: Path = REGISTRY_PATH
                 ) -> tuple[dict[str, Any], ModelEntry]:
    """Load a model's state dict, verified: a registry id (or default), or a path to the user's own .pt file."""
    import torch

    if model is not None and (os.sep in model or model.endswith((".pt", ".pth"))):
        path = Path(model)
        if not path.exists():
            raise ModelError(f"weights file {path} not found")
        entry = ModelEntry(id=path.stem, task=task, file=str(path.resolve()), sha256=sha256_of(path))
    else:
        entry = find_model(task, model, registry_path)
        path = entry.path if registry_path == REGISTRY_PATH else registry_path.parent / entry.file
        if not path.exists():
            raise ModelError(f"weights file {entry.file} of model '{entry.id}' is missing from the installation")
        actual = sha256_of(path)
        if actual != entry.sha256:
            raise ModelError(f"weights file {entry.file} does not match its registered SHA-256 "
                             f"(damaged or replaced); reinstall the extension")
    try:
        payload = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:
        raise ModelError(f"cannot load weights {path.name}: {str(error).splitlines()[0][:160]}") from None
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict):
        raise ModelError(f"{path.name} does not hold a state dict")
    if isinstance(payload, dict) and "config" in payload and not entry.config:
        entry = ModelEntry(**{**asdict(entry), "config": dict(payload["config"])})
    return state, entry


def register_model(entry: ModelEntry, registry_path: Path = REGISTRY_PATH) -> None:
    """Add or replace a model in the registry (atomically); a new default demotes the task's old default."""
    entries = [e for e in list_models(None, registry_path) if e.id != entry.id]
    if entry.default:
        entries = [ModelEntry(**{**asdict(e), "default": False}) if e.task == entry.task else e for e in entries]
    entries.append(entry)
    entries.sort(key=lambda e: (e.task, e.id))
    document = {"models": [asdict(e) for e in entries]}
    write_text_atomic(registry_path, json.dumps(document, indent=2) + "\n")
