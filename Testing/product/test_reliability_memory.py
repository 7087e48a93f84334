"""Memory guard: work that would not fit in the available memory is refused before anything is allocated, with one
line saying how large the study is and how to crop or resample it; the available memory is read from the system
and from the process's cgroup."""

import tempfile
import unittest
from pathlib import Path
from unittest import mock

import numpy as np

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.io.volume_io import read_volume, write_volume
from SPECTFewShotLib.runtime import memory_guard
from SPECTFewShotLib.volume import Volume
from Testing.cli_runner import run_cli
from Testing.hostile_files import counts, nifti, nrrd


class RequireMemoryTest(unittest.TestCase):
    def test_within_the_limit_returns_the_estimate(self):
        self.assertEqual(memory_guard.require_memory((10, 20, 30), 8, "x", available=10**9), 48_000)
        self.assertEqual(memory_guard.require_memory(1000, 4, "x", available=10**9), 4000)

    def test_over_the_limit_names_the_size_and_what_to_do(self):
        with self.assertRaises(InputError) as caught:
            memory_guard.require_memory((200, 512, 512), 64, "classifying study.nii.gz", available=2 * 10**9)
        message = str(caught.exception)
        self.assertEqual(len(message.splitlines()), 1)
        for phrase in ("classifying study.nii.gz", "3.4 GB", "52,428,800 voxels", "512 x 512 x 200", "2.0 GB",
                       "crop", "resample"):
            self.assertIn(phrase, message)

    def test_a_margin_is_kept_for_the_application(self):
        memory_guard.require_memory(790, 1, "x", available=1000)
        with self.assertRaises(InputError):
            memory_guard.require_memory(810, 1, "x", available=1000)

    def test_unknown_available_memory_refuses_nothing(self):
        with mock.patch.object(memory_guard, "available_memory_bytes", return_value=None):
            self.assertEqual(memory_guard.require_memory(10**15, 8, "x"), 8 * 10**15)

    def test_the_smallest_of_system_and_cgroup_limits_counts(self):
        with mock.patch.object(memory_guard, "_system_available", return_value=8 * 10**9), \
                mock.patch.object(memory_guard, "_cgroup_available", return_value=10**9):
            self.assertEqual(memory_guard.available_memory_bytes(), 10**9)
        with mock.patch.object(memory_guard, "_system_available", return_value=None), \
                mock.patch.object(memory_guard, "_cgroup_available", return_value=None):
            self.assertIsNone(memory_guard.available_memory_bytes())

    def test_cgroup_files_are_read(self):
        with tempfile.TemporaryDirectory() as tmp:
            v2 = Path(tmp) / "v2"
            v2.mkdir()
            (v2 / "memory.max").write_text("1000000000\n")
            (v2 / "memory.current").write_text("300000000\n")
            with mock.patch.object(memory_guard, "_CGROUP_V2", v2), \
                    mock.patch.object(memory_guard, "_CGROUP_V1", Path(tmp) / "absent"):
                self.assertEqual(memory_guard._cgroup_available(), 700_000_000)
            (v2 / "memory.max").write_text("max\n")
            with mock.patch.object(memory_guard, "_CGROUP_V2", v2), \
                    mock.patch.object(memory_guard, "_CGROUP_V1", Path(tmp) / "absent"):
                self.assertIsNone(memory_guard._cgroup_available())

    def test_system_memory_is_a_positive_number_here(self):
        available = memory_guard.available_memory_bytes()
        if available is not None:
            self.assertGreater(available, 0)

    def test_classification_estimate_grows_with_classes(self):
        self.assertGreater(memory_guard.classification_bytes_per_voxel(5),
                           memory_guard.classification_bytes_per_voxel(2))


class ReadingGuardTest(unittest.TestCase):
    """Reading refuses, before allocating, a volume that does not fit (all formats), and leaves the file alone."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)
        self.volume = Volume(counts((20, 30, 40)), (4.0, 4.0, 4.0), (0.0, 0.0, 0.0))

    def tearDown(self):
        self.tmp.cleanup()

    def assert_refused_when_memory_is_short(self, path: Path):
        before = path.read_bytes() if path.is_file() else None
        read_volume(path)  # fits normally
        with mock.patch.object(memory_guard, "available_memory_bytes", return_value=100_000):
            with self.assertRaises(InputError) as caught:
                read_volume(path)
            code, _, err = run_cli("info", path)
        self.assertIn("40 x 30 x 20", str(caught.exception))
        self.assertIn("crop", str(caught.exception))
        self.assertEqual(code, 2)
        self.assertEqual(len(err.strip().splitlines()), 1)
        if before is not None:
            self.assertEqual(path.read_bytes(), before)

    def test_nifti_nrrd_and_metaimage(self):
        for name in ("study.nii.gz", "study.nii", "study.nrrd", "study.mha"):
            with self.subTest(name=name):
                self.assert_refused_when_memory_is_short(write_volume(self.volume, self.root / name))

    def test_hand_written_headers(self):
        array = counts((20, 30, 40))
        (self.root / "raw.nii").write_bytes(nifti(array))
        (self.root / "raw.nrrd").write_bytes(nrrd(array, gzip_data=True))
        for name in ("raw.nii", "raw.nrrd"):
            with self.subTest(name=name):
                self.assert_refused_when_memory_is_short(self.root / name)

    def test_dicom(self):
        from Testing.nm_dicom_factory import write_nm_file

        path = write_nm_file(self.root / "nm.dcm", np.asarray(counts((20, 30, 40)) * 10, dtype=np.uint16))
        self.assert_refused_when_memory_is_short(path)


if __name__ == "__main__":
    unittest.main()
