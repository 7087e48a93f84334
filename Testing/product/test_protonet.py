"""ProtoNet: prototype and probability math, the session's feature cache, progress and cancel, label pass-through,
support checks, and the shipped weights."""

import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch

from SPECTFewShotLib.classification.prior_session import FewShotSession
from SPECTFewShotLib.errors import CancelledError, InputError
from SPECTFewShotLib.io.segmentation_io import Segmentation, read_segmentation, segments_for, write_segmentation
from SPECTFewShotLib.protonet.features import FeatureGrid, label_changes_nearby
from SPECTFewShotLib.protonet.prototypes import (
    build_prototypes,
    class_probabilities,
    cluster_means,
    prototype_members,
)
from SPECTFewShotLib.protonet.refinement import bounding_box, keep_connected_to_paint
from SPECTFewShotLib.protonet.spatial_prior import SpatialPrior, apply_prior, slice_prior
from SPECTFewShotLib.protonet.support import paint_boundaries
from SPECTFewShotLib.runtime.progress import CancelToken
from SPECTFewShotLib.volume import Volume
from Testing.fixtures import ring_volume, support_from, tiny_network


class PrototypeMathTest(unittest.TestCase):
    def test_prototype_is_the_mean_of_the_painted_embeddings(self):
        features = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0], [12.0, 10.0]], dtype=np.float32)
        prototypes = build_prototypes(features, np.array([0, 0, 1, 1]), 2)
        np.testing.assert_allclose(prototypes.vectors, [[1.0, 0.0], [11.0, 10.0]])
        self.assertEqual(prototypes.vectors.dtype, np.float32)

    def test_a_heterogeneous_class_gets_one_prototype_per_cluster(self):
        rng = np.random.default_rng(0)
        near = rng.normal(size=(900, 3)) * 0.1
        far = rng.normal(size=(300, 3)) * 0.1 + 5.0
        other = rng.normal(size=(50, 3)) * 0.1 - 5.0
        features = np.concatenate([near, far, other]).astype(np.float32)
        classes = np.concatenate([np.zeros(1200, dtype=np.int64), np.ones(50, dtype=np.int64)])
        prototypes = build_prototypes(features, classes, 2, max_per_class=2, voxels_per_prototype=100)
        self.assertEqual(prototypes.class_of.tolist(), [0, 0, 1])
        centres = sorted(float(v) for v in prototypes.vectors[:2].mean(1))
        self.assertAlmostEqual(centres[0], 0.0, delta=0.05)
        self.assertAlmostEqual(centres[1], 5.0, delta=0.05)

    def test_a_large_class_is_clustered_on_a_sample_and_every_voxel_joins_its_nearest_centre(self):
        rng = np.random.default_rng(3)
        features = np.concatenate([rng.normal(size=(2500, 2)) * 0.1, rng.normal(size=(2500, 2)) * 0.1 + 3.0,
                                   rng.normal(size=(10, 2)) - 4.0]).astype(np.float32)
        classes = np.r_[np.zeros(5000, dtype=np.int64), np.ones(10, dtype=np.int64)]
        members = prototype_members(features, classes, 2, max_per_class=2, voxels_per_prototype=100)
        self.assertEqual(members.class_of.tolist(), [0, 0, 1])
        self.assertEqual(sorted(np.bincount(members.prototype).tolist()), [10, 2500, 2500])
        np.testing.assert_array_equal(np.sort(members.rows), np.arange(5010))

    def test_touching_painted_classes_get_boundary_prototypes_on_both_sides(self):
        painted = np.full((1, 6, 8), -1)
        painted[0, :, :4] = 0
        painted[0, :, 4:] = 1
        painted[0, 0, 0] = -1
        flags = paint_boundaries(painted)
        expected = np.zeros_like(flags)
        expected[0, :, 3:5] = True
        np.testing.assert_array_equal(flags, expected)
        features = np.array([[float(i)] for i in np.nonzero(painted.ravel() >= 0)[0] % 8], dtype=np.float32)
        classes = painted.ravel()[painted.ravel() >= 0]
        boundary = flags.ravel()[painted.ravel() >= 0]
        prototypes = build_prototypes(features, classes, 2, boundary)
        edges = sorted(float(v) for v in prototypes.vectors[:, 0] if v in (3.0, 4.0))
        self.assertEqual(edges, [3.0, 4.0])  # the columns either side of the painted boundary
        self.assertEqual(len(build_prototypes(features, classes, 2).vectors), 2)

    def test_probabilities_are_the_softmax_of_distances_summed_per_class(self):
        rng = np.random.default_rng(1)
        features = rng.normal(size=(500, 6)).astype(np.float32)
        classes = np.arange(500) % 3
        prototypes = build_prototypes(features[:300], classes[:300], 3, voxels_per_prototype=40)
        vectors = prototypes.vectors.astype(np.float64)
        for metric in ("euclidean", "cosine"):
            if metric == "cosine":
                rows = features / np.linalg.norm(features, axis=1, keepdims=True)
                scores = rows @ (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).T
            else:
                rows = features
                scores = -((features[:, None, :].astype(np.float64) - vectors[None]) ** 2).sum(-1)
            weights = np.exp(scores / 0.7 - (scores / 0.7).max(1, keepdims=True))
            per_class = np.stack([weights[:, prototypes.class_of == c].sum(1) for c in range(3)], axis=1)
            reference = per_class / per_class.sum(1, keepdims=True)
            fast = class_probabilities(rows, prototypes, 0.7, metric, workers=2)
            np.testing.assert_allclose(fast.T, reference, atol=1e-5, err_msg=metric)
            np.testing.assert_allclose(fast.sum(0), np.ones(500), atol=1e-5)

    def test_a_voxel_at_a_prototype_belongs_to_its_class(self):
        features = np.array([[0.0, 0.0], [4.0, 4.0], [0.1, 0.0], [3.9, 4.1]], dtype=np.float32)
        prototypes = build_prototypes(features[:2], np.array([0, 1]), 2)
        probabilities = class_probabilities(features, prototypes, 1.0)
        self.assertEqual(probabilities.argmax(0).tolist(), [0, 1, 0, 1])
        self.assertGreater(float(probabilities[0, 2]), 0.99)


