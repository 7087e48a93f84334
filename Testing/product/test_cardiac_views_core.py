"""Cardiac views: AHA segments, the LV frame, SA/VLA/HLA reorientation and the polar map on a synthetic LV."""

import unittest

import numpy as np

from SPECTFewShotLib.cardiac_views.aha_segments import (
    AHA_SEGMENTS,
    RING_RADII,
    segment_at,
    segment_numbers,
    segments_of_heart_point,
)
from SPECTFewShotLib.cardiac_views.frame import (
    SEPTUM_FROM_ANATOMY,
    SEPTUM_FROM_INSERTIONS,
    frame_from_landmarks,
    frame_from_points,
)
from SPECTFewShotLib.cardiac_views.polar_figure import render_polar_figure
from SPECTFewShotLib.cardiac_views.polar_map import (
    PolarMapSettings,
    compute_polar_map,
    polar_image,
    polar_segment_image,
    segments_csv,
)
from SPECTFewShotLib.cardiac_views.reorientation import reorient, slice_to_ras, view_axes
from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.io.markups_io import Landmark
from Testing.cardiac_synthetic import synthetic_lv


class AHASegmentsTest(unittest.TestCase):
    def test_seventeen_segments_in_aha_order(self):
        self.assertEqual([s.number for s in AHA_SEGMENTS], list(range(1, 18)))
        self.assertEqual(AHA_SEGMENTS[0].name, "basal anterior")
        self.assertEqual(AHA_SEGMENTS[4].name, "basal inferolateral")
        self.assertEqual(AHA_SEGMENTS[8].name, "mid inferoseptal")
        self.assertEqual(AHA_SEGMENTS[13].name, "apical septal")
        self.assertEqual(AHA_SEGMENTS[16].name, "apex")

    def test_angles_and_rings(self):
        basal = RING_RADII["basal"][0] + 0.01
        apical = RING_RADII["apical"][0] + 0.01
        # anterior 0, anteroseptal 60, inferoseptal 120, inferior 180, inferolateral 240, anterolateral 300
        self.assertEqual(list(segment_at(basal, [0, 60, 120, 180, 240, 300, 29, 31])), [1, 2, 3, 4, 5, 6, 1, 2])
        self.assertEqual(list(segment_at(apical, [0, 90, 180, 270, 44, 46])), [13, 14, 15, 16, 13, 14])
        self.assertEqual(int(segment_at(0.05, 123.0)), 17)
        self.assertEqual(int(segment_at(RING_RADII["mid"][0] + 0.01, 180.0)), 10)

    def test_heart_points_by_thirds_of_the_cavity(self):
        self.assertEqual(list(segments_of_heart_point([5, 30, 50, 65], 60.0, [0, 0, 90, 0])), [1, 7, 14, 17])

    def test_every_segment_owns_its_angular_range(self):
        angles = np.arange(0.5, 360, 1.0)
        for seg in AHA_SEGMENTS[:16]:
            ring = {"basal": 3, "mid": 2, "apical": 1}[seg.ring]
            numbers = segment_numbers(ring, angles)
            np.testing.assert_array_equal(numbers == seg.number, seg.contains_angle(angles))


