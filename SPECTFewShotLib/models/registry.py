"""The model registry: shipped weights with id, task, file, SHA-256, classes, spacing, licence and model card.

`Resources/Models/registry.json` lists every shipped model. Weights are verified against their SHA-256 before
loading and loaded with `torch.load(..., weights_only=True)`: a file that was changed, truncated or replaced is
refused, and no pickled code ever runs. Every failure is a ModelError of one line naming the file and what to do,
which the CLI prints and the Slicer module shows in a dialog. A user may also give the path of a weights file of
their own (for example ImageNet-initialised weights they have); it is loaded the same safe way.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..errors import ModelError, short_reason
from ..io.atomic import write_text_atomic
from ..resources import RESOURCES_DIR

MODELS_DIR = RESOURCES_DIR / "Models"
REGISTRY_PATH = MODELS_DIR / "registry.json"
# The tasks whose models the product runs (PRNet: the localiser's optional refinement stage, `localize --prnet`;
# protonet-onnx: the ProtoNet embedding exported to ONNX, which ONNX Runtime runs without torch).
PRODUCT_TASKS = ("protonet", "protonet-onnx", "prnet")
EXTENSION = "SPECTFewShot"


@dataclass(frozen=True)
class ModelEntry:
    """One registered model."""

    id: str
    task: str  # "protonet", "protonet-onnx" or "prnet"
    file: str  # relative to Resources/Models
    sha256: str
    default: bool = False
    classes: list = field(default_factory=list)
    spacing_mm: Optional[float] = None
    license: str = "BSD-3-Clause"
    card: str = ""
    config: dict = field(default_factory=dict)  # architecture parameters needed to rebuild the network
    trained_with: str = ""  # the exact command that produced the weights
    exported_from: str = ""  # an export (ONNX): the id of the registered weights it was exported from

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


def list_models(task: Optional[str] = None, registry_path: Optional[Path] = None) -> list[ModelEntry]:
    """Registered models, optionally of one task."""
    registry_path = registry_path or REGISTRY_PATH
    if not registry_path.exists():
        return []
    try:
        document = json.loads(registry_path.read_text(encoding="utf-8"))
        entries = [ModelEntry(**item) for item in document.get("models", [])]
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError) as error:
        reason = error.msg if isinstance(error, json.JSONDecodeError) else "an entry is not a model description"
        raise ModelError(f"the model registry {registry_path} is damaged ({reason}); "
                         f"reinstall the {EXTENSION} extension") from None
    return [e for e in entries if task is None or e.task == task]


def shipped_models(registry_path: Optional[Path] = None) -> list[ModelEntry]:
    """The models the Slicer extension ships: the default of each task the product runs (the research bench's
    models and superseded versions stay in the repository for training and evaluation)."""
    return [find_model(task, None, registry_path) for task in PRODUCT_TASKS]


def find_model(task: str, model: Optional[str] = None, registry_path: Optional[Path] = None) -> ModelEntry:
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


def read_verified(entry: ModelEntry, registry_path: Optional[Path] = None) -> bytes:
    """The bytes of a registered model's file, checked against its SHA-256 (a ModelError of one line otherwise)."""
    path = (registry_path or REGISTRY_PATH).parent / entry.file
    remedy = f"reinstall the {EXTENSION} extension"
    data = _read_weights(path, f"weights file {path} of model '{entry.id}'", remedy)
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        raise ModelError(f"weights file {path} does not match its registered SHA-256 (damaged, truncated or "
                         f"replaced): {remedy}")
    return data


def find_export(task: str, source_task: str, source_id: Optional[str] = None, registry_path: Optional[Path] = None
                ) -> tuple[ModelEntry, ModelEntry]:
    """The registered export (of `task`) of the registered weights `source_id` of `source_task` (None: its
    default), and those weights' entry; a ModelError when there is none, or when it was exported from other bytes
    than the weights registered now (its config's `source_sha256`)."""
    source = find_model(source_task, source_id, registry_path)
    exports = [e for e in list_models(task, registry_path) if e.exported_from == source.id]
    if not exports:
        raise ModelError(f"model '{source.id}' has no registered {task} export")
    export = exports[0]
    if export.config.get("source_sha256") != source.sha256:
        raise ModelError(f"{export.id} was exported from other weights than the registered '{source.id}': "
                         "export it again")
    return export, source


