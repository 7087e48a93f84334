"""The shipped PRNet weights: registered with their SHA-256, load safely, and place the real study's landmarks
in a translated and rotated copy of itself within the 6 mm target."""

import unittest

import numpy as np

from SPECTFewShotLib.models.registry import find_model, list_models, sha256_of
from SPECTFewShotLib.prnet.localize import Localizer
from SPECTFewShotLib.research.evaluation.localize_cases import moved_copy, real_study_landmarks


class ShippedPRNetTest(unittest.TestCase):
    def test_default_model_is_registered_and_matches_its_checksum(self):
        entry = find_model("prnet")
        self.assertTrue(entry.default)
        self.assertTrue(entry.path.exists(), entry.file)
        self.assertEqual(sha256_of(entry.path), entry.sha256)
        self.assertLess(entry.path.stat().st_size, 10e6)
        self.assertTrue((entry.path.parent / entry.card).exists())
        for other in list_models("prnet"):
            self.assertEqual(sha256_of(other.path), other.sha256, other.id)

    def test_real_study_landmarks_found_in_its_moved_copy(self):
        volume, landmarks = real_study_landmarks()
        copy, truth = moved_copy(volume, landmarks)
        placed = Localizer(None, "cpu").localize(copy, volume, landmarks)
        self.assertEqual([lm.label for lm in placed], [lm.label for lm in landmarks])
        errors = [np.linalg.norm(np.subtract(a.position_lps, b.position_lps)) for a, b in zip(placed, truth)]
        unmoved = [np.linalg.norm(np.subtract(a.position_lps, b.position_lps)) for a, b in zip(landmarks, truth)]
        self.assertLess(max(errors), 6.0,
                        f"errors {np.round(errors, 1)} mm (not moving at all: {np.round(unmoved, 1)})")
        for landmark in placed:
            self.assertGreater(landmark.confidence, 0.5)


if __name__ == "__main__":
    unittest.main()
