"""Phantom studies: determinism by seed, labels and landmarks that agree with each other and with anatomy."""

import unittest

import numpy as np

from SPECTFewShotLib.research.phantom import PhantomConfig, PhantomStudy, generate_study

TINY = PhantomConfig(matrix=40, slices=32, voxel_mm=7.0, views=12, iterations=2, subsets=3, supersample=1)


class DeterminismTest(unittest.TestCase):
    def test_same_seed_same_study_other_seed_other_study(self):
        a, b, c = generate_study(5, TINY), generate_study(5, TINY), generate_study(6, TINY)
        self.assertIsInstance(a, PhantomStudy)
        np.testing.assert_array_equal(a.image.array, b.image.array)
        np.testing.assert_array_equal(a.labels.labels.array, b.labels.labels.array)
        self.assertEqual(a.landmarks, b.landmarks)
        self.assertFalse(np.array_equal(a.labels.labels.array, c.labels.labels.array))
        self.assertNotEqual(a.landmarks[0].position_lps, c.landmarks[0].position_lps)


class GroundTruthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.study = generate_study(11, TINY)

    def test_grid_types_and_label_table(self):
        s = self.study
        self.assertEqual(s.image.array.dtype, np.float32)
        self.assertEqual(s.image.size, (40, 40, 32))
        self.assertEqual(s.labels.labels.grid_differences(s.image), [])
        for name in ("LV_myocardium", "LV_blood_pool", "liver", "body", "lungs", "RV_blood_pool", "RV_wall"):
            self.assertIn(name, s.label_values)
            self.assertTrue((s.labels.labels.array == s.label_values[name]).any(), name)
        self.assertEqual({seg.name: seg.label for seg in s.labels.segments}, s.label_values)

    def test_landmarks_sit_on_the_labelled_ventricle(self):
        s = self.study
        labels = s.labels.labels.array
        myocardium = np.argwhere(labels == s.label_values["LV_myocardium"])[:, ::-1]  # (i, j, k)
        lv = np.argwhere(np.isin(labels, [s.label_values["LV_myocardium"], s.label_values["LV_blood_pool"]]))
        centroid = s.image.index_to_lps(myocardium.mean(axis=0))
        center = np.array(s.landmark("LV_center").position_lps)
        self.assertLess(np.linalg.norm(center - centroid), 0.5 * s.image.spacing[0])
        for name in ("LV_apex", "LV_base"):
            ijk = s.image.lps_to_index(s.landmark(name).position_lps)
            nearest = np.min(np.linalg.norm(lv[:, ::-1] - ijk, axis=1))
            self.assertLess(nearest, 1.5, name)
        # the apex points to the patient's left (+x), anterior (-y) and inferior (-z)
        axis = np.array(s.landmark("LV_apex").position_lps) - np.array(s.landmark("LV_base").position_lps)
        self.assertGreater(axis[0], 0)
        self.assertLess(axis[1], 0)
        self.assertLess(axis[2], 0)


class AnatomyTest(unittest.TestCase):
    """Three seeds: three different hearts, each with the myocardium around the blood pool and the RV beside it."""

    FAST = PhantomConfig(matrix=48, slices=40, voxel_mm=4.5, views=6, iterations=1, subsets=1, supersample=1)

    def test_three_seeds_give_three_plausible_hearts(self):
        from scipy import ndimage

        axes = []
        for seed in (21, 22, 23):
            s = generate_study(seed, self.FAST)
            labels, values = s.labels.labels.array, s.label_values
            pool = labels == values["LV_blood_pool"]
            shell = ndimage.binary_dilation(pool) & ~pool  # voxels touching the blood pool from outside
            touching = labels[shell]
            myocardium_share = np.mean(touching == values["LV_myocardium"])
            self.assertGreater(myocardium_share, 0.75, f"seed {seed}: the myocardium must surround the blood pool")
            for organ in ("lungs", "liver", "stomach_gut"):
                self.assertFalse(np.any(touching == values[organ]), f"seed {seed}: blood pool touches {organ}")
            # RV insertion points lie where the RV meets the LV myocardium
            for name in ("RV_insertion_anterior", "RV_insertion_inferior"):
                ijk = np.round(s.image.lps_to_index(s.landmark(name).position_lps)).astype(int)
                k, j, i = ijk[::-1]
                near = labels[max(k - 1, 0):k + 2, max(j - 1, 0):j + 2, max(i - 1, 0):i + 2]
                self.assertTrue(np.any(near == values["LV_myocardium"]), f"seed {seed} {name}")
                self.assertTrue(np.any(np.isin(near, [values["RV_wall"], values["RV_blood_pool"]])),
                                f"seed {seed} {name}")
            apex = np.array(s.landmark("LV_apex").position_lps) - np.array(s.landmark("LV_base").position_lps)
            axes.append(apex / np.linalg.norm(apex))
            self.assertTrue(apex[0] > 0 and apex[1] < 0 and apex[2] < 0, f"seed {seed}: apex {apex}")
        angles = [np.degrees(np.arccos(np.clip(a @ b, -1, 1))) for a, b in ((axes[0], axes[1]), (axes[1], axes[2]))]
        self.assertTrue(all(angle > 1.0 for angle in angles), f"long axes barely differ: {angles}")


if __name__ == "__main__":
    unittest.main()
