"""A new user's first hour (issue 36): what a wrong support, an unwritable output, the tool's own files given to
`info` and a polar map with many reduced segments do. Each test reproduces one "Why" item of the issue."""

from __future__ import annotations

import tempfile
import time
import unittest
from pathlib import Path
from unittest import mock

import numpy as np

from SPECTFewShotLib import memory_guard
from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.io.segmentation_io import Segmentation, read_segmentation, segments_for, write_segmentation
from SPECTFewShotLib.io.volume_io import read_volume, write_volume
from SPECTFewShotLib.protonet.support import MAX_PAINTED_CLASSES, check_support
from SPECTFewShotLib.resources import sample_study
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
        from SPECTFewShotLib.cardiac_views.analysis import analyse
        from SPECTFewShotLib.cardiac_views.polar_map import PolarMapSettings
        from Testing.cardiac_synthetic import synthetic_lv

        lv = synthetic_lv(defect_segments=(4,), depth=0.5, blur_mm=blur_mm)
        return analyse(lv.image, lv.wall, lv.landmarks, PolarMapSettings(threshold_percent=threshold)).polar_map

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
