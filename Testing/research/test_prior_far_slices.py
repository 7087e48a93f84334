"""The far-from-the-paint candidates of issue 34 (research/evaluation/prior_far_slices.py): the extra channels are
cross-fitted (a fold's training columns never read that fold's paint), the offsets read where they say, and the
variants parse."""

from __future__ import annotations

import unittest

import numpy as np

from SPECTFewShotLib.classification.prior_features import CrossFittedPrior
from SPECTFewShotLib.research.evaluation import prior_far_slices as far
from SPECTFewShotLib.volume import Volume
from Testing.fixtures import paint_prior, ring_prior, support_from


class HelpersTest(unittest.TestCase):
    def test_variants_parse(self):
        self.assertEqual(far.parse_variant("default"), {"fill": None, "offsets": [], "distance": None})
        self.assertEqual(far.parse_variant("off2+off4+sdistkept+fill"),
                         {"fill": "prior", "offsets": [2, 4], "distance": "kept"})
        with self.assertRaises(ValueError):
            far.parse_variant("smooth")

    def test_shifted_reads_the_offset_voxel_clamped(self):
        array = np.arange(5 * 4 * 3, dtype=np.float32).reshape(5, 4, 3)
        moved = far.shifted(array, 0, 2)
        np.testing.assert_array_equal(moved[1], array[3])
        np.testing.assert_array_equal(moved[4], array[4])  # clamped at the face
        np.testing.assert_array_equal(far.shifted(array[None], 2, -1)[0][:, :, 0], array[:, :, 0])

    def test_signed_distance_is_negative_inside(self):
        region = np.zeros((1, 1, 9), dtype=bool)
        region[0, 0, 3:6] = True
        distance = far.signed_distance(region, (1.0, 1.0, 2.0))
        self.assertLess(distance[0, 0, 4], 0)
        self.assertAlmostEqual(float(distance[0, 0, 8]), 6.0)
        self.assertTrue(np.all(far.signed_distance(np.zeros((2, 2, 2), bool), (1, 1, 1)) == far.FAR_MM))

    def test_distance_to_paint(self):
        np.testing.assert_array_equal(far.distance_to_paint((8, 1, 1), [2, 5]), [2, 1, 0, 1, 1, 0, 1, 2])


class _FixedPrior:
    """A stand-in CrossFittedPrior whose mean probabilities are given per voxel (stride 1)."""

    def __init__(self, probabilities):
        self.mean_cells = probabilities

    def voxels(self, classes=None):
        return self.mean_cells if classes is None else self.mean_cells[classes]


class CavityFillTest(unittest.TestCase):
    def setUp(self):
        # a closed ring wall (2) around a cavity on every slice; the cavity (3) painted on slice 2, labelled
        # background (1) elsewhere except on slice 4, where the labels already say blood pool
        self.reference = np.ones((7, 12, 12), dtype=np.int32)
        self.reference[:, 2:10, 2:10] = 2
        self.reference[:, 4:8, 4:8] = 3
        volume = Volume(np.ones(self.reference.shape, np.float32), (4.0, 4.0, 4.0), (0.0, 0.0, 0.0),
                        (1, 0, 0, 0, 1, 0, 0, 0, 1))
        self.volume = volume
        painted = support_from(volume, self.reference, [2], names={1: "background", 2: "LV_myocardium",
                                                                   3: "LV_blood_pool"})
        self.support, _, _ = far.checked_paint(painted, volume)
        self.labels = np.where(self.reference == 3, 1, self.reference)
        self.labels[2] = self.reference[2]
        self.labels[4] = self.reference[4]

    def prior_saying(self, cavity: bool):
        probabilities = np.zeros((3, *self.reference.shape), dtype=np.float32)
        probabilities[0] = 1.0
        if cavity:
            probabilities[0][self.reference == 3] = 0.0
            probabilities[2][self.reference == 3] = 1.0
        return _FixedPrior(probabilities)

    def test_enclosed_voxels_the_prior_calls_blood_pool_become_blood_pool(self):
        filled = far.cavity_fill(self.support, self.volume, self.prior_saying(True), self.labels, "prior")
        np.testing.assert_array_equal(filled, self.reference)
        near = far.cavity_fill(self.support, self.volume, self.prior_saying(True), self.labels, "near")
        np.testing.assert_array_equal(near, self.reference)

    def test_nothing_moves_where_the_prior_says_background(self):
        kept = far.cavity_fill(self.support, self.volume, self.prior_saying(False), self.labels, "prior")
        np.testing.assert_array_equal(kept, self.labels)
        self.assertTrue((far.cavity_fill(self.support, self.volume, self.prior_saying(False), self.labels,
                                         "any") == 3).sum() > (self.labels == 3).sum())


class ExtendedPriorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.volume, cls.classes, cls.prior = ring_prior(size=24)

    def painted(self, classes, slices):
        return paint_prior(self.prior, self.volume, classes, slices)

    def extended(self, painted, where):
        return far.ExtendedPrior(self.prior, painted, where, [0, 2], [2], [0, 1, 2], (1.0, 1.0, 1.0))

    def test_class_channels_are_the_products(self):
        painted, where = self.painted(self.classes, [6, 10, 14, 18])
        extended, product = self.extended(painted, where), CrossFittedPrior(self.prior, painted, where)
        self.assertEqual(extended.extra_count, 6 * 2 + 3)
        np.testing.assert_allclose(extended.held_out()[:, :3], product.held_out())
        np.testing.assert_allclose(extended.voxels([0, 2]), product.voxels([0, 2]))
        self.assertEqual(extended.voxels([1, 3, 4]).shape[0], 3)
        self.assertEqual(extended.held_out().shape, (len(where), 3 + extended.extra_count))

    def test_a_folds_extra_columns_never_read_its_own_paint(self):
        slices = [6, 10, 14, 18]
        painted, where = self.painted(self.classes, slices)
        before = self.extended(painted, where)
        changed = self.classes.copy()
        changed[18][self.classes[18] == 3] = 2  # the last slice's cavity painted as wall
        painted_changed, where_changed = self.painted(changed, slices)
        after = self.extended(painted_changed, where_changed)
        np.testing.assert_array_equal(where, where_changed)
        last = before.folds == int(np.max(before.folds))
        np.testing.assert_allclose(after.extra_train[last], before.extra_train[last], atol=1e-6)
        self.assertGreater(np.abs(after.extra_train[~last] - before.extra_train[~last]).max(), 1e-4)


if __name__ == "__main__":
    unittest.main()
