"""Phantom studies: determinism by seed, labels and landmarks that agree with each other and with anatomy."""

import unittest

import numpy as np

from SPECTFewShotLib.phantom import PhantomConfig, PhantomStudy, generate_study

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


if __name__ == "__main__":
    unittest.main()