def load_weights(task: str, model: Optional[str] = None, registry_path: Optional[Path] = None
                 ) -> tuple[dict[str, Any], ModelEntry]:
    """Load a model's state dict, verified: a registry id (or default), or a path to the user's own .pt file.

    The file is read once; the bytes that are hashed are the bytes that are loaded (a file replaced in between
    cannot slip through), and they are loaded with `weights_only=True` (tensors and plain containers, no code).
    """
    registry_path = registry_path or REGISTRY_PATH
    if model is not None and (os.sep in model or "/" in model or model.endswith((".pt", ".pth"))):
        path = Path(model)
        data = _read_weights(path, f"weights file {path}", "check the path")
        entry = ModelEntry(id=path.stem, task=task, file=str(path.resolve()), sha256=hashlib.sha256(data).hexdigest())
        remedy = f"give a weights file made by `spectfewshot train {task}`"
    else:
        entry = find_model(task, model, registry_path)
        path = registry_path.parent / entry.file
        remedy = f"reinstall the {EXTENSION} extension"
        data = read_verified(entry, registry_path)
    payload = _load_payload(data, path, remedy)
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict) or not state or not all(
            isinstance(key, str) and _is_tensor(value) for key, value in state.items()):
        raise ModelError(f"{path} holds no weights (a state dict of named tensors): {remedy}")
    config = payload.get("config") if isinstance(payload, dict) else None
    if config is not None and not isinstance(config, dict):
        raise ModelError(f"{path} carries a damaged network description: {remedy}")
    if config and not entry.config:
        entry = ModelEntry(**{**asdict(entry), "config": dict(config)})
    return state, entry


def _read_weights(path: Path, what: str, remedy: str) -> bytes:
    """The bytes of a weights file, or one line saying why it cannot be read."""
    if not path.exists():
        raise ModelError(f"{what} is missing: {remedy}")
    try:
        return path.read_bytes()
    except OSError as error:
        raise ModelError(f"{what} cannot be read ({error.strerror or short_reason(error)}): {remedy}") from None


def _load_payload(data: bytes, path: Path, remedy: str) -> Any:
    """torch.load of verified bytes with weights_only=True; a file that is not plain weights is refused."""
    import pickle

    import torch

    if not data.startswith((b"PK\x03\x04", b"\x80")):  # a torch zip archive, or a legacy pickle stream
        raise ModelError(f"{path} is not a PyTorch weights file: {remedy}")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights only" in str(error).lower():
            raise ModelError(f"{path} holds Python objects besides weights, which are never loaded: {remedy}"
                             ) from None
        raise ModelError(f"{path} is not a PyTorch weights file that can be read: {remedy}") from None
    except Exception as error:  # torch raises several types for damaged archives
        raise ModelError(f"{path} is not a PyTorch weights file that can be read ({short_reason(error)}): {remedy}"
                         ) from None


def _is_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def register_model(entry: ModelEntry, registry_path: Optional[Path] = None) -> None:
    """Add or replace a model in the registry (atomically); a new default demotes the task's old default."""
    registry_path = registry_path or REGISTRY_PATH
    entries = [e for e in list_models(None, registry_path) if e.id != entry.id]
    if entry.default:
        entries = [ModelEntry(**{**asdict(e), "default": False}) if e.task == entry.task else e for e in entries]
    entries.append(entry)
    entries.sort(key=lambda e: (e.task, e.id))
    document = {"models": [asdict(e) for e in entries]}
    write_text_atomic(registry_path, json.dumps(document, indent=2) + "\n")
