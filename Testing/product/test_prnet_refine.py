"""The PRNet stage in the product: the shipped weights load through the registry (SHA-256, weights only), a damaged
file is refused in one error, the feature search stays within its radius and leaves a point where the study looks
exactly like the template, and `localize --prnet` runs it."""

import shutil
import tempfile
import unittest
from pathlib import Path

import numpy as np

from SPECTFewShotLib.errors import ModelError
from SPECTFewShotLib.landmarks.prnet.refine import SEARCH_MM, PRNetRefiner, search_offsets
from SPECTFewShotLib.models.registry import find_model
from Testing.fixtures import counts_frame_pair
from Testing.prnet_synthetic import synthetic_torso


class SearchGridTest(unittest.TestCase):
    def test_offsets_start_at_the_point_and_stay_within_the_radius(self):
        offsets = search_offsets(4.0, 2.0)
        self.assertTrue(np.array_equal(offsets[0], np.zeros(3)))
        distances = np.linalg.norm(offsets, axis=1)
        self.assertLessEqual(distances.max(), 4.0 + 1e-9)
        self.assertTrue(np.all(np.diff(distances) >= 0))
        self.assertEqual(len(offsets), 33)  # the 2 mm grid points within 4 mm


class RefinerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.refiner = PRNetRefiner()
        cls.volume, truth = synthetic_torso(0, size=32, spacing=6.0)
        cls.points = np.array(list(truth.values()))
        cls.frames, cls.turn = counts_frame_pair(cls.volume, cls.volume)

    def test_the_registry_default_is_loaded(self):
        self.assertEqual(self.refiner.model_id, find_model("prnet").id)

    def test_a_point_where_the_study_is_the_template_stays(self):
        result = self.refiner.refine(self.volume, self.points, self.volume, self.points, frames=self.frames,
                                     turn=self.turn)
        np.testing.assert_allclose(result.points, self.points)
        np.testing.assert_allclose(result.similarity, 1.0, atol=1e-6)

    def test_moves_stay_within_the_search_radius(self):
        start = self.points + np.array([5.0, -3.0, 2.0])
        result = self.refiner.refine(self.volume, self.points, self.volume, start, frames=self.frames,
                                     turn=self.turn)
        self.assertTrue(np.all(result.moved_mm <= SEARCH_MM + 1e-9))
        np.testing.assert_allclose(np.linalg.norm(result.points - start, axis=1), result.moved_mm, atol=1e-9)
        self.assertTrue(np.all((result.similarity >= 0.0) & (result.similarity <= 1.0)))

    def test_damaged_weights_are_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            damaged = Path(tmp) / "prnet-damaged.pt"
            shutil.copy(find_model("prnet").path, damaged)
            with damaged.open("r+b") as handle:
                handle.seek(100)
                handle.write(b"\x00" * 64)
            with self.assertRaises(ModelError):
                PRNetRefiner(str(damaged))


if __name__ == "__main__":
    unittest.main()
