"""`spectfewshot phantom`: the four study files (same seed, same bytes), refusals in one line, and the realism
numbers measured on the real study."""

import json
import tempfile
import unittest
from pathlib import Path

import numpy as np

from SPECTFewShotLib.io.markups_io import read_landmarks
from SPECTFewShotLib.io.segmentation_io import read_segmentation
from SPECTFewShotLib.io.volume_io import read_volume
from Testing.cli_runner import run_cli

TINY = ["--matrix", "32", "--slices", "24", "--voxel-mm", "7", "--views", "12", "--iterations", "2",
        "--subsets", "3"]


class PhantomCommandTest(unittest.TestCase):
    def test_writes_the_study_files_identically_for_the_same_seed(self):
        with tempfile.TemporaryDirectory() as tmp:
            first, second = Path(tmp) / "a" / "nested", Path(tmp) / "b"
            for folder in (first, second):
                code, _out, err = run_cli("phantom", "--seed", 4, "-o", folder, *TINY)
                self.assertEqual(code, 0, err)
            for name in ("image.nii.gz", "labels.nii.gz", "labels.json", "landmarks.mrk.json", "phantom.json"):
                self.assertEqual((first / name).read_bytes(), (second / name).read_bytes(), name)
            table = json.loads((first / "labels.json").read_text())
            for name in ("LV_myocardium", "LV_blood_pool", "liver"):
                self.assertIn(name, table)
            image = read_volume(first / "image.nii.gz")
            labels = read_segmentation(first / "labels.nii.gz")
            self.assertEqual(image.grid_differences(labels.labels), [])
            self.assertEqual(image.direction, (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0))
            names = {seg.label: seg.name for seg in labels.segments}
            self.assertEqual(names[table["LV_myocardium"]], "LV_myocardium")
            landmarks = {lm.label: np.array(lm.position_lps) for lm in read_landmarks(first / "landmarks.mrk.json")}
            self.assertTrue({"LV_center", "LV_apex", "LV_base"} <= set(landmarks))
            myo = np.argwhere(labels.labels.array == table["LV_myocardium"])[:, ::-1]
            centroid = image.index_to_lps(myo.mean(axis=0))
            self.assertLess(np.linalg.norm(centroid - landmarks["LV_center"]), 7.0)

    def test_refusals_are_one_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "study"
            folder.mkdir()
            (folder / "image.nii.gz").write_bytes(b"precious")
            cases = [
                ("phantom", "--seed", 1, "-o", folder, *TINY),  # would overwrite a file
                ("phantom", "--seed", 1, "-o", Path(tmp) / "x", "--voxel-mm", "20"),
                ("phantom", "--seed", 1, "-o", Path(tmp) / "x", "--matrix", "4"),
                ("phantom", "--seed", -3, "-o", Path(tmp) / "x"),
                ("phantom", "--seed", 1, "-o", folder / "image.nii.gz"),  # a file, not a folder
            ]
            for argv in cases:
                code, _out, err = run_cli(*argv)
                self.assertEqual(code, 2, argv)
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertTrue(err.startswith("error: "), err)
            self.assertEqual((folder / "image.nii.gz").read_bytes(), b"precious")
            self.assertFalse((Path(tmp) / "x").exists())


class RealismMeasureTest(unittest.TestCase):
    def test_real_study_numbers(self):
        from SPECTFewShotLib.research.phantom.report import measure_real_study

        _, wall, metrics = measure_real_study()
        self.assertEqual(int(wall.sum()), 1769)
        self.assertAlmostEqual(metrics.myocardium_to_blood_pool, 1.83, delta=0.01)
        self.assertAlmostEqual(metrics.myocardium_to_liver, 0.72, delta=0.01)
        self.assertAlmostEqual(metrics.wall_fwhm_mm, 21.0, delta=0.1)

    def test_wall_fwhm_grows_with_blur(self):
        from scipy.ndimage import gaussian_filter

        from SPECTFewShotLib.research.phantom.realism import wall_fwhm

        z, y, x = np.mgrid[0:40, 0:40, 0:40] * 2.0 - 39.0  # 2 mm voxels, centred
        radius = np.sqrt(x**2 + y**2)
        wall = (radius >= 20) & (radius < 22) & (np.abs(z) < 30)  # a 2 mm thin tube wall
        cavity = (radius < 20) & (np.abs(z) < 30) & (z < 25)
        wall |= (radius < 22) & (z >= 25) & (z < 27)  # a closed end, so the axis has a direction
        measured = []
        for fwhm in (8.0, 16.0):
            image = gaussian_filter(wall.astype(float), fwhm / 2.3548 / 2.0)
            measured.append(wall_fwhm(image, wall, cavity, 2.0))
        self.assertAlmostEqual(measured[0], np.hypot(8.0, 2.0), delta=1.5)
        self.assertAlmostEqual(measured[1], np.hypot(16.0, 2.0), delta=2.5)


if __name__ == "__main__":
    unittest.main()
