"""The live update's shortcuts give the values of the plain computations they replace, bit for bit: distances to the
paint at the voxels asked for, the first most probable class, the folds' held-out prototypes from one gather, and
the paint-free learner rows kept between paint changes."""

from __future__ import annotations

import unittest
from typing import Sequence
from unittest import mock

import numpy as np
from scipy import ndimage

from SPECTFewShotLib.classification import session as session_module
from SPECTFewShotLib.classification.graph_cut import first_argmax
from SPECTFewShotLib.classification.paint_distances import FAR_MM, PaintDistances
from SPECTFewShotLib.classification.prior_features import CrossFittedPrior, paint_folds
from SPECTFewShotLib.classification.session import StudySession
from SPECTFewShotLib.protonet.support import class_index_map, paint_boundaries, painted_voxels
from Testing.fixtures import ring_prior, ring_volume, support_from, tiny_network


def whole_volume_distances(painted: np.ndarray, n_classes: int, spacing_kji: Sequence[float],
                           leave_out: int | None = None, sample: tuple = (slice(None),) * 3) -> np.ndarray:
    """The plain computation PaintDistances replaces: Euclidean distance (mm) [C, k, j, i] (float32) from each
    class's painted voxels (`painted`: class indices, -1 unpainted), every in-plane map recomputed and sampled;
    `leave_out` is an axial slice whose paint does not count; `sample` (slices or index arrays along k, j and i)
    picks the grid points computed (default: every voxel)."""
    dz, dy, dx = (float(s) for s in spacing_kji)
    depth = painted.shape[0]
    ks = np.arange(depth)[sample[0]].astype(np.float32).reshape(-1)
    in_plane_sample = (sample[1], sample[2])
    rows = np.arange(painted.shape[1])[sample[1]].size
    cols = np.arange(painted.shape[2])[sample[2]].size
    out = np.full((n_classes, ks.size, rows, cols), FAR_MM * FAR_MM, dtype=np.float32)  # squared until the end
    for k in np.flatnonzero((painted >= 0).reshape(depth, -1).any(axis=1)):
        if k == leave_out:
            continue
        plane = painted[k]
        along = ((ks - k) * dz) ** 2
        for c in np.unique(plane[plane >= 0]):
            in_plane = ndimage.distance_transform_edt(plane != c, sampling=(dy, dx)).astype(np.float32)
            in_plane = in_plane[np.ix_(*(np.arange(n)[s].reshape(-1) for n, s in zip(plane.shape, in_plane_sample)))]
            np.minimum(out[c], along[:, None, None] + (in_plane * in_plane)[None], out=out[c])
    return np.sqrt(out, out=out)


def left_out_distances(painted: np.ndarray, n_classes: int, spacing_kji: Sequence[float], slices: np.ndarray,
                       where: np.ndarray) -> np.ndarray:
    """The plain computation PaintDistances.left_out replaces: distances [n, C] of the painted voxels `where`
    (n, 3 [k, j, i]), each from the paint on the other axial slices, one whole slice at a time."""
    out = np.empty((len(where), n_classes), dtype=np.float32)
    for k in slices:
        rows = np.flatnonzero(where[:, 0] == k)
        if rows.size == 0:
            continue
        distances = whole_volume_distances(painted, n_classes, spacing_kji, leave_out=int(k),
                                           sample=(slice(int(k), int(k) + 1), slice(None), slice(None)))
        out[rows] = distances[:, 0, where[rows, 1], where[rows, 2]].T
    return out


class PaintDistancesTest(unittest.TestCase):
    def test_the_same_values_as_the_whole_volume(self):
        rng = np.random.default_rng(1)
        painted = np.full((23, 31, 19), -1, dtype=np.int64)
        for k in (3, 11, 19):
            painted[k] = rng.integers(0, 3, painted.shape[1:])
            painted[k][rng.random(painted.shape[1:]) < 0.7] = -1
        painted[11][painted[11] == 2] = 1  # a class missing from one slice
        spacing = (3.3, 2.1, 1.7)
        whole = whole_volume_distances(painted, 3, spacing)
        distances = PaintDistances(painted, 3, spacing)
        for grid in ((slice(None),) * 3, (slice(None, None, 2),) * 3, (slice(1, None, 3), slice(None), slice(2, 9))):
            np.testing.assert_array_equal(distances.at(grid), whole[(slice(None), *grid)].reshape(3, -1))
        points = np.nonzero(rng.random(painted.shape) < 0.05)
        np.testing.assert_array_equal(distances.at(points), whole[(slice(None), *points)])
        where = np.argwhere(painted >= 0)  # the training voxels, each slice's from the paint on the others
        np.testing.assert_array_equal(distances.left_out(where),
                                      left_out_distances(painted, 3, spacing, np.unique(where[:, 0]), where))


