"""The staged localiser, stage by stage, on synthetic studies whose LV is known exactly: the LV is found beside a
hotter solid organ and a hot rim, its frame (centre, axis from base to apex) from counts and from a mask, the
carry in the LV frame, the template convention check, the long axis's angles and its line markup."""

import json
import tempfile
import unittest
from dataclasses import replace
from pathlib import Path
from unittest import mock

import numpy as np

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.io.markups_io import Landmark
from SPECTFewShotLib.landmarks import carry
from SPECTFewShotLib.landmarks.carry import (
    BASE_REFERENCE_MM,
    ROLL_SEARCH_DEG,
    ROLL_STEP_DEG,
    SAME_ANATOMY_CORRELATION,
    carry_landmarks,
    convention_warnings,
    endocardial_apex_mm,
    from_frame,
    roll_offset,
    to_frame,
)
from SPECTFewShotLib.landmarks.heart_search import find_lv_candidates, smoothed_counts
from SPECTFewShotLib.landmarks.long_axis import LongAxis, angle_between_deg, write_long_axis
from SPECTFewShotLib.landmarks.lv_frame import frame_from_counts, frame_from_segmentation
from SPECTFewShotLib.landmarks.staged import Localizer, find_lv_frame
from Testing.fixtures import SPACING, centre_off_centroid_pair, cup_mask, study


class HeartSearchTest(unittest.TestCase):
    def test_the_lv_is_found_beside_a_hotter_solid_organ_and_a_hot_rim(self):
        volume, _, centroid, *_ = study()
        self.assertGreater(volume.array.max(), 2500)  # the hottest voxels are not the heart's
        best = find_lv_candidates(volume, smoothed_counts(volume))[0]
        self.assertLess(np.linalg.norm(best.center_lps - centroid), 15.0)

    def test_a_volume_without_a_cup_has_no_lv(self):
        volume, *_ = study()
        k, j, i = np.indices(volume.array.shape)
        blob = np.exp(-((i - 24) ** 2 + (j - 24) ** 2 + (k - 24) ** 2) / 40.0).astype(np.float32) * 1000
        with self.assertRaises(InputError):
            find_lv_frame(volume.with_array(blob))


class LVFrameTest(unittest.TestCase):
    def test_frame_from_counts_matches_the_true_lv(self):
        for apex_direction in [(0.6, -0.5, -0.6), (0.2, -0.9, -0.3), (0.7, -0.2, -0.5)]:
            volume, _mask, centroid, apex, _base, toward_apex = study(apex_direction=apex_direction, seed=1)
            frame = find_lv_frame(volume)
            with self.subTest(apex_direction=apex_direction):
                self.assertEqual(frame.source, "counts")
                self.assertLess(angle_between_deg(-frame.geometry.axis, toward_apex), 15.0)
                self.assertLess(np.linalg.norm(frame.geometry.center - centroid), 6.0)
                self.assertLess(np.linalg.norm(frame.geometry.apex - apex), 10.0)
                self.assertTrue(0.0 < frame.confidence <= 1.0)

    def test_frame_from_a_segmentation_uses_the_mask(self):
        _volume, mask, centroid, _apex, base, toward_apex = study()
        frame = frame_from_segmentation(mask)
        self.assertEqual(frame.source, "segmentation")
        self.assertLess(np.linalg.norm(frame.geometry.center - centroid), 1e-6)
        self.assertLess(angle_between_deg(-frame.geometry.axis, toward_apex), 8.0)
        self.assertLess(np.linalg.norm(frame.geometry.base - base), 8.0)

    def test_a_candidate_without_a_wall_is_refused(self):
        volume, *_ = study()
        counts = smoothed_counts(volume)
        far = find_lv_candidates(volume, counts)[0]
        moved = type(far)(far.center_lps + np.array([0.0, 0.0, 80.0]), far.score)
        with self.assertRaises(InputError):
            frame_from_counts(volume, counts, moved)


