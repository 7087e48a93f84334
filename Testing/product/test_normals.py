"""`spectfewshot normals`: per-segment normal limits from a cohort table's normal studies round-trip through the file
`polar-map --normals` reads, and a polar map against them finds a defect the fixed threshold misses."""

import csv
import tempfile
import unittest
from pathlib import Path

import numpy as np

from SPECTFewShotLib.cardiac_views.frame import frame_from_landmarks
from SPECTFewShotLib.cardiac_views.normal_limits import read_normal_limits
from SPECTFewShotLib.cardiac_views.polar_map import compute_polar_map
from SPECTFewShotLib.cohort.table import write_cohort_table
from SPECTFewShotLib.io.markups_io import write_landmarks
from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for, write_segmentation
from SPECTFewShotLib.io.volume_io import write_volume
from Testing.cardiac_synthetic import synthetic_lv
from Testing.cli_runner import run_cli


def cohort_row(study_id: str, group: str, uptakes, status: str = "ok") -> dict:
    """A cohort-table row with the 17 uptakes."""
    row = {"id": study_id, "group": group, "status": status, "error": "", "seconds": 1.0, "warnings": ""}
    row.update({f"uptake_{n:02d}": round(float(u), 1) for n, u in enumerate(uptakes, start=1)})
    return row


class NormalsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.root = Path(cls.tmp.name)
        cls.uptakes = []
        for roll, blur in ((5.0, 7.0), (12.0, 8.0), (18.0, 9.0), (25.0, 8.0)):
            lv = synthetic_lv(blur_mm=blur, roll_deg=roll)
            polar = compute_polar_map(lv.image, lv.wall, frame_from_landmarks(lv.landmarks))
            cls.uptakes.append([s.uptake_percent for s in polar.segments])
        rows = [cohort_row(f"n{k}", "normal", u) for k, u in enumerate(cls.uptakes)]
        rows.append(cohort_row("sick", "abnormal", np.full(17, 40.0)))
        rows.append(cohort_row("broken", "normal", np.full(17, 10.0), status="failed"))  # not a normal: it failed
        cls.results = cls.root / "results"
        cls.results.mkdir()
        write_cohort_table(rows, cls.results)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_limits_round_trip(self):
        limits_path = self.root / "limits.csv"
        code, out, err = run_cli("normals", self.results, "--group", "normal", "-o", limits_path)
        self.assertEqual(code, 0, err)
        self.assertIn("4 studies of the group 'normal'", out)
        with open(limits_path, newline="") as handle:
            header = next(csv.reader(line for line in handle if not line.startswith("#")))
        self.assertEqual(header, ["segment", "mean_percent", "sd_percent", "count"])
        limits = read_normal_limits(limits_path)
        values = np.round(np.asarray(self.uptakes), 1)
        np.testing.assert_allclose(limits.mean, values.mean(axis=0), atol=0.006)
        np.testing.assert_allclose(limits.sd, np.maximum(values.std(axis=0, ddof=1), 1.0), atol=0.006)
        self.assertEqual(limits.segment_counts, (4,) * 17)
        self.assertEqual(limits.count, 4)
        self.assertIn("group 'normal'", limits.description)

    def test_polar_map_against_the_limits_finds_a_shallow_defect(self):
        limits_path = self.root / "limits_for_map.csv"
        self.assertEqual(run_cli("normals", self.results / "cohort.csv", "-o", limits_path)[0], 0)
        lv = synthetic_lv((4,), depth=0.25, blur_mm=8.0, roll_deg=15.0)
        image = write_volume(lv.image, self.root / "defect.nii.gz")
        wall = Segmentation(lv.image.with_array(lv.wall.astype(np.uint8)), segments_for([1], {1: "LV_myocardium"}))
        segmentation = write_segmentation(wall, self.root / "defect_wall.seg.nrrd")
        landmarks = write_landmarks(lv.landmarks, self.root / "defect.mrk.json")

        def reduced(*extra):
            out = self.root / f"map{len(extra)}"
            code, _, err = run_cli("polar-map", image, "--segmentation", segmentation, "--landmarks", landmarks,
                                   "-o", out, *extra)
            self.assertEqual(code, 0, err)
            with open(out / "segments.csv", newline="") as handle:
                return [int(r["segment"]) for r in csv.DictReader(handle) if r["reduced"] == "1"]

        self.assertEqual(reduced(), [])  # 25 % less uptake stays above the fixed 70 %
        self.assertEqual(reduced("--normals", limits_path, "--normal-sd", "2"), [4])

    def test_too_few_normals_and_bad_inputs_are_one_line(self):
        code, _, err = run_cli("normals", self.results, "--group", "abnormal", "-o", self.root / "x.csv")
        self.assertEqual(code, 2)
        self.assertIn("group 'abnormal' has 1 finished study; normal limits need at least 3", err)
        self.assertIn("'normal'", err)
        code, _, err = run_cli("normals", self.root / "nowhere", "-o", self.root / "x.csv")
        self.assertEqual(code, 2)
        self.assertIn("no cohort table", err)
        code, _, err = run_cli("normals", self.results / "cohort.csv", "-o", self.results / "cohort.csv")
        self.assertEqual(code, 2)
        self.assertIn("would overwrite the cohort table", err)
        self.assertFalse((self.root / "x.csv").exists())


if __name__ == "__main__":
    unittest.main()
