"""The oracle thresholds of `evaluate classify-ceiling`: exact on a clean wall, and a per-slice threshold never
below the global one."""

import unittest

import numpy as np
from scipy import ndimage

from SPECTFewShotLib.research.evaluation.classify_ceiling import oracle_ceiling


class OracleCeilingTest(unittest.TestCase):
    def test_clean_and_blurred_walls(self):
        k, j, i = np.mgrid[:12, :24, :24]
        radius = np.hypot(j - 11.5, i - 11.5)
        wall = (radius > 4) & (radius < 7) & (k > 1) & (k < 10)
        scored = np.ones(wall.shape, dtype=bool)
        clean = oracle_ceiling(wall * 100.0, wall, scored)
        self.assertEqual(clean.global_dice, 1.0)
        self.assertEqual(clean.per_slice_dice, 1.0)
        # Each slice's wall a little brighter than the last: no one threshold fits all slices after a blur
        counts = ndimage.gaussian_filter(wall * (50.0 + 10.0 * k), 1.5)
        blurred = oracle_ceiling(counts, wall, scored)
        self.assertLess(blurred.global_dice, 1.0)
        self.assertGreaterEqual(blurred.per_slice_dice, blurred.global_dice)
        self.assertGreater(blurred.global_dice, 0.7)


if __name__ == "__main__":
    unittest.main()