class CarryTest(unittest.TestCase):
    def test_the_frames_own_landmarks_land_on_the_other_frames_own(self):
        _v, template_mask, *_ = study(apex_direction=(0.6, -0.5, -0.6))
        _v, target_mask, *_ = study(center=(-6.0, 4.0, 10.0), apex_direction=(0.2, -0.9, -0.3))
        template, target = frame_from_segmentation(template_mask), frame_from_segmentation(target_mask)
        own = [Landmark(lm.label, lm.position_lps) for lm in template.geometry.landmarks()]
        for carried, expected in zip(carry_landmarks(template, target, own, roll_deg=17.0),
                                     (target.geometry.center, target.geometry.apex, target.geometry.base)):
            self.assertLess(np.linalg.norm(carried - expected), 1e-6)

    def test_a_point_in_the_apical_wall_keeps_its_fraction_of_the_wall(self):
        # Apical walls 10 and 22 mm thick on the axis: the point where the cavity ends, and one halfway through the
        # wall, land where the other wall's cavity ends and halfway through it (not at the LV-length proportion).
        template, target = frame_from_segmentation(cup_mask(34.0)), frame_from_segmentation(cup_mask(22.0))

        def on_axis(frame, t):
            return frame.geometry.center - t * frame.geometry.axis

        template_endo, target_endo = endocardial_apex_mm(template), endocardial_apex_mm(target)
        for frame, endo, cavity in ((template, template_endo, 34.0), (target, target_endo, 22.0)):
            true_endo = (np.array([2.0, -3.0, 1.0]) + cavity * np.array([0.6, -0.5, -0.6]) / np.sqrt(0.97)
                         - frame.geometry.center) @ -frame.geometry.axis  # cup_mask's own centre and axis
            self.assertLess(abs(endo - true_endo), SPACING)
        lengths = [float((f.geometry.apex - f.geometry.center) @ -f.geometry.axis) for f in (template, target)]
        points = [Landmark("endocardial", tuple(on_axis(template, template_endo))),
                  Landmark("mid-wall", tuple(on_axis(template, (template_endo + lengths[0]) / 2))),
                  Landmark("mid-cavity", tuple(on_axis(template, template_endo / 2)))]
        expected = [on_axis(target, target_endo), on_axis(target, (target_endo + lengths[1]) / 2),
                    on_axis(target, target_endo / 2)]
        for landmark, carried, wanted in zip(points, carry_landmarks(template, target, points), expected):
            self.assertLess(np.linalg.norm(carried - wanted), 1e-6, landmark.label)
        self.assertGreater(np.linalg.norm(expected[0] - on_axis(target, template_endo / lengths[0] * lengths[1])),
                           SPACING)  # the proportion of the LV's length would miss it by more than a voxel

    @staticmethod
    def off_axis_base(frame, offset_mm: float, direction) -> object:
        """`frame` with its basal ring's centre moved `offset_mm` off the long axis (across it, towards
        `direction`), as on real masks whose basal ring is not centred on the axis."""
        axis = frame.geometry.axis
        across = np.asarray(direction, dtype=float) - (np.asarray(direction, dtype=float) @ axis) * axis
        base = frame.geometry.base + offset_mm * across / np.linalg.norm(across)
        return replace(frame, geometry=replace(frame.geometry, base=base))

    def test_the_base_is_carried_relative_to_both_of_its_centres(self):
        # The basal ring's centre and where the long axis crosses the base plane (annotators use either) land on
        # the target's own, though the two LVs' rings sit off their axes by different amounts and ways.
        template = self.off_axis_base(frame_from_segmentation(cup_mask(28.0)), 6.0, (1.0, 0.0, 0.0))
        target = self.off_axis_base(frame_from_segmentation(cup_mask(28.0, center=(-6.0, 4.0, 10.0),
                                                                          apex_direction=(0.2, -0.9, -0.3))),
                                    10.0, (0.0, 0.0, 1.0))

        def on_axis(frame):
            g = frame.geometry
            return g.center + ((g.base - g.center) @ g.axis) * g.axis

        points = [Landmark("ring centre", tuple(template.geometry.base)),
                  Landmark("axis at the base", tuple(on_axis(template)))]
        for landmark, carried, wanted in zip(points, carry_landmarks(template, target, points, roll_deg=11.0),
                                             (target.geometry.base, on_axis(target))):
            self.assertLess(np.linalg.norm(carried - wanted), 1e-6, landmark.label)
        with mock.patch.object(carry, "BASE_REFERENCE_MM", float("inf")):  # the centreline alone: a voxel off
            self.assertGreater(np.linalg.norm(carry_landmarks(template, target, points[1:])[0] - on_axis(target)),
                               SPACING)
        # A point far from both centres (an RV insertion point) is carried as before; so is every point of a
        # template whose two centres lie under a voxel apart (it cannot show which one its points follow).
        far = template.geometry.base + 2.0 * template.radius_mm * np.array([0.0, 1.0, 0.0])
        with mock.patch.object(carry, "BASE_REFERENCE_MM", float("inf")):
            plain = carry_landmarks(template, target, [Landmark("far", tuple(far))])[0]
        self.assertLess(np.linalg.norm(carry_landmarks(template, target, [Landmark("far", tuple(far))])[0] - plain),
                        1e-9)
        # (a quarter of BASE_REFERENCE_MM off: at half of it the rule's weight is near a half, and the move sat on
        # the bound, 5.0 against 5.1 mm with the single axis fit, 5.5 against 5.2 with the steady one)
        close = self.off_axis_base(frame_from_segmentation(cup_mask(28.0)), 0.25 * BASE_REFERENCE_MM, (1.0, 0.0, 0.0))
        point = [Landmark("axis at the base", tuple(on_axis(close)))]
        with mock.patch.object(carry, "BASE_REFERENCE_MM", float("inf")):
            plain = carry_landmarks(close, target, point)[0]
        self.assertLess(np.linalg.norm(carry_landmarks(close, target, point)[0] - plain), 0.5 * np.linalg.norm(
            on_axis(target) - target.geometry.base))

    def test_a_centre_off_the_centroid_follows_its_own_apex_and_base(self):
        # The template's LV_center 40 % of the way from its apex to its base (its annotator's own convention, not
        # the centroid); the target LV longer on the base side: the centre goes toward the point 40 % of the way
        # between the placed apex and base, by d^2 / (d^2 + CENTRE_AGREEMENT_MM^2) (d: how far the frame's carry
        # lies from it) when the study's frame is its own wall's, by CENTRE_RULE_WEIGHT when it is a one-shot wall's.
        template, target, landmarks = centre_off_centroid_pair(0.4)
        g = template.geometry
        self.assertGreater(np.linalg.norm(g.apex + 0.4 * (g.base - g.apex) - g.center), carry.CENTRE_BLEND_MM)
        placed = np.asarray(carry_landmarks(template, target, landmarks))
        by_ends = placed[1] + 0.4 * (placed[2] - placed[1])
        with mock.patch.object(carry, "centre_rule_weight", lambda frame, apart: 0.0):
            by_frame = np.asarray(carry_landmarks(template, target, landmarks))[0]
        apart = float(np.linalg.norm(by_frame - by_ends))
        self.assertGreater(apart, SPACING)  # the frame alone misses it by a voxel
        weight = apart ** 2 / (apart ** 2 + carry.CENTRE_AGREEMENT_MM ** 2)
        self.assertGreater(weight, carry.CENTRE_RULE_WEIGHT)  # far apart: the ends' estimate counts more than half
        self.assertLess(np.linalg.norm(placed[0] - ((1 - weight) * by_frame + weight * by_ends)), 1e-6)
        one_shot = replace(target, source="one-shot")
        halfway = (1 - carry.CENTRE_RULE_WEIGHT) * by_frame + carry.CENTRE_RULE_WEIGHT * by_ends
        self.assertLess(np.linalg.norm(np.asarray(carry_landmarks(template, one_shot, landmarks))[0] - halfway), 1e-6)
        # Our own centre (the wall's centroid) is carried by the frame alone; so is every point when the template's
        # frame was found in its counts (the counts' wall is not the one its annotator placed the points by).
        own = [Landmark("LV_center", tuple(g.center)), *landmarks[1:]]
        self.assertLess(np.linalg.norm(carry_landmarks(template, target, own)[0] - target.geometry.center), 1e-6)
        from_counts = np.asarray(carry_landmarks(replace(template, source="counts"), target, landmarks))
        self.assertLess(np.linalg.norm(from_counts[0] - by_frame), 1e-9)

    def test_the_roll_is_found_where_the_counts_around_the_axis_agree(self):
        rng = np.random.default_rng(0)
        profile = rng.random((10, 10, 180))
        for steps in (-7, 0, 5):
            offset, correlation = roll_offset(profile, np.roll(profile, steps, axis=-1))
            self.assertAlmostEqual(offset, steps * ROLL_STEP_DEG, places=6)
            self.assertAlmostEqual(correlation, 1.0, places=6)
        # Beyond the anatomical window only where the counts agree as a turned copy of the same study does.
        same, correlation = roll_offset(profile, np.roll(profile, 60, axis=-1))
        self.assertAlmostEqual(same, 120.0, places=6)
        self.assertGreaterEqual(correlation, SAME_ANATOMY_CORRELATION)
        other = np.roll(profile, 60, axis=-1) + rng.random(profile.shape)  # another patient's: within the window
        far, correlation = roll_offset(profile, other)
        self.assertLess(correlation, SAME_ANATOMY_CORRELATION)
        self.assertLessEqual(abs(far), ROLL_SEARCH_DEG)

    def test_frame_coordinates_round_trip_and_follow_the_lv(self):
        _template_volume, template_mask, *_ = study(apex_direction=(0.6, -0.5, -0.6))
        _target_volume, target_mask, *_ = study(center=(-6.0, 4.0, 10.0), apex_direction=(0.2, -0.9, -0.3))
        template, target = frame_from_segmentation(template_mask), frame_from_segmentation(target_mask)
        points = np.array([[1.0, 2.0, 3.0], [20.0, -10.0, 5.0]])
        self.assertTrue(np.allclose(from_frame(template, to_frame(template, points)), points))
        # A point 10 mm beyond the apex on the axis lands beyond the target's apex on its axis.
        beyond = template.geometry.apex - 10.0 * template.geometry.axis
        carried = carry_landmarks(template, target, [Landmark("beyond", tuple(beyond))])[0]
        expected = target.geometry.apex - 10.0 * target.length_mm / template.length_mm * target.geometry.axis
        self.assertLess(np.linalg.norm(carried - expected), 1.0)

    def test_a_template_with_apex_and_base_swapped_is_warned_about(self):
        _volume, mask, centroid, apex, base, _ = study()
        frame = frame_from_segmentation(mask)
        good = [Landmark("LV_center", tuple(centroid)), Landmark("LV_apex", tuple(apex)), Landmark("LV_base",
                                                                                                   tuple(base))]
        self.assertEqual(convention_warnings(frame, good), [])
        swapped = [good[0], Landmark("LV_apex", tuple(base)), Landmark("LV_base", tuple(apex))]
        self.assertTrue(any("swapped" in w for w in convention_warnings(frame, swapped)))


