"""NM DICOM: multi-frame reconstructions with their geometry and values; refusals for what is not a volume."""

import tempfile
import unittest
from pathlib import Path

import numpy as np
import pydicom

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.io.volume_io import read_volume
from Testing.nm_dicom_factory import write_nm_file, write_nm_slices


def counts(shape=(20, 16, 24), seed=1):
    return np.random.default_rng(seed).poisson(200.0, size=shape).astype(np.uint16)


class MultiFrameNMTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = Path(self._tmp.name)

    def tearDown(self):
        self._tmp.cleanup()

    def test_geometry_from_detector_information_sequence(self):
        frames = counts()
        volume = read_volume(write_nm_file(self.tmp / "recon.dcm", frames, origin=(-120.5, -95.25, 310.0)))
        self.assertEqual(volume.size, (24, 16, 20))
        self.assertEqual(volume.spacing, (4.42, 4.42, 4.42))
        self.assertEqual(volume.origin, (-120.5, -95.25, 310.0))
        np.testing.assert_allclose(volume.direction, (1, 0, 0, 0, 1, 0, 0, 0, 1))
        np.testing.assert_array_equal(volume.array, frames)
        self.assertEqual(volume.modality, "NM")
        self.assertEqual(volume.units, "counts")
        # the last slice lies (n-1) slice spacings along the normal of the orientation
        np.testing.assert_allclose(volume.index_to_lps((0, 0, 19)), (-120.5, -95.25, 310.0 + 19 * 4.42))

    def test_slice_thickness_when_spacing_between_slices_is_absent(self):
        volume = read_volume(write_nm_file(self.tmp / "t.dcm", counts(), slice_spacing=None, slice_thickness=6.0))
        self.assertEqual(volume.spacing[2], 6.0)

    def test_oblique_orientation_gives_the_normal_as_slice_axis(self):
        c, s = np.cos(0.3), np.sin(0.3)
        volume = read_volume(write_nm_file(self.tmp / "o.dcm", counts(), orientation=(c, s, 0, -s, c, 0)))
        np.testing.assert_allclose(volume.direction_matrix[:, 0], (c, s, 0), atol=1e-6)
        np.testing.assert_allclose(volume.direction_matrix[:, 2], (0, 0, 1), atol=1e-6)

    def test_real_world_value_mapping_and_units(self):
        frames = counts()
        volume = read_volume(write_nm_file(self.tmp / "rw.dcm", frames, real_world=(0.5, 10.0, "Bq/ml")))
        np.testing.assert_allclose(volume.array, frames * 0.5 + 10.0, rtol=1e-6)
        self.assertEqual(volume.units, "Bq/ml")
        volume = read_volume(write_nm_file(self.tmp / "rs.dcm", frames, rescale=(2.0, 0.0)))
        np.testing.assert_allclose(volume.array, frames * 2.0)

    def test_gated_reconstruction_is_summed_with_a_notice(self):
        slots = [counts(seed=s) for s in range(4)]
        volume = read_volume(write_nm_file(self.tmp / "g.dcm", np.concatenate(slots), image_type="RECON GATED TOMO",
                                           time_slots=4))
        np.testing.assert_array_equal(volume.array, np.sum([s.astype(float) for s in slots], axis=0))
        self.assertIn("4 time slots summed", volume.source["notices"][0])

    def test_projections_and_single_frames_are_refused(self):
        for image_type in ("TOMO", "STATIC", "WHOLE BODY"):
            path = write_nm_file(self.tmp / f"{image_type}.dcm", counts(), image_type=image_type)
            with self.assertRaises(InputError) as caught:
                read_volume(path)
            self.assertIn("projection", str(caught.exception))
        path = write_nm_file(self.tmp / "one.dcm", counts(shape=(1, 16, 24)))
        with self.assertRaises(InputError) as caught:
            read_volume(path)
        self.assertIn("2D", str(caught.exception))

    def test_folder_with_one_series(self):
        folder = self.tmp / "series"
        folder.mkdir()
        frames = counts()
        write_nm_file(folder / "IM0001", frames)
        (folder / "README.txt").write_text("exported by a test\n")
        volume = read_volume(folder)
        np.testing.assert_array_equal(volume.array, frames)

    def test_folder_with_single_slice_files_is_stacked(self):
        folder = self.tmp / "slices"
        folder.mkdir()
        frames = counts(shape=(6, 16, 24))
        series_uid, study_uid = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
        for k in range(frames.shape[0]):
            path = write_nm_file(folder / f"s{k:02d}.dcm", frames[k: k + 1], image_type="RECON TOMO")
            ds = pydicom.dcmread(str(path))
            ds.SeriesInstanceUID, ds.StudyInstanceUID = series_uid, study_uid
            ds.ImagePositionPatient = [0.0, 0.0, 5.0 * k]
            ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
            ds.DetectorInformationSequence[0].ImagePositionPatient = [0.0, 0.0, 5.0 * k]
            del ds.NumberOfFrames
            ds.save_as(str(path), enforce_file_format=True)
        volume = read_volume(folder)
        self.assertEqual(volume.size, (24, 16, 6))
        self.assertAlmostEqual(volume.spacing[2], 5.0, places=3)
        np.testing.assert_array_equal(volume.array, frames)

    def test_folder_with_two_series_is_refused(self):
        folder = self.tmp / "two"
        folder.mkdir()
        write_nm_file(folder / "a.dcm", counts())
        write_nm_file(folder / "b.dcm", counts())
        with self.assertRaises(InputError) as caught:
            read_volume(folder)
        self.assertIn("2 DICOM series", str(caught.exception))


