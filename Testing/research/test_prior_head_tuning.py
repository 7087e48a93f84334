"""The test-time head candidate of issue 34 (research/evaluation/prior_head_tuning.py): its gradient, its identity
reproducing the product's prior, and its cross-fitting (fold f's head never reads fold f's paint)."""

from __future__ import annotations

import unittest

import numpy as np

from SPECTFewShotLib.classification.prior_features import CrossFittedPrior
from SPECTFewShotLib.protonet.prototypes import Prototypes, column_probabilities
from SPECTFewShotLib.research.evaluation import prior_head_tuning as head_tuning
from Testing.fixtures import paint_prior, ring_prior


class HeadLossTest(unittest.TestCase):
    def test_gradient_matches_finite_differences(self):
        rng = np.random.default_rng(0)
        episode = head_tuning.Episode(rng.normal(size=(30, 5)), rng.integers(0, 3, 30), np.full(30, 1 / 30),
                                      rng.normal(size=(5, 5)), np.array([0, 1, 2, 0, 1]))
        for diagonal in (False, True):
            head = rng.normal(size=5) if diagonal else np.eye(5) + 0.1 * rng.normal(size=(5, 5))
            _, grad = head_tuning.episode_loss(head, episode, 0.7, 3, diagonal)
            numeric = np.zeros_like(head)
            for index in np.ndindex(head.shape):
                step = np.zeros_like(head)
                step[index] = 1e-6
                plus = head_tuning.episode_loss(head + step, episode, 0.7, 3, diagonal)[0]
                minus = head_tuning.episode_loss(head - step, episode, 0.7, 3, diagonal)[0]
                numeric[index] = (plus - minus) / 2e-6
            np.testing.assert_allclose(grad, numeric, atol=1e-6)

    def test_metric_probabilities_are_the_projected_embeddings(self):
        rng = np.random.default_rng(1)
        columns = rng.normal(size=(6, 50)).astype(np.float32)
        prototypes = Prototypes(rng.normal(size=(4, 6)).astype(np.float32), np.array([0, 1, 2, 1]), 3)
        head = rng.normal(size=(6, 6))
        projected = Prototypes((prototypes.vectors @ head.T).astype(np.float32), prototypes.class_of, 3)
        expected = column_probabilities((head @ columns).astype(np.float32), projected, 0.7)
        np.testing.assert_allclose(head_tuning.metric_probabilities(columns, prototypes, head, 0.7), expected,
                                   atol=1e-5)

    def test_variants_parse(self):
        self.assertIsNone(head_tuning.parse_variant("default"))
        settings = head_tuning.parse_variant("diagonal:steps=5,decay=0.5")
        self.assertEqual((settings.kind, settings.steps, settings.decay), ("diagonal", 5, 0.5))
        with self.assertRaises(ValueError):
            head_tuning.parse_variant("low-rank")


class CrossFittedHeadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.volume, cls.classes, cls.prior = ring_prior(size=24)

    def painted(self, classes, slices):
        return paint_prior(self.prior, self.volume, classes, slices)

    def test_no_steps_is_the_products_prior(self):
        painted, where = self.painted(self.classes, [6, 10, 14, 18])
        tuned = head_tuning.HeadTunedPrior(self.prior, painted, where, head_tuning.HeadSettings(steps=0))
        product = CrossFittedPrior(self.prior, painted, where)
        np.testing.assert_allclose(tuned.held_out(), product.held_out(), atol=1e-5)
        np.testing.assert_allclose(tuned.mean_cells, product.mean_cells, atol=1e-5)

    def test_a_folds_head_never_reads_its_own_paint(self):
        slices = [6, 10, 14, 18]
        painted, where = self.painted(self.classes, slices)
        settings = head_tuning.HeadSettings(steps=10, learning_rate=0.05)
        tuned = head_tuning.HeadTunedPrior(self.prior, painted, where, settings)
        self.assertTrue(all(np.abs(h - np.eye(len(h))).max() > 1e-3 for h in tuned.heads.values()))
        changed = self.classes.copy()
        changed[18][self.classes[18] == 3] = 2  # the last slice's cavity painted as wall
        painted_changed, where_changed = self.painted(changed, slices)
        other = head_tuning.HeadTunedPrior(self.prior, painted_changed, where_changed, settings)
        last = int(np.max(tuned.folds))
        np.testing.assert_allclose(other.heads[last], tuned.heads[last], atol=1e-6)  # its head: the other folds
        self.assertGreater(np.abs(other.heads[0] - tuned.heads[0]).max(), 1e-4)  # the others' heads read it


if __name__ == "__main__":
    unittest.main()
