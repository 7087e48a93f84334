"""The study classifier (StudySession): paint is kept, only painted classes appear, the learner corrects a wrong
prior, the graph cut keeps hard constraints, distances to the paint are exact, and a real study stays accurate."""

import unittest

import numpy as np
from scipy import ndimage

from SPECTFewShotLib.classification.graph_cut import alpha_expansion, contrast_weights
from SPECTFewShotLib.classification.paint_distances import PaintDistances
from SPECTFewShotLib.classification.session import StudySession
from SPECTFewShotLib.classification.study_features import compute_study_features, feature_names
from SPECTFewShotLib.errors import CancelledError, InputError
from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for
from SPECTFewShotLib.research.evaluation.metrics import dice
from SPECTFewShotLib.runtime.progress import CancelToken
from SPECTFewShotLib.selftest.painting import paint, unpainted_slices
from Testing.fixtures import ring_volume, support_from, tiny_network


def session_on(volume, **options) -> StudySession:
    session = StudySession(network=tiny_network(), device="cpu", **options)
    session.set_volume(volume)
    return session


class StudySessionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.volume, cls.classes = ring_volume(size=24)
        cls.session = session_on(cls.volume)

    def test_painted_voxels_keep_their_labels_and_values_pass_through(self):
        names = {7: "background", 200: "LV_myocardium", 31: "LV_blood_pool"}
        support = support_from(self.volume, self.classes, [7, 12, 16], values=[0, 7, 200, 31], names=names)
        for stages in ("prior", "preview", "learner", "full"):
            self.session.set_support(support)
            result = self.session.predict(stages)
            labels = result.labels.labels.array
            painted = support.labels.array != 0
            np.testing.assert_array_equal(labels[painted], support.labels.array[painted], err_msg=stages)
            self.assertEqual(result.class_labels, [7, 31, 200])
            self.assertEqual(result.class_names, ["background", "LV_blood_pool", "LV_myocardium"])
            self.assertEqual(set(np.unique(labels)) - {7, 31, 200}, set())
            self.assertEqual(result.probabilities.shape, (3, *self.volume.array.shape))
            np.testing.assert_allclose(result.probabilities.sum(0), 1.0, atol=1e-4)
            painted_index = np.searchsorted(result.class_labels, support.labels.array[painted])
            np.testing.assert_allclose(result.probabilities[:, painted][painted_index, np.arange(painted.sum())], 1.0,
                                       atol=1e-5, err_msg=stages)

    def test_a_class_that_is_not_painted_never_appears(self):
        support = support_from(self.volume, self.classes, [7, 12, 16])
        array = support.labels.array.copy()
        array[array == 3] = 0  # the cavity is left unpainted: background and myocardium only
        painted = Segmentation(self.volume.with_array(array), segments_for([1, 2]))
        self.session.set_support(painted)
        for stages in ("preview", "learner", "full"):
            result = self.session.predict(stages)
            self.assertEqual(set(np.unique(result.labels.labels.array)), {1, 2})
            self.assertEqual(result.probabilities.shape[0], 2)

    def test_the_full_stages_are_accurate_on_the_unpainted_slices(self):
        slices = [7, 12, 16]
        for protocol in ("slices", "strokes"):
            support = paint(self.classes, slices, protocol)
            self.session.set_support(Segmentation(self.volume.with_array(support), segments_for([1, 2, 3])))
            labels = self.session.predict().labels.labels.array
            where = unpainted_slices(support.shape, slices)
            for value in (1, 2, 3):
                score = dice(labels == value, self.classes == value, where)
                self.assertGreater(score, 0.9, f"{protocol} class {value}: Dice {score:.3f}")

    def test_bad_paint_is_refused_with_one_line(self):
        empty = Segmentation(self.volume.with_array(np.zeros_like(self.classes)), ())
        one = np.zeros_like(self.classes)
        one[8][self.classes[8] == 2] = 2
        for support, phrase in ((empty, "nothing is painted"),
                                (Segmentation(self.volume.with_array(one), segments_for([2])), "at least two")):
            with self.assertRaises(InputError) as caught:
                self.session.set_support(support)
            self.assertNotIn("\n", str(caught.exception))
            self.assertIn(phrase, str(caught.exception))
        with self.assertRaises(InputError):
            StudySession(network=tiny_network(), device="cpu", stages="everything")

    def test_features_once_progress_and_cancel_keep_the_previous_volume(self):
        session = StudySession(network=tiny_network(), device="cpu")
        seen = []
        session.set_volume(self.volume, progress=lambda f, m: seen.append(f))
        self.assertEqual(seen, sorted(seen))
        self.assertEqual(seen[-1], 1.0)
        for slices in ([8, 12], [8, 12, 16]):
            session.set_support(support_from(self.volume, self.classes, slices))
            session.predict()
        self.assertEqual(session.feature_computations, 1)
        token = CancelToken()
        other, _ = ring_volume(size=24, seed=1)

        def cancel_midway(fraction, _message):
            if fraction > 0.3:
                token.cancel()

        with self.assertRaises(CancelledError):
            session.set_volume(other, progress=cancel_midway, cancel=token)
        self.assertIs(session.volume, self.volume)
        self.assertEqual(session.feature_computations, 1)


class LearnerCorrectsThePriorTest(unittest.TestCase):
    def test_the_study_explains_what_the_prior_gets_wrong(self):
        """An untrained prior (a random tiny network) classifies poorly; the study's own counts explain the classes,
        and the learner fitted on the paint gets them right."""
        volume, classes = ring_volume(size=24, seed=3)
        session = session_on(volume)
        slices = [7, 12, 16]
        session.set_support(support_from(volume, classes, slices))
        where = unpainted_slices(classes.shape, slices)
        prior = session.predict("prior").labels.labels.array
        full = session.predict("full").labels.labels.array
        prior_score = dice(prior == 2, classes == 2, where)
        full_score = dice(full == 2, classes == 2, where)
        self.assertGreater(full_score, 0.95)
        self.assertGreater(full_score, prior_score + 0.05, f"prior {prior_score:.3f}, full {full_score:.3f}")