class ReclassificationStepsTest(unittest.TestCase):
    """The steps run at every stroke: each checked against its plain definition."""

    def test_label_changes_nearby_is_max_filter_against_min_filter(self):
        from scipy import ndimage

        rng = np.random.default_rng(0)
        for shape in [(9, 10, 11), (1, 5, 7), (4, 1, 9), (2, 2, 2)]:
            for n in (2, 3, 5):
                labels = (ndimage.gaussian_filter(rng.random(shape), 1.0) * 40).astype(np.int16) % n
                expected = ndimage.maximum_filter(labels, 3) != ndimage.minimum_filter(labels, 3)
                np.testing.assert_array_equal(label_changes_nearby(labels), expected, err_msg=f"{shape} {n}")
        diagonal = np.zeros((3, 3, 3), dtype=np.int16)
        diagonal[2, 2, 2] = 1  # differs from the centre only across a corner
        self.assertTrue(label_changes_nearby(diagonal)[1, 1, 1])

    def test_voxel_labels_are_the_argmax_of_the_interpolated_probabilities(self):
        from scipy import ndimage

        rng = np.random.default_rng(1)
        for shape, stride in [((13, 17, 19), 2), ((13, 17, 19), 4), ((16, 16, 16), 2)]:
            grid = FeatureGrid(shape, stride)
            probabilities = ndimage.gaussian_filter(rng.random((3, *grid.cells)), (0, 1, 1, 1)).astype(np.float32)
            probabilities /= probabilities.sum(0)
            expected = torch.nn.functional.interpolate(torch.from_numpy(probabilities)[None], size=grid.padded,
                                                       mode="trilinear", align_corners=False)[0]
            expected = expected[:, :shape[0], :shape[1], :shape[2]].numpy().argmax(0)
            labels = grid.voxel_labels(probabilities, probabilities.argmax(0).astype(np.int16))
            self.assertEqual(labels.shape, shape)
            self.assertEqual(labels.dtype, np.int16)
            self.assertLess(float(np.mean(labels != expected)), 1e-3, f"{shape} {stride}")

    def test_grid_pooling_and_interpolation_are_torch_s_average_pool_and_trilinear_upsample(self):
        rng = np.random.default_rng(2)
        for shape, stride in [((13, 17, 19), 2), ((13, 17, 19), 4), ((16, 16, 16), 2), ((5, 6, 7), 1)]:
            grid = FeatureGrid(shape, stride)
            volume = rng.random(shape).astype(np.float32)
            padding = [(0, p - n) for p, n in zip(grid.padded, shape)]
            padded = torch.from_numpy(np.pad(volume, padding, mode="edge"))[None, None]
            pooled = torch.nn.functional.avg_pool3d(padded, stride)[0, 0].numpy()
            np.testing.assert_allclose(grid.pool(volume), pooled, atol=1e-6, err_msg=f"{shape} {stride}")
            cells = rng.random((3, *grid.cells)).astype(np.float32)
            expected = torch.nn.functional.interpolate(torch.from_numpy(cells)[None], size=grid.padded,
                                                       mode="trilinear", align_corners=False)[0]
            upsampled = grid.to_voxels(cells)
            self.assertTrue(upsampled.flags.c_contiguous)
            np.testing.assert_allclose(upsampled, expected[:, :shape[0], :shape[1], :shape[2]].numpy(), atol=1e-6,
                                       err_msg=f"{shape} {stride}")

    def test_cluster_means_are_the_means_of_the_non_empty_clusters(self):
        points = np.arange(12.0, dtype=np.float32).reshape(6, 2)
        assign = np.array([3, 0, 3, 0, 3, 1])  # cluster 2 is empty
        means = cluster_means(points, assign)
        expected = np.stack([points[assign == q].mean(0) for q in (0, 1, 3)])
        np.testing.assert_allclose(means, expected)

    def test_regions_without_their_class_paint_go_to_the_next_class(self):
        probabilities = np.zeros((3, 6, 12, 12), dtype=np.float32)
        probabilities[:] = np.array([0.6, 0.3, 0.1])[:, None, None, None]  # background everywhere, except:
        blobs = [((slice(1, 3), slice(1, 4), slice(1, 4)), [0.1, 0.8, 0.1]),  # class 1, painted
                 ((slice(4, 6), slice(9, 12), slice(0, 2)), [0.1, 0.1, 0.8]),  # class 2, painted
                 ((slice(1, 3), slice(8, 11), slice(8, 11)), [0.05, 0.7, 0.25])]  # class 1, no paint
        for box, values in blobs:
            probabilities[(slice(None), *box)] = np.array(values)[:, None, None, None]
        painted = np.full((6, 12, 12), -1, dtype=np.int16)
        painted[0, 0, 0], painted[2, 2, 2], painted[5, 11, 0] = 0, 1, 2
        labels = keep_connected_to_paint(probabilities, painted)
        self.assertTrue((labels[1:3, 1:4, 1:4] == 1).all())
        self.assertTrue((labels[4:6, 9:12, 0:2] == 2).all())
        # the unpainted class-1 island goes to class 2, which has no paint there either, and then to background
        self.assertTrue((labels[1:3, 8:11, 8:11] == 0).all())
        np.testing.assert_allclose(probabilities[:, 1, 8, 8], [1.0, 0.0, 0.0], atol=1e-6)
        np.testing.assert_array_equal(labels, probabilities.argmax(0))
        np.testing.assert_allclose(probabilities.sum(0), 1.0, atol=1e-6)

    def test_bounding_box(self):
        mask = np.zeros((4, 5, 6), dtype=bool)
        self.assertIsNone(bounding_box(mask))
        mask[1, 2, 3] = mask[2, 4, 1] = True
        self.assertEqual(bounding_box(mask), (slice(1, 3), slice(2, 5), slice(1, 4)))


