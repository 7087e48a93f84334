"""The staged localiser on the bundled real study (PhysioNet MPS patient001, CZT camera): the LV is found although
the study's hottest structure is not the heart, its frame lies near the one its LV-wall mask gives, and placing the
landmarks in a translated and rotated copy moves them with the anatomy."""

import unittest

import numpy as np

from SPECTFewShotLib.cardiac_landmarks import lv_geometry, wall_points_lps
from SPECTFewShotLib.io.volume_io import read_volume
from SPECTFewShotLib.landmarks.heart_search import smoothed_counts
from SPECTFewShotLib.landmarks.long_axis import angle_between_deg
from SPECTFewShotLib.landmarks.staged import Localizer, find_lv_frame
from SPECTFewShotLib.research.evaluation.localize_cases import moved_copy, real_study_landmarks
from SPECTFewShotLib.resources import sample_study


class RealStudyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        image, mask = sample_study()
        cls.volume, cls.mask = read_volume(image), read_volume(mask)
        cls.truth = lv_geometry(wall_points_lps(cls.mask), min(cls.mask.spacing))

    def test_the_lv_is_found_where_the_hottest_structure_is_not(self):
        counts = smoothed_counts(self.volume)
        k, j, i = np.unravel_index(np.argmax(counts), counts.shape)
        hottest = self.volume.index_to_lps([i, j, k])
        self.assertGreater(np.linalg.norm(hottest - self.truth.center), 50.0)  # the trap is there
        frame = find_lv_frame(self.volume)
        self.assertLess(np.linalg.norm(frame.geometry.center - self.truth.center), 20.0)
        self.assertLess(angle_between_deg(frame.geometry.axis, self.truth.axis), 20.0)
        self.assertGreater(frame.confidence, 0.0)

    def test_the_frame_from_the_mask_is_the_reference(self):
        frame = find_lv_frame(self.volume, myocardium=self.mask)
        self.assertEqual(frame.source, "segmentation")
        self.assertTrue(np.allclose(frame.geometry.apex, self.truth.apex))

    def test_landmarks_move_with_the_anatomy(self):
        volume, landmarks = real_study_landmarks()
        copy, _ = moved_copy(volume, landmarks)
        localizer = Localizer()
        original = localizer.localize(volume, volume, landmarks)
        _, expected = moved_copy(volume, original)
        moved = localizer.localize(copy, volume, landmarks)
        for found, wanted in zip(moved, expected):
            error = np.linalg.norm(np.subtract(found.position_lps, wanted.position_lps))
            self.assertLess(error, 6.0, f"{found.label}: {error:.1f} mm")


if __name__ == "__main__":
    unittest.main()
