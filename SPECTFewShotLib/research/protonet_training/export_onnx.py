"""Export registered ProtoNet weights to ONNX for the product's ONNX Runtime path, and register the export.

    python -m SPECTFewShotLib.research.protonet_training.export_onnx [--model protonet-spect-v2]

DenseEmbedding.embed is traced (opset 17) with the slabs' batch and in-plane sizes dynamic and the trunk's input size
read from a second input's shape (protonet/onnx_embedding.py), checked against torch on slabs of three voxel sizes
(largest difference at most 1e-4), written to Resources/Models/<id>.onnx and registered as task `protonet-onnx` with
its SHA-256, the id and SHA-256 of the weights it is the export of, and their temperature. Needs the `onnx` package
(the research extra) besides torch; the product needs only ONNX Runtime to run the file.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import warnings
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from SPECTFewShotLib.models.registry import MODELS_DIR, ModelEntry, register_model
from SPECTFewShotLib.protonet.embedding import DenseEmbedding
from SPECTFewShotLib.protonet.model_store import load_embedding
from SPECTFewShotLib.protonet.onnx_embedding import INPUTS, OUTPUT, TASK, OnnxEmbedding

OPSET = 17
TOLERANCE = 1e-4
CHECKS = ((4, 64, 64, 2.27), (3, 70, 70, 1.0), (2, 50, 40, 0.8))  # slabs, height, width, trunk scale


class _Traced(torch.nn.Module):
    """The embedding with the trunk's input size read from `trunk_like`'s shape (what the export traces)."""

    def __init__(self, network: DenseEmbedding) -> None:
        super().__init__()
        self.network = network

    def forward(self, slabs: torch.Tensor, trunk_like: torch.Tensor) -> torch.Tensor:
        return self.network.embed(slabs, trunk_like.shape[-2:])


def export_bytes(network: DenseEmbedding) -> bytes:
    """The network's ONNX graph (float32 weights) as bytes."""
    network = network.float().eval()
    slabs, like = torch.rand(2, 3, 53, 47), torch.zeros(1, 1, 121, 107)  # sizes in no simple ratio
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: dynamic sizes, no onnxscript
        torch.onnx.export(_Traced(network).eval(), (slabs, like), buffer, input_names=list(INPUTS),
                          output_names=[OUTPUT],
                          dynamic_axes={INPUTS[0]: {0: "slabs", 2: "height", 3: "width"},
                                        INPUTS[1]: {2: "trunk_height", 3: "trunk_width"},
                                        OUTPUT: {0: "slabs", 2: "height", 3: "width"}},
                          opset_version=OPSET, dynamo=False)
    return buffer.getvalue()


def largest_difference(network: DenseEmbedding, exported: OnnxEmbedding, seed: int = 0) -> float:
    """The largest absolute difference between torch's and ONNX Runtime's embeddings of random slabs (CHECKS)."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for batch, height, width, scale in CHECKS:
        slabs = (rng.random((batch, 3, height, width)) * 1.5).astype(np.float32)
        with torch.inference_mode():
            reference = network(torch.from_numpy(slabs), trunk_scale=scale).numpy()
        worst = max(worst, float(np.abs(exported.embed_slabs(slabs, scale) - reference).max()))
    return worst


def export_registered(model: Optional[str] = None, command: str = "") -> tuple[ModelEntry, float]:
    """Export the registered weights `model` (None: the default), check and register the export; its entry and the
    largest difference to torch."""
    network, source = load_embedding(model, "cpu")
    data = export_bytes(network)
    exported = OnnxEmbedding(data, network.config, network.temperature, source.id)
    difference = largest_difference(network, exported)
    if difference > TOLERANCE:
        raise SystemExit(f"error: the ONNX export differs from torch by {difference:.2e} (> {TOLERANCE:g})")
    path = MODELS_DIR / f"{source.id}.onnx"
    path.write_bytes(data)
    entry = ModelEntry(id=f"{source.id}-onnx", task=TASK, file=path.name, sha256=hashlib.sha256(data).hexdigest(),
                       default=source.default, classes=list(source.classes), spacing_mm=source.spacing_mm,
                       license=source.license, card=source.card,
                       config={**network.config.to_dict(), "temperature": network.temperature,
                               "source_sha256": source.sha256},
                       trained_with=command, exported_from=source.id)
    register_model(entry)
    return entry, difference


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse the arguments, export, print what was written."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="registered ProtoNet model id (default: the default one)")
    args = parser.parse_args(argv)
    command = "python -m SPECTFewShotLib.research.protonet_training.export_onnx" + (
        f" --model {args.model}" if args.model else "")
    entry, difference = export_registered(args.model, command)
    sys.stdout.write(f"wrote {Path(MODELS_DIR) / entry.file} ({entry.sha256[:12]}), registered {entry.id} as "
                     f"the export of {entry.exported_from}; largest difference to torch {difference:.1e}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