class FirstArgmaxTest(unittest.TestCase):
    def test_numpy_argmax_and_argmin_with_ties(self):
        rng = np.random.default_rng(2)
        values = rng.integers(0, 4, (3, 9, 8, 7)).astype(np.float32)  # many ties
        np.testing.assert_array_equal(first_argmax(values), values.argmax(0))
        np.testing.assert_array_equal(first_argmax(values, smallest=True), values.argmin(0))
        self.assertEqual(first_argmax(values).dtype, np.uint8)


class SpreadTest(unittest.TestCase):
    def test_the_values_of_repeating_and_cutting(self):
        rng = np.random.default_rng(3)
        for shape, stride in (((16, 16, 16), 2), ((15, 17, 10), 2), ((13, 11, 7), 3)):
            cells = tuple(len(range(0, n, stride)) for n in shape)
            for coarse, out in ((rng.random((2, *cells)).astype(np.float32), np.empty((2, *shape), np.float32)),
                                (rng.random(cells) < 0.3, np.empty(shape, dtype=bool))):
                expected = coarse
                for axis, n in enumerate(shape):
                    at = coarse.ndim - 3 + axis
                    expected = np.repeat(expected, stride, axis=at).take(np.arange(n), axis=at)
                session_module._spread_into(out, coarse, stride)
                np.testing.assert_array_equal(out, expected)


class HeldOutProbabilitiesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.volume, cls.classes, cls.prior = ring_prior(size=24)

    def test_each_fold_as_the_prototypes_of_the_other_folds(self):
        support = support_from(self.volume, self.classes, [7, 12, 16])
        painted = support.labels.array.copy()
        painted[12][painted[12] == 3] = 2  # the cavity painted on slice 7 only
        painted[16][painted[16] == 3] = 2
        support.labels.array[...] = painted  # the cavity now lives in fold 0 alone: the fallback's case
        self.prior.set_support(support)
        checked = self.prior._support
        painted = class_index_map(checked)
        where = painted_voxels(painted, checked.slices)
        folds = paint_folds(where)
        prior = CrossFittedPrior(self.prior, painted, where)
        boundary = paint_boundaries(painted)
        for n, fold in enumerate(np.unique(folds)):
            mine = folds == fold
            expected = self.prior.grid_probabilities(
                self.prior.prototypes(painted, where[~mine], fallback=where[mine], boundary=boundary))
            np.testing.assert_array_equal(prior.cells[n], expected)


class CachedRowsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.volume, cls.classes = ring_volume(size=24)
        cls.support = support_from(cls.volume, cls.classes, [7, 12, 16])

    def answers(self, calls, fine_voxels):
        """The labels and probabilities of one session through `calls` (use_protonet per call)."""
        from SPECTFewShotLib.protonet.embedding import TorchSlabEmbedder

        with mock.patch.object(session_module, "FINE_VOXELS", fine_voxels):
            session = StudySession(device="cpu", network=TorchSlabEmbedder(tiny_network()))
            session.set_volume(self.volume)
            session.set_support(self.support)
            out = []
            for protonet in calls:
                result = session.predict(use_protonet=protonet)
                out.append((result.labels.labels.array.copy(), result.probabilities.copy()))
        return out

    def test_the_kept_rows_change_no_answer(self):
        for fine_voxels in (session_module.FINE_VOXELS, 2_000):  # the whole grid, and coarse then fine
            kept = self.answers([True, False, True], fine_voxels)
            fresh_with, = self.answers([True], fine_voxels)
            fresh_without, = self.answers([False], fine_voxels)
            for (labels, probabilities), (expected_labels, expected) in zip(
                    kept, [fresh_with, fresh_without, fresh_with]):
                np.testing.assert_array_equal(labels, expected_labels)
                np.testing.assert_array_equal(probabilities, expected)


if __name__ == "__main__":
    unittest.main()