class FrameTest(unittest.TestCase):
    def test_anatomical_default_puts_the_septum_right_anterior(self):
        apex = np.array([40.0, -60.0, -20.0])  # left, anterior, inferior of the base
        frame = frame_from_points(apex, np.zeros(3))
        self.assertEqual(frame.septum_source, SEPTUM_FROM_ANATOMY)
        self.assertLess(frame.septal[0], 0)  # patient right (LPS x < 0)
        self.assertLess(frame.septal[1], 0)  # anterior (LPS y < 0)
        self.assertGreater(frame.anterior[2], 0)  # the anterior wall faces the head
        np.testing.assert_allclose(np.cross(frame.anterior, frame.axis), frame.septal, atol=1e-12)

    def test_rv_insertions_fix_the_rotation(self):
        lv = synthetic_lv(roll_deg=35.0)
        frame = frame_from_landmarks(lv.landmarks)
        self.assertEqual(frame.septum_source, SEPTUM_FROM_INSERTIONS)
        np.testing.assert_allclose(frame.anterior, lv.frame.anterior, atol=1e-9)
        one = [lm for lm in lv.landmarks if lm.label != "RV_insertion_inferior"]
        np.testing.assert_allclose(frame_from_landmarks(one).septal, lv.frame.septal, atol=1e-9)
        without = [lm for lm in lv.landmarks if not lm.label.startswith("RV")]
        roll = np.degrees(np.arccos(frame_from_landmarks(without).anterior @ lv.frame.anterior))
        self.assertAlmostEqual(roll, 35.0, places=6)

    def test_bad_landmarks_are_refused(self):
        with self.assertRaisesRegex(InputError, "LV_base"):
            frame_from_landmarks([Landmark("LV_apex", (0.0, 0.0, 0.0))])
        with self.assertRaisesRegex(InputError, "apart"):
            frame_from_points((0, 0, 0), (1, 1, 1))
        lv = synthetic_lv()
        misplaced = tuple(lv.frame.apex + 30 * lv.frame.axis + 40 * lv.frame.direction(210))  # 180 deg off
        crossed = [Landmark(lm.label, misplaced) if lm.label == "RV_insertion_anterior" else lm
                   for lm in lv.landmarks]
        with self.assertRaisesRegex(InputError, "disagree"):
            frame_from_landmarks(crossed)

    def test_tilt_turns_the_axis_by_the_angle(self):
        frame = synthetic_lv().frame
        for toward in (0, 90, 200):
            tilted = frame.tilted(10.0, toward)
            self.assertAlmostEqual(np.degrees(np.arccos(tilted.axis @ frame.axis)), 10.0, places=6)
            self.assertGreater((tilted.axis - frame.axis) @ frame.direction(toward), 0)
            self.assertAlmostEqual(tilted.anterior @ tilted.axis, 0.0, places=9)


class ReorientationTest(unittest.TestCase):
    def setUp(self):
        oblique = np.array([[0.96, -0.28, 0.0], [0.28, 0.96, 0.0], [0.0, 0.0, -1.0]])
        self.lv = synthetic_lv(blur_mm=6.0, direction=oblique)
        self.frame = frame_from_landmarks(self.lv.landmarks)
        self.views = reorient(self.lv.image, self.frame)

    def test_views_hold_the_study_at_their_own_coordinates(self):
        from scipy import ndimage

        image = self.lv.image
        rng = np.random.default_rng(0)
        for _name, view in self.views.items():
            k, j, i = view.array.shape
            ijk = rng.uniform(0, [i - 1, j - 1, k - 1], size=(50, 3)).round()
            lps = view.index_to_lps(ijk)
            expected = ndimage.map_coordinates(image.array.astype(np.float32), image.lps_to_index(lps)[:, ::-1].T,
                                               order=1, mode="constant", cval=0.0)
            actual = view.array[ijk[:, 2].astype(int), ijk[:, 1].astype(int), ijk[:, 0].astype(int)]
            np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-3)

    def test_display_conventions(self):
        f = self.frame
        sa, vla, hla = (view_axes(f, v) for v in ("short_axis", "vertical_long_axis", "horizontal_long_axis"))
        np.testing.assert_allclose(sa[:, 2], f.axis)  # SA slices apex -> base
        np.testing.assert_allclose(sa[:, 1], -f.anterior)  # rows: anterior at the top
        np.testing.assert_allclose(sa[:, 0], -f.septal)  # columns: septum on the left
        np.testing.assert_allclose(vla[:, 0], -f.axis)  # VLA: base left, apex right
        np.testing.assert_allclose(vla[:, 1], -f.anterior)  # anterior up
        np.testing.assert_allclose(hla[:, 1], f.axis)  # HLA: apex at the top, base at the bottom
        np.testing.assert_allclose(hla[:, 0], -f.septal)  # septum left
        for axes in (sa, vla, hla):
            self.assertAlmostEqual(np.linalg.det(axes), 1.0, places=9)
        # the apex slice of the SA stack is the first, the base side the last
        sa_volume = self.views.short_axis
        self.assertLess(sa_volume.lps_to_index(f.apex)[2], sa_volume.lps_to_index(f.base)[2])
        # the VLA's apex lies to the right of its base, the HLA's apex above its base
        vla_volume, hla_volume = self.views.vertical_long_axis, self.views.horizontal_long_axis
        self.assertGreater(vla_volume.lps_to_index(f.apex)[0], vla_volume.lps_to_index(f.base)[0])
        self.assertLess(hla_volume.lps_to_index(f.apex)[1], hla_volume.lps_to_index(f.base)[1])

    def test_slice_to_ras_matches_the_view(self):
        matrix = slice_to_ras(self.frame, "short_axis")
        self.assertAlmostEqual(np.linalg.det(matrix[:3, :3]), 1.0, places=9)
        np.testing.assert_allclose(matrix[:3, 1], self.frame.anterior * [-1, -1, 1])  # screen up = anterior

    def test_bad_spacing_is_refused(self):
        with self.assertRaises(InputError):
            reorient(self.lv.image, self.frame, spacing_mm=0.0)
        with self.assertRaisesRegex(InputError, "coarser"):
            reorient(self.lv.image, self.frame, spacing_mm=0.2)


