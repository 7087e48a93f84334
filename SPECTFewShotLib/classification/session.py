"""The live API of the product's classifier: ProtoNet prototypes from the paint, a learner fitted on the study's own
paint that reads them, a graph cut.

    session = StudySession()                      # default shipped weights, device "auto", all stages
    session.set_volume(volume, progress, cancel)  # the ProtoNet embedding and the study features, once per volume
    session.set_support(painted)                  # a Segmentation on the volume's grid, >= 2 classes
    result = session.predict()                    # labels (painted values, names, colours) and probabilities

What runs ("full", the default): the ProtoNet embedding of the volume is computed once (set_volume); at every paint
change prototypes are built from the painted voxels and give every voxel its class probabilities, cross-fitted over
the folds of the paint so that no painted voxel sees prototypes of its own fold (prior_features.py). A forest of
randomised trees is fitted on the painted voxels and reads, per voxel, the study's filter bank, the embedding's
EMBEDDING_CHANNELS leading principal components, those prototype probabilities (of every class but the LV
myocardium when the segments say which class that is: prior_channels) and the distances to the paint (left out by
slice for the painted voxels); a graph cut makes its answer spatially coherent; each class keeps its regions
that touch its paint, and blood pool that the myocardium does not enclose goes to another class (`enclose_cavity`;
the segments' names or terminology say which class is which, else the paint does: enclosure.py).

Other stages: "prior" is ProtoNet alone (prototypes from all the paint, its spatial prior from the painted slices,
the same connectivity and blood-pool steps); "learner" skips the graph cut; "preview" is the learner's quick answer
for a live display (a sample of the paint, a coarse grid, the embedding's components but not yet the prototypes,
no graph cut). `use_protonet=False` runs the same learner and graph cut without any ProtoNet input (the ablation;
`classify --without-protonet`). Painted voxels always keep
their painted label and a class that is not painted never appears. `probabilities` are the ones the labels come
from: the learner's, calibrated to the painted class shares (calibrate_to_paint; the prior's for "prior"), painted
voxels certain, and where the graph cut or a rule chose another class than the most probable one, the two classes'
probabilities swapped (label_most_probable), so every label is its voxel's most probable class.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..io.segmentation_io import Segmentation
from ..io.volume_io import require_counts
from ..protonet.refinement import apply_paint, keep_connected_to_paint
from ..protonet.support import PaintedSupport, check_support, class_index_map, painted_voxels
from ..runtime.progress import CancelToken, ProgressCallback, report
from ..vocabulary import tissue_of_segment
from ..volume import Volume
from .enclosure import cavity_from_paint, drop_unenclosed_blood_pool
from .graph_cut import SMOOTHNESS, alpha_expansion, contrast_weights, first_argmax, uncertain_band
from .learner import RANDOM_STATE, TreeEnsemble
from .paint_distances import PaintDistances, is_grid
from .prior_features import CrossFittedPrior
from .result import ClassificationResult
from .study_features import StudyFeatures, compute_study_features

log = logging.getLogger(__name__)

STAGES = ("prior", "preview", "learner", "full")
PREVIEW_TRAINING = 2_000  # painted voxels per class the preview's learner is fitted on
PREVIEW_VOXELS = 40_000  # grid points the preview predicts
# A volume of more voxels than this is classified on a coarser grid first and voxel by voxel only where the
# coarse answer changes class or no class has the majority: the same labels at a fraction of the cost
FINE_VOXELS = 300_000
# Peak bytes per voxel: the feature channels with the embedding's components (float32), the graph cut's contrast
# weights (float64, three axes), distances, prototype probabilities and labels of a few classes, the features of
# the voxels being predicted, and the ProtoNet embedding (48 float32 per cell of 2^3 voxels on a large volume)
STUDY_BYTES_PER_VOXEL = 4 * 24 + 8 * 3 + 4 * 24 + 16 * 4 + 4 * 48 // 8
COARSE_CERTAIN = 0.5
PRIOR_SHARE = 0.5  # the part of set_volume's progress bar that the prior's network pass takes
# The ProtoNet embedding's leading principal components, given to the learner beside the study's own features
# (paint-free, so nothing leaks); docs/decisions.md has the ablation that chose 4
EMBEDDING_CHANNELS = 4


class StudySession:
    """One volume's cached ProtoNet embedding and study features, classified again at every paint change."""

    def __init__(self, model: Optional[str] = None, device: str = "auto", stages: str = "full",
                 network=None, workers: int = 2, smoothness: float = SMOOTHNESS,
                 use_protonet: bool = True, enclose_cavity: bool = True,
                 embedding_channels: int = EMBEDDING_CHANNELS, prior_features: bool = True,
                 runtime: str = "auto", random_state: int = RANDOM_STATE) -> None:
        """`use_protonet=False` is the ablation without any ProtoNet input; `embedding_channels` and
        `prior_features` choose which ProtoNet inputs the learner reads (the evaluation's ablations);
        `random_state` is the learner's trees' (the evaluation varies it to show what is noise)."""
        if stages not in STAGES:
            raise InputError(f"unknown stages '{stages}'; choose one of {', '.join(STAGES)}")
        self._prior_arguments = (model, device, network)
        self.runtime = runtime  # the embedding's runtime: "auto" (ONNX Runtime where it can), "onnxruntime", "torch"
        self._prior = None
        self.stages = stages
        self.workers = int(workers)
        self.smoothness = float(smoothness)
        self.use_protonet = bool(use_protonet)
        self.embedding_channels = int(embedding_channels) if use_protonet else 0
        self.prior_features = bool(prior_features) and self.use_protonet
        self.enclose_cavity = bool(enclose_cavity)
        self.random_state = int(random_state)
        self.feature_computations = 0
        self.timings: dict[str, float] = {}
        self._volume: Optional[Volume] = None
        self._study: Optional[StudyFeatures] = None
        self._embedding: Optional[np.ndarray] = None  # the ProtoNet embedding's leading components [n, k, j, i]
        self._edges: Optional[list[np.ndarray]] = None
        self._support: Optional[PaintedSupport] = None
        self._support_segmentation: Optional[Segmentation] = None
        self._prior_ready = False
        self._cross_fitted: Optional[CrossFittedPrior] = None  # the prototypes' probabilities for this paint
        # the paint-free channels at a grid the learner predicts on at every paint change, as the rows it reads
        # [n, F]: keyed by (use_protonet, the grid's slices); emptied with every new volume
        self._static_rows: dict[tuple, np.ndarray] = {}

    @property
    def prior(self):
        """The ProtoNet prior's FewShotSession (its network and weights load on first use)."""
        if self._prior is None:
            from .prior_session import FewShotSession

            model, device, network = self._prior_arguments
            self._prior = FewShotSession(model, device, network=network, runtime=self.runtime)
        return self._prior

    @property
    def device(self):
        """The device of the prior's network (`.type` "cpu" or "cuda")."""
        from ..runtime.device import resolve_device

        return self.prior.device if self._prior is not None else resolve_device(self._prior_arguments[1])

    @property
    def model_entry(self):
        """The registered ProtoNet model of the prior (None for an in-memory network)."""
        return self.prior.model_entry

    @property
    def volume(self) -> Optional[Volume]:
        """The volume whose features are cached (None before set_volume)."""
        return self._volume

    def set_volume(self, volume: Volume, progress: Optional[ProgressCallback] = None,
                   cancel: Optional[CancelToken] = None) -> None:
        """Compute and cache the ProtoNet embedding (unless use_protonet is off) and the study features; a
        cancelled or failed call leaves the session as it was."""
        require_counts(volume, "the volume")
        _check_memory(volume)
        started = time.perf_counter()
        needs_prior = self.stages == "prior" or self.use_protonet
        self._prior_ready = False
        if needs_prior:
            # the network's pass and the filter bank are independent: run side by side (torch and scipy release
            # the GIL), the progress bar showing their joint share
            joint = _JointProgress(progress, PRIOR_SHARE)
            with ThreadPoolExecutor(max_workers=1) as pool:
                network = pool.submit(self._embed, volume, joint.part(0), cancel)
                try:
                    study = compute_study_features(volume.array, joint.part(1), cancel)
                finally:
                    prior_s, embedding = network.result()
        else:
            study = compute_study_features(volume.array, progress, cancel)
            prior_s, embedding = 0.0, None
        spacing = spacing_kji(volume)
        edges = contrast_weights(study.counts, spacing, self.smoothness)
        self._volume, self._study, self._edges, self._support = volume, study, edges, None
        self._embedding, self._cross_fitted, self._static_rows = embedding, None, {}
        self._prior_ready = needs_prior
        self.feature_computations += 1
        self.timings = {"prior_features_s": prior_s, "features_s": time.perf_counter() - started}
        report(progress, 1.0, "features ready", cancel)

    def _embed(self, volume: Volume, progress: Optional[ProgressCallback], cancel: Optional[CancelToken]
               ) -> tuple[float, Optional[np.ndarray]]:
        """The ProtoNet embedding of `volume` (the prior's network pass) and its leading components, beside the
        filter bank; its seconds and the components (None when the learner reads none)."""
        started = time.perf_counter()
        self.prior.set_volume(volume, progress, cancel)
        embedding = self.prior.principal_channels(self.embedding_channels) if self.embedding_channels else None
        return time.perf_counter() - started, embedding

    def set_support(self, support: Segmentation) -> None:
        """Set the painted support (checked against the volume's grid; at least two painted classes)."""
        if self._volume is None:
            raise InputError("set the volume before the painted support")
        self._support = check_support(support, self._volume)
        self._support_segmentation = support
        self._cross_fitted = None

    def predict(self, stages: Optional[str] = None, use_protonet: Optional[bool] = None) -> ClassificationResult:
        """Classify every voxel from the current support; `stages` overrides the session's for this call, and
        `use_protonet=False` leaves the ProtoNet inputs out of this call (the ablation on the same features)."""
        stages = stages or self.stages
        protonet = self.use_protonet if use_protonet is None else bool(use_protonet) and self.use_protonet
        if stages not in STAGES:
            raise InputError(f"unknown stages '{stages}'; choose one of {', '.join(STAGES)}")
        if self._volume is None or self._support is None or self._study is None:
            raise InputError("set the volume and paint a support before classifying")
        support, volume = self._support, self._volume
        painted = class_index_map(support)
        where = painted_voxels(painted, support.slices)
        n_classes = len(support.class_labels)
        if stages == "prior":
            return self._prior_alone(painted, where)
        if stages == "preview":
            return self._preview(painted, where, n_classes, protonet)
        started = time.perf_counter()
        probabilities = self._learner_probabilities(painted, where, n_classes, protonet)
        self.timings["learner_s"] = time.perf_counter() - started
        started = time.perf_counter()
        if stages == "full":
            labels = alpha_expansion(probabilities, self._edges, painted, uncertain_band(probabilities))
        else:
            labels = probabilities.argmax(0)
        self.timings["graph_cut_s"] = time.perf_counter() - started
        started = time.perf_counter()
        cavity = self._cavity_finder(painted, where)
        labels = _connected_to_paint(labels, probabilities, painted, cavity, spacing_kji(volume))
        labels[tuple(where.T)] = painted[tuple(where.T)]
        self.timings["connectivity_s"] = time.perf_counter() - started
        values = np.asarray(support.class_labels, dtype=np.int32)[labels]
        result = Segmentation(volume.with_array(values), support.segments)
        calibrate_to_paint(probabilities, painted[tuple(where.T)], n_classes)
        label_most_probable(probabilities, labels)
        return ClassificationResult(result, support.class_labels, support.class_names, probabilities)

    def _prior_alone(self, painted: np.ndarray, where: np.ndarray) -> ClassificationResult:
        """ProtoNet alone: the prototypes' probabilities, its spatial prior from the painted slices, the paint, then
        the same connectivity and blood-pool steps as the full pipeline (the roles read the same way)."""
        from ..protonet.spatial_prior import apply_prior

        assert self._support is not None and self._volume is not None
        started = time.perf_counter()
        self.prepare_prior()
        probabilities = self.prior.grid.to_voxels(self.prior.cell_probabilities(painted, where))  # all the paint
        if self.prior.spatial_prior is not None:
            apply_prior(probabilities, painted, self._volume.spacing, self.prior.spatial_prior)
        apply_paint(probabilities, painted)
        labels = probabilities.argmax(0)
        if self.prior.refine:
            labels = _connected_to_paint(labels, probabilities, painted, self._cavity_finder(painted, where),
                                         spacing_kji(self._volume))
        label_most_probable(probabilities, labels)
        support = self._support
        values = np.asarray(support.class_labels, dtype=np.int32)[labels]
        result = Segmentation(self._volume.with_array(values), support.segments)
        self.timings["prior_s"] = time.perf_counter() - started
        return ClassificationResult(result, support.class_labels, support.class_names, probabilities)

    def _cavity_finder(self, painted: np.ndarray, where: np.ndarray, stride: int = 1
                       ) -> Callable[[np.ndarray], Optional[tuple[int, int]]]:
        """labels (on a grid of every `stride`-th voxel) -> the LV myocardium's and blood pool's class indices: from
        the segments' names or terminology when they say, else read from the paint (`where`: the painted voxels)
        and the labels (enclosure.cavity_from_paint)."""
        assert self._support is not None and self._study is not None and self._volume is not None
        if not self.enclose_cavity:
            return lambda labels: None
        named = cavity_classes(self._support)
        if named is not None or len(self._support.class_labels) < 3:
            return lambda labels: named
        classes = painted[tuple(where.T)]
        counts = self._study.counts[tuple(where.T)]
        brightness = np.bincount(classes, counts, minlength=len(self._support.class_labels))
        brightness /= np.maximum(np.bincount(classes, minlength=len(brightness)), 1)
        spacing = tuple(stride * s for s in spacing_kji(self._volume))
        return lambda labels: cavity_from_paint(labels, where // stride, classes, brightness, spacing)

    def prepare_prior(self) -> None:
        """Make the prior ready for the current volume and support (its embedding is computed on first use)."""
        if not self._prior_ready:
            self.prior.set_volume(self._volume)
            self._prior_ready = True
        self.prior.set_support(self._support_segmentation)

    def _preview(self, painted: np.ndarray, where: np.ndarray, n_classes: int, protonet: bool
                 ) -> ClassificationResult:
        """The learner's quick answer: fitted on at most PREVIEW_TRAINING painted voxels per class, predicted on a
        grid of about PREVIEW_VOXELS points, each class's regions kept where they touch its paint, spread to the
        voxels; no graph cut."""
        assert self._study is not None and self._volume is not None and self._support is not None
        started = time.perf_counter()
        support = self._support
        spacing = spacing_kji(self._volume)
        rows = _per_class_sample(painted[tuple(where.T)], PREVIEW_TRAINING)
        stride = _stride_for(painted.shape, PREVIEW_VOXELS)
        sample = tuple(slice(None, None, stride) for _ in range(3))
        grid_shape = tuple(len(range(0, n, stride)) for n in painted.shape)
        static = self._static_rows_at(sample, protonet)  # the paint-free channels on the preview's grid
        learner, distances = self._fit(painted, where, where[rows], n_classes, protonet)
        features = static
        if distances is not None:
            features = np.empty((static.shape[0], static.shape[1] + n_classes), dtype=np.float32)
            features[:, :static.shape[1]] = static
            features[:, static.shape[1]:] = distances.at(sample).T
        coarse = learner.predict_proba(features)
        coarse = np.ascontiguousarray(coarse.T).reshape(n_classes, *grid_shape)
        cells = np.full(grid_shape, -1, dtype=painted.dtype)  # a cell holding paint takes one painted class
        cells[tuple((where // stride).T)] = painted[tuple(where.T)]
        cavity, grid_spacing = self._cavity_finder(painted, where, stride), tuple(stride * s for s in spacing)
        labels = _spread(_connected_to_paint(coarse.argmax(0), coarse, cells, cavity, grid_spacing), stride,
                         painted.shape)
        labels[tuple(where.T)] = painted[tuple(where.T)]
        values = np.asarray(support.class_labels, dtype=np.int32)[labels]
        result = Segmentation(self._volume.with_array(values), support.segments)
        shares = painted[tuple(where.T)]
        self.timings["preview_s"] = time.perf_counter() - started

        def probabilities() -> np.ndarray:
            voxels = np.empty((n_classes, *painted.shape), dtype=np.float32)
            _spread_into(voxels, coarse, stride)
            k, j, i = where.T
            voxels[:, k, j, i] = 0.0
            voxels[painted[k, j, i], k, j, i] = 1.0
            calibrate_to_paint(voxels, shares, n_classes)
            label_most_probable(voxels, labels)
            return voxels

        return ClassificationResult(result, support.class_labels, support.class_names,
                                    make_probabilities=probabilities)

    def cross_fitted_prior(self, painted: np.ndarray, where: np.ndarray) -> CrossFittedPrior:
        """The prototypes' probabilities for the current paint (computed once per paint change)."""
        if self._cross_fitted is None:
            self.prepare_prior()
            self._cross_fitted = CrossFittedPrior(self.prior, painted, where)
        return self._cross_fitted

    def _volume_channels(self, protonet: bool) -> list[np.ndarray]:
        """The per-voxel channels [F, k, j, i] the learner reads whatever the paint: the study's filter bank, and
        the embedding's leading components when ProtoNet is used."""
        assert self._study is not None
        if protonet and self._embedding is not None:
            return [self._study.channels, self._embedding]
        return [self._study.channels]

    def _static_rows_at(self, grid: tuple, protonet: bool) -> np.ndarray:
        """The paint-free channels at the voxels of `grid` (slices along k, j, i) as rows [n, F] (float32), computed
        once per volume: the learner predicts on the same grid at every paint change."""
        key = (protonet, tuple((part.start, part.stop, part.step) for part in grid))
        rows = self._static_rows.get(key)
        if rows is None:
            sampled = [c[(slice(None), *grid)].reshape(c.shape[0], -1) for c in self._volume_channels(protonet)]
            rows = np.ascontiguousarray(np.concatenate(sampled).T)
            self._static_rows[key] = rows
        return rows

    def _fit(self, painted: np.ndarray, where: np.ndarray, train_where: np.ndarray, n_classes: int,
             protonet: bool, extra_train: tuple = ()) -> tuple:
        """The learner fitted on the painted voxels `train_where` (a subset of all painted voxels `where`), and the
        distances to the paint it reads (PaintDistances), or None when it reads none (leave one slice out needs paint
        on two axial slices)."""
        assert self._study is not None and self._volume is not None
        distances = None
        if len(np.unique(where[:, 0])) >= 2:
            distances = PaintDistances(painted, n_classes, spacing_kji(self._volume))
        k, j, i = train_where.T
        train = [*(c[:, k, j, i].T for c in self._volume_channels(protonet)), *extra_train]
        if distances is not None:
            train.append(distances.left_out(train_where))
        classes = painted[k, j, i].astype(np.int64)
        learner = TreeEnsemble(workers=self.workers, random_state=self.random_state)
        return learner.fit(np.concatenate(train, axis=1), classes), distances

    def _learner_probabilities(self, painted: np.ndarray, where: np.ndarray, n_classes: int, protonet: bool
                               ) -> np.ndarray:
        """The tree ensemble's class probabilities [C, k, j, i] (float32), painted voxels certain."""
        assert self._study is not None and self._volume is not None
        extra, train_extra = [], []
        if self.prior_features and protonet:
            prior = self.cross_fitted_prior(painted, where)
            keep = prior_channels(self._support)
            extra.append(prior.voxels(keep))
            train_extra.append(prior.held_out()[:, keep])
        learner, distances = self._fit(painted, where, where, n_classes, protonet, tuple(train_extra))
        static = self._volume_channels(protonet)
        widths = [f.shape[0] for f in (*static, *extra)] + ([n_classes] if distances is not None else [])

        def features_at(index: tuple) -> np.ndarray:
            # the columns in the order the learner was fitted on: the paint-free channels (kept between paint
            # changes for a grid of slices), the prior's probabilities, the distances to the paint
            static_rows = self._static_rows_at(index, protonet) if is_grid(index) else None
            n = static_rows.shape[0] if static_rows is not None else np.asarray(index[0]).size
            rows = np.empty((n, sum(widths)), dtype=np.float32)
            column = 0
            if static_rows is not None:
                column = static_rows.shape[1]
                rows[:, :column] = static_rows
            for f in ([] if static_rows is not None else static) + extra:
                rows[:, column:column + f.shape[0]] = f[(slice(None), *index)].reshape(f.shape[0], -1).T
                column += f.shape[0]
            if distances is not None:
                rows[:, column:] = distances.at(index).T
            return rows

        probabilities = coarse_to_fine(lambda index: learner.predict_proba(features_at(index)), painted.shape,
                                       n_classes)
        k, j, i = where.T
        probabilities[:, k, j, i] = 0.0
        probabilities[painted[k, j, i], k, j, i] = 1.0
        return probabilities


def _per_class_sample(classes: np.ndarray, limit: int) -> np.ndarray:
    """Indices of at most `limit` entries of each class (all of a smaller class), in a fixed random choice."""
    rng = np.random.default_rng(0)
    chosen = []
    for c in np.unique(classes):
        rows = np.flatnonzero(classes == c)
        chosen.append(rows if rows.size <= limit else rng.choice(rows, limit, replace=False))
    return np.sort(np.concatenate(chosen))


def _stride_for(shape: tuple, points: int) -> int:
    """The smallest stride whose grid over `shape` has at most `points` points."""
    stride = 1
    while int(np.prod([len(range(0, n, stride)) for n in shape])) > points:
        stride += 1
    return stride


def _spread(coarse: np.ndarray, stride: int, shape: tuple) -> np.ndarray:
    """Values of a stride-`stride` grid spread to every voxel of `shape` (each voxel takes its cell's value)."""
    out = np.empty(shape, dtype=coarse.dtype)
    _spread_into(out, coarse, stride)
    return out


def _spread_into(out: np.ndarray, coarse: np.ndarray, stride: int) -> None:
    """Write into `out` [..., k, j, i] the values of a stride-`stride` grid `coarse` [..., k', j', i'] (each voxel
    its cell's value): one broadcast copy when the grid covers the volume exactly, else repeated and cut."""
    cells = coarse.shape[-3:]
    if tuple(n * stride for n in cells) == out.shape[-3:]:
        blocks = out.reshape(*out.shape[:-3], cells[0], stride, cells[1], stride, cells[2], stride)
        blocks[...] = coarse[..., :, None, :, None, :, None]
        return
    expanded = coarse
    for axis, n in enumerate(out.shape[-3:]):
        at = coarse.ndim - 3 + axis
        expanded = np.repeat(expanded, stride, axis=at).take(np.arange(n), axis=at)
    out[...] = expanded


def calibrate_to_paint(probabilities: np.ndarray, painted_classes: np.ndarray, n_classes: int) -> None:
    """Turn the class-balanced learner's probabilities [C, ...] into posteriors (in place): weighted by each class's
    share of the painted voxels and renormalised (the prior-shift correction of a balanced classifier).

    The balanced probabilities are likelihood ratios under equal class priors: the labels come from them (a thin
    myocardium is not outvoted by a big painted background), while the probabilities reported beside the labels
    say how often a voxel of that probability belongs to the class."""
    shares = np.bincount(painted_classes.astype(np.int64), minlength=n_classes).astype(np.float32)
    shares /= max(float(shares.sum()), 1.0)
    probabilities *= shares.reshape(-1, *([1] * (probabilities.ndim - 1)))
    probabilities /= np.maximum(probabilities.sum(0, keepdims=True), np.float32(1e-12))


def label_most_probable(probabilities: np.ndarray, labels: np.ndarray) -> None:
    """Make every voxel's label its most probable class (in place on probabilities [C, k, j, i]): where the graph
    cut, the connectivity or the blood-pool step chose another class than the most probable one, the labelled class
    and the most probable one swap their probabilities. The map then says how sure each label is, with the
    learner's own (calibrated) probability values."""
    top = first_argmax(probabilities)
    k, j, i = np.nonzero(top != labels)
    if len(k) == 0:
        return
    chosen, best = labels[k, j, i], top[k, j, i]
    high, low = probabilities[best, k, j, i].copy(), probabilities[chosen, k, j, i].copy()
    probabilities[chosen, k, j, i], probabilities[best, k, j, i] = high, low


def coarse_to_fine(predict, shape: tuple, n_classes: int, fine_voxels: Optional[int] = None) -> np.ndarray:
    """Class probabilities [C, k, j, i] (float32) from `predict` (an index into the grid -> [n, C]) at every voxel
    of a small volume; on a large one, at every s-th voxel along each axis first, then again voxel by voxel where
    that coarse answer is uncertain or changes class (within one coarse cell)."""
    size = int(np.prod(shape))
    fine_voxels = FINE_VOXELS if fine_voxels is None else fine_voxels
    stride = 1
    while size / stride ** 3 > fine_voxels:
        stride += 1
    if stride == 1:
        return np.ascontiguousarray(predict((slice(None),) * 3).T).reshape(n_classes, *shape)
    coarse_index = tuple(slice(None, None, stride) for _ in shape)
    coarse_shape = tuple(len(range(0, n, stride)) for n in shape)
    coarse = np.ascontiguousarray(predict(coarse_index).T).reshape(n_classes, *coarse_shape)
    labels = first_argmax(coarse)
    unsure = coarse.max(0) < COARSE_CERTAIN
    unsure |= ndimage.maximum_filter(labels, size=3) != ndimage.minimum_filter(labels, size=3)
    unsure = ndimage.binary_dilation(unsure)
    probabilities = np.empty((n_classes, *shape), dtype=np.float32)
    _spread_into(probabilities, coarse, stride)
    fine = np.empty(shape, dtype=bool)
    _spread_into(fine, unsure, stride)
    where = np.nonzero(fine)
    if where[0].size:
        probabilities[(slice(None), *where)] = predict(where).T
    return probabilities


def _connected_to_paint(labels: np.ndarray, probabilities: np.ndarray, painted: np.ndarray,
                        cavity: Optional[Callable[[np.ndarray], Optional[tuple[int, int]]]] = None,
                        spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """Labels where each class keeps only its regions that touch its paint; other regions go to the most
    probable other class. When `cavity` (labels -> the wall's and the cavity's class indices, or None) finds them,
    cavity that the wall does not enclose goes to the best other class too (enclosure.py)."""
    n_classes = probabilities.shape[0]
    scores = 0.5 * probabilities
    for c in range(n_classes):
        scores[c][labels == c] += 0.51  # the labels stay the argmax; the probabilities rank the others
    labels = keep_connected_to_paint(scores, painted)
    roles = cavity(labels) if cavity is not None else None
    if roles is not None:
        labels = drop_unenclosed_blood_pool(scores, painted, *roles, spacing)
    return labels


def prior_channels(support: PaintedSupport) -> list[int]:
    """The classes whose prototype probabilities the learner reads: every class but the LV myocardium when a
    segment's name or terminology says which class that is, else every class. The prototypes call the wall too
    wide at its rim, and a learner fitted on strokes (where every prototype is right) learnt to follow that call
    (docs/decisions.md, "ProtoNet in the default path"); with two classes the other class's channel holds the same
    information."""
    tissues = [tissue_of_segment(s.name, s.terminology_entry()) for s in support.segments]
    keep = [c for c, tissue in enumerate(tissues) if tissue != "LV_myocardium"]
    return keep if keep else list(range(len(tissues)))


def cavity_classes(support: PaintedSupport) -> Optional[tuple[int, int]]:
    """The class indices of the LV myocardium and the LV blood pool when both are painted beside a third class
    (which takes the blood pool the wall does not enclose); else None."""
    tissues = [tissue_of_segment(s.name, s.terminology_entry()) for s in support.segments]
    if len(tissues) < 3 or "LV_myocardium" not in tissues or "LV_blood_pool" not in tissues:
        return None
    return tissues.index("LV_myocardium"), tissues.index("LV_blood_pool")


def spacing_kji(volume: Volume) -> tuple[float, float, float]:
    """Voxel spacing (mm) along k, j, i."""
    i, j, k = volume.spacing
    return (k, j, i)


class _JointProgress:
    """One progress bar for two tasks running side by side: the first weighs `share` of it, the second the rest."""

    def __init__(self, progress: Optional[ProgressCallback], share: float) -> None:
        self.progress, self.weights, self.done = progress, (share, 1.0 - share), [0.0, 0.0]
        self.lock = threading.Lock()

    def part(self, index: int) -> Optional[ProgressCallback]:
        """The callback of task `index` (0 or 1)."""
        if self.progress is None:
            return None

        def update(fraction: float, message: str) -> None:
            with self.lock:
                self.done[index] = fraction
                total = sum(w * d for w, d in zip(self.weights, self.done))
            self.progress(total, message)

        return update


def _check_memory(volume: Volume) -> None:
    """Refuse, before allocating, a volume whose study features and classification would not fit in memory."""
    from ..runtime.memory_guard import require_memory

    require_memory(volume.array.shape, STUDY_BYTES_PER_VOXEL, "computing the study features")


def classify_study(volume: Volume, support: Segmentation, model: Optional[str] = None, device: str = "auto",
                   stages: str = "full", progress: Optional[ProgressCallback] = None,
                   cancel: Optional[CancelToken] = None) -> ClassificationResult:
    """Classify every voxel of `volume` from one painted support (checked before any computation)."""
    check_support(support, volume)
    session = StudySession(model, device, stages=stages)
    session.set_volume(volume, progress, cancel)
    session.set_support(support)
    result = session.predict()
    report(progress, 1.0, "classified", cancel)
    return result
