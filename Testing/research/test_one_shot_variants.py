"""The one-shot wall variants of research.evaluation.one_shot_variants: "before" is the rule without the counts'
myocardium band (it keeps more), "band" the rule without the closed-ring cut (it keeps at least as much as the
product), each variant replaces the wall rule and the confidence's `uncovered` term only while it runs."""

import unittest

import numpy as np

from SPECTFewShotLib.landmarks import confidence
from SPECTFewShotLib.landmarks.heart_search import smoothed_counts
from SPECTFewShotLib.landmarks.staged import find_lv_frame
from SPECTFewShotLib.landmarks.template_segmentation import OneShotWall
from SPECTFewShotLib.research.evaluation.one_shot_variants import RULES, variant
from Testing.fixtures import study


class FixedProbabilities:
    """Every voxel wall: what the rules are given instead of the network's classification."""

    def __call__(self, template_volume, template_myocardium, volume):
        shape = volume.array.shape
        return np.stack([np.zeros(shape), np.ones(shape), np.zeros(shape)])


class OneShotVariantsTest(unittest.TestCase):
    def test_before_keeps_a_superset_of_the_products_wall(self):
        volume, *_ = study(center=(-4.0, 6.0, -2.0), apex_direction=(0.3, -0.8, -0.5), seed=3)
        counts = smoothed_counts(volume)
        near = find_lv_frame(volume, counts=counts)
        probabilities = FixedProbabilities()(None, None, volume)
        before = RULES["before"][0](probabilities, volume, near, counts, 0.0)
        band = RULES["band"][0](probabilities, volume, near, counts, 0.0)
        product = RULES["product"][0](probabilities, volume, near, counts, 0.0)
        self.assertTrue(np.all(before[band]) and np.all(band[product]))
        self.assertGreater(before.sum(), band.sum())
        self.assertTrue(np.array_equal(RULES["band+cover"][0](probabilities, volume, near, counts, 0.0), band))

    def test_a_variant_replaces_the_rule_and_the_uncovered_term_only_while_it_runs(self):
        volume, wall, *_ = study(center=(-4.0, 6.0, -2.0), apex_direction=(0.3, -0.8, -0.5), seed=3)
        near = find_lv_frame(volume)
        shipped_wall, shipped_mm = OneShotWall.wall, confidence.UNCOVERED_MM
        with variant(lambda p, v, n, c, o: np.ones(v.array.shape, bool), 0.0, FixedProbabilities()):
            self.assertEqual(confidence.UNCOVERED_MM, 0.0)
            found = OneShotWall().wall(volume, wall, volume, near)
            self.assertTrue(np.all(found.array == 1))
        self.assertIs(OneShotWall.wall, shipped_wall)
        self.assertEqual(confidence.UNCOVERED_MM, shipped_mm)
        with variant(*RULES["product"], probabilities=FixedProbabilities()):
            self.assertEqual(confidence.UNCOVERED_MM, shipped_mm)  # the product's own term


if __name__ == "__main__":
    unittest.main()
