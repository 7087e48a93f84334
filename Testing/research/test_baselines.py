"""The baselines reproduce the METHODS numbers on the bundled study with our painting protocols."""

import unittest

import numpy as np

from SPECTFewShotLib.research.baselines.growcut import grow_from_seeds
from SPECTFewShotLib.research.baselines.random_forest import FILTER_SIGMAS, filter_bank, random_forest_segment
from SPECTFewShotLib.research.evaluation.cases import real_study_case
from SPECTFewShotLib.research.evaluation.metrics import dice
from SPECTFewShotLib.selftest.painting import paint, unpainted_slices


class BaselinesOnTheRealStudyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.case = real_study_case()
        cls.where = unpainted_slices(cls.case.class_map.shape, cls.case.slices)

    def myocardium_dice(self, labels):
        return dice(labels == 2, self.case.class_map == 2, self.where)

    def test_growcut_gives_the_methods_numbers(self):
        for protocol, expected in (("slices", 0.869), ("strokes", 0.676)):
            support = paint(self.case.class_map, self.case.slices, protocol)
            labels = grow_from_seeds(self.case.volume, support)
            self.assertAlmostEqual(self.myocardium_dice(labels), expected, delta=0.001, msg=protocol)

    def test_random_forest_gives_the_methods_numbers(self):
        for protocol, expected in (("slices", 0.764), ("strokes", 0.219)):
            support = paint(self.case.class_map, self.case.slices, protocol)
            labels = random_forest_segment(self.case.volume.array, support)
            self.assertAlmostEqual(self.myocardium_dice(labels), expected, delta=0.005, msg=protocol)

    def test_filter_bank_has_counts_and_three_filters_per_sigma(self):
        features = filter_bank(np.random.default_rng(0).random((6, 7, 8)))
        self.assertEqual(features.shape, (6 * 7 * 8, 1 + 3 * len(FILTER_SIGMAS)))
        self.assertEqual(features.dtype, np.float32)


if __name__ == "__main__":
    unittest.main()