class SpatialPriorTest(unittest.TestCase):
    def test_prior_interpolates_between_painted_slices_and_fades_beyond(self):
        left, right = np.zeros((4, 6), dtype=int), np.ones((4, 6), dtype=int)
        settings = SpatialPrior(sigma_mm=0.1, fade_mm=4.0, weight=1.0)
        prior = slice_prior({2: left, 6: right}, 9, 2, (1.0, 1.0, 2.0), settings)
        np.testing.assert_allclose(prior[:, 2], np.stack([np.ones((4, 6)), np.zeros((4, 6))]), atol=1e-6)
        np.testing.assert_allclose(prior[1, 3], 0.25, atol=1e-6)  # a quarter of the way from slice 2 to slice 6
        np.testing.assert_allclose(prior[1, 5], 0.75, atol=1e-6)
        fade = np.exp(-2 * 2.0 / 4.0)  # slice 8 is 4 mm beyond slice 6
        np.testing.assert_allclose(prior[1, 8], fade + (1 - fade) * 0.5, atol=1e-6)
        np.testing.assert_allclose(prior.sum(0), 1.0, atol=1e-5)

    def test_an_ambiguous_voxel_follows_its_painted_neighbours(self):
        painted = np.full((5, 4, 4), -1)
        painted[1] = 0
        painted[1, :, 2:] = 1
        painted[3] = painted[1]
        probabilities = np.full((2, 5, 4, 4), 0.5, dtype=np.float32)
        apply_prior(probabilities, painted, (4.0, 4.0, 4.0), SpatialPrior(sigma_mm=1.0))
        self.assertGreater(probabilities[0, 2, 1, 0], 0.9)
        self.assertGreater(probabilities[1, 2, 1, 3], 0.9)
        np.testing.assert_allclose(probabilities.sum(0), 1.0, atol=1e-5)
        untouched = np.full((2, 5, 4, 4), 0.5, dtype=np.float32)
        apply_prior(untouched, np.where(painted == 1, -1, painted), (4.0, 4.0, 4.0), SpatialPrior())
        np.testing.assert_allclose(untouched, 0.5)  # one painted class per slice: no prior


