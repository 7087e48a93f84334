"""Reading volumes with their true geometry, and refusing what is not a usable 3D volume."""

import tempfile
import unittest
from pathlib import Path
from unittest import mock

import numpy as np
import SimpleITK as sitk

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.io.volume_io import read_volume, require_counts, write_volume
from SPECTFewShotLib.resources import sample_study
from Testing.fixtures import make_volume
from Testing.nm_dicom_factory import write_nm_file


class VolumeGeometryTest(unittest.TestCase):
    def test_index_and_lps_are_inverse_and_follow_itk(self):
        volume = make_volume()
        image = volume.to_sitk()
        for ijk in [(0, 0, 0), (3, 7, 2), (13, 9, 11)]:
            expected = image.TransformContinuousIndexToPhysicalPoint([float(v) for v in ijk])
            np.testing.assert_allclose(volume.index_to_lps(ijk), expected, atol=1e-9)
            np.testing.assert_allclose(volume.lps_to_index(expected), ijk, atol=1e-9)

    def test_grid_differences_name_what_differs(self):
        volume = make_volume()
        self.assertEqual(volume.grid_differences(make_volume()), [])
        shifted = make_volume(origin=(-120.5, -95.25, 312.0))
        self.assertIn("origin", " ".join(volume.grid_differences(shifted)))
        other = make_volume(shape=(12, 10, 15), spacing=(4.0, 4.42, 5.0))
        diffs = " ".join(volume.grid_differences(other))
        self.assertIn("size", diffs)
        self.assertIn("spacing", diffs)


class RoundTripTest(unittest.TestCase):
    def test_every_format_keeps_values_and_geometry(self):
        volume = make_volume()
        with tempfile.TemporaryDirectory() as tmp:
            for suffix in (".nii.gz", ".nii", ".nrrd", ".mha"):
                path = write_volume(volume, Path(tmp) / f"v{suffix}")
                back = read_volume(path)
                self.assertEqual(back.grid_differences(volume), [], suffix)
                np.testing.assert_array_equal(back.array, volume.array, err_msg=suffix)

    def test_two_file_formats_are_read(self):
        volume = make_volume()
        with tempfile.TemporaryDirectory() as tmp:
            for suffix in (".nhdr", ".mhd"):
                path = Path(tmp) / f"v{suffix}"
                sitk.WriteImage(volume.to_sitk(), str(path))
                back = read_volume(path)
                self.assertEqual(back.grid_differences(volume), [], suffix)
                np.testing.assert_array_equal(back.array, volume.array)

    def test_nm_dicom_round_trips_through_every_format(self):
        frames = make_volume(shape=(20, 16, 24), spacing=(4.42, 4.42, 4.42)).array.astype(np.uint16)
        with tempfile.TemporaryDirectory() as tmp:
            dicom = read_volume(write_nm_file(Path(tmp) / "nm.dcm", frames))
            for suffix in (".nii.gz", ".nrrd", ".mha"):
                back = read_volume(write_volume(dicom, Path(tmp) / f"nm{suffix}"))
                self.assertEqual(back.grid_differences(dicom), [], suffix)
                np.testing.assert_array_equal(back.array, frames)

    def test_failed_write_keeps_the_previous_file(self):
        volume = make_volume()

        def half_write_then_fail(image, name, *args):
            Path(name).write_bytes(b"NRRD0004\npartial")
            raise RuntimeError("disk full")

        with tempfile.TemporaryDirectory() as tmp:
            path = write_volume(volume, Path(tmp) / "v.nrrd")
            before = path.read_bytes()
            with mock.patch.object(sitk, "WriteImage", half_write_then_fail), self.assertRaises(RuntimeError):
                write_volume(make_volume(seed=5), path)
            self.assertEqual(path.read_bytes(), before)
            self.assertEqual(sorted(p.name for p in Path(tmp).iterdir()), ["v.nrrd"])


class SampleStudyTest(unittest.TestCase):
    def test_bundled_real_study_reads_with_its_geometry(self):
        image_path, mask_path = sample_study()
        volume = read_volume(image_path)
        self.assertEqual(volume.size, (70, 70, 50))
        self.assertEqual(volume.spacing, (4.0, 4.0, 4.0))
        np.testing.assert_allclose(volume.origin, (-63.4285, -187.6248, 552.8), atol=1e-3)
        np.testing.assert_allclose(volume.direction, (1, 0, 0, 0, 1, 0, 0, 0, -1))
        self.assertEqual(int(volume.array.max()), 32767)
        mask = read_volume(mask_path)
        self.assertEqual(mask.grid_differences(volume), [])
        self.assertEqual(int((mask.array > 0).sum()), 1769)


class RefusalTest(unittest.TestCase):
    def assert_refused(self, path, *words):
        with self.assertRaises(InputError) as caught:
            read_volume(path)
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        for word in words:
            self.assertIn(word, message)

    def test_bad_inputs_are_refused_in_one_clear_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            self.assert_refused(tmp / "missing.nii.gz", "not found")
            (tmp / "notes.nii.gz").write_text("these are not voxels\n")
            self.assert_refused(tmp / "notes.nii.gz", "not an image file")
            good = write_volume(make_volume(), tmp / "good.nrrd")
            data = good.read_bytes()
            (tmp / "truncated.nrrd").write_bytes(data[: len(data) // 2])
            self.assert_refused(tmp / "truncated.nrrd", "truncated.nrrd")
            sitk.WriteImage(sitk.Image(32, 32, sitk.sitkFloat32), str(tmp / "slice.nii.gz"))
            self.assert_refused(tmp / "slice.nii.gz", "2D")
            sitk.WriteImage(sitk.Image([8, 8, 8, 4], sitk.sitkFloat32), str(tmp / "gated.nii.gz"))
            self.assert_refused(tmp / "gated.nii.gz", "4D")
            nan = make_volume().array.astype(np.float32)
            nan[3, 4, 5] = np.nan
            write_volume(make_volume().with_array(nan), tmp / "nan.nrrd")
            self.assert_refused(tmp / "nan.nrrd", "NaN")

    def test_empty_volume_has_no_counts(self):
        empty = make_volume().with_array(np.zeros((12, 10, 14), dtype=np.int16))
        with self.assertRaises(InputError) as caught:
            require_counts(empty, "zeros.nii.gz")
        self.assertIn("empty", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
