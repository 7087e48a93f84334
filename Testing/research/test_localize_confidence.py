"""The confidence evaluation's fit and figures (research.evaluation.localize_confidence): the error bound is a 90th
percentile, monotone in the evidence, and the summary counts what the issue asks."""

import unittest

import numpy as np

from SPECTFewShotLib.landmarks.confidence import SURE
from SPECTFewShotLib.research.evaluation.localize_confidence import (
    PointRecord,
    confidences_with,
    fit_bound,
    summary_line,
)


def records(spread, lever, counts, errors):
    return [PointRecord("g", "c", "counts", "p", float(e), np.array([s, v, c], dtype=float), 0.5, 0.5)
            for s, v, c, e in zip(spread, lever, counts, errors)]


class FitBoundTest(unittest.TestCase):
    def test_the_bound_follows_the_spread_and_leaves_out_a_feature_that_lowers_it(self):
        rng = np.random.default_rng(0)
        spread = rng.uniform(0.0, 20.0, 400)
        lever = rng.uniform(0.0, 1.0, 400)
        errors = 1.0 * spread + 2.0 * rng.random(400) - 6.0 * lever + 6.0  # a longer lever "lowers" the error
        coefficients = fit_bound(records(spread, lever, np.ones(400), errors))
        self.assertEqual(coefficients["lever"], 0.0)  # left out: the bound stays monotone
        self.assertEqual(coefficients["counts_frame"], 0.0)  # constant: nothing to fit
        self.assertAlmostEqual(coefficients["spread_mm"], 1.0, delta=0.25)
        fitted = records(spread, lever, np.ones(400), errors)
        bound = coefficients["intercept"] + coefficients["spread_mm"] * spread
        self.assertAlmostEqual(float(np.mean(errors <= bound)), 0.9, delta=0.05)
        confidences = confidences_with(coefficients, fitted)
        order = np.argsort(spread)
        self.assertTrue(np.all(np.diff(confidences[order]) <= 1e-12))

    def test_the_summary_counts_sure_points_within_8_mm_and_far_points_flagged(self):
        chosen = records([0] * 4, [0] * 4, [1] * 4, [2.0, 10.0, 20.0, 30.0])
        line = summary_line("x", chosen, np.array([SURE, 0.9, 0.1, 0.5]))
        self.assertIn("confidence >= 0.8: 2, 50% within 8 mm", line)
        self.assertIn("off by > 15 mm: 2, 50% flagged", line)
        self.assertIn("within 8 mm: 1, 0% flagged", line)


if __name__ == "__main__":
    unittest.main()
