"""The registration baseline carries landmarks through an affine MI registration; the moved copy is exact."""

import unittest

import numpy as np

from SPECTFewShotLib.cardiac_views.rotations import axis_rotation
from SPECTFewShotLib.io.markups_io import Landmark
from SPECTFewShotLib.research.baselines.registration import register_landmarks
from SPECTFewShotLib.research.evaluation.localize_cases import moved_copy
from Testing.prnet_synthetic import synthetic_torso


class MovedCopyTest(unittest.TestCase):
    def test_landmarks_move_with_the_anatomy(self):
        volume, truth = synthetic_torso(0, size=40, spacing=6.0, direction=(1, 0, 0, 0, 1, 0, 0, 0, -1))
        landmarks = [Landmark(name, tuple(p)) for name, p in truth.items()]
        copy, moved = moved_copy(volume, landmarks, (7.0, -6.0, 7.8), (1, 1, 1), 10.0)
        self.assertEqual(copy.grid_differences(volume), [])
        centre = volume.index_to_lps((np.asarray(volume.size) - 1) / 2)
        rotation = axis_rotation((1, 1, 1), 10.0)
        for before, after in zip(landmarks, moved):
            expected = rotation @ (np.asarray(before.position_lps) - centre) + centre + [7.0, -6.0, 7.8]
            self.assertTrue(np.allclose(after.position_lps, expected, atol=1e-6))
        # The image moved the same way: its count-weighted centroid moved like the landmarks.
        def centroid(v):
            k, j, i = np.indices(v.array.shape)
            w = v.array / v.array.sum()
            return v.index_to_lps([(i * w).sum(), (j * w).sum(), (k * w).sum()])

        expected = rotation @ (centroid(volume) - centre) + centre + [7.0, -6.0, 7.8]
        self.assertLess(np.linalg.norm(centroid(copy) - expected), 1.0)


class RegistrationTest(unittest.TestCase):
    def test_affine_registration_recovers_a_rigid_motion(self):
        volume, truth = synthetic_torso(1, size=40, spacing=6.0)
        landmarks = [Landmark(name, tuple(p)) for name, p in truth.items()]
        copy, moved = moved_copy(volume, landmarks, (9.0, 5.0, -6.0), (0.3, -1.0, 0.5), 8.0)
        placed = register_landmarks(copy, volume, landmarks)
        self.assertEqual([lm.label for lm in placed], [lm.label for lm in landmarks])
        for found, expected in zip(placed, moved):
            error = np.linalg.norm(np.subtract(found.position_lps, expected.position_lps))
            self.assertLess(error, 3.0, f"{found.label}: {error:.1f} mm")
        unmoved = max(np.linalg.norm(np.subtract(a.position_lps, b.position_lps)) for a, b in zip(landmarks, moved))
        self.assertGreater(unmoved, 8.0)  # the motion is large enough for the test to mean something


if __name__ == "__main__":
    unittest.main()