class NormalLimitsTest(unittest.TestCase):
    def test_limits_round_trip_and_checks(self):
        import tempfile
        from pathlib import Path

        from SPECTFewShotLib.cardiac_views.normal_limits import (
            limits_from_uptakes,
            read_normal_limits,
            write_normal_limits,
        )

        rng = np.random.default_rng(1)
        uptakes = 80 + rng.normal(0, 4, size=(12, 17))
        uptakes[:, 3] = 65.0  # a segment with no spread gets the 1-point floor
        limits = limits_from_uptakes(uptakes, "phantom normals")
        np.testing.assert_allclose(limits.mean, uptakes.mean(axis=0))
        self.assertEqual(limits.sd[3], 1.0)
        with tempfile.TemporaryDirectory() as folder:
            path = write_normal_limits(limits, Path(folder) / "limits.csv")
            back = read_normal_limits(path)
            np.testing.assert_allclose(back.mean, limits.mean, atol=0.006)
            np.testing.assert_allclose(back.sd, limits.sd, atol=0.006)
            self.assertIn("phantom normals", back.description)
            lines = path.read_text().splitlines()
            Path(folder, "short.csv").write_text("\n".join(line for line in lines if not line.startswith("17,")))
            with self.assertRaisesRegex(InputError, "1-17"):
                read_normal_limits(Path(folder) / "short.csv")
        with self.assertRaises(InputError):
            limits_from_uptakes(uptakes[:2])

    def test_reduced_by_normal_limits(self):
        from SPECTFewShotLib.cardiac_views.normal_limits import NormalLimits

        normal = synthetic_lv(blur_mm=8.0)
        frame = frame_from_landmarks(normal.landmarks)
        reference = [s.uptake_percent for s in compute_polar_map(normal.image, normal.wall, frame).segments]
        limits = NormalLimits(tuple(reference), (5.0,) * 17)
        lv = synthetic_lv((4,), depth=0.25, blur_mm=8.0)
        with_limits = compute_polar_map(lv.image, lv.wall, frame, PolarMapSettings(normal_limits=limits))
        self.assertEqual(with_limits.reduced_segments(), [4])
        self.assertEqual(compute_polar_map(lv.image, lv.wall, frame).reduced_segments(), [])  # 70 % misses it
        self.assertIn("SD", with_limits.settings.criterion())