class SessionTest(unittest.TestCase):
    def setUp(self):
        self.network = tiny_network()
        self.calls = 0

        def count(*_):
            self.calls += 1

        self.network.conv1.register_forward_hook(count)
        self.volume, self.classes = ring_volume()

    def test_features_are_computed_once_for_many_supports(self):
        session = FewShotSession(network=self.network, device="cpu")
        session.set_volume(self.volume)
        calls_after_features = self.calls
        self.assertGreater(calls_after_features, 0)
        for slices in ([8], [8, 12], [8, 12, 16]):
            session.set_support(support_from(self.volume, self.classes, slices))
            result = session.predict()
            self.assertEqual(result.labels.labels.array.shape, self.volume.array.shape)
        self.assertEqual(self.calls, calls_after_features)
        self.assertEqual(session.feature_computations, 1)

    def test_label_values_and_names_pass_through(self):
        session = FewShotSession(network=self.network, device="cpu")
        session.set_volume(self.volume)
        names = {7: "background", 200: "LV_myocardium", 31: "LV_blood_pool"}
        support = support_from(self.volume, self.classes, [8, 12, 16], values=[0, 7, 200, 31], names=names)
        session.set_support(support)
        result = session.predict()
        self.assertEqual(result.class_labels, [7, 31, 200])
        self.assertEqual(result.class_names, ["background", "LV_blood_pool", "LV_myocardium"])
        self.assertEqual(set(np.unique(result.labels.labels.array)) - {7, 31, 200}, set())
        self.assertEqual([s.name for s in result.labels.segments], result.class_names)
        self.assertEqual(result.probabilities.shape, (3, *self.volume.array.shape))
        self.assertEqual(result.probabilities.dtype, np.float32)
        np.testing.assert_allclose(result.probabilities.sum(0), 1.0, atol=1e-4)
        argmax = np.asarray(result.class_labels)[result.probabilities.argmax(0)]
        np.testing.assert_array_equal(argmax, result.labels.labels.array)
        painted = support.labels.array != 0
        np.testing.assert_array_equal(result.labels.labels.array[painted], support.labels.array[painted])

    def test_progress_is_reported_and_cancel_keeps_the_previous_volume(self):
        session = FewShotSession(network=self.network, device="cpu")
        seen = []
        session.set_volume(self.volume, progress=lambda f, m: seen.append(f))
        self.assertEqual(seen[0], 0.0)
        self.assertEqual(seen[-1], 1.0)
        self.assertEqual(seen, sorted(seen))
        token = CancelToken()
        other, _ = ring_volume(seed=1)

        def cancel_midway(fraction, _message):
            if fraction > 0:
                token.cancel()

        with self.assertRaises(CancelledError):
            session.set_volume(other, progress=cancel_midway, cancel=token)
        self.assertIs(session.volume, self.volume)
        self.assertEqual(session.feature_computations, 1)

    def test_a_coarser_feature_grid_still_covers_every_voxel(self):
        session = FewShotSession(network=self.network, device="cpu", max_feature_cells=5000)
        volume, classes = ring_volume(size=26)
        session.set_volume(volume)
        session.set_support(support_from(volume, classes, [8, 13, 18]))
        result = session.predict()
        self.assertEqual(session._grid.stride, 2)
        self.assertEqual(result.probabilities.shape[1:], volume.array.shape)
        np.testing.assert_allclose(result.probabilities.sum(0), 1.0, atol=1e-4)
        argmax = np.asarray(result.class_labels)[result.probabilities.argmax(0)]
        self.assertLess(float(np.mean(argmax != result.labels.labels.array)), 1e-3)


