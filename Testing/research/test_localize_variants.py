"""The carry variants of research.evaluation.localize_variants: the steady (the product's), single (the product's
before issue 35's helper I), dilated and combined axis fits find a cup's axis, the dilation is the 26-neighbourhood
one, the reproducibility measure reads a cup's fit as reproducible, --validation's phantoms are training-range
ones, and each variant replaces its piece of the product only while it runs ("knot": the product without the
carry's two rules)."""

import unittest
from dataclasses import replace
from types import SimpleNamespace
from unittest import mock

import numpy as np
from scipy import ndimage

from SPECTFewShotLib import cardiac_landmarks
from SPECTFewShotLib.cardiac_landmarks import lv_geometry, revolution_axis, wall_points_lps
from SPECTFewShotLib.landmarks import carry
from SPECTFewShotLib.landmarks.long_axis import angle_between_deg
from SPECTFewShotLib.landmarks.lv_frame import frame_from_segmentation
from SPECTFewShotLib.research.evaluation.localize_variants import (
    agreeing_weight,
    axis_reproducibility,
    combined_axis,
    dilated_axis,
    dilated_points,
    exam_axis_candidates,
    fit_rows,
    groups_of,
    single_axis,
    steady_axis,
    variant,
)
from Testing.fixtures import centre_off_centroid_pair, cup_mask

APEX_DIRECTION = np.array([0.6, -0.5, -0.6]) / np.sqrt(0.97)


