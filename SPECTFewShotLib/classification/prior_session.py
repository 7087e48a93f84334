"""The live few-shot API: set the volume once, then update the painted support and classify again at every stroke.

    session = FewShotSession()                  # default shipped weights, device "auto"
    session.set_volume(volume, progress, cancel)  # embeddings computed once and cached
    session.set_support(painted)                  # a Segmentation on the volume's grid, >= 2 classes
    result = session.predict()                    # milliseconds to a fraction of a second: no network pass

Label values are whatever the user painted and names and colors pass through to the result.

The network runs once per volume, by ONNX Runtime when the weights have a registered ONNX export and ONNX Runtime is
installed (the default on the CPU: no torch import), else by torch (`runtime="torch"`, user-given .pt weights,
`device="cuda"`, an in-memory network); both give the same embeddings to ~1e-5. Everything after the network
(prototypes, probabilities, components, interpolation) is numpy.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Optional

import numpy as np

from ..errors import InputError, ModelError
from ..io.segmentation_io import Segmentation
from ..io.volume_io import require_counts
from ..protonet.embedding_config import trunk_scale_for
from ..protonet.features import FeatureGrid, choose_stride, compute_features
from ..protonet.normalization import normalize_counts
from ..protonet.onnx_embedding import (
    RUNTIMES,
    RuntimeDevice,
    cpu_workers,
    describe,
    is_weights_file,
    runs_on_onnxruntime,
)
from ..protonet.prototypes import (
    Prototypes,
    build_prototypes,
    classes_missing,
    column_probabilities,
    normalize_rows,
)
from ..protonet.refinement import apply_paint, keep_connected_to_paint
from ..protonet.spatial_prior import SpatialPrior, apply_prior
from ..protonet.support import PaintedSupport, check_support, paint_boundaries
from ..protonet.support import class_index_map as _class_index_map
from ..protonet.support import painted_voxels as _painted_voxels
from ..runtime.progress import CancelToken, ProgressCallback, report
from ..runtime.threads import one_blas_thread
from ..volume import Volume
from .result import ClassificationResult

log = logging.getLogger(__name__)

# Above this many voxels the embeddings live on a grid of blocks of 2^3 (or 4^3) voxels and the class
# probabilities are interpolated back to the voxels, to keep the feature pass and re-classification interactive.
MAX_FEATURE_CELLS = 1_100_000
DEFAULT_PRIOR = SpatialPrior()  # the shape prior from the painted slices, on by default (spatial_prior.py)


class FewShotSession:
    """One volume's cached embeddings, classified again from every new support without another network pass."""

    def __init__(self, model: Optional[str] = None, device: str = "auto", refine: bool = True,
                 max_feature_cells: int = MAX_FEATURE_CELLS, network: Any = None,
                 spatial_prior: Optional[SpatialPrior] = DEFAULT_PRIOR, runtime: str = "auto") -> None:
        """`network`: an in-memory DenseEmbedding (run by torch) or a features.SlabEmbedder instead of registered
        weights; `runtime`: "auto" (ONNX Runtime where it can run these weights, else torch), "onnxruntime" or
        "torch"."""
        self.network, self.model_entry, self.device = load_network(model, device, network, runtime)
        self.runtime = describe(self.network)
        self.refine = refine
        self.spatial_prior = spatial_prior  # None: the classifier alone
        self.max_feature_cells = int(max_feature_cells)
        self.feature_computations = 0  # how often a volume went through the network (for tests and logs)
        self._volume: Optional[Volume] = None
        self._grid: Optional[FeatureGrid] = None
        self._features: Optional[np.ndarray] = None  # [D, cells] float32
        self._support: Optional[PaintedSupport] = None

    @property
    def volume(self) -> Optional[Volume]:
        """The volume whose embeddings are cached (None before set_volume)."""
        return self._volume

    def set_volume(self, volume: Volume, progress: Optional[ProgressCallback] = None,
                   cancel: Optional[CancelToken] = None) -> None:
        """Compute and cache the volume's embeddings; a cancelled or failed call leaves the session as it was."""
        require_counts(volume, "the volume")
        started = time.perf_counter()
        report(progress, 0.0, "normalising counts", cancel)
        grid = FeatureGrid(tuple(volume.array.shape), choose_stride(volume.array.shape, self.max_feature_cells))
        cells = grid.pool(normalize_counts(volume.array))
        scale = trunk_scale_for(grid.stride * float(np.sqrt(volume.spacing[0] * volume.spacing[1])))
        features = compute_features(self.network, cells, scale, progress, cancel)
        if self.network.config.metric == "cosine":
            features = normalize_rows(features, axis=0)
        self._volume, self._grid, self._features, self._support = volume, grid, features, None
        self.feature_computations += 1
        log.debug("features of %s voxels (stride %d) in %.2f s", volume.size, grid.stride,
                  time.perf_counter() - started)

    def set_support(self, support: Segmentation) -> None:
        """Set the painted support (checked against the volume's grid; at least two painted classes)."""
        if self._volume is None:
            raise InputError("set the volume before the painted support")
        self._support = check_support(support, self._volume)

    def predict(self) -> ClassificationResult:
        """Classify every voxel from the current support and the cached embeddings."""
        if self._volume is None or self._support is None or self._features is None or self._grid is None:
            raise InputError("set the volume and paint a support before classifying")
        support, grid = self._support, self._grid
        painted = _class_index_map(support)
        where = _painted_voxels(painted, support.slices)
        painted_cells = painted if grid.stride == 1 else _cell_paint(painted, where, grid)
        probabilities = self.cell_probabilities(painted, where)
        if self.spatial_prior is not None:
            spacing = tuple(s * grid.stride for s in self._volume.spacing)
            apply_prior(probabilities, painted_cells, spacing, self.spatial_prior)
        apply_paint(probabilities, painted_cells)
        refine = keep_connected_to_paint if self.refine else _argmax
        cell_labels = refine(probabilities, painted_cells).astype(np.int16)  # small: faster to expand
        indices = grid.voxel_labels(probabilities, cell_labels)
        if grid.stride > 1:
            indices[tuple(where.T)] = painted[tuple(where.T)]
        values = np.asarray(support.class_labels, dtype=np.int32)[indices]
        labels = Segmentation(self._volume.with_array(values), support.segments)
        log.debug("classified %d classes on a stride-%d grid", len(support.class_labels), grid.stride)
        if grid.stride == 1:
            return ClassificationResult(labels, support.class_labels, support.class_names, probabilities)

        def voxel_probabilities() -> np.ndarray:
            upsampled = grid.to_voxels(probabilities)
            apply_paint(upsampled, painted)
            return upsampled

        return ClassificationResult(labels, support.class_labels, support.class_names,
                                    make_probabilities=voxel_probabilities)

    @property
    def grid(self) -> Optional[FeatureGrid]:
        """The grid the cached embeddings live on (None before set_volume)."""
        return self._grid

    def cell_probabilities(self, painted: np.ndarray, where: np.ndarray) -> np.ndarray:
        """Class probabilities [C, k', j', i'] (float32) on the feature grid, for painted class indices [k, j, i]
        (-1 = unpainted) whose painted voxels are `where` (n, 3)."""
        return self.grid_probabilities(self.prototypes(painted, where))

    def grid_probabilities(self, prototypes: Prototypes, workers: Optional[int] = None) -> np.ndarray:
        """Class probabilities [C, k', j', i'] (float32) of every cell of the feature grid against `prototypes`, on
        `workers` threads (default: the process's cores)."""
        assert self._features is not None and self._grid is not None
        probabilities = column_probabilities(self._features, prototypes, self.network.temperature,
                                             self.network.config.metric,
                                             workers=cpu_workers() if workers is None else workers)
        return probabilities.reshape(prototypes.n_classes, *self._grid.cells)

    def prototypes(self, painted: np.ndarray, where: np.ndarray, fallback: Optional[np.ndarray] = None,
                   boundary: Optional[np.ndarray] = None) -> Prototypes:
        """Prototypes from the painted voxels `where` (n, 3) of the class indices `painted` [k, j, i]; a class with
        no voxel in `where` takes its prototypes from its voxels in `fallback` (n', 3) instead; `boundary`:
        paint_boundaries(painted) when the caller has it."""
        assert self._features is not None and self._grid is not None
        n_classes = int(painted.max()) + 1
        chosen = where
        if fallback is not None and len(fallback):
            missing = classes_missing(painted[tuple(where.T)], painted[tuple(fallback.T)], n_classes)
            if missing.any():
                chosen = np.concatenate([where, fallback[missing]])
        classes = painted[tuple(chosen.T)].astype(np.int64)
        boundary = paint_boundaries(painted) if boundary is None else boundary
        return build_prototypes(self.embedding_columns(chosen).T, classes, n_classes, boundary[tuple(chosen.T)])

    def embedding_columns(self, voxels: np.ndarray) -> np.ndarray:
        """The embedding [D, n] (float32) of the voxels (n, 3) [k, j, i]: their cells' columns."""
        assert self._features is not None and self._grid is not None
        return self._features[:, self._grid.cell_index(voxels)]

    def principal_channels(self, count: int) -> np.ndarray:
        """The embedding's first `count` principal components [count, k, j, i] (float32) at every voxel: what the
        network sees in the volume, reduced, without any paint."""
        assert self._features is not None and self._grid is not None
        features = self._features
        with one_blas_thread():
            sample = features[:, :: max(1, features.shape[1] // 20_000)]
            mean = sample.mean(1, keepdims=True)
            centred = sample - mean
            _, vectors = np.linalg.eigh(centred @ centred.T)  # ascending eigenvalues of the D x D covariance
            leading = np.ascontiguousarray(vectors[:, -count:][:, ::-1].T, dtype=np.float32)
            components = (leading @ features - leading @ mean).reshape(count, *self._grid.cells)
        return np.ascontiguousarray(self._grid.to_voxels(components), dtype=np.float32)

    def probabilities_at(self, prototypes: Prototypes, voxels: np.ndarray) -> np.ndarray:
        """Class probabilities [C, n] (float32) of the voxels (n, 3) [k, j, i] against `prototypes` (on a coarse
        grid, the cells' probabilities interpolated trilinearly to the voxels, as the whole-volume answer is)."""
        assert self._features is not None and self._grid is not None
        grid = self._grid
        temperature, metric = self.network.temperature, self.network.config.metric
        if grid.stride == 1:
            columns = self._features[:, grid.cell_index(voxels)]
            return column_probabilities(columns, prototypes, temperature, metric)
        corners, weights = grid.interpolation_corners(voxels)
        unique, inverse = np.unique(np.concatenate(corners), return_inverse=True)
        columns = self._features[:, unique]
        values = column_probabilities(columns, prototypes, temperature, metric)[:, inverse.ravel()]
        values = values.reshape(values.shape[0], len(corners), len(voxels))
        return np.einsum("cqn,qn->cn", values, np.stack(weights)).astype(np.float32)

def load_network(model: Optional[str] = None, device: str = "auto", network: Any = None, runtime: str = "auto"
                 ) -> tuple[Any, Any, Any]:
    """The embedding network as a features.SlabEmbedder, its registered model entry (None for an in-memory one)
    and its device (`.type` "cpu" or "cuda").

    ONNX Runtime (CPU) runs the registered weights' ONNX export when `runtime` is "auto" or "onnxruntime", the
    device is not CUDA, the weights are a registry id (or the default) with a current export, and ONNX Runtime is
    installed; "auto" falls back to torch otherwise, with the same results.
    """
    if runtime not in RUNTIMES:
        raise InputError(f"unknown runtime '{runtime}'; choose one of {', '.join(RUNTIMES)}")
    if network is not None:
        if hasattr(network, "embed_slabs"):
            return network, None, getattr(network, "device", RuntimeDevice())
        return _torch_network(None, device, network)
    if runtime == "onnxruntime":
        cuda = (device or "auto").lower().startswith("cuda")
        if cuda or is_weights_file(model):
            raise InputError("ONNX Runtime runs the registered weights on the CPU; use --runtime torch for "
                             + ("CUDA" if cuda else "a weights file"))
        if not runs_on_onnxruntime(model, device, runtime):  # the CPU and registered weights: not installed
            raise InputError("ONNX Runtime is not installed: `pip install onnxruntime`, or use --runtime torch")
    if runs_on_onnxruntime(model, device, runtime):
        from ..protonet.onnx_embedding import load_onnx_embedding

        try:
            embedder, entry = load_onnx_embedding(model)
            return embedder, entry, RuntimeDevice("cpu")
        except ModelError as error:
            if runtime == "onnxruntime":
                raise
            log.info("ProtoNet runs in torch: %s", error)
    return _torch_network(model, device, None)


def _torch_network(model: Optional[str], device: str, network: Any) -> tuple[Any, Any, Any]:
    """The torch path: registered or user-given weights (or an in-memory DenseEmbedding) on the device."""
    from ..protonet.embedding import TorchSlabEmbedder
    from ..protonet.model_store import load_embedding
    from ..runtime.device import resolve_device

    resolved = resolve_device(device)
    entry = None
    if network is None:
        network, entry = load_embedding(model, resolved)
    return TorchSlabEmbedder(network, resolved), entry, resolved


def _argmax(probabilities: np.ndarray, _painted: np.ndarray) -> np.ndarray:
    """The most probable class of every cell (no refinement)."""
    return probabilities.argmax(0)


def _cell_paint(painted: np.ndarray, where: np.ndarray, grid: FeatureGrid) -> np.ndarray:
    """Painted class indices on the feature grid: a cell holding painted voxels takes one of their classes."""
    cells = np.full(grid.cells, -1, dtype=painted.dtype)
    cells.reshape(-1)[grid.cell_index(where)] = painted[tuple(where.T)]
    return cells


def classify_volume(volume: Volume, support: Segmentation, model: Optional[str] = None, device: str = "auto",
                    progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None,
                    refine: bool = True, spatial_prior: Optional[SpatialPrior] = DEFAULT_PRIOR,
                    runtime: str = "auto") -> ClassificationResult:
    """Classify every voxel of `volume` from one painted support (checked before any computation)."""
    check_support(support, volume)
    session = FewShotSession(model, device, refine=refine, spatial_prior=spatial_prior, runtime=runtime)
    session.set_volume(volume, progress, cancel)
    session.set_support(support)
    result = session.predict()
    report(progress, 1.0, "classified", cancel)
    return result
