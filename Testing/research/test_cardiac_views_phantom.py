"""Phantom defects of set depth in named AHA segments (the polar map's known answer), and the evaluation's plans."""

import unittest

import numpy as np

from SPECTFewShotLib.cardiac_views.aha_segments import segments_of_heart_point
from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.research.evaluation.polar_map_eval import DEPTHS, defect_plan, paired_summary, per_segment_table
from SPECTFewShotLib.research.phantom.anatomy import sample_heart
from SPECTFewShotLib.research.phantom.config import PhantomConfig
from SPECTFewShotLib.research.phantom.heart import Myocardium, SegmentDefect
from SPECTFewShotLib.research.phantom.landmarks import heart_landmarks


def myocardial_points(heart, count=20000, seed=0):
    """Random points inside the phantom's LV wall (patient mm)."""
    lo, hi = heart.bounds()
    points = np.random.default_rng(seed).uniform(lo, hi, size=(count, 3))
    return points[Myocardium(heart).contains(points)]


class SegmentDefectTest(unittest.TestCase):
    def test_defect_lowers_exactly_the_named_segments(self):
        plain = sample_heart(np.random.default_rng(5), 120.0, 0.0)
        defect = SegmentDefect((3, 9, 14), 0.4)
        heart = sample_heart(np.random.default_rng(5), 120.0, 0.0, defect)
        np.testing.assert_allclose(heart.axis, plain.axis)  # the same anatomy: same draws
        self.assertEqual(heart.r_endo, plain.r_endo)
        points = myocardial_points(heart)
        segments = heart.aha_segments(points)
        self.assertEqual(set(np.unique(segments)), set(range(1, 18)))
        ratio = heart.myocardial_uptake(points) / plain.myocardial_uptake(points)
        inside = np.isin(segments, defect.segments)
        np.testing.assert_allclose(ratio[inside], 0.6)
        np.testing.assert_allclose(ratio[~inside], 1.0)

    def test_segments_follow_the_aha_model_in_the_heart_frame(self):
        heart = sample_heart(np.random.default_rng(8), 120.0, 0.0)
        points = myocardial_points(heart)
        u, ant, sep = heart.frame(points)
        angle = np.degrees(np.arctan2(sep, ant)) % 360
        np.testing.assert_array_equal(heart.aha_segments(points), segments_of_heart_point(u, heart.l_endo, angle))
        cap = heart.aha_segments(points) == 17
        self.assertTrue(np.all(u[cap] >= heart.l_endo))
        septal = np.isin(heart.aha_segments(points), (2, 3, 8, 9, 14))
        self.assertGreater(np.mean(sep[septal] > 0), 0.95)  # the septum faces the RV

    def test_rv_insertions_bound_the_septum(self):
        heart = sample_heart(np.random.default_rng(3), 120.0, 0.0)
        named = {name: point for name, point, _ in heart_landmarks(heart)}
        for name, expected in (("RV_insertion_anterior", 30.0), ("RV_insertion_inferior", 150.0)):
            _, ant, sep = heart.frame(named[name][None, :])
            angle = float(np.degrees(np.arctan2(sep[0], ant[0])) % 360)
            self.assertLess(abs(angle - expected), 40.0)
        directions = []
        for name in ("RV_insertion_anterior", "RV_insertion_inferior"):
            _, ant, sep = heart.frame(named[name][None, :])
            directions.append(np.array([ant[0], sep[0]]) / np.hypot(ant[0], sep[0]))
        bisector = np.degrees(np.arctan2(*(directions[0] + directions[1])[::-1]))
        self.assertAlmostEqual(float(bisector), 90.0, delta=1.0)

    def test_config_refuses_impossible_defects(self):
        for segments, depth in (((0,), 0.3), ((18,), 0.3), ((), 0.3), ((4,), 0.0), ((4,), 1.5)):
            with self.assertRaises(InputError):
                PhantomConfig(segment_defect=SegmentDefect(segments, depth))
        self.assertEqual(PhantomConfig(segment_defect=SegmentDefect((4, 10), 0.2)).segment_defect.depth, 0.2)


class DefectPlanTest(unittest.TestCase):
    def test_plans_are_reproducible_and_valid(self):
        plans = [defect_plan(seed) for seed in range(1_000_000, 1_000_200)]
        self.assertEqual(plans, [defect_plan(seed) for seed in range(1_000_000, 1_000_200)])
        patterns = {p.pattern for p in plans}
        self.assertEqual(patterns, {"none", "one segment", "two in a ring", "one wall over two rings"})
        for plan in plans:
            self.assertTrue(all(1 <= n <= 17 for n in plan.segments))
            self.assertEqual(len(set(plan.segments)), len(plan.segments))
            self.assertIn(plan.depth, (0.0, *DEPTHS))
            self.assertEqual(plan.depth == 0.0, plan.pattern == "none")

    def test_per_segment_scores(self):
        records = [{"segments": [4], "depth": 0.3, "truth": [90.0] * 3 + [50.0] + [90.0] * 13},
                   {"segments": [4], "depth": 0.3, "truth": [90.0] * 17},
                   {"segments": [], "depth": 0.0, "truth": [60.0] + [90.0] * 16}]
        rows = per_segment_table(records, "truth", 70.0)
        self.assertEqual(rows[3]["defects"], 2)
        self.assertAlmostEqual(rows[3]["sensitivity"], 0.5)
        self.assertAlmostEqual(rows[0]["specificity"], 2 / 3)
        self.assertAlmostEqual(rows[3]["specificity"], 1.0)

    def test_paired_summary_by_inserted_depth(self):
        records = [{"depth": 0.2, "segments": [4], "defect_change_percent": [-8.0], "other_change_points": [3.0, -3.0]},
                   {"depth": 0.2, "segments": [5, 6], "defect_change_percent": [-12.0, -10.0],
                    "other_change_points": [4.0, -4.0]},
                   {"depth": 0.5, "segments": [1], "defect_change_percent": [-40.0], "other_change_points": [0.0]}]
        rows = paired_summary(records)
        self.assertEqual([r["depth"] for r in rows], [0.2, 0.5])
        self.assertEqual((rows[0]["phantoms"], rows[0]["segments"]), (2, 3))
        self.assertAlmostEqual(rows[0]["measured_mean"], -10.0)
        self.assertAlmostEqual(rows[0]["measured_sd"], np.std([-8.0, -12.0, -10.0]))
        self.assertAlmostEqual(rows[0]["noise_rms_points"], np.sqrt((9 + 9 + 16 + 16) / 4))
        self.assertAlmostEqual(rows[1]["noise_rms_points"], 0.0)


if __name__ == "__main__":
    unittest.main()
