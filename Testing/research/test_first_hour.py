"""A new user's first hour (issue 36): what a wrong support, an unwritable output, the tool's own files given to
`info`, a polar map with many reduced segments, the README's own command chain and the written views do. Each test
reproduces one "Why" item of the issue (NM slice folders: Testing/product/test_dicom_nm.py)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
import time
import unittest
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.io.segmentation_io import Segmentation, read_segmentation, segments_for, write_segmentation
from SPECTFewShotLib.io.volume_io import read_volume, write_volume
from SPECTFewShotLib.protonet.support import MAX_PAINTED_CLASSES, check_support
from SPECTFewShotLib.resources import sample_study
from SPECTFewShotLib.runtime import memory_guard
from SPECTFewShotLib.volume import Volume
from Testing.cli_runner import run_cli


def study() -> Volume:
    """The bundled real study."""
    return read_volume(sample_study()[0])


def three_slice_painting(volume: Volume) -> np.ndarray:
    """Background (1) and myocardium (2) painted in full on three axial slices through the LV of the bundled study."""
    wall = read_segmentation(sample_study()[1]).labels.array > 0
    ks = np.nonzero(wall.any(axis=(1, 2)))[0]
    painted = np.zeros(volume.array.shape, dtype=np.int32)
    for k in np.percentile(ks, [25, 50, 75]).round().astype(int):
        painted[k] = np.where(wall[k], 2, 1)
    return painted


class WrongSupportTest(unittest.TestCase):
    """Why 2: `classify STUDY --support STUDY` took the counts as 14,771 classes and grew past 19 GB; now what cannot
    be a painting is refused before any work, in one line."""

    @classmethod
    def setUpClass(cls):
        cls.volume = study()

    def support(self, array: np.ndarray) -> Segmentation:
        labels = self.volume.with_array(array)
        return Segmentation(labels, segments_for([int(v) for v in np.unique(array) if v != 0]))

    def assert_refused(self, array: np.ndarray, words: str) -> None:
        with self.assertRaises(InputError) as caught:
            check_support(self.support(array), self.volume)
        self.assertIn(words, str(caught.exception))
        self.assertEqual(len(str(caught.exception).splitlines()), 1)

    def test_the_volume_given_as_its_own_support_is_refused_at_once(self):
        path = sample_study()[0]
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            code, _, err = run_cli("classify", path, "--support", path, "-o", Path(tmp) / "classes.seg.nrrd",
                                   "--device", "cpu")
            seconds = time.perf_counter() - started
        self.assertEqual(code, 2, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("the painted support is the volume itself", err)
        self.assertLess(seconds, 10.0)

    def test_a_copy_of_the_counts_holds_too_many_classes(self):
        counts = np.asarray(self.volume.array, dtype=np.int32) + 1  # not identical, still counts
        self.assert_refused(counts, f"a painting holds a few classes (at most {MAX_PAINTED_CLASSES})")

    def test_counts_binned_to_a_few_values_are_count_like(self):
        binned = (np.asarray(self.volume.array, dtype=np.int32) // 5000).astype(np.int32)  # 7 values
        self.assertLessEqual(len(np.unique(binned)) - 1, MAX_PAINTED_CLASSES)
        self.assert_refused(binned, "rise with the counts in steps")

    def test_fractional_values_are_refused(self):
        painted = three_slice_painting(self.volume).astype(np.float32)
        painted[painted == 2] = 0.7
        self.assert_refused(painted, "fractional values")

    def test_a_real_painting_with_many_regions_is_accepted(self):
        painted = three_slice_painting(self.volume)
        checked = check_support(self.support(painted), self.volume)
        self.assertEqual(checked.class_labels, [1, 2])
        # twelve background regions in blocks of the painted slices are still a painting
        _, jj, ii = np.indices(painted.shape)
        blocks = 10 + (jj // 18) * 4 + ii // 18
        many = np.where(painted == 1, blocks, painted)
        self.assertGreater(len(check_support(self.support(many), self.volume).class_labels), 10)

    def test_the_memory_guard_covers_the_per_class_work(self):
        painted = three_slice_painting(self.volume)
        _, jj, ii = np.indices(painted.shape)
        many = np.where(painted == 1, 10 + (jj // 18) * 4 + ii // 18, painted)
        classes = len(np.unique(many)) - 1
        voxels = self.volume.array.size
        between = voxels * (memory_guard.classification_bytes_per_voxel(2)
                            + memory_guard.classification_bytes_per_voxel(classes)) / 2
        with mock.patch.object(memory_guard, "available_memory_bytes", return_value=int(between / 0.8)):
            check_support(self.support(painted), self.volume)  # two classes fit
            with self.assertRaises(InputError) as caught:
                check_support(self.support(many), self.volume)
        self.assertIn(f"classifying {classes} painted classes needs about", str(caught.exception))


class UserOutputMistakesTest(unittest.TestCase):
    """Why 3: an unwritable output ended in "internal error (PermissionError ... '/sys/.x.partial-...')"; now each
    output mistake is one line naming the user's path, and a symlinked output is written through the link."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = Path(self._tmp.name)
        self.image = sample_study()[0]

    def tearDown(self):
        self._tmp.cleanup()

    def classify_to(self, output) -> tuple[int, str]:
        code, _, err = run_cli("classify", self.image, "--support", sample_study()[1], "-o", output,
                               "--device", "cpu")
        return code, err

    def assert_one_line(self, code: int, err: str, *words: str) -> None:
        self.assertEqual(code, 2, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertTrue(err.startswith("error: "), err)
        self.assertNotIn("internal error", err)
        self.assertNotIn(".partial-", err)
        for word in words:
            self.assertIn(word, err)

    def test_an_unwritable_folder_names_the_users_path(self):
        target = Path("/sys/x.seg.nrrd")
        if not Path("/sys").is_dir() or _writable(Path("/sys")):
            folder = self.tmp / "read_only"
            folder.mkdir()
            folder.chmod(0o500)
            self.addCleanup(folder.chmod, 0o700)
            if _writable(folder):
                self.skipTest("this user can write into any folder")
            target = folder / "x.seg.nrrd"
        code, err = self.classify_to(target)
        self.assert_one_line(code, err, f"cannot write {target}")

    def test_a_path_under_a_file(self):
        (self.tmp / "notes.txt").write_text("a file\n")
        code, err = self.classify_to(self.tmp / "notes.txt" / "x.seg.nrrd")
        self.assert_one_line(code, err, "notes.txt is a file, not a folder")
        code, err = self.classify_to(self.tmp / "notes.txt" / "deeper" / "x.seg.nrrd")
        self.assert_one_line(code, err, "notes.txt is a file, not a folder")

    def test_a_missing_folder(self):
        code, err = self.classify_to(self.tmp / "missing" / "x.seg.nrrd")
        self.assert_one_line(code, err, "does not exist", "missing")

    def test_an_operating_system_refusal_is_a_user_error_naming_the_file(self):
        refusal = PermissionError(13, "Permission denied", "/data/study.nii.gz")
        with mock.patch("SPECTFewShotLib.commands.info.read_volume", side_effect=refusal):
            code, _, err = run_cli("info", self.tmp / "study.nii.gz")
        self.assert_one_line(code, err, "/data/study.nii.gz: permission denied")

    def test_a_symlinked_output_is_written_through_the_link(self):
        from SPECTFewShotLib.io.atomic import write_text_atomic

        real = self.tmp / "real" / "table.csv"
        real.parent.mkdir()
        real.write_text("old\n")
        real.chmod(0o640)
        link = self.tmp / "table.csv"
        link.symlink_to(real)
        write_text_atomic(link, "new\n")
        self.assertTrue(link.is_symlink())
        self.assertEqual(real.read_text(), "new\n")
        self.assertEqual(real.stat().st_mode & 0o777, 0o640)
        self.assertEqual(sorted(p.name for p in real.parent.iterdir()), ["table.csv"])

    def test_a_symlinked_segmentation_output_from_the_command_line(self):
        real = self.tmp / "store" / "classes.seg.nrrd"
        real.parent.mkdir()
        real.write_bytes(b"the previous result")
        link = self.tmp / "classes.seg.nrrd"
        link.symlink_to(real)
        volume = study()
        support = self.tmp / "painted.nii.gz"
        write_volume(volume.with_array(three_slice_painting(volume)), support)
        code, _, err = run_cli("classify", self.image, "--support", support, "-o", link, "--device", "cpu")
        self.assertEqual(code, 0, err)
        self.assertTrue(link.is_symlink())
        self.assertEqual(read_segmentation(real).labels.size, volume.size)


def _writable(folder: Path) -> bool:
    """Whether a file can really be created in `folder` (root can write into folders without write permission)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


class InfoReadsEveryOutputTest(unittest.TestCase):
    """Why 4: `info` refused the tool's own probabilities.nrrd; now it describes every file the tool writes."""

    def test_segmentation_probabilities_and_markups(self):
        import json

        from SPECTFewShotLib.io.markups_io import Landmark, write_landmarks
        from SPECTFewShotLib.protonet.probability_io import write_probabilities

        volume = study()
        painted = three_slice_painting(volume)
        segmentation = Segmentation(volume.with_array(painted), segments_for([1, 2], {1: "background",
                                                                                      2: "LV_myocardium"}))
        probabilities = np.stack([(painted != 2).astype(np.float32), (painted == 2).astype(np.float32)])
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            files = {
                "classes.seg.nrrd": write_segmentation(segmentation, tmp / "classes.seg.nrrd"),
                "probabilities.nrrd": write_probabilities(probabilities, volume, [1, 2],
                                                          ["background", "LV_myocardium"], tmp / "probabilities.nrrd"),
                "landmarks.mrk.json": tmp / "landmarks.mrk.json",
            }
            write_landmarks([Landmark("LV_apex", (1.0, 2.0, 3.0), 0.9)], files["landmarks.mrk.json"], "LPS")
            outputs = {name: run_cli("info", path) for name, path in files.items()}
            as_json = {name: run_cli("info", path, "--json") for name, path in files.items()}
        for name, (code, _out, err) in outputs.items():
            self.assertEqual(code, 0, f"{name}: {err}")
        self.assertIn("LV_myocardium", outputs["classes.seg.nrrd"][1])
        self.assertIn(f"{int((painted == 2).sum())} voxels", outputs["classes.seg.nrrd"][1])
        self.assertIn("most probable in", outputs["probabilities.nrrd"][1])
        self.assertIn("LV_apex", outputs["landmarks.mrk.json"][1])
        probabilities_info = json.loads(as_json["probabilities.nrrd"][1])
        self.assertEqual([c["most_probable_voxels"] for c in probabilities_info["classes"]],
                         [int((painted != 2).sum()), int((painted == 2).sum())])
        self.assertEqual(probabilities_info["spacing"], list(volume.spacing))


class ReducedSegmentsListTest(unittest.TestCase):
    """Why 4/5: polar_map.png cut its REDUCED list off after 13 characters' worth of segments, and the one-line
    summary "reduced segments: 4" read like a count; now every reduced segment is listed by number and name."""

    def polar_map(self, threshold: float, blur_mm: float = 0.0):
        from SPECTFewShotLib.cardiac_views.analysis import analyze
        from SPECTFewShotLib.cardiac_views.polar_map import PolarMapSettings
        from Testing.cardiac_synthetic import synthetic_lv

        lv = synthetic_lv(defect_segments=(4,), depth=0.5, blur_mm=blur_mm)
        return analyze(lv.image, lv.wall, lv.landmarks, PolarMapSettings(threshold_percent=threshold)).polar_map

    def test_one_reduced_segment_reads_as_a_segment_not_a_count(self):
        from SPECTFewShotLib.cardiac_views.polar_figure import reduced_segments_text

        polar = self.polar_map(70.0)
        self.assertEqual(polar.reduced_segments(), [4])
        self.assertEqual(reduced_segments_text(polar), "4 basal inferior")

    def test_every_reduced_segment_is_drawn_by_number_and_name(self):
        from SPECTFewShotLib.cardiac_views.polar_figure import (
            RED,
            REDUCED_LINE_CHARACTERS,
            reduced_lines,
            render_polar_figure,
        )

        polar = self.polar_map(99.99, blur_mm=8.0)  # blurred: every segment's mean under the hottest ray
        self.assertEqual(len(polar.reduced_segments()), 17)
        lines = reduced_lines(polar)
        text = " ".join(lines)
        for segment in polar.segments:
            self.assertIn(f"{segment.number} {segment.name.upper()}", text)
        self.assertTrue(all(len(line) <= REDUCED_LINE_CHARACTERS for line in lines))
        image = render_polar_figure(polar)
        table = image[:, 80 + 480 + 50:]
        red_rows = np.nonzero((table == RED).all(axis=-1).any(axis=1))[0]
        # the 17 table rows, the "REDUCED" heading and every line of the list are drawn in red, none clipped
        drawn_lines = int(np.sum(np.diff(red_rows) > 1)) + 1  # runs of rows holding red text
        self.assertGreaterEqual(drawn_lines, 17 + 1 + len(lines))
        self.assertLess(red_rows.max(), image.shape[0] - 60)  # the colour bar still fits below


if __name__ == "__main__":
    unittest.main()


ROOT = Path(__file__).resolve().parents[2]


def readme_commands(section: str = "## Your own study") -> list[list[str]]:
    """The shell commands of a README section's code blocks, continuation lines joined, split into words."""
    import shlex

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(section)
    end = text.find("\n## ", start + len(section))
    body = text[start:end if end > 0 else None]
    commands = []
    for block in body.split("```bash")[1:]:
        code = block.split("```", 1)[0].replace("\\\n", " ")
        commands += [shlex.split(line) for line in code.splitlines() if line.strip() and not line.startswith("#")]
    return commands


def read_png(path: Path) -> np.ndarray:
    """The RGB pixels of a PNG written by polar_figure.write_png (8-bit RGB, filter 0 on every row)."""
    import struct
    import zlib

    data = path.read_bytes()
    position, idat, width, height = 8, b"", 0, 0
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind, body = data[position + 4:position + 8], data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    rows = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, 1 + 3 * width)
    return rows[:, 1:].reshape(height, width, 3)