class SupportCheckTest(unittest.TestCase):
    def setUp(self):
        self.volume, self.classes = ring_volume(size=20)
        self.session = FewShotSession(network=tiny_network(), device="cpu")
        self.session.set_volume(self.volume)

    def check_refused(self, support, *phrases):
        with self.assertRaises(InputError) as caught:
            self.session.set_support(support)
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        for phrase in phrases:
            self.assertIn(phrase, message)

    def test_empty_and_one_class_supports_are_refused(self):
        empty = Segmentation(self.volume.with_array(np.zeros_like(self.classes)), ())
        self.check_refused(empty, "nothing is painted")
        one = np.zeros_like(self.classes)
        one[8][self.classes[8] == 2] = 2
        self.check_refused(Segmentation(self.volume.with_array(one), segments_for([2], {2: "LV_myocardium"})),
                           "Paint at least two classes", "LV_myocardium")

    def test_a_support_on_another_grid_names_the_difference(self):
        painted = support_from(self.volume, self.classes, [8]).labels.array
        moved = Volume(painted, (4.0, 4.0, 5.0), self.volume.origin, self.volume.direction)
        self.check_refused(Segmentation(moved, ()), "spacing", "(4, 4, 5)")
        shifted = Volume(painted, self.volume.spacing, (-36.0, -30.0, 100.0), self.volume.direction)
        self.check_refused(Segmentation(shifted, ()), "origin")

    def test_a_cropped_slicer_segmentation_is_placed_into_the_volume(self):
        painted = support_from(self.volume, self.classes, [8, 12]).labels.array
        with tempfile.TemporaryDirectory() as tmp:
            box = painted[6:14, 2:18, 3:17]
            origin = self.volume.index_to_lps([3, 2, 6])
            cropped = Volume(box, self.volume.spacing, tuple(origin), self.volume.direction)
            path = write_segmentation(Segmentation(cropped, segments_for([1, 2, 3])), Path(tmp) / "s.seg.nrrd")
            support = read_segmentation(path)
            self.session.set_support(support)
            result = self.session.predict()
            placed = painted.copy()
            placed[:, :2], placed[:, 18:], placed[:, :, :3], placed[:, :, 17:] = 0, 0, 0, 0
            inside = placed != 0
            np.testing.assert_array_equal(result.labels.labels.array[inside], placed[inside])
            outside_origin = self.volume.index_to_lps([-2, 2, 6])
            sticking_out = Volume(box, self.volume.spacing, tuple(outside_origin), self.volume.direction)
            path = write_segmentation(Segmentation(sticking_out, segments_for([1, 2, 3])), Path(tmp) / "o.seg.nrrd")
            self.check_refused(read_segmentation(path), "painted voxels lie outside the volume")


class ShippedWeightsTest(unittest.TestCase):
    def test_the_default_model_is_registered_verified_and_loads(self):
        from SPECTFewShotLib.models.registry import find_model, sha256_of
        from SPECTFewShotLib.protonet.model_store import load_embedding

        entry = find_model("protonet")
        self.assertTrue(entry.default)
        self.assertEqual(sha256_of(entry.path), entry.sha256)
        self.assertLess(entry.path.stat().st_size, 10_000_000)
        self.assertTrue((entry.path.parent / entry.card).exists())
        network, loaded = load_embedding(None, "cpu")
        self.assertEqual(loaded.id, entry.id)
        self.assertFalse(network.training)
        self.assertGreater(network.temperature, 0)
        with torch.inference_mode():
            out = network(torch.rand(2, 3, 40, 36))
        self.assertEqual(tuple(out.shape), (2, network.config.dim, 40, 36))
        self.assertTrue(torch.isfinite(out).all())


if __name__ == "__main__":
    unittest.main()
