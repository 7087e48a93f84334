"""The embedding network over a whole volume, slab by slab, with progress and cancellation.

Volumes up to `max_cells` voxels are embedded on their own voxel grid. A larger volume is first averaged over
blocks of stride^3 voxels (stride 2, 4, ...) and embedded on that coarser grid, whose cells are still finer than
SPECT's resolution for any clinical 128^3 study; class probabilities are then interpolated (trilinearly) back to
the voxels. This keeps the feature pass and every re-classification interactive for large volumes.

Nothing here imports torch: the network is any `SlabEmbedder` (ONNX Runtime's OnnxEmbedding, or torch's
TorchSlabEmbedder around DenseEmbedding), and the grid's pooling and interpolation are numpy.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ContextManager, Optional, Protocol

import numpy as np

from ..runtime.progress import CancelToken, ProgressCallback, report
from .embedding_config import EmbeddingConfig

SLICES_PER_BATCH = 16


@dataclass(frozen=True)
class FeatureGrid:
    """The grid the embeddings live on: the volume's voxels averaged over blocks of stride^3 (stride 1 = voxels)."""

    shape: tuple[int, int, int]  # the volume's [k, j, i]
    stride: int

    @property
    def padded(self) -> tuple[int, int, int]:
        """The volume's shape padded (by repeating its last voxels) to a multiple of the stride."""
        return tuple(math.ceil(n / self.stride) * self.stride for n in self.shape)

    @property
    def cells(self) -> tuple[int, int, int]:
        """The grid's shape [k', j', i']."""
        return tuple(n // self.stride for n in self.padded)

    def cell_index(self, voxel_index: np.ndarray) -> np.ndarray:
        """Flat cell indices of voxels given as (n, 3) [k, j, i] indices."""
        k, j, i = (np.asarray(voxel_index).T // self.stride)
        _, cj, ci = self.cells
        return (k * cj + j) * ci + i

    def pool(self, array: np.ndarray) -> np.ndarray:
        """The volume averaged over the grid's cells [k', j', i'] (float32)."""
        values = np.asarray(array, dtype=np.float32)
        if self.stride == 1:
            return values
        padding = [(0, p - n) for p, n in zip(self.padded, values.shape)]
        padded = np.pad(values, padding, mode="edge")
        s = self.stride
        kc, jc, ic = self.cells
        return padded.reshape(kc, s, jc, s, ic, s).mean(axis=(1, 3, 5), dtype=np.float32)

    def to_voxels(self, values: np.ndarray, workers: int = 2) -> np.ndarray:
        """Per-cell values [C, k', j', i'] (float32) interpolated trilinearly to the voxel grid [C, k, j, i] as one
        contiguous array (`values` itself on a voxel grid): torch's interpolate(mode="trilinear",
        align_corners=False) on the padded volume, cut to the volume's shape, by one linear pass per axis; channels
        shared among `workers` Python threads."""
        if self.stride == 1:
            return values
        values = np.asarray(values, dtype=np.float32)
        k, j, i = self.shape
        out = np.empty((values.shape[0], k, j, i), dtype=np.float32)

        def channel(c: int) -> None:
            upsampled = values[c]
            for axis in (2, 1, 0):  # the outermost axis last: its phases are written in contiguous slabs
                upsampled = _upsample_axis(upsampled, axis, self.stride)
            out[c] = upsampled[:k, :j, :i]

        if workers <= 1 or values.shape[0] == 1:
            for c in range(values.shape[0]):
                channel(c)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(channel, range(values.shape[0])))
        return out

    def voxel_labels(self, probabilities: np.ndarray, cell_labels: np.ndarray) -> np.ndarray:
        """The argmax of the trilinearly interpolated cell probabilities [C, k', j', i'] at every voxel [k, j, i]
        (the dtype of `cell_labels`).

        Where all the cells a voxel is interpolated from share one label, a convex combination keeps it, so only
        voxels in cells next to a label change are interpolated; the others take their cell's label.
        """
        if self.stride == 1:
            return cell_labels
        s = self.stride
        kc, jc, ic = cell_labels.shape
        k, j, i = self.shape
        blocks = np.empty((kc, s, jc, s, ic * s), dtype=cell_labels.dtype)  # each cell's label on its voxels:
        blocks[...] = np.repeat(cell_labels, s, axis=2)[:, None, :, None, :]  # contiguous rows copy fastest
        labels = blocks.reshape(kc * s, jc * s, ic * s)
        if labels.shape != (k, j, i):
            labels = np.ascontiguousarray(labels[:k, :j, :i])
        offsets = np.stack(np.meshgrid(*(np.arange(s),) * 3, indexing="ij"), axis=-1).reshape(-1, 3)
        voxels = (np.argwhere(label_changes_nearby(cell_labels))[:, None, :] * s + offsets[None]).reshape(-1, 3)
        voxels = voxels[(voxels < np.asarray(self.shape)).all(axis=1)]
        if len(voxels):
            labels[tuple(voxels.T)] = self.interpolate(probabilities, voxels).argmax(0)
        return labels

    def interpolation_corners(self, voxels: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The eight flat cell indices and trilinear weights (align_corners=False, as upsample) of voxels (n, 3)."""
        lows, fractions = [], []
        for axis in range(3):
            position = np.clip((voxels[:, axis] + 0.5) / self.stride - 0.5, 0, self.cells[axis] - 1)
            low = np.floor(position).astype(np.int64)
            lows.append(low)
            fractions.append((position - low).astype(np.float32))
        _, cj, ci = self.cells
        corners, weights = [], []
        for dk in (0, 1):
            for dj in (0, 1):
                for di in (0, 1):
                    k, j, i = (np.minimum(low + d, self.cells[axis] - 1)
                               for axis, (low, d) in enumerate(zip(lows, (dk, dj, di))))
                    weight = np.ones(len(voxels), dtype=np.float32)
                    for f, d in zip(fractions, (dk, dj, di)):
                        weight *= f if d else 1.0 - f
                    corners.append((k * cj + j) * ci + i)
                    weights.append(weight)
        return corners, weights

    def interpolate(self, values: np.ndarray, voxels: np.ndarray) -> np.ndarray:
        """Trilinear interpolation (align_corners=False, as upsample) of cell values [C, ...] at voxels (n, 3)."""
        flat = values.reshape(values.shape[0], -1)
        corners, weights = self.interpolation_corners(voxels)
        out = np.zeros((values.shape[0], len(voxels)), dtype=np.float32)
        for corner, weight in zip(corners, weights):
            out += flat[:, corner] * weight
        return out


def label_changes_nearby(labels: np.ndarray) -> np.ndarray:
    """Where a 3 x 3 x 3 neighbourhood of `labels` holds more than one value (at the edges, of the voxels inside).

    The same as maximum_filter(labels, 3) != minimum_filter(labels, 3), by separable passes of slice comparisons
    (a few times faster than scipy's filters on class indices).
    """
    high, low = labels, labels
    for axis in range(labels.ndim):
        high, low = _neighbours_extreme(high, axis, np.maximum), _neighbours_extreme(low, axis, np.minimum)
    return high != low


def _neighbours_extreme(values: np.ndarray, axis: int, extreme: np.ufunc) -> np.ndarray:
    """`extreme` of every value and its two neighbours along `axis` (the one inside at the edges)."""
    out = values.copy()
    before = [slice(None)] * values.ndim
    after = [slice(None)] * values.ndim
    before[axis], after[axis] = slice(None, -1), slice(1, None)
    extreme(out[tuple(before)], values[tuple(after)], out=out[tuple(before)])
    extreme(out[tuple(after)], values[tuple(before)], out=out[tuple(after)])
    return out


def _upsample_axis(values: np.ndarray, axis: int, stride: int) -> np.ndarray:
    """Linear interpolation of `values` to `stride` times as many samples along `axis` (align_corners=False: output
    sample o sits at (o + 0.5) / stride - 0.5 input samples, clamped to the first and last input sample)."""

    def along(array: np.ndarray, part: slice) -> np.ndarray:
        index = [slice(None)] * array.ndim
        index[axis] = part
        return array[tuple(index)]

    shape = list(values.shape)
    shape[axis] *= stride
    out = np.empty(shape, dtype=np.float32)
    one = np.float32(1.0)
    for phase in range(stride):
        offset = (phase + 0.5) / stride - 0.5  # in (-0.5, 0.5): between input samples m - 1 and m, or m and m + 1
        target = along(out, slice(phase, None, stride))
        if offset < 0:  # (1 - f) * a[m - 1] + f * a[m], a[-1] taken as a[0]
            weight = np.float32(offset + 1.0)
            np.multiply(values, weight, out=target)
            along(target, slice(1, None))[...] += along(values, slice(None, -1)) * (one - weight)
            along(target, slice(0, 1))[...] += along(values, slice(0, 1)) * (one - weight)
        else:  # (1 - f) * a[m] + f * a[m + 1], a[n] taken as a[n - 1]
            weight = np.float32(offset)
            np.multiply(values, one - weight, out=target)
            along(target, slice(None, -1))[...] += along(values, slice(1, None)) * weight
            along(target, slice(-1, None))[...] += along(values, slice(-1, None)) * weight
    return out


def choose_stride(shape: tuple[int, int, int], max_cells: int) -> int:
    """The smallest stride (1, 2, 4, ...) that keeps the feature grid within `max_cells` cells."""
    stride = 1
    while math.prod(FeatureGrid(tuple(shape), stride).cells) > max_cells and stride < 16:
        stride *= 2
    return stride


def axial_slabs(volume: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Slices start..stop-1 with their neighbours as 3 channels [n, 3, j, i] (edges repeated)."""
    depth = volume.shape[0]
    centre = np.arange(start, stop)
    index = np.stack([np.clip(centre - 1, 0, depth - 1), centre, np.clip(centre + 1, 0, depth - 1)], axis=1)
    return volume[index]


class SlabEmbedder(Protocol):
    """A network that embeds axial slabs: OnnxEmbedding (ONNX Runtime) or TorchSlabEmbedder (torch)."""

    config: EmbeddingConfig
    temperature: float

    def embed_slabs(self, slabs: np.ndarray, trunk_scale: float) -> np.ndarray:
        """Embeddings [B, dim, H, W] (float32) of slabs [B, 3, H, W]."""

    def parallel(self) -> ContextManager[int]:
        """A context inside which embed_slabs may run in that many Python threads at once."""


def compute_features(model: Any, normalized: np.ndarray, trunk_scale: float = 1.0,
                     progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None
                     ) -> np.ndarray:
    """Embeddings of every voxel of `normalized` [k, j, i] by `model` (a SlabEmbedder) as float32 [dim, k * j * i]
    (channels first: re-classification multiplies the prototypes by blocks of columns, which is faster than by
    blocks of rows).

    Batches of slices are shared among Python threads, each running the network single-threaded (model.parallel
    says how many): as fast as the runtime's own threading on idle cores, and about three times faster than it when
    another process holds one of two cores (its threads then wait for each other at every operation).
    """
    depth = normalized.shape[0]
    out = np.empty((model.config.dim, *normalized.shape), dtype=np.float32)
    batches = [(start, min(depth, start + SLICES_PER_BATCH)) for start in range(0, depth, SLICES_PER_BATCH)]

    def embed(batch: tuple[int, int]) -> int:
        start, stop = batch
        embedded = model.embed_slabs(np.ascontiguousarray(axial_slabs(normalized, start, stop)), trunk_scale)
        out[:, start:stop] = embedded.transpose(1, 0, 2, 3)
        return stop

    report(progress, 0.0, "computing features", cancel)
    with model.parallel() as workers:
        if workers <= 1 or len(batches) == 1:
            for batch in batches:
                stop = embed(batch)
                report(progress, stop / depth, f"computing features: slice {stop} of {depth}", cancel)
            return out.reshape(model.config.dim, -1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(embed, batch) for batch in batches]
            try:
                for done, future in enumerate(futures, start=1):
                    future.result()
                    report(progress, done / len(batches),
                           f"computing features: {done} of {len(batches)} slice batches", cancel)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    return out.reshape(model.config.dim, -1)