@pytest.mark.slow
@unittest.skipUnless(importlib.util.find_spec("matplotlib"), "the demo needs the research extra")
class ReadmeChainTest(unittest.TestCase):
    """Why 4: the README never showed how to get from the bundled study to the demo's map. Its "Your own study"
    chain (classify -> localize -> polar-map, run as written there) must give what `spectfewshot demo` computes in
    the same test run: the same classification, landmarks, views, segments.csv and polar-map figure. About 40 s."""

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        tmp = Path(cls._tmp.name)
        cls.demo, cls.mine = tmp / "output" / "demo", tmp / "mine"
        code, cls.demo_out, err = run_cli("demo", "-o", cls.demo)
        assert code == 0, err
        cls.results = []
        for words in readme_commands():
            words = [word.replace("output/demo", str(cls.demo)).replace("mine/", f"{cls.mine}/")
                     .replace("Resources/", f"{ROOT}/Resources/") for word in words]
            if words[:2] == ["mkdir", "-p"]:
                Path(words[2].replace("mine", str(cls.mine))).mkdir(parents=True, exist_ok=True)
                continue
            assert words[0] == "spectfewshot", words
            cls.results.append((words, run_cli(*words[1:])))

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_every_readme_command_runs(self):
        self.assertEqual([words[1] for words, _ in self.results], ["classify", "localize", "polar-map", "localize"])
        for words, (code, _, err) in self.results:
            self.assertEqual(code, 0, f"{' '.join(words)}: {err}")

    def test_the_classification_is_the_demos(self):
        ours = read_segmentation(self.mine / "classes.seg.nrrd")
        demo = read_segmentation(self.demo / "classes.seg.nrrd")
        np.testing.assert_array_equal(ours.labels.array, demo.labels.array)
        self.assertEqual([s.name for s in ours.segments], [s.name for s in demo.segments])
        from SPECTFewShotLib.protonet.probability_io import read_probabilities

        np.testing.assert_allclose(read_probabilities(self.mine / "probabilities.nrrd")[0],
                                   read_probabilities(self.demo / "probabilities.nrrd")[0], atol=1e-6)

    def test_the_landmarks_are_the_demos(self):
        from SPECTFewShotLib.io.markups_io import read_landmarks

        ours = {lm.label: lm.position_lps for lm in read_landmarks(self.mine / "landmarks.mrk.json")}
        demo = {lm.label: lm.position_lps for lm in read_landmarks(self.demo / "landmarks.mrk.json")}
        self.assertEqual(sorted(ours), sorted(demo))
        for label in demo:  # both files keep positions to 0.1 micrometre
            np.testing.assert_allclose(ours[label], demo[label], atol=1e-3, err_msg=label)
        ours_axis = read_landmarks(self.mine / "long_axis.mrk.json")
        demo_axis = read_landmarks(self.demo / "long_axis.mrk.json")
        np.testing.assert_allclose([p.position_lps for p in ours_axis], [p.position_lps for p in demo_axis],
                                   atol=1e-3)

    def test_the_polar_map_views_and_figure_are_the_demos(self):
        import csv

        ours = list(csv.DictReader((self.mine / "views" / "segments.csv").open()))
        demo = list(csv.DictReader((self.demo / "segments.csv").open()))
        # the demo's map uses the landmarks as placed, the chain's as written (to 0.1 micrometre): the same
        self.assertEqual(ours, demo)
        for name in ("short_axis", "vertical_long_axis", "horizontal_long_axis"):
            a, b = read_volume(self.mine / "views" / f"{name}.nii.gz"), read_volume(self.demo / f"{name}.nii.gz")
            self.assertEqual(a.size, b.size)
            np.testing.assert_allclose(a.array, b.array, rtol=1e-4, atol=1e-3 * float(b.array.max()))
            np.testing.assert_allclose(a.origin, b.origin, atol=1e-3)
        ours_png, demo_png = read_png(self.mine / "views" / "polar_map.png"), read_png(self.demo / "polar_map.png")
        self.assertEqual(ours_png.shape, demo_png.shape)
        below_title = slice(50, None)  # the title names the study differently (file name / study name)
        self.assertTrue(np.array_equal(ours_png[below_title], demo_png[below_title]))
        reduced = [row["segment"] for row in demo if row["reduced"] == "1"]
        printed = next(line for line in self.demo_out.splitlines() if "reduced segments" in line)
        for number in reduced:  # the demo names them, e.g. "4 basal inferior"
            self.assertIn(f"{number} {demo[int(number) - 1]['name']}", printed)