class LocalizerTest(unittest.TestCase):
    def test_lv_landmarks_come_from_the_target_and_others_are_carried(self):
        template_volume, _template_mask, t_centroid, t_apex, t_base, _ = study(seed=2)
        target_volume, _, centroid, apex, _base, toward_apex = study(center=(-4.0, 6.0, -2.0),
                                                                   apex_direction=(0.3, -0.8, -0.5), seed=3)
        near_apex = t_apex + 5.0 * (t_base - t_apex) / np.linalg.norm(t_base - t_apex)
        landmarks = [Landmark("LV_center", tuple(t_centroid)), Landmark("LV_apex", tuple(t_apex)),
                     Landmark("LV_base", tuple(t_base)), Landmark("near_apex", tuple(near_apex))]
        placement = Localizer().place(target_volume, [(template_volume, landmarks)])
        placed = {lm.label: np.asarray(lm.position_lps) for lm in placement.landmarks}
        self.assertEqual(list(placed), ["LV_center", "LV_apex", "LV_base", "near_apex"])
        self.assertLess(np.linalg.norm(placed["LV_center"] - centroid), 6.0)
        self.assertLess(np.linalg.norm(placed["LV_apex"] - apex), 10.0)
        self.assertLess(np.linalg.norm(placed["near_apex"] - placed["LV_apex"]), 12.0)
        self.assertLess(angle_between_deg(placement.long_axis.direction, toward_apex), 12.0)
        self.assertTrue(all(0.0 <= lm.confidence <= 1.0 for lm in placement.landmarks))