class SingleFrameNMSlicesTest(unittest.TestCase):
    """Folders of single-frame NM files, one slice each, as cameras and converters write them: read with the true
    geometry of their positions, or refused / read with a notice saying what was assumed (issue 36)."""

    ORIGIN = (-100.0, -50.0, 20.0)

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = Path(self._tmp.name)
        self.frames = counts(shape=(10, 16, 24))

    def tearDown(self):
        self._tmp.cleanup()

    def read(self, name, **options):
        return read_volume(write_nm_slices(self.tmp / name, self.frames, **options)[0].parent)

    def assert_true_geometry(self, volume, direction=(1, 0, 0, 0, 1, 0, 0, 0, 1)):
        self.assertEqual(volume.size, (24, 16, 10))
        np.testing.assert_allclose(volume.spacing, (4.0, 4.0, 4.0), atol=1e-4)  # was (4, 4, 1)
        np.testing.assert_allclose(volume.origin, self.ORIGIN, atol=1e-4)  # was (0, 0, 0)
        np.testing.assert_allclose(volume.direction, direction, atol=1e-5)
        np.testing.assert_array_equal(volume.array, self.frames)
        self.assertEqual(volume.modality, "NM")
        self.assertEqual(volume.source["notices"], [])

    def test_consistent_slices_read_with_the_geometry_of_their_positions(self):
        self.assert_true_geometry(self.read("consistent"))

    def test_shuffled_file_names_are_ordered_by_position(self):
        self.assert_true_geometry(self.read("shuffled", shuffle=True))

    def test_positions_in_the_detector_information_sequence(self):
        self.assert_true_geometry(self.read("detector", positions="detector"))

    def test_oblique_slices_keep_their_orientation(self):
        c, s = 0.8, 0.6
        volume = self.read("oblique", orientation=(c, s, 0, -s, c, 0), shuffle=True)
        self.assert_true_geometry(volume, (c, -s, 0, s, c, 0, 0, 0, 1))
        np.testing.assert_allclose(volume.index_to_lps((0, 0, 9)), np.add(self.ORIGIN, (0, 0, 36.0)), atol=1e-3)

    def test_no_positions_at_all_read_with_a_notice_of_what_was_assumed(self):
        with self.assertLogs("SPECTFewShotLib.io.dicom_nm", "WARNING") as logged:
            volume = self.read("none", positions="none", shuffle=True)
        np.testing.assert_array_equal(volume.array, self.frames)  # InstanceNumber order
        self.assertEqual(volume.spacing, (4.0, 4.0, 4.0))  # SliceThickness
        self.assertEqual(volume.origin, (0.0, 0.0, 0.0))
        (notice,) = volume.source["notices"]
        for said in ("no ImagePositionPatient", "InstanceNumber", "4 mm apart (SliceThickness)", "origin (0, 0, 0)"):
            self.assertIn(said, notice)
        self.assertEqual(len(logged.output), 1)

    def test_unusable_geometry_is_refused_in_one_line(self):
        refusals = {"uneven": ({"slice_gaps": [4.0] * 4 + [8.0] + [4.0] * 4}, "not evenly spaced"),
                    "some_positions": ({"positions": "some"}, "5 of 10 slice files have no ImagePositionPatient")}
        for name, (options, message) in refusals.items():
            with self.subTest(name), self.assertRaises(InputError) as caught:
                self.read(name, **options)
            self.assertIn(message, str(caught.exception))
            self.assertEqual(len(str(caught.exception).splitlines()), 1)

    def test_slices_of_two_orientations_are_refused(self):
        folder = self.tmp / "two_orientations"
        write_nm_slices(folder, self.frames)
        path = sorted(folder.iterdir())[3]
        ds = pydicom.dcmread(str(path))
        ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
        ds.save_as(str(path), enforce_file_format=True)
        with self.assertRaises(InputError) as caught:
            read_volume(folder)
        self.assertIn("different orientations", str(caught.exception))

    def test_info_reports_the_true_spacing_and_origin(self):
        from Testing.cli_runner import run_cli

        folder = write_nm_slices(self.tmp / "cli", self.frames)[0].parent
        code, out, err = run_cli("info", folder, "--json")
        self.assertEqual(code, 0, err)
        import json

        info = json.loads(out)
        np.testing.assert_allclose(info["spacing"], (4.0, 4.0, 4.0), atol=1e-4)
        np.testing.assert_allclose(info["origin_lps"], self.ORIGIN, atol=1e-4)


if __name__ == "__main__":
    unittest.main()