class DisplayedViewsTest(unittest.TestCase):
    """Why 5: the three view files carried the cardiac frame's oblique direction, so Slicer's axis-aligned slice
    views showed them resliced; now they are written axis-aligned around the LV centre, their voxels in the display
    convention, so the Red (axial) view shows SA, VLA and HLA as a cardiologist reads them."""

    def test_view_files_are_axis_aligned_and_centred_on_the_lv(self):
        from SPECTFewShotLib.cardiac_views.analysis import analyze
        from SPECTFewShotLib.io.markups_io import write_landmarks
        from Testing.cardiac_synthetic import synthetic_lv

        lv = synthetic_lv(defect_segments=(1, 7), depth=0.6)  # a defect in the basal and mid anterior wall
        result = analyze(lv.image, lv.wall, lv.landmarks)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            write_volume(lv.image, tmp / "study.nii.gz")
            write_segmentation(Segmentation(lv.image.with_array(lv.wall.astype(np.uint8)),
                                            segments_for([1], {1: "LV_myocardium"})), tmp / "wall.seg.nrrd")
            write_landmarks(lv.landmarks, tmp / "lm.mrk.json")
            code, _, err = run_cli("polar-map", tmp / "study.nii.gz", "--segmentation", tmp / "wall.seg.nrrd",
                                   "--landmarks", tmp / "lm.mrk.json", "-o", tmp / "a" / "b" / "views")
            self.assertEqual(code, 0, err)  # a/b did not exist: created
            files = {name: read_volume(tmp / "a" / "b" / "views" / f"{name}.nii.gz")
                     for name, _ in result.views.items()}
        for name, view in result.views.items():
            written = files[name]
            np.testing.assert_allclose(written.direction, np.eye(3).ravel(), atol=1e-6)
            np.testing.assert_allclose(written.array, view.array, atol=1e-3)
            centre = written.index_to_lps((np.array(written.size) - 1) / 2.0)
            np.testing.assert_allclose(centre, result.frame.center, atol=1e-3)
        # the Red view shows array rows top to bottom: in the mid SA slice the anterior defect is in the top half
        sa = files["short_axis"].array
        mid = sa[sa.shape[0] // 2]
        top, bottom = mid[: mid.shape[0] // 2], mid[mid.shape[0] // 2:]
        self.assertLess(top[top > 20].mean(), bottom[bottom > 20].mean())


class ShippedTemplateTest(unittest.TestCase):
    """Why 4: the README named no template but a phantom; the second real study ships beside the first with its
    LV landmarks, derived from its own mask, and is a Sample Data entry in Slicer."""

    def test_the_template_and_its_landmarks(self):
        import hashlib

        from SPECTFewShotLib.cardiac_landmarks import lv_landmarks
        from SPECTFewShotLib.io.markups_io import read_landmarks
        from SPECTFewShotLib.resources import SAMPLE_DIR, template_study
        from SPECTFewShotLib.slicer_app.sample_data import template_data_source

        image, landmarks = template_study()
        volume = read_volume(image)
        self.assertEqual(volume.size, (70, 70, 50))
        derived = {lm.label: lm.position_lps for lm in lv_landmarks(read_volume(SAMPLE_DIR / "patient003_mask.nii.gz"))}
        shipped = {lm.label: lm.position_lps for lm in read_landmarks(landmarks)}
        self.assertEqual(sorted(shipped), ["LV_apex", "LV_base", "LV_center"])
        for label, position in shipped.items():
            np.testing.assert_allclose(position, derived[label], atol=1e-3)
            self.assertTrue(volume.contains_lps(position), label)
        source = template_data_source()
        self.assertEqual(source["fileNames"], [image.name, landmarks.name])
        for path, checksum in zip((image, landmarks), source["checksums"]):
            self.assertEqual(checksum, "SHA256:" + hashlib.sha256(path.read_bytes()).hexdigest())
        readme = (SAMPLE_DIR / "README.md").read_text(encoding="utf-8")
        for needed in ("patient003_landmarks.mrk.json", "https://doi.org/10.13026/ce2z-dw74", "Goldberger"):
            self.assertIn(needed, readme)


@unittest.skipUnless(shutil.which("make"), "needs make")
class QuietSetupTest(unittest.TestCase):
    """Why 5: the first `make demo` buried the demo under pip's warnings; now setting up .venv prints two lines of
    its own and keeps pip's messages in .venv/install.log, printing them only when the set-up fails."""

    def run_setup(self, status: int) -> subprocess.CompletedProcess:
        venv = Path(self._tmp.name) / "venv"
        (venv / "bin").mkdir(parents=True, exist_ok=True)
        fake = venv / "bin" / "python"  # stands in for the venv's python: pip's kind of noise, then `status`
        fake.write_text(f"#!/bin/sh\necho 'WARNING: pip says a lot' >&2\necho 'Collecting things'\nexit {status}\n")
        fake.chmod(0o755)
        (venv / ".installed").unlink(missing_ok=True)
        return subprocess.run(["make", "--no-print-directory", f"VENV={venv}", f"{venv}/.installed"], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self._tmp.cleanup()

    def test_pip_messages_go_to_a_log_unless_the_setup_fails(self):
        quiet = self.run_setup(0)
        self.assertEqual(quiet.returncode, 0, quiet.stderr)
        output = quiet.stdout + quiet.stderr
        self.assertNotIn("WARNING", output)
        self.assertNotIn("pip install", output)
        self.assertEqual(len(output.strip().splitlines()), 2, output)
        self.assertIn("WARNING: pip says a lot", (Path(self._tmp.name) / "venv" / "install.log").read_text())
        failed = self.run_setup(1)
        self.assertNotEqual(failed.returncode, 0)
        self.assertIn("WARNING: pip says a lot", failed.stdout + failed.stderr)
        self.assertIn("failed", failed.stdout + failed.stderr)


class FourDimensionalNiftiTest(unittest.TestCase):
    """Why 5: the README said gated reconstructions are summed, but a 4D NIfTI is refused (only DICOM says which
    frames are gated time slots); the README now says so, and the refusal says what to do."""

    def test_the_readme_says_what_a_4d_nifti_gets(self):
        from Testing.hostile_files import counts, nifti

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "gated.nii"
            path.write_bytes(nifti(np.stack([counts(), counts()])))
            with self.assertRaises(InputError) as caught:
                read_volume(path)
        self.assertIn("sum or pick the frames", str(caught.exception))
        readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
        self.assertIn("Gated DICOM reconstructions are summed with a notice; a 4D NIfTI or NRRD", readme)
        self.assertIn("is refused with a line saying to sum or pick its frames first", readme)
