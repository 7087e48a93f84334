"""The embedding network run by ONNX Runtime: the product's default inference path, without importing torch.

The registered torch weights are exported to ONNX by `python -m SPECTFewShotLib.research.protonet_training.export_onnx`
(DenseEmbedding.embed traced; the .onnx file is registered with its SHA-256 as task `protonet-onnx`, naming the
weights it is the export of and their SHA-256). Importing ONNX Runtime takes a fraction of a second where torch takes
seconds, which is most of what ProtoNet cost a `classify` process (docs/decisions.md, "Inference runtime for the
embedding"). Training, research and user-given .pt weights stay with torch (embedding.py, model_store.py).

The exported graph takes the slabs [B, 3, H, W] and a tensor whose last two dimensions are the size the trunk sees
them resized to (`trunk_like`, all zeros; its shape is what is read), so one graph serves every voxel size.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import numpy as np

from ..errors import ModelError
from ..models.registry import ModelEntry, find_export, read_verified
from .embedding_config import EmbeddingConfig, trunk_size

TASK = "protonet-onnx"
INPUTS = ("slabs", "trunk_like")
OUTPUT = "embedding"
RUNTIMES = ("auto", "onnxruntime", "torch")


@dataclass(frozen=True)
class RuntimeDevice:
    """Where a network that is not torch's runs (the `type` a torch.device has: "cpu")."""

    type: str = "cpu"

    def __str__(self) -> str:
        return self.type


def onnxruntime_available() -> bool:
    """Whether ONNX Runtime can be imported (checked without importing it)."""
    return importlib.util.find_spec("onnxruntime") is not None


def cpu_workers() -> int:
    """CPU cores this process may use (the number of slice batches embedded side by side)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def is_weights_file(model: Optional[str]) -> bool:
    """Whether `model` names a weights file (a path or a .pt/.pth name) rather than a registered id."""
    return model is not None and (os.sep in model or "/" in model or model.endswith((".pt", ".pth")))


def runs_on_onnxruntime(model: Optional[str], device: str, runtime: str) -> bool:
    """Whether these choices let ONNX Runtime run the network: not `runtime` "torch", not a CUDA device, registered
    weights (not a file) and ONNX Runtime installed (whether the weights have a current export is checked when they
    load, and "auto" falls back to torch without one)."""
    cuda = (device or "auto").lower().startswith("cuda")
    return runtime != "torch" and not cuda and not is_weights_file(model) and onnxruntime_available()


class OnnxEmbedding:
    """The exported embedding in an ONNX Runtime session: slabs [B, 3, H, W] -> embeddings [B, dim, H, W]."""

    def __init__(self, model_bytes: bytes, config: EmbeddingConfig, temperature: float, name: str = "") -> None:
        """A CPU session on verified ONNX bytes, one thread per run (runs are spread over Python threads)."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # ONNX Runtime raises its own exception types for a damaged graph
            raise ModelError(f"the ONNX embedding {name} cannot be loaded ({str(error).splitlines()[0][:120]})"
                             ) from None
        self.config = config
        self.temperature = float(temperature)

    def embed_slabs(self, slabs: np.ndarray, trunk_scale: float) -> np.ndarray:
        """Embeddings [B, dim, H, W] (float32) of slabs [B, 3, H, W] whose trunk sees them resized by
        `trunk_scale` (not resized within 1e-3 of 1, as DenseEmbedding.forward)."""
        size = tuple(slabs.shape[-2:])
        if abs(trunk_scale - 1.0) > 1e-3:
            size = trunk_size(size, trunk_scale)
        like = np.zeros((1, 1, *size), dtype=np.float32)
        return self.session.run([OUTPUT], {INPUTS[0]: np.ascontiguousarray(slabs, dtype=np.float32),
                                           INPUTS[1]: like})[0]

    @contextlib.contextmanager
    def parallel(self) -> Iterator[int]:
        """How many slice batches to embed side by side (each session run is single-threaded)."""
        yield cpu_workers()


def load_onnx_embedding(source_id: Optional[str] = None) -> tuple[OnnxEmbedding, ModelEntry]:
    """The ONNX export of the registered torch weights `source_id` (None: the default), verified against both
    SHA-256s; a ModelError when there is none or it is not the export of the weights registered now."""
    export, source = find_export(TASK, "protonet", source_id)
    data = read_verified(export)
    config = dict(export.config)
    temperature = config.pop("temperature", None)
    if temperature is None:
        raise ModelError(f"the ONNX embedding {export.id} carries no temperature: export it again")
    return OnnxEmbedding(data, EmbeddingConfig.from_dict(config), float(temperature), export.id), source


def has_onnx_export(source_id: Optional[str] = None) -> bool:
    """Whether the registered weights `source_id` (None: the default) have a registered, current ONNX export."""
    try:
        find_export(TASK, "protonet", source_id)
    except ModelError:
        return False
    return True


def describe(network: Any) -> str:
    """'onnxruntime' or 'torch': which runtime runs this network."""
    return "onnxruntime" if isinstance(network, OnnxEmbedding) else "torch"
