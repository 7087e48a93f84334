"""`spectfewshot batch`: a bad manifest or bad settings are refused before anything runs, in one line naming the
rows, with exit status 2 and no results folder; the cohort table and figure from rows alone (no Dask)."""

import csv
import importlib.util
import tempfile
import unittest
from pathlib import Path

from SPECTFewShotLib.cohort.figure import render_cohort_figure
from SPECTFewShotLib.cohort.manifest import read_manifest
from SPECTFewShotLib.cohort.runner import ClusterOptions
from SPECTFewShotLib.cohort.table import (
    COHORT_CSV,
    UPTAKE_COLUMNS,
    cohort_columns,
    parquet_available,
    write_cohort_table,
)
from SPECTFewShotLib.errors import InputError
from Testing.cli_runner import run_cli


class ManifestTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)
        for name in ("a.nii.gz", "a_paint.seg.nrrd", "b.nii.gz", "b_wall.seg.nrrd", "t.nii.gz", "t.mrk.json"):
            (self.root / name).write_bytes(b"x")
        self.results = self.root / "results"

    def tearDown(self):
        self.tmp.cleanup()

    def manifest(self, text: str) -> Path:
        path = self.root / "manifest.csv"
        path.write_text(text)
        return path

    def refused(self, text: str, *extra) -> str:
        code, out, err = run_cli("batch", self.manifest(text), "-o", self.results, *extra)
        self.assertEqual(code, 2, out + err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertTrue(err.startswith("error: "), err)
        self.assertFalse(self.results.exists())  # refused before anything was written
        return err

    def test_relative_paths_groups_and_the_command_line_template(self):
        studies = read_manifest(self.manifest("id,volume,paint,segmentation,group\n"
                                              "a,a.nii.gz,a_paint.seg.nrrd,,normal\n"
                                              "# a comment line\n"
                                              "b,b.nii.gz,,b_wall.seg.nrrd,\n"),
                                self.root / "t.nii.gz", self.root / "t.mrk.json")
        self.assertEqual([s.id for s in studies], ["a", "b"])
        self.assertEqual(studies[0].volume, str(self.root.resolve() / "a.nii.gz"))
        self.assertEqual(studies[0].group, "normal")
        self.assertIsNone(studies[1].paint)
        self.assertEqual(studies[1].template, str((self.root / "t.nii.gz").resolve()))
        self.assertEqual(studies[1].line, 4)

    def test_duplicate_ids_are_named_with_their_lines(self):
        err = self.refused("id,volume,paint\na,a.nii.gz,a_paint.seg.nrrd\nb,b.nii.gz,a_paint.seg.nrrd\n"
                           "A,a.nii.gz,a_paint.seg.nrrd\n")
        self.assertIn("duplicate ids", err)
        self.assertIn("a (lines 2, 4)", err)

    def test_missing_columns(self):
        err = self.refused("id,paint\na,a_paint.seg.nrrd\n")
        self.assertIn("lacks the column volume", err)

    def test_missing_files_and_rows_without_a_wall_are_named(self):
        err = self.refused("id,volume,paint,segmentation\na,a.nii.gz,a_paint.seg.nrrd,\nb,gone.nii.gz,,\n"
                           "c,b.nii.gz,,nowhere.seg.nrrd\n")
        self.assertIn("neither paint nor segmentation: line 3 (b)", err)
        self.assertIn("missing files: line 3 (b) volume gone.nii.gz, line 4 (c) segmentation nowhere.seg.nrrd", err)

    def test_ids_must_be_folder_names(self):
        err = self.refused("id,volume,paint\n../up,a.nii.gz,a_paint.seg.nrrd\n")
        self.assertIn("ids must be folder names", err)
        self.assertIn("line 2 ('../up')", err)

    def test_bad_settings_are_refused_before_the_manifest_runs(self):
        good = "id,volume,paint\na,a.nii.gz,a_paint.seg.nrrd\n"
        self.assertIn("between 0 and 100", self.refused(good, "--threshold", "120"))
        self.assertIn("--workers must be at least 1", self.refused(good, "--workers", "0"))
        self.assertIn("own", self.refused(good, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"))
        self.assertIn("file not found", self.refused(good, "--normals", str(self.root / "none.csv")))
        self.assertIn("together", self.refused(good, "--template", str(self.root / "t.nii.gz")))

    @unittest.skipUnless(importlib.util.find_spec("distributed"), "the batch extra (Dask) is not installed")
    def test_an_unreachable_scheduler_is_one_line(self):
        import socket
        from unittest import mock

        from SPECTFewShotLib.cohort import runner

        with socket.socket() as probe:  # a port nobody listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with mock.patch.object(runner, "CONNECT_TIMEOUT_S", 2):
            code, _, err = run_cli("batch", self.manifest("id,volume,paint\na,a.nii.gz,a_paint.seg.nrrd\n"), "-o",
                                   self.results, "--scheduler", f"tcp://127.0.0.1:{port}")
        self.assertEqual(code, 2, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn(f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}", err)

    def test_cluster_options(self):
        with self.assertRaises(InputError):
            ClusterOptions(threads_per_worker=0)


class CohortTableTest(unittest.TestCase):
    def rows(self):
        ok = {"id": "s1", "group": "normal", "status": "ok", "error": "", "seconds": 1.5, "warnings": "",
              "LV_myocardium_ml": 120.0, "lv_length_mm": 80.0, "confidence_LV_apex": 0.9}
        ok.update({column: 70.0 + n for n, column in enumerate(UPTAKE_COLUMNS)})
        ok.update({f"reduced_{n:02d}": 0 for n in range(1, 18)}, reduced_segments=0)
        failed = {"id": "s2", "group": "normal", "status": "failed", "error": "classify: bad file", "seconds": 0.2}
        return [ok, failed]

    def test_columns_and_csv(self):
        rows = self.rows()
        columns = cohort_columns(rows)
        self.assertEqual(columns[:6], ["id", "group", "status", "error", "seconds", "warnings"])
        self.assertLess(columns.index("LV_myocardium_ml"), columns.index("uptake_01"))
        self.assertLess(columns.index("uptake_17"), columns.index("reduced_01"))
        with tempfile.TemporaryDirectory() as folder:
            written = write_cohort_table(rows, folder)
            self.assertEqual(written[0].name, COHORT_CSV)
            with open(written[0], newline="") as handle:
                back = list(csv.DictReader(handle))
        self.assertEqual(back[1]["error"], "classify: bad file")
        self.assertEqual(back[1]["uptake_01"], "")
        self.assertEqual(float(back[0]["uptake_17"]), 86.0)

    @unittest.skipUnless(parquet_available(), "pyarrow (the optional Parquet writer) is not installed")
    def test_parquet_holds_the_same_rows(self):
        import pyarrow.parquet as pq

        with tempfile.TemporaryDirectory() as folder:
            written = write_cohort_table(self.rows(), folder)
            table = pq.read_table(written[1])
        self.assertEqual(table.column("id").to_pylist(), ["s1", "s2"])
        self.assertEqual(table.column("uptake_17").to_pylist(), [86.0, None])
        self.assertEqual(table.column("error").to_pylist(), [None, "classify: bad file"])

    def test_cohort_figure_has_one_band_per_group(self):
        rows = self.rows()
        one = render_cohort_figure(rows)
        two = render_cohort_figure([*rows, {**rows[0], "id": "s3", "group": "abnormal"}])
        self.assertEqual(one.shape[1], two.shape[1])
        self.assertGreater(two.shape[0], one.shape[0])


if __name__ == "__main__":
    unittest.main()
