"""The carry variants of research.evaluation.localize_variants: the steadier axis fit finds a cup's axis, and each
variant replaces its piece of the product only while it runs ("knot": the product without the carry's two rules)."""

import unittest

import numpy as np

from SPECTFewShotLib.cardiac_landmarks import wall_points_lps
from SPECTFewShotLib.landmarks import carry
from SPECTFewShotLib.landmarks.long_axis import angle_between_deg
from SPECTFewShotLib.landmarks.lv_frame import frame_from_segmentation
from SPECTFewShotLib.research.evaluation.localize_variants import steady_axis, variant
from Testing.fixtures import cup_mask

APEX_DIRECTION = np.array([0.6, -0.5, -0.6]) / np.sqrt(0.97)


class LocalizeVariantsTest(unittest.TestCase):
    def test_the_steadier_fit_finds_the_cups_axis(self):
        axis = steady_axis(wall_points_lps(cup_mask(28.0)))
        self.assertLess(min(angle_between_deg(axis, APEX_DIRECTION), angle_between_deg(-axis, APEX_DIRECTION)), 4.0)

    def test_before_puts_the_knot_at_the_proportion_only_while_it_runs(self):
        frame = frame_from_segmentation(cup_mask(22.0))
        apex_t = float((frame.geometry.apex - frame.geometry.center) @ -frame.geometry.axis)
        own = carry.endocardial_apex_mm(frame)
        with variant("before"):
            self.assertAlmostEqual(carry.endocardial_apex_mm(frame), carry.ENDOCARDIAL_ALONG * apex_t)
        self.assertEqual(carry.endocardial_apex_mm(frame), own)
        self.assertGreater(abs(own - carry.ENDOCARDIAL_ALONG * apex_t), 1.0)  # the cup's cavity ends elsewhere
        with self.assertRaises(ValueError), variant("no such variant"):
            pass

    def test_knot_is_the_product_without_the_two_rules_only_while_it_runs(self):
        rules = (carry.BASE_REFERENCE_MM, carry.CENTRE_RULE_WEIGHT)
        with variant("knot"):
            self.assertEqual((carry.BASE_REFERENCE_MM, carry.CENTRE_RULE_WEIGHT), (float("inf"), 0.0))
        with variant("frame+centre1"):
            self.assertEqual((carry.BASE_REFERENCE_MM, carry.CENTRE_RULE_WEIGHT), (rules[0], 1.0))
        self.assertEqual((carry.BASE_REFERENCE_MM, carry.CENTRE_RULE_WEIGHT), rules)


if __name__ == "__main__":
    unittest.main()
