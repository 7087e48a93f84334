"""Realism by behaviour: the statistics measure what they say on volumes whose answer is known, and the report
says whether the phantoms' means fall inside the real range."""

import unittest

import numpy as np

from SPECTFewShotLib.research.evaluation.realism_behaviour import (
    BehaviourResult,
    in_range,
    inferior_uptake,
    markdown_report,
    real_ranges,
    study_statistics,
    wall_thickness,
)
from SPECTFewShotLib.volume import Volume

DIRECTION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # k runs toward inferior, as the real studies


def cup(shape=(40, 48, 48), inner=8.0, outer=12.0) -> tuple[np.ndarray, np.ndarray]:
    """A spherical shell cut open at low k (a crude LV: wall and cavity) on a grid of `shape`."""
    k, j, i = np.indices(shape)
    centre = (np.array(shape) - 1) / 2.0
    r = np.sqrt(((k - centre[0]) ** 2) + (j - centre[1]) ** 2 + (i - centre[2]) ** 2)
    wall = (r >= inner) & (r < outer) & (k > centre[0] - 6)
    cavity = (r < inner) & (k > centre[0] - 6)
    return wall, cavity


class WallThicknessTest(unittest.TestCase):
    def test_shell_thickness_is_recovered_in_voxels(self):
        for inner, outer in ((8.0, 11.0), (8.0, 13.0)):
            wall, _ = cup(inner=inner, outer=outer)
            self.assertAlmostEqual(wall_thickness(wall), outer - inner, delta=0.2 * (outer - inner))


class StatisticsTest(unittest.TestCase):
    def setUp(self):
        from scipy import ndimage

        self.wall, self.cavity = cup()
        rng = np.random.default_rng(0)
        image = np.full(self.wall.shape, 20.0) + 100.0 * self.wall + 40.0 * self.cavity
        self.image = ndimage.gaussian_filter(image, 1.0) + rng.normal(0, 1.0, image.shape)
        self.image = np.clip(self.image, 0.1, None).astype(np.float32)

    def volume(self, array):
        return Volume(array, (4.0, 4.0, 4.0), (0.0, 0.0, 0.0), DIRECTION)

    def test_contrast_and_background_ratios_follow_the_activity(self):
        stats = study_statistics(self.volume(self.image), self.wall)
        self.assertGreater(stats["myocardium_to_blood_pool"], 1.5)
        self.assertLess(stats["background_to_myocardium"], 0.4)
        self.assertGreater(stats["wall_fwhm_mm"], 4.0 * 3)
        self.assertGreater(stats["noise_cv"], 0.0)

    def test_hot_organ_below_the_wall_raises_inferior_uptake(self):
        cold = inferior_uptake(self.volume(self.image), self.wall, self.cavity)
        hot_image = self.image.copy()
        lowest = int(np.nonzero(self.wall.any(axis=(1, 2)))[0].max())  # k runs toward inferior: below = higher k
        hot_image[lowest + 1:lowest + 4] += 150.0
        hot = inferior_uptake(self.volume(hot_image), self.wall, self.cavity)
        self.assertGreater(hot, cold + 0.5)
        flipped = Volume(hot_image, (4.0, 4.0, 4.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
        self.assertLess(inferior_uptake(flipped, self.wall, self.cavity), hot)  # "below" follows the direction


class ReportTest(unittest.TestCase):
    def test_phantom_means_are_judged_against_the_real_range(self):
        stats = {"myocardium_to_blood_pool": 2.0, "background_to_myocardium": 0.2, "wall_thickness_voxels": 4.0,
                 "wall_fwhm_mm": 20.0, "resolution_fwhm_mm": 10.0, "noise_cv": 0.05, "noise_correlation": 0.7,
                 "inferior_uptake": 0.5}
        real = [BehaviourResult("a", "real", 0.9, 0.8, stats)]
        inside = BehaviourResult("1", "phantom", 0.85, 0.7, stats)
        outside = BehaviourResult("2", "phantom", 0.3, 0.2, {**stats, "wall_thickness_voxels": 2.0})
        text = markdown_report(real, [inside, outside], "cmd", "cfg")
        self.assertIn("- GrowCut: phantom mean 0.575, real range 0.8-0.95: OUTSIDE", text)
        self.assertIn("- myocardium_to_blood_pool: phantom mean 2, real range 1.34-3.33: inside", text)
        self.assertIn("wall_thickness_voxels: phantom mean 3, real range 3.6-4.4: OUTSIDE", text)
        self.assertEqual(real_ranges(np.zeros((0, 0))), [])
        self.assertFalse(in_range(float("nan"), 0, 1))


if __name__ == "__main__":
    unittest.main()
