"""The camera variants of `evaluate classify --cameras` keep the anatomy where it is in the patient: a reversed axis
moves no voxel in LPS, a resampled grid covers the same field of view with the wall in the same place, a count
scale changes only the counts."""

import unittest

import numpy as np

from SPECTFewShotLib.research.evaluation.camera_cases import CAMERA_VARIANTS, camera_cases, camera_variant
from SPECTFewShotLib.research.evaluation.cases import BLOOD_POOL, MYOCARDIUM, ClassificationCase
from SPECTFewShotLib.selftest.painting import quartile_slices
from SPECTFewShotLib.volume import Volume
from Testing.fixtures import ring_volume


def centroid_lps(volume: Volume, mask: np.ndarray) -> np.ndarray:
    """The LPS centroid (mm) of the voxels of `mask` [k, j, i] on `volume`'s grid."""
    kji = np.argwhere(mask).astype(float)
    return volume.index_to_lps(kji[:, ::-1]).mean(axis=0)


class CameraVariantsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        volume, classes = ring_volume(size=24)
        oblique = Volume(volume.array, (4.0, 4.0, 5.0), volume.origin, (0.8, 0.6, 0, -0.6, 0.8, 0, 0, 0, 1))
        names = {1: "background", MYOCARDIUM: "LV_myocardium", BLOOD_POOL: "LV_blood_pool"}
        cls.case = ClassificationCase("ring", oblique, classes, names, quartile_slices(classes == MYOCARDIUM))

    def test_a_reversed_axis_moves_no_voxel_in_the_patient(self):
        for variant in ("i axis stored reversed", "k axis stored reversed"):
            with self.subTest(variant=variant):
                other = camera_variant(self.case, variant)
                self.assertFalse(np.array_equal(other.volume.array, self.case.volume.array))  # stored otherwise
                for value in (MYOCARDIUM, BLOOD_POOL):
                    np.testing.assert_allclose(centroid_lps(other.volume, other.class_map == value),
                                               centroid_lps(self.case.volume, self.case.class_map == value),
                                               atol=1e-6)
                hottest = np.unravel_index(np.argmax(self.case.volume.array), self.case.volume.array.shape)
                lps = self.case.volume.index_to_lps(np.array(hottest[::-1], dtype=float))
                ijk = np.linalg.inv(other.volume.index_to_lps_matrix) @ np.append(lps, 1.0)
                k, j, i = np.rint(ijk[:3][::-1]).astype(int)
                self.assertEqual(other.volume.array[k, j, i], self.case.volume.array[hottest])

    def test_a_resampled_grid_keeps_the_field_of_view_and_the_wall(self):
        for variant in ("3 mm voxels", "6 mm voxels", "4 x 4 x 6 mm voxels"):
            with self.subTest(variant=variant):
                other = camera_variant(self.case, variant)
                spacing = CAMERA_VARIANTS[variant][1]
                self.assertEqual(other.volume.spacing, tuple(spacing))
                extent = np.array(other.volume.array.shape[::-1]) * np.array(spacing)
                original = np.array(self.case.volume.array.shape[::-1]) * np.array(self.case.volume.spacing)
                self.assertTrue(np.all(np.abs(extent - original) <= np.array(spacing)))
                self.assertEqual(other.volume.direction, self.case.volume.direction)
                shift = np.linalg.norm(centroid_lps(other.volume, other.class_map == MYOCARDIUM)
                                       - centroid_lps(self.case.volume, self.case.class_map == MYOCARDIUM))
                self.assertLess(shift, max(spacing))
                self.assertTrue(np.any(other.class_map == BLOOD_POOL))
                self.assertTrue(all(np.any(other.class_map[k] == MYOCARDIUM) for k in other.slices))

    def test_a_count_scale_changes_only_the_counts(self):
        other = camera_variant(self.case, "counts x 0.001")
        np.testing.assert_allclose(other.volume.array, self.case.volume.array * 0.001, rtol=1e-6)
        np.testing.assert_array_equal(other.class_map, self.case.class_map)
        self.assertEqual(other.slices, self.case.slices)

    def test_no_shared_study_no_case(self):
        self.assertEqual(camera_cases(patients=("does-not-exist",)), [])


if __name__ == "__main__":
    unittest.main()
