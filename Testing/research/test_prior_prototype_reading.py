"""What the learner reads from the prototypes (research/evaluation/prior_prototype_reading.py): the variants parse,
the distances are the nearest prototype's, the readings stay cross-fitted, and the study learner is fitted on them."""

from __future__ import annotations

import unittest
from unittest import mock

import numpy as np

from SPECTFewShotLib.classification.learner import TreeEnsemble
from SPECTFewShotLib.classification.prior_features import CrossFittedPrior, held_out_prototypes
from SPECTFewShotLib.classification.session import StudySession
from SPECTFewShotLib.protonet.prototypes import Prototypes
from SPECTFewShotLib.protonet.support import check_support, class_index_map, paint_boundaries, painted_voxels
from SPECTFewShotLib.research.evaluation import prior_prototype_reading as reading
from Testing.fixtures import ring_volume, support_from, tiny_network


class HelpersTest(unittest.TestCase):
    def test_variants_parse(self):
        default = reading.parse_variant("default")
        self.assertEqual(default, {"distances": False, "probabilities": True, "max_per_class": 12, "boundary": True,
                                   "temperature": 1.0})
        self.assertEqual(reading.parse_variant("dist+k4+nobound+t2.5"),
                         {"distances": True, "probabilities": False, "max_per_class": 4, "boundary": False,
                          "temperature": 2.5})
        both = reading.parse_variant("dist+prob")
        self.assertTrue(both["distances"] and both["probabilities"])
        for text in ("k0", "t0", "distance", "k"):
            with self.assertRaises(ValueError):
                reading.parse_variant(text)

    def test_nearest_distances_are_each_class_nearest_prototype(self):
        rng = np.random.default_rng(0)
        vectors = rng.normal(size=(5, 6)).astype(np.float32)
        prototypes = Prototypes(vectors, np.array([0, 0, 1, 2, 2]), 3)
        columns = rng.normal(size=(6, 40)).astype(np.float32)
        expected = np.linalg.norm(columns.T[:, None, :] - vectors[None], axis=2)  # [N, P]
        got = reading.nearest_distances(columns, prototypes)
        np.testing.assert_allclose(got[0], expected[:, :2].min(1), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(got[1], expected[:, 2], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(got[2], expected[:, 3:].min(1), rtol=1e-4, atol=1e-4)
        unit = columns / np.linalg.norm(columns, axis=0)
        cosine = reading.nearest_distances(unit, prototypes, "cosine")
        similarity = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)) @ unit
        np.testing.assert_allclose(cosine[1], 1.0 - similarity[2], rtol=1e-4, atol=1e-4)

    def test_both_readings_take_each_kept_class_twice(self):
        both = reading.parse_variant("dist+prob")
        self.assertEqual(reading.read_channels([0, 2], 3, both), [0, 2, 3, 5])
        self.assertEqual(reading.read_channels([0, 2], 3, reading.parse_variant("dist")), [0, 2])


class CrossFittingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.volume, classes = ring_volume(size=20)
        cls.session = StudySession(network=tiny_network(), device="cpu")
        cls.session.set_volume(cls.volume)
        cls.support = support_from(cls.volume, classes, [5, 10, 14])
        checked = check_support(cls.support, cls.volume)
        cls.painted = class_index_map(checked)
        cls.where = painted_voxels(cls.painted, checked.slices)

    def test_the_probability_reading_is_the_products_prior(self):
        prior = self.session.prior
        product = CrossFittedPrior(prior, self.painted, self.where)
        same = reading.ReadingPrior(prior, self.painted, self.where, reading.parse_variant("default"))
        np.testing.assert_allclose(same.mean_cells, product.mean_cells, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(same.held_out(), product.held_out(), rtol=1e-5, atol=1e-6)
        fewer = reading.ReadingPrior(prior, self.painted, self.where, reading.parse_variant("k1+nobound"))
        self.assertGreater(np.abs(fewer.mean_cells - product.mean_cells).max(), 1e-3)

    def test_a_painted_voxel_reads_distances_to_prototypes_without_its_fold(self):
        prior = self.session.prior
        settings = reading.parse_variant("dist")
        made = reading.ReadingPrior(prior, self.painted, self.where, settings)
        self.assertEqual(prior.grid.stride, 1)
        columns = prior.embedding_columns(self.where)
        classes = self.painted[tuple(self.where.T)].astype(np.int64)
        held = made.held_out()
        for fold in np.unique(made.folds):
            rows = np.flatnonzero(made.folds == fold)
            edge = paint_boundaries(self.painted)[tuple(self.where.T)]
            without = held_out_prototypes(columns, classes, edge, made.folds == fold, 3)
            expected = reading.nearest_distances(columns[:, rows], without)
            np.testing.assert_allclose(held[rows], expected.T, rtol=1e-4, atol=1e-4)
            with_fold = held_out_prototypes(columns, classes, edge, np.zeros(len(classes), bool), 3)
            inside = reading.nearest_distances(columns[:, rows], with_fold)
            # prototypes holding the fold's own voxels are nearer to them: the held-out reading is not those
            own = inside[classes[rows], np.arange(len(rows))].mean()
            self.assertLess(own, held[rows, classes[rows]].mean())
        # an unpainted voxel reads the mean over the folds
        np.testing.assert_allclose(made.mean_cells, sum(made.cells) / len(made.cells), rtol=1e-6)
        self.assertTrue(np.all(made.mean_cells >= 0))
        self.assertFalse(np.allclose(made.mean_cells.sum(0), 1.0, atol=1e-2))  # not probabilities


class LearnerTest(unittest.TestCase):
    def test_the_study_learner_is_fitted_on_the_variants_readings(self):
        volume, classes = ring_volume(size=20)
        session = StudySession(network=tiny_network(), device="cpu")
        session.set_volume(volume)
        support = support_from(volume, classes, [6, 13])
        fitted: list = []
        original = TreeEnsemble.fit

        def fit(self, features, labels):
            fitted.append(np.array(features))
            return original(self, features, labels)

        widths = {}
        for variant in ("default", "dist", "dist+prob"):
            session.set_support(support)
            settings = None if variant == "default" else reading.parse_variant(variant)
            with mock.patch.object(TreeEnsemble, "fit", fit), reading.reading_variant(settings) as built:
                session.predict("full")
            self.assertEqual(len(built), 1)
            train = fitted[-1]
            widths[variant] = train.shape[1]
            expected = built[0].held_out()
            self.assertEqual(expected.shape[1], 6 if variant == "dist+prob" else 3)
            for column in expected.T:  # every reading is a column the learner was fitted on
                self.assertTrue(any(np.allclose(column, t, atol=1e-6) for t in train.T), variant)
            if variant == "dist":
                self.assertFalse(np.allclose(expected.sum(1), 1.0, atol=1e-2))
        self.assertEqual(widths["dist"], widths["default"])
        self.assertEqual(widths["dist+prob"], widths["default"] + 3)


if __name__ == "__main__":
    unittest.main()