class PolarMapTest(unittest.TestCase):
    def test_defects_land_in_their_segments(self):
        for defect in [(), (3, 9), (1, 2, 7), (17,), (14, 15), (5, 11, 16)]:
            lv = synthetic_lv(defect, depth=0.5, blur_mm=8.0)
            polar = compute_polar_map(lv.image, lv.wall, frame_from_landmarks(lv.landmarks))
            self.assertEqual(polar.reduced_segments(), sorted(defect), defect)
            self.assertTrue(polar.found.all())

    def test_a_wrong_septum_moves_the_defect(self):
        lv = synthetic_lv((14,), depth=0.5, blur_mm=8.0)
        frame = frame_from_landmarks(lv.landmarks).rotated(90.0)  # anterior where the septum is
        self.assertEqual(compute_polar_map(lv.image, lv.wall, frame).reduced_segments(), [13])

    def test_small_tilts_keep_the_reduced_segments(self):
        lv = synthetic_lv((3, 9), depth=0.5, blur_mm=8.0)
        frame = frame_from_landmarks(lv.landmarks)
        for toward in range(0, 360, 90):
            polar = compute_polar_map(lv.image, lv.wall, frame.tilted(5.0, toward))
            self.assertEqual(polar.reduced_segments(), [3, 9])

    def test_gaps_in_the_wall_are_sampled_where_the_wall_should_be(self):
        lv = synthetic_lv((10,), depth=0.8, blur_mm=6.0)
        wall = lv.wall & (lv.segments != 10)  # the severe defect was not classified as wall
        polar = compute_polar_map(lv.image, wall, frame_from_landmarks(lv.landmarks))
        self.assertFalse(polar.found.all())
        self.assertIn(10, polar.reduced_segments())
        self.assertLess(polar.segments[9].coverage, 0.5)

    def test_mean_statistic_and_threshold(self):
        lv = synthetic_lv((4,), depth=0.25, blur_mm=8.0)
        frame = frame_from_landmarks(lv.landmarks)
        strict = compute_polar_map(lv.image, lv.wall, frame, PolarMapSettings(threshold_percent=60.0))
        lenient = compute_polar_map(lv.image, lv.wall, frame, PolarMapSettings(threshold_percent=80.0))
        self.assertEqual(strict.reduced_segments(), [])
        self.assertIn(4, lenient.reduced_segments())
        mean = compute_polar_map(lv.image, lv.wall, frame, PolarMapSettings(statistic="mean"))
        self.assertLess(np.nanmean(mean.counts), np.nanmean(strict.counts))

    def test_settings_are_checked(self):
        for bad in ({"angles": 50}, {"statistic": "median"}, {"threshold_percent": 0}, {"step_voxels": 3}):
            with self.assertRaises(InputError):
                PolarMapSettings(**bad)

    def test_empty_or_misplaced_wall_is_refused(self):
        lv = synthetic_lv()
        frame = frame_from_landmarks(lv.landmarks)
        with self.assertRaisesRegex(InputError, "no myocardium"):
            compute_polar_map(lv.image, np.zeros_like(lv.wall), frame)
        with self.assertRaisesRegex(InputError, "grid"):
            compute_polar_map(lv.image, lv.wall[:-1], frame)

    def test_csv_image_and_figure(self):
        lv = synthetic_lv((6,), depth=0.5, blur_mm=8.0)
        polar = compute_polar_map(lv.image, lv.wall, frame_from_landmarks(lv.landmarks))
        lines = segments_csv(polar).splitlines()
        self.assertEqual(lines[0], "segment,name,uptake_percent,reduced")
        self.assertEqual(len(lines), 18)
        self.assertTrue(lines[6].startswith("6,basal anterolateral,") and lines[6].endswith(",1"))
        self.assertTrue(lines[1].endswith(",0"))
        image, numbers = polar_image(polar, 101), polar_segment_image(polar, 101)
        self.assertTrue(np.isnan(image[0, 0]) and numbers[0, 0] == 0)
        self.assertEqual(numbers[50, 50], 17)
        self.assertEqual(numbers[3, 50], 1)  # 12 o'clock, rim: basal anterior
        self.assertIn(numbers[50, 3], (2, 3))  # 9 o'clock, rim: the septum (anteroseptal | inferoseptal)
        self.assertEqual(numbers[97, 50], 4)  # 6 o'clock: inferior
        self.assertIn(numbers[50, 97], (5, 6))  # 3 o'clock: lateral (between 5 and 6)
        self.assertLess(np.nanmean(image[numbers == 6]), np.nanmean(image[numbers == 1]))
        figure = render_polar_figure(polar, "test")
        self.assertEqual(figure.dtype, np.uint8)
        self.assertEqual(figure.shape[2], 3)
        self.assertTrue((figure == [200, 0, 0]).all(axis=2).any())  # a reduced segment in red


if __name__ == "__main__":
    unittest.main()