class LocalizeVariantsTest(unittest.TestCase):
    def test_the_steadier_fit_finds_the_cups_axis(self):
        axis = steady_axis(wall_points_lps(cup_mask(28.0)))
        self.assertLess(min(angle_between_deg(axis, APEX_DIRECTION), angle_between_deg(-axis, APEX_DIRECTION)), 4.0)

    def test_every_exam_axis_candidate_finds_the_cups_axis(self):
        points = wall_points_lps(cup_mask(28.0))
        for name, fit in exam_axis_candidates().items():
            axis = fit(points)
            with self.subTest(candidate=name):
                self.assertLess(min(angle_between_deg(axis, APEX_DIRECTION), angle_between_deg(-axis, APEX_DIRECTION)),
                                4.0)

    def test_the_dilated_and_combined_fits_find_the_cups_axis(self):
        points = wall_points_lps(cup_mask(28.0))
        for fit in (dilated_axis, combined_axis):
            axis = fit(points)
            self.assertLess(min(angle_between_deg(axis, APEX_DIRECTION), angle_between_deg(-axis, APEX_DIRECTION)),
                            4.0)

    def test_the_steady_variant_is_the_products_fit_and_single_is_the_old_one(self):
        points = wall_points_lps(cup_mask(28.0))
        np.testing.assert_array_equal(steady_axis(points), revolution_axis(points))
        np.testing.assert_array_equal(single_axis(points), cardiac_landmarks.least_spread_direction(points))

    def test_fit_rows_report_each_fits_move_on_points_or_a_mask(self):
        mask = cup_mask(28.0)
        walls = [("cup mask", mask, mask.array > 0), ("cup points", mask, wall_points_lps(mask))]
        lines = list(fit_rows(walls, {"single": single_axis}, single_axis))
        self.assertEqual(len(lines), 3)
        self.assertIn("from single  0.0 deg", lines[0])
        moves = [line.split("from single")[1].rsplit("; ", 1)[0] for line in lines[:2]]
        self.assertEqual(moves[0], moves[1])  # the same wall given either way: the same moves (times aside)
        self.assertTrue(lines[2].startswith("single    worst move over the walls, turns and drops:"))

    def test_dilated_points_are_the_walls_26_neighbourhood_dilation(self):
        mask = cup_mask(28.0)
        dilated = mask.with_array(ndimage.binary_dilation(mask.array > 0, np.ones((3, 3, 3), bool)).astype(np.uint8))
        expected = wall_points_lps(dilated)
        found = dilated_points(wall_points_lps(mask))
        self.assertEqual(len(found), len(expected))
        order = np.lexsort(expected.T)
        np.testing.assert_allclose(found[np.lexsort(found.T)], expected[order], atol=1e-6)

    def test_a_cups_fit_is_reproducible_and_its_own_reference(self):
        points = wall_points_lps(cup_mask(28.0))
        axis = revolution_axis(points)
        apex = lv_geometry(points, 4.0, axis=axis).apex
        result = axis_reproducibility(points, 4.0, axis, apex, revolution_axis)
        np.testing.assert_allclose(result["plain"], [[0.0, 0.0]], atol=1e-3)
        for kind in ("turn", "drop"):
            self.assertEqual(result[kind].shape, (10, 2))
            self.assertLess(result[kind][:, 0].max(), 4.0)  # degrees: a smooth cup's axis does not jump

    def test_the_fit_variants_replace_the_products_fit_only_while_they_run(self):
        own = cardiac_landmarks.revolution_axis
        for name, fit in (("frame+dilated", dilated_axis), ("frame+combined", combined_axis),
                          ("frame+single", single_axis), ("knot+steady", steady_axis)):
            with variant(name):
                self.assertIs(cardiac_landmarks.revolution_axis, fit)
            self.assertIs(cardiac_landmarks.revolution_axis, own)

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
        base, weight = carry.BASE_REFERENCE_MM, carry.centre_rule_weight
        _, target, _ = centre_off_centroid_pair(0.4)
        with variant("knot"):
            self.assertEqual(carry.BASE_REFERENCE_MM, float("inf"))
            self.assertEqual(carry.centre_rule_weight(target, 8.0), 0.0)
        with variant("frame+centre1"):
            self.assertEqual(carry.BASE_REFERENCE_MM, base)
            self.assertEqual(carry.centre_rule_weight(target, 8.0), 1.0)
        with variant("frame+centre0.75"):
            self.assertEqual(carry.centre_rule_weight(replace(target, source="one-shot"), 8.0), 0.75)
        with variant("frame+agree8"):
            self.assertAlmostEqual(carry.centre_rule_weight(replace(target, source="one-shot"), 8.0), 0.5)
        self.assertIs(carry.centre_rule_weight, weight)
        self.assertEqual(carry.BASE_REFERENCE_MM, base)

    def test_the_agreeing_weight_moves_the_centre_by_how_far_the_two_estimates_lie_apart(self):
        # The template's LV_center 40 % of the way from its apex to its base, the target LV longer on the base side:
        # the frame's carry and the ends' lie d apart; the centre goes d^2 / (d^2 + s^2) of the way to the ends'.
        template, target, landmarks = centre_off_centroid_pair(0.4)
        with variant("frame-centre"):
            by_frame = np.asarray(carry.carry_landmarks(template, target, landmarks))
        with variant("frame+centre1"):
            by_ends = np.asarray(carry.carry_landmarks(template, target, landmarks))
        apart = float(np.sum((by_ends - by_frame) ** 2))
        self.assertGreater(apart, 4.0)
        for scale in (0.01, 4.0, 1000.0):
            with mock.patch.object(carry, "centre_rule_weight", agreeing_weight(scale)):
                found = np.asarray(carry.carry_landmarks(template, target, landmarks))
            wanted = by_frame + apart / (apart + scale ** 2) * (by_ends - by_frame)
            self.assertLess(float(np.abs(found - wanted).max()), 1e-6)

    def test_validation_phantoms_come_from_the_training_range(self):
        # --validation chooses a setting on training-range validation seeds, never on held-out ones.
        from SPECTFewShotLib.research.evaluation import localize_cases
        from SPECTFewShotLib.research.seeds import HELD_OUT_SEED_START, validation_seeds

        asked = []

        def cases(seeds):
            asked.append(list(seeds))
            return [SimpleNamespace(target_volume=object(), target_wall=seed) for seed in seeds]

        with mock.patch.object(localize_cases, "phantom_cases", cases), \
                mock.patch.object(localize_cases, "classified_wall", lambda volume, wall, how: wall):
            groups = groups_of(None, 0, 3)
        self.assertEqual(asked, [validation_seeds(3)])
        self.assertLess(max(asked[0]), HELD_OUT_SEED_START)
        found, templates, _ = groups["valid. phantoms"]
        self.assertEqual(templates, [found[1].target_wall, found[2].target_wall, found[0].target_wall])


if __name__ == "__main__":
    unittest.main()
