"""The evaluation's cases: the real crops' blood-pool reference and the low-count copies that rehearse the unseen
studies' conditions."""

import unittest

import numpy as np

from SPECTFewShotLib.volume import Volume


class EnclosedCavityTest(unittest.TestCase):
    """The blood-pool reference of the real crops: the cavity the wall encloses, never slivers outside it."""

    @staticmethod
    def _ring(open_side: bool) -> np.ndarray:
        """One axial slice of a wall: a ring of radius 6-8 voxels with a notch cut into its outer outline (which
        leaves a sliver of hull outside the wall), opened on one side when `open_side` (a basal C)."""
        j, i = np.mgrid[:24, :24]
        r = np.hypot(j - 12, i - 12)
        wall = (r >= 6) & (r <= 8.5)
        wall[2:6, 11:14] = False  # a notch in the outer outline
        wall[4:6, 11:14] = (r[4:6, 11:14] <= 7.5)
        if open_side:
            wall[10:15, 17:] = False
        return np.stack([np.zeros_like(wall), wall, wall, np.zeros_like(wall)])

    def test_the_inside_of_a_closed_and_of_an_open_ring_is_cavity_and_the_outline_slivers_are_not(self):
        from skimage.morphology import convex_hull_image

        from SPECTFewShotLib.research.evaluation.cases import enclosed_cavity

        j, i = np.mgrid[:24, :24]
        inside = np.hypot(j - 12, i - 12) < 6
        for open_side in (False, True):
            wall = self._ring(open_side)
            cavity = enclosed_cavity(wall)
            self.assertFalse(cavity[0].any() or cavity[3].any())
            self.assertTrue(cavity[1][inside].all(), open_side)
            slivers = convex_hull_image(wall[1]) & ~wall[1] & (j < 6)  # the hull over the notch
            self.assertTrue(slivers.any(), "the test wall must leave hull slivers outside it")
            self.assertFalse((cavity[1] & slivers).any(), open_side)
            if open_side:  # the mouth of the C, inside the hull, belongs to the cavity it opens
                self.assertTrue(cavity[1][11:14, 17:19].all())



class LowCountCopyTest(unittest.TestCase):
    """A low-count copy keeps the anatomy (the mean) and gets Poisson noise of the asked count level."""

    def test_mean_kept_and_noise_of_the_count_level(self):
        from SPECTFewShotLib.research.evaluation.cases import low_count_copy

        array = np.full((20, 20, 20), 50.0, dtype=np.float32)
        array[5:15, 5:15, 5:15] = 1000.0
        volume = Volume(array, (4.0, 4.0, 4.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
        noisy = low_count_copy(volume, counts_at_hottest=8.0, seed=3)
        hot = noisy.array[5:15, 5:15, 5:15]
        self.assertEqual(noisy.array.dtype, np.float32)
        self.assertAlmostEqual(float(hot.mean()), 1000.0, delta=40.0)
        # Poisson with mean 8 at the hottest voxels: relative SD 1 / sqrt(8)
        self.assertAlmostEqual(float(hot.std() / hot.mean()), 8.0 ** -0.5, delta=0.03)
        np.testing.assert_array_equal(noisy.array, low_count_copy(volume, 8.0, seed=3).array)
        self.assertFalse(np.array_equal(noisy.array, low_count_copy(volume, 8.0, seed=4).array))
        np.testing.assert_array_equal(volume.array, array)  # the input is not modified
