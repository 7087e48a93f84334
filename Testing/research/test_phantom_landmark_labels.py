"""Phantom landmarks agree with the landmarks derived from the phantom's own myocardium label (cardiac_landmarks):
the label-derived estimate works on voxel centres, so it can differ by up to half a voxel per axis."""

import unittest

import numpy as np

from SPECTFewShotLib.cardiac_landmarks import lv_landmarks
from SPECTFewShotLib.research.phantom import PhantomConfig, generate_study

FAST = PhantomConfig(matrix=48, slices=40, voxel_mm=4.5, views=6, iterations=1, subsets=1, supersample=1)


class LandmarksFromLabelsTest(unittest.TestCase):
    def test_centre_and_apex_within_2_mm_and_base_within_a_voxel(self):
        for seed in (21, 22, 23):
            study = generate_study(seed, FAST)
            labels = study.labels.labels
            wall = labels.with_array((labels.array == study.label_values["LV_myocardium"]).astype(np.uint8))
            derived = {landmark.label: np.array(landmark.position_lps) for landmark in lv_landmarks(wall)}
            error = {name: float(np.linalg.norm(point - np.array(study.landmark(name).position_lps)))
                     for name, point in derived.items()}
            self.assertLess(error["LV_center"], 0.5, f"seed {seed}: {error}")
            self.assertLess(error["LV_apex"], 2.0, f"seed {seed}: {error}")
            self.assertLess(error["LV_base"], FAST.voxel_mm, f"seed {seed}: {error}")


if __name__ == "__main__":
    unittest.main()
