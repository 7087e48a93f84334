"""`spectfewshot polar-map`: views, segments.csv and the PNG on a synthetic LV; one line and exit 2 for bad input."""

import csv
import struct
import tempfile
import unittest
import zlib
from pathlib import Path

import numpy as np

from SPECTFewShotLib.io.markups_io import Landmark, write_landmarks
from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for, write_segmentation
from SPECTFewShotLib.io.volume_io import read_volume, write_volume
from Testing.cardiac_synthetic import synthetic_lv
from Testing.cli_runner import run_cli


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG, after checking its signature and every chunk's CRC."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, size = 8, None
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind = data[offset + 4:offset + 8]
        body = data[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        offset += 12 + length
    return size


class PolarMapCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        root = Path(cls.tmp.name)
        cls.lv = synthetic_lv((4, 10), depth=0.5, blur_mm=8.0)
        cls.image = write_volume(cls.lv.image, root / "study.nii.gz")
        labels = cls.lv.image.with_array(cls.lv.wall.astype(np.int32) * 7 + (~cls.lv.wall) * 11)
        cls.seg = root / "wall.seg.nrrd"
        write_segmentation(Segmentation(labels, segments_for([7, 11], {7: "LV_myocardium", 11: "background"})),
                           cls.seg)
        cls.mask = write_volume(cls.lv.image.with_array(cls.lv.wall.astype(np.uint8)), root / "mask.nii.gz")
        cls.landmarks = root / "lm.mrk.json"
        write_landmarks(cls.lv.landmarks, cls.landmarks, "RAS")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_polar_map(self, *extra, segmentation=None, landmarks=None, out="out"):
        return run_cli("polar-map", self.image, "--segmentation", segmentation or self.seg, "--landmarks",
                       landmarks or self.landmarks, "-o", Path(self.tmp.name) / out, *extra)

    def test_writes_views_table_and_figure(self):
        code, out, err = self.run_polar_map()
        self.assertEqual(code, 0, err)
        folder = Path(self.tmp.name) / "out"
        with open(folder / "segments.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        self.assertEqual(list(rows[0]), ["segment", "name", "uptake_percent", "reduced"])
        self.assertEqual([int(r["segment"]) for r in rows], list(range(1, 18)))
        self.assertEqual([int(r["segment"]) for r in rows if r["reduced"] == "1"], [4, 10])
        self.assertTrue(all(r["reduced"] in ("0", "1") for r in rows))
        self.assertLess(float(rows[3]["uptake_percent"]), 70.0)
        width, height = png_size(folder / "polar_map.png")
        self.assertGreater(width, 500)
        self.assertGreater(height, 400)
        width, height = png_size(folder / "views.png")
        self.assertGreater(width, 5 * 200)
        for name in ("short_axis", "vertical_long_axis", "horizontal_long_axis"):
            view = read_volume(folder / f"{name}.nii.gz")
            self.assertGreater(float(view.array.max()), 50.0)
        self.assertIn("reduced segments (under 70 % of the myocardial maximum): 4 basal inferior, 10 mid inferior", out)
        self.assertIn("RV insertion points", out)

    def test_labelmap_mask_threshold_and_statistic(self):
        code, _, err = self.run_polar_map("--threshold", "40", "--statistic", "mean", segmentation=self.mask,
                                            out="lenient")
        self.assertEqual(code, 0, err)
        with open(Path(self.tmp.name) / "lenient" / "segments.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        self.assertEqual([r["segment"] for r in rows if r["reduced"] == "1"], [])

    def test_normal_limits_replace_the_threshold(self):
        from SPECTFewShotLib.cardiac_views.normal_limits import NormalLimits, write_normal_limits

        root = Path(self.tmp.name)
        limits = root / "normals.csv"
        write_normal_limits(NormalLimits((95.0,) * 17, (5.0,) * 17, 10, "test normals"), limits)
        code, out, err = self.run_polar_map("--normals", limits, "--normal-sd", "1", out="with_normals")
        self.assertEqual(code, 0, err)
        self.assertIn("more than 1 SD under the normal mean", out)
        with open(root / "with_normals" / "segments.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        flagged = [int(r["segment"]) for r in rows if r["reduced"] == "1"]
        expected = [int(r["segment"]) for r in rows if float(r["uptake_percent"]) < 90.0]
        self.assertEqual(flagged, expected)
        self.assertGreater(len(flagged), 2)  # 90 % is stricter than the default 70 %
        (root / "broken.csv").write_text("segment,mean_percent\n1,80\n")
        code, _, err = self.run_polar_map("--normals", root / "broken.csv", out="bad_normals")
        self.assertEqual(code, 2)
        self.assertIn("sd_percent", err)

    def test_bad_input_is_one_line_and_exit_2(self):
        root = Path(self.tmp.name)
        only_apex = root / "apex.mrk.json"
        write_landmarks([Landmark("LV_apex", (0.0, 0.0, 0.0))], only_apex)
        code, _, err = self.run_polar_map(landmarks=only_apex, out="bad1")
        self.assertEqual(code, 2)
        self.assertEqual(len(err.strip().splitlines()), 1)
        self.assertIn("LV_base", err)
        self.assertFalse((root / "bad1").exists())

        other_grid = self.lv.image.with_array(self.lv.wall.astype(np.uint8))
        other_grid = type(other_grid)(other_grid.array[:-2], other_grid.spacing, other_grid.origin)
        small = write_volume(other_grid, root / "small.nii.gz")
        code, _, err = self.run_polar_map(segmentation=small, out="bad2")
        self.assertEqual(code, 2)
        self.assertIn("not on the volume's grid", err)

        code, _, err = self.run_polar_map("--label", "9", out="bad3")
        self.assertEqual(code, 2)
        self.assertIn("no label 9", err)

        (root / "a_file").write_text("x")
        code, _, err = self.run_polar_map(out="a_file")
        self.assertEqual(code, 2)
        self.assertIn("is a file", err)

        far = root / "far.mrk.json"
        write_landmarks([Landmark("LV_apex", (500.0, 0.0, 0.0)), Landmark("LV_base", (580.0, 0.0, 0.0))], far)
        code, _, err = self.run_polar_map(landmarks=far, out="bad4")
        self.assertEqual(code, 2)
        self.assertIn("outside the volume", err)


if __name__ == "__main__":
    unittest.main()
