"""`spectfewshot batch` on a 2-worker Dask cluster: each study's files are the single-study commands' files, a broken
study is recorded while the rest complete, a rerun keeps finished studies and redoes a changed one, a failed one
runs again only with --retry-failed, a worker killed mid-study has its study retried, inputs are never written."""

import hashlib
import json
import os
import shutil
import tempfile
import unittest
from pathlib import Path

import numpy as np

from SPECTFewShotLib.cohort.batch import run_batch
from SPECTFewShotLib.cohort.manifest import read_manifest
from SPECTFewShotLib.cohort.runner import ClusterOptions, local_cluster
from SPECTFewShotLib.cohort.study import StudySettings, StudyTask, run_study
from SPECTFewShotLib.io.markups_io import read_landmarks
from SPECTFewShotLib.io.segmentation_io import read_segmentation
from SPECTFewShotLib.io.volume_io import read_volume, write_volume
from Testing.batch_studies import read_rows, write_damaged, write_manifest, write_real_crop, write_synthetic
from Testing.cli_runner import run_cli

KILL_MARKER = "kill-worker-once"


def dying_study(task: StudyTask) -> dict:
    """The study task, but the worker process dies (os._exit) the first time it meets the marker file."""
    marker = Path(task.results) / KILL_MARKER
    if marker.exists():
        (Path(task.results) / "killed-pid").write_text(str(os.getpid()))
        marker.unlink()
        os._exit(1)
    return run_study(task)


def always_dying_study(task: StudyTask) -> dict:
    """A study task whose worker process always dies."""
    os._exit(1)


def digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under a folder."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


class BatchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        root = Path(cls.tmp.name)
        cls.inputs = root / "inputs"
        cls.inputs.mkdir()
        real = [name for name in (write_real_crop(cls.inputs, "001"), write_real_crop(cls.inputs, "003")) if name]
        cls.real = real
        write_synthetic(cls.inputs, "lv")
        write_damaged(cls.inputs, "damaged")
        rows = []
        for number, name in enumerate(real):
            template = real[(number + 1) % len(real)]
            rows.append({"id": name, "volume": f"{name}.nii.gz", "paint": f"{name}_paint.seg.nrrd",
                         "segmentation": f"{name}_wall.seg.nrrd", "template": f"{template}.nii.gz",
                         "template_landmarks": f"{template}_lm.mrk.json", "group": "real"})
        rows.append({"id": "lv", "volume": "lv.nii.gz", "segmentation": "lv_wall.seg.nrrd", "group": "synthetic"})
        rows.append({"id": "damaged", "volume": "damaged.nii.gz", "paint": f"{real[0]}_paint.seg.nrrd",
                     "group": "synthetic"})
        cls.manifest = write_manifest(cls.inputs / "manifest.csv", rows)
        cls.before = digests(cls.inputs)
        cls.results = root / "results"
        # the user's path: the CLI on a local cluster of 2 worker processes
        cls.code, cls.out, cls.err = run_cli("batch", cls.manifest, "-o", cls.results, "--workers", "2",
                                             "--no-dashboard")
        cls.rows = read_rows(cls.results / "cohort.csv")
        cls.cluster = local_cluster(2, 1, dashboard=False)  # warm workers for the reruns

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()
        cls.tmp.cleanup()

    def rerun(self, results: Path, *extra, manifest=None):
        return run_cli("batch", manifest or self.manifest, "-o", results, "--scheduler",
                       self.cluster.scheduler_address, *extra)

    def test_cluster_runs_every_study_and_records_the_broken_one(self):
        self.assertEqual(self.code, 3, self.err)  # 3: some study failed
        self.assertIn("Dask: local cluster of 2 worker processes x 1 thread; no dashboard", self.err)
        self.assertIn(f"{len(self.real) + 2} studies: {len(self.real) + 1} ok, 1 failed", self.out)
        self.assertEqual(set(self.rows), {*self.real, "lv", "damaged"})
        damaged = self.rows["damaged"]
        self.assertEqual(damaged["status"], "failed")
        self.assertTrue(damaged["error"].startswith("classify: "), damaged["error"])
        self.assertIn("damaged.nii.gz", damaged["error"])
        self.assertNotIn("\n", damaged["error"])
        for name in [*self.real, "lv"]:
            row = self.rows[name]
            self.assertEqual(row["status"], "ok", row["error"])
            self.assertGreater(float(row["LV_myocardium_ml"]), 30.0)
            self.assertGreater(float(row["lv_length_mm"]), 40.0)
            self.assertTrue(0.0 <= float(row["confidence_LV_apex"]) <= 1.0)
            self.assertGreater(float(row["seconds"]), 0.0)
            self.assertEqual(int(row["reduced_segments"]), sum(int(row[f"reduced_{n:02d}"]) for n in range(1, 18)))
        for name in self.real:
            self.assertGreater(float(self.rows[name]["dice_myocardium"]), 0.7)
        self.assertEqual(self.rows["lv"]["dice_myocardium"], "")  # nothing painted: no Dice
        self.assertTrue((self.results / "cohort_polar_map.png").read_bytes().startswith(b"\x89PNG"))
        self.assertEqual(digests(self.inputs), self.before)  # inputs are never written

    def test_outputs_are_the_single_study_commands_outputs(self):
        single = Path(self.tmp.name) / "single"
        name = self.real[0]
        out = single / name
        out.mkdir(parents=True)
        template = self.real[1 % len(self.real)]
        i = self.inputs
        for argv in (("classify", i / f"{name}.nii.gz", "--support", i / f"{name}_paint.seg.nrrd", "-o",
                      out / "classes.seg.nrrd"),
                     ("localize", i / f"{name}.nii.gz", "--template", i / f"{template}.nii.gz",
                      "--template-landmarks", i / f"{template}_lm.mrk.json", "-o", out / "landmarks.mrk.json",
                      "--long-axis", out / "long_axis.mrk.json", "--segmentation", out / "classes.seg.nrrd"),
                     ("polar-map", i / f"{name}.nii.gz", "--segmentation", out / "classes.seg.nrrd", "--landmarks",
                      out / "landmarks.mrk.json", "-o", out)):
            code, _, err = run_cli(*argv)
            self.assertEqual(code, 0, err)
        batch = self.results / name
        np.testing.assert_array_equal(read_segmentation(batch / "classes.seg.nrrd").labels.array,
                                      read_segmentation(out / "classes.seg.nrrd").labels.array)
        for ours, theirs in zip(read_landmarks(batch / "landmarks.mrk.json"),
                                read_landmarks(out / "landmarks.mrk.json")):
            self.assertEqual(ours.label, theirs.label)
            np.testing.assert_allclose(ours.position_lps, theirs.position_lps, atol=1e-3)
            self.assertAlmostEqual(ours.confidence, theirs.confidence, places=3)
        self.assertEqual((batch / "segments.csv").read_text(), (out / "segments.csv").read_text())
        for view in ("short_axis", "vertical_long_axis", "horizontal_long_axis"):
            np.testing.assert_allclose(read_volume(batch / f"{view}.nii.gz").array,
                                       read_volume(out / f"{view}.nii.gz").array, atol=1e-4)
        row = self.rows[name]
        lines = (out / "segments.csv").read_text().splitlines()[1:]
        self.assertEqual([float(row[f"uptake_{n:02d}"]) for n in range(1, 18)],
                         [float(line.split(",")[2]) for line in lines])
        self.assertIn("wrote", (batch / "log.txt").read_text())  # what the commands printed
        from SPECTFewShotLib.measurements import class_measurements

        volumes = {m.name: m.value for m in class_measurements(read_volume(i / f"{name}.nii.gz"),
                                                               read_segmentation(out / "classes.seg.nrrd"))}
        self.assertAlmostEqual(float(row["LV_myocardium_ml"]), volumes["LV_myocardium volume"], places=2)
        self.assertAlmostEqual(float(row["background_ml"]), volumes["background volume"], places=2)

    def test_a_drawn_wall_without_template_is_the_commands_outputs_too(self):
        out = Path(self.tmp.name) / "single" / "lv"
        out.mkdir(parents=True)
        volume, wall = self.inputs / "lv.nii.gz", self.inputs / "lv_wall.seg.nrrd"
        for argv in (("localize", volume, "-o", out / "landmarks.mrk.json", "--long-axis", out / "long_axis.mrk.json",
                      "--segmentation", wall),
                     ("polar-map", volume, "--segmentation", wall, "--landmarks", out / "landmarks.mrk.json", "-o",
                      out)):
            code, _, err = run_cli(*argv)
            self.assertEqual(code, 0, err)
        batch = self.results / "lv"
        self.assertFalse((batch / "classes.seg.nrrd").exists())  # nothing painted: nothing classified
        self.assertEqual([(lm.label, lm.position_lps) for lm in read_landmarks(batch / "landmarks.mrk.json")],
                         [(lm.label, lm.position_lps) for lm in read_landmarks(out / "landmarks.mrk.json")])
        self.assertEqual((batch / "segments.csv").read_text(), (out / "segments.csv").read_text())

    def test_rerun_keeps_finished_studies_and_redoes_a_changed_one(self):
        results = Path(self.tmp.name) / "rerun"
        shutil.copytree(self.results, results)
        records = {p.parent.name: p.read_text() for p in results.glob("*/study.json")}
        changed = Path(self.tmp.name) / "changed"
        changed.mkdir()
        volume = read_volume(self.inputs / "lv.nii.gz")
        write_volume(volume.with_array(volume.array * 1.5 + 1.0), changed / "lv.nii.gz")
        manifest_rows = []
        for study in read_manifest(self.manifest):
            row = {"id": study.id, "volume": study.volume, "paint": study.paint or "",
                   "segmentation": study.segmentation or "", "template": study.template or "",
                   "template_landmarks": study.template_landmarks or "", "group": study.group}
            if study.id == "lv":
                row["volume"] = str(changed / "lv.nii.gz")
            manifest_rows.append(row)
        manifest = write_manifest(changed / "manifest.csv", manifest_rows)
        code, out, err = self.rerun(results, manifest=manifest)
        self.assertEqual(code, 3, err)
        self.assertIn("1 run now", out)
        self.assertIn(f"kept {len(self.real) + 1} studies whose inputs, settings and weights have not changed "
                      "(1 of them failed", err)
        after = {p.parent.name: p.read_text() for p in results.glob("*/study.json")}
        for name in [*self.real, "damaged"]:
            self.assertEqual(after[name], records[name])  # untouched
        self.assertNotEqual(json.loads(after["lv"])["input_hash"], json.loads(records["lv"])["input_hash"])
        self.assertEqual(read_rows(results / "cohort.csv")["lv"]["status"], "ok")
        # --retry-failed runs only the failed one again
        code, out, err = self.rerun(results, "--retry-failed", manifest=manifest)
        self.assertEqual(code, 3, err)
        self.assertIn("1 run now", out)
        self.assertIn("damaged: FAILED: classify: ", err)
        again = {p.parent.name: p.read_text() for p in results.glob("*/study.json")}
        self.assertEqual(again["lv"], after["lv"])

    def test_normal_limits_reach_every_study_and_changed_settings_run_it_again(self):
        from SPECTFewShotLib.cardiac_views.normal_limits import NormalLimits, write_normal_limits

        results = Path(self.tmp.name) / "with-normals"
        shutil.copytree(self.results, results)
        limits = write_normal_limits(NormalLimits((97.0,) * 17, (2.0,) * 17, 10, "strict normals"),
                                     Path(self.tmp.name) / "strict.csv")
        manifest = write_manifest(Path(self.tmp.name) / "lv_only.csv",
                                  [{"id": "lv", "volume": str(self.inputs / "lv.nii.gz"),
                                    "segmentation": str(self.inputs / "lv_wall.seg.nrrd")}])
        code, out, err = self.rerun(results, "--normals", limits, manifest=manifest)
        self.assertEqual(code, 0, err)
        self.assertIn("1 run now, 0 kept", out)  # other settings: the finished study runs again
        row = read_rows(results / "cohort.csv")["lv"]
        self.assertEqual(int(self.rows["lv"]["reduced_segments"]), 0)  # over 70 % everywhere
        self.assertEqual(int(row["reduced_segments"]), 17)  # every segment more than 2 SD under 97 %
        self.assertIn("more than 2 SD under the normal mean", (results / "lv" / "log.txt").read_text())

    def test_a_killed_worker_s_study_is_retried(self):
        results = Path(self.tmp.name) / "killed"
        results.mkdir()
        (results / KILL_MARKER).write_text("")
        studies = [s for s in read_manifest(self.manifest) if s.id == "lv"]
        result = run_batch(studies, results, StudySettings(),
                           ClusterOptions(scheduler=self.cluster.scheduler_address), task_function=dying_study)
        self.assertFalse((results / KILL_MARKER).exists())  # the first attempt got that far and died
        pid = int((results / "killed-pid").read_text())
        self.assertNotEqual(pid, os.getpid())
        with self.assertRaises(ProcessLookupError):
            os.kill(pid, 0)  # that worker process is gone
        self.assertEqual([row["status"] for row in result.rows], ["ok"])
        self.assertEqual((results / "lv" / "segments.csv").read_text(),
                         (self.results / "lv" / "segments.csv").read_text())

    def test_a_study_whose_workers_keep_dying_is_recorded_as_failed(self):
        results = Path(self.tmp.name) / "always-killed"
        results.mkdir()
        studies = [s for s in read_manifest(self.manifest) if s.id == "lv"]
        scheduler = self.cluster.scheduler
        allowed, scheduler.allowed_failures = scheduler.allowed_failures, 0  # give up at the first death
        try:
            result = run_batch(studies, results, StudySettings(),
                               ClusterOptions(scheduler=self.cluster.scheduler_address),
                               task_function=always_dying_study)
        finally:
            scheduler.allowed_failures = allowed
        self.assertEqual(result.rows[0]["status"], "failed")
        self.assertIn("the worker process running this study died 1 time (killed", result.rows[0]["error"])
        record = json.loads((results / "lv" / "study.json").read_text())
        self.assertEqual(record["row"]["status"], "failed")  # recorded: a rerun keeps it unless --retry-failed


class ProgressTest(unittest.TestCase):
    def test_a_line_per_study_elsewhere_and_a_redrawn_bar_on_a_terminal(self):
        import io

        from SPECTFewShotLib.cohort.runner import Progress

        class Terminal(io.StringIO):
            def isatty(self):
                return True

        rows = [{"id": "a", "status": "ok"}, {"id": "b", "status": "failed", "error": "classify: b.nii.gz is damaged"},
                {"id": "c", "status": "ok"}]
        for stream in (io.StringIO(), Terminal()):
            progress = Progress(3, stream)
            for row in rows:
                progress.update(row)
            progress.close()
            text = stream.getvalue()
            self.assertIn("3/3 studies, 1 failed", text)
            self.assertIn("b: FAILED: classify: b.nii.gz is damaged", text)
            self.assertIn("left", text)
            self.assertEqual(text.count("\r") > 0, isinstance(stream, Terminal))


if __name__ == "__main__":
    unittest.main()