class LongAxisTest(unittest.TestCase):
    def test_angles_of_a_normal_heart_are_positive_and_the_file_is_a_line(self):
        axis = LongAxis((0.0, 0.0, 0.0), (30.0, -30.0, -30.0 * np.sqrt(2)), 0.8)
        self.assertAlmostEqual(axis.azimuth_deg, 45.0)
        self.assertAlmostEqual(axis.elevation_deg, 45.0)
        self.assertAlmostEqual(axis.length_mm, 60.0)
        with tempfile.TemporaryDirectory() as tmp:
            path = write_long_axis(axis, Path(tmp) / "axis.mrk.json", "RAS")
            markup = json.loads(path.read_text())["markups"][0]
        self.assertEqual(markup["type"], "Line")
        self.assertEqual(markup["controlPoints"][1]["position"], [-30.0, 30.0, -30.0 * np.sqrt(2)])
        self.assertEqual({m["name"] for m in markup["measurements"]}, {"length", "azimuth", "elevation"})

    def test_line_markup_node(self):
        try:
            import slicer
        except ImportError:
            self.skipTest("slicer-core is not installed")
        from SPECTFewShotLib.mrml.long_axis_line import long_axis_to_node

        scene = slicer.vtkMRMLScene()
        axis = LongAxis((1.0, 2.0, 3.0), (21.0, -18.0, -17.0))
        node = long_axis_to_node(axis, scene)
        self.assertEqual(node.GetNumberOfControlPoints(), 2)
        ras = [0.0, 0.0, 0.0]
        node.GetNthControlPointPosition(1, ras)
        self.assertEqual(ras, [-21.0, 18.0, -17.0])
        self.assertEqual(node.GetNthControlPointLabel(0), "LV_base")
        self.assertIn("azimuth", node.GetDescription())


if __name__ == "__main__":
    unittest.main()