class CalibrationTest(unittest.TestCase):
    def test_balanced_probabilities_become_posteriors(self):
        """A balanced classifier says 0.5 where its evidence is neutral; with a class painted nine times as often,
        the posterior there is 0.9 for that class."""
        from SPECTFewShotLib.classification.session import calibrate_to_paint

        probabilities = np.full((2, 4, 4, 4), 0.5, dtype=np.float32)
        calibrate_to_paint(probabilities, np.array([0] * 9 + [1]), 2)
        np.testing.assert_allclose(probabilities[0], 0.9, atol=1e-6)
        np.testing.assert_allclose(probabilities.sum(0), 1.0, atol=1e-6)


class GraphCutTest(unittest.TestCase):
    def test_hard_constraints_and_smoothing(self):
        rng = np.random.default_rng(0)
        truth = np.zeros((12, 20, 20), dtype=bool)
        truth[:, 5:15, 5:15] = True
        image = truth + rng.normal(0, 0.35, truth.shape).astype(np.float32)
        p1 = 1 / (1 + np.exp(-(image - 0.5) * 4))
        probabilities = np.stack([1 - p1, p1]).astype(np.float32)
        painted = np.full(truth.shape, -1, dtype=np.int16)
        painted[6, 10, 10] = 1
        painted[6, 1, 1] = 0
        painted[6, 2, 2] = 1  # a painted voxel the unaries and smoothness both argue against
        labels = alpha_expansion(probabilities, contrast_weights(image, (4.0, 4.0, 4.0)), painted)
        self.assertEqual(labels[6, 2, 2], 1)
        self.assertEqual(labels[6, 1, 1], 0)
        self.assertLess(int(((labels == 1) != truth).sum()), int(((probabilities.argmax(0) == 1) != truth).sum()) / 5)

    def test_three_labels(self):
        truth = np.zeros((6, 12, 12), dtype=np.int64)
        truth[:, :, 4:8] = 1
        truth[:, :, 8:] = 2
        probabilities = np.full((3, *truth.shape), 0.2, dtype=np.float32)
        np.put_along_axis(probabilities, truth[None], 0.6, 0)
        probabilities[:, 3, 6, 2] = (0.1, 0.1, 0.8)  # an isolated wrong voxel
        painted = np.full(truth.shape, -1, dtype=np.int16)
        labels = alpha_expansion(probabilities, contrast_weights(np.zeros(truth.shape, np.float32), (1, 1, 1)),
                                 painted)
        np.testing.assert_array_equal(labels, truth)


class PaintDistancesTest(unittest.TestCase):
    def test_exact_and_leave_one_slice_out(self):
        rng = np.random.default_rng(0)
        painted = np.full((16, 20, 18), -1, dtype=np.int16)
        painted[4][rng.random((20, 18)) < 0.05] = 0
        painted[9][rng.random((20, 18)) < 0.05] = 1
        painted[13, 3, 3] = 0
        spacing = (4.0, 3.0, 2.0)
        paint_distances = PaintDistances(painted, 2, spacing)
        distances = paint_distances.at((slice(None),) * 3).reshape(2, *painted.shape)
        for c in range(2):
            np.testing.assert_allclose(distances[c], ndimage.distance_transform_edt(painted != c, sampling=spacing),
                                       atol=1e-3)
        where = np.argwhere(painted >= 0)
        left_out = paint_distances.left_out(where)
        for row, (k, j, i) in enumerate(where):
            seeds = painted == 0
            seeds[k] = False
            expected = ndimage.distance_transform_edt(~seeds, sampling=spacing)[k, j, i]
            self.assertAlmostEqual(float(left_out[row, 0]), float(expected), places=3)


class StudyFeaturesTest(unittest.TestCase):
    def test_small_and_large_volumes(self):
        for size in (8, 32):
            array = np.random.default_rng(size).random((size, size, size)).astype(np.float32) * 100
            features = compute_study_features(array)
            self.assertEqual(features.channels.shape, (len(feature_names()), size, size, size))
            self.assertTrue(np.isfinite(features.channels).all())


class RealStudyTest(unittest.TestCase):
    def test_the_bundled_study_stays_above_growcut(self):
        """patient001 painted on three slices: the product stays above Grow from seeds (0.869)."""
        from SPECTFewShotLib.research.evaluation.cases import real_study_case

        case = real_study_case()
        session = StudySession(network=tiny_network(), device="cpu")
        session.set_volume(case.volume)
        scores = {}
        for protocol in ("slices", "strokes"):
            support = paint(case.class_map, case.slices, protocol)
            session.set_support(Segmentation(case.volume.with_array(support), segments_for(case.classes)))
            labels = session.predict().labels.labels.array
            scores[protocol] = dice(labels == 2, case.class_map == 2, unpainted_slices(support.shape, case.slices))
        self.assertGreater(scores["slices"], MINIMUM_REAL_DICE["slices"], scores)
        self.assertGreater(scores["strokes"], MINIMUM_REAL_DICE["strokes"], scores)


# patient001: 0.895 (slices) and 0.801 (strokes) with the shipped settings; GrowCut 0.869 and 0.676
MINIMUM_REAL_DICE = {"slices": 0.875, "strokes": 0.77}


if __name__ == "__main__":
    unittest.main()
