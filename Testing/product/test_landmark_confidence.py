"""Landmark confidence from evidence about each point (landmarks.confidence): a template placed in a moved copy of
itself keeps a high confidence; a point whose independent estimates disagree, or that rests on what the LV frame
does not pin, is flagged; the polar map names the flagged points its axis or septum rests on."""

import tempfile
import unittest
from pathlib import Path

import numpy as np
from scipy import ndimage

from SPECTFewShotLib.cardiac_views.rotations import axis_rotation
from SPECTFewShotLib.io.markups_io import Landmark, write_landmarks
from SPECTFewShotLib.landmarks.confidence import (
    FAR_MM,
    SURE,
    UNCOVERED_MM,
    WITHIN_MM,
    PointEvidence,
    confidence_from_bound,
    error_bound_mm,
    gather_evidence,
    point_confidence,
)
from SPECTFewShotLib.landmarks.fusion import LOW_CONFIDENCE, is_low_confidence, low_confidence_labels
from SPECTFewShotLib.landmarks.staged import Localizer
from Testing.fixtures import study


def turned(volume, degrees, axis=(1.0, 1.0, 1.0)):
    """The volume's content turned about the field of view's centre (same axis-aligned isotropic grid), and the
    function that moves LPS points the same way."""
    rotation = axis_rotation(axis, degrees)
    centre = volume.index_to_lps((np.asarray(volume.size, dtype=float) - 1) / 2)
    ic = volume.lps_to_index(centre[None])[0]
    flip = np.eye(3)[::-1]  # (i, j, k) <-> the array's (k, j, i)
    array = ndimage.affine_transform(np.asarray(volume.array, dtype=np.float32), flip @ rotation.T @ flip,
                                     flip @ (ic - rotation.T @ ic), order=1)
    return volume.with_array(array.astype(volume.array.dtype)), lambda points: (points - centre) @ rotation.T + centre


def evidence(spread_mm, lever=0.0, counts_frame=1.0):
    return PointEvidence(np.atleast_1d(np.asarray(spread_mm, dtype=float)),
                         np.full(np.size(spread_mm), float(lever)), np.full(np.size(spread_mm), float(counts_frame)))


class ConfidenceRuleTest(unittest.TestCase):
    def test_the_bound_maps_to_sure_and_flagged_at_its_two_distances(self):
        self.assertAlmostEqual(float(confidence_from_bound(WITHIN_MM)), SURE)
        self.assertAlmostEqual(float(confidence_from_bound(FAR_MM)), LOW_CONFIDENCE)
        self.assertFalse(is_low_confidence(float(confidence_from_bound(FAR_MM))))
        self.assertTrue(is_low_confidence(float(confidence_from_bound(FAR_MM + 0.1))))
        bounds = np.linspace(0.0, 40.0, 81)
        self.assertTrue(np.all(np.diff(confidence_from_bound(bounds)) <= 0))
        self.assertEqual(float(confidence_from_bound(0.0)), 1.0)
        self.assertEqual(float(confidence_from_bound(50.0)), 0.0)

    def test_more_disagreement_or_a_longer_lever_never_raises_the_confidence(self):
        spreads = np.linspace(0.0, 40.0, 41)
        for lever in (0.0, 1.0):
            for counts_frame in (0.0, 1.0):
                confidences = point_confidence(evidence(spreads, lever, counts_frame))
                self.assertTrue(np.all(np.diff(confidences) <= 1e-12))
        self.assertTrue(np.all(error_bound_mm(evidence(spreads, 1.0)) >= error_bound_mm(evidence(spreads, 0.0))))

    def test_agreeing_estimates_on_the_axis_are_sure_and_far_apart_ones_flagged(self):
        for counts_frame in (0.0, 1.0):
            self.assertGreaterEqual(float(point_confidence(evidence(0.0, 0.0, counts_frame))[0]), SURE)
            self.assertTrue(is_low_confidence(float(point_confidence(evidence(30.0, 0.0, counts_frame))[0])))

    def test_a_one_shot_wall_that_leaves_out_part_of_the_counts_lv_lowers_every_points_confidence(self):
        # the one-shot frame's sure points that were wrong on training-range phantoms came from walls covering
        # 65-68 % of the counts' myocardium (docs/decisions.md, "Landmark confidence")
        self.assertGreater(UNCOVERED_MM, 0.0)
        positions = np.zeros((3, 3))
        plain = gather_evidence(positions, [positions + 6.0], np.zeros((3, 2)), counts_frame=True)
        self.assertIsNone(evidence(6.0).uncovered)  # other frames: no such evidence, the bound as fitted
        np.testing.assert_allclose(plain.uncovered, 0.0)
        np.testing.assert_allclose(error_bound_mm(plain), error_bound_mm(evidence(np.full(3, np.sqrt(108.0)))))
        partial = gather_evidence(positions, [positions + 6.0], np.zeros((3, 2)), counts_frame=True, uncovered=0.35)
        np.testing.assert_allclose(error_bound_mm(partial) - error_bound_mm(plain), 0.35 * UNCOVERED_MM)
        self.assertTrue(np.all(point_confidence(partial) < point_confidence(plain)))
        shares = np.linspace(0.0, 1.0, 11)
        bounds = [float(error_bound_mm(gather_evidence(positions[:1], [], np.zeros((1, 2)), True, u))[0])
                  for u in shares]
        self.assertTrue(np.all(np.diff(bounds) > 0))

    def test_the_evidence_is_the_farthest_estimate_and_the_distance_from_the_axis(self):
        positions = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]])
        estimates = [positions + np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]]),
                     positions + np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 6.0]])]
        found = gather_evidence(positions, estimates, np.array([[0.0, 0.0], [0.6, 0.8]]), counts_frame=True)
        np.testing.assert_allclose(found.spread_mm, [5.0, 6.0])
        np.testing.assert_allclose(found.lever, [0.0, 1.0])
        np.testing.assert_allclose(found.counts_frame, [1.0, 1.0])
        np.testing.assert_allclose(gather_evidence(positions, [], np.zeros((2, 2)), False).spread_mm, [0.0, 0.0])


class PlacementConfidenceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.volume, cls.mask, centroid, apex, base, toward_apex = study(seed=2)
        side = np.cross(toward_apex, [0.0, 0.0, 1.0])
        side /= np.linalg.norm(side)
        cls.landmarks = [Landmark("LV_center", tuple(centroid)), Landmark("LV_apex", tuple(apex)),
                         Landmark("LV_base", tuple(base)), Landmark("beside_the_lv", tuple(centroid + 40.0 * side))]
        shift = np.array([6.0, -4.0, 5.0])
        cls.moved, cls.moved_mask, *_ = study(center=tuple(np.array([10.0, -8.0, 4.0]) + shift), seed=2)
        cls.shift = shift

    def test_a_template_placed_in_a_moved_copy_of_itself_keeps_a_high_confidence(self):
        placement = Localizer().place(self.moved, [(self.volume, self.landmarks)])
        by_label = {lm.label: lm for lm in placement.landmarks}
        for label in ("LV_center", "LV_apex", "LV_base"):
            with self.subTest(label=label):
                expected = np.asarray(self.landmarks[[lm.label for lm in self.landmarks].index(label)].position_lps)
                self.assertLess(np.linalg.norm(np.asarray(by_label[label].position_lps) - expected - self.shift), 4.0)
                self.assertGreaterEqual(by_label[label].confidence, SURE)
        self.assertGreaterEqual(placement.long_axis.confidence, SURE)
        self.assertEqual(len(placement.evidence.spread_mm), len(self.landmarks))

    def test_a_template_placed_in_a_turned_copy_of_itself_keeps_a_high_confidence(self):
        target, move = turned(self.volume, 30.0)
        wall, _ = turned(self.mask, 30.0)
        wall = wall.with_array((wall.array > 0.5).astype(np.uint8))
        truth = move(np.array([lm.position_lps for lm in self.landmarks[:3]]))
        for frames, walls in (("counts", {}), ("myocardia", {"myocardium": wall, "template_myocardia": [self.mask]})):
            placement = Localizer().place(target, [(self.volume, self.landmarks[:3])], **walls)
            with self.subTest(frames=frames):
                placed = np.array([lm.position_lps for lm in placement.landmarks])
                self.assertLess(float(np.linalg.norm(placed - truth, axis=1).max()), 4.0)
                self.assertGreaterEqual(min(lm.confidence for lm in placement.landmarks), SURE)

    def test_a_point_far_from_the_lv_axis_is_flagged_whatever_the_frames_say(self):
        placement = Localizer().place(self.moved, [(self.volume, self.landmarks)], myocardium=self.moved_mask,
                                      template_myocardia=[self.mask])
        self.assertEqual(placement.frame.source, "segmentation")
        self.assertEqual(low_confidence_labels(placement.landmarks), ["beside_the_lv"])
        self.assertGreaterEqual(min(lm.confidence for lm in placement.landmarks[:3]), SURE)

    def test_frames_from_walls_are_not_second_guessed_by_the_counts_frames(self):
        """The target's myocardium given 20 mm off the LV in its counts (within the frames' agreement guard): the
        points follow the wall given, and their evidence holds no estimate through the counts' frames (on the real
        studies those lie 16-35 mm from the walls' and flagged 4 of 5 right points; docs/decisions.md "Landmark
        confidence"), so only the point beside the LV, resting on the roll, is flagged."""
        off = self.moved_mask.with_array(np.roll(self.moved_mask.array, 5, axis=2))  # 5 voxels of 4 mm along i
        placement = Localizer().place(self.moved, [(self.volume, self.landmarks)], myocardium=off,
                                      template_myocardia=[self.mask])
        self.assertEqual(placement.frame.source, "segmentation")
        self.assertTrue(all(spread < 1.0 for spread in placement.evidence.spread_mm))
        self.assertEqual(low_confidence_labels(placement.landmarks), ["beside_the_lv"])


class PolarMapWarningTest(unittest.TestCase):
    def test_the_cli_names_the_flagged_points_and_where_the_septum_came_from(self):
        from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for, write_segmentation
        from SPECTFewShotLib.io.volume_io import write_volume
        from Testing.cardiac_synthetic import synthetic_lv
        from Testing.cli_runner import run_cli

        lv = synthetic_lv((4, 10), depth=0.5, blur_mm=8.0)
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            image = write_volume(lv.image, root / "study.nii.gz")
            labels = lv.image.with_array(lv.wall.astype(np.int32) * 7 + (~lv.wall) * 11)
            segmentation = root / "wall.seg.nrrd"
            write_segmentation(Segmentation(labels, segments_for([7, 11], {7: "LV_myocardium", 11: "background"})),
                               segmentation)
            names = [lm.label for lm in lv.landmarks]
            self.assertIn("RV_insertion_inferior", names)
            runs = {}
            for case, low in (("sure", ()), ("base", ("LV_base",)), ("septum", ("RV_insertion_inferior",))):
                points = [Landmark(lm.label, lm.position_lps, 0.05 if lm.label in low else 0.9)
                          for lm in lv.landmarks]
                path = write_landmarks(points, root / f"{case}.mrk.json", "RAS")
                runs[case] = run_cli("polar-map", image, "--segmentation", segmentation, "--landmarks", path,
                                     "-o", root / case)
            for code, out, err in runs.values():
                self.assertEqual(code, 0, err)
                self.assertIn("septum from the RV insertion points", out)
            self.assertNotIn("flagged", runs["sure"][1])
            warnings = [line for line in runs["base"][1].splitlines() if line.startswith("warning:")]
            self.assertEqual(len(warnings), 1)
            self.assertIn("the long axis rests on points flagged for checking (LV_base)", warnings[0])
            warnings = [line for line in runs["septum"][1].splitlines() if line.startswith("warning:")]
            self.assertEqual(len(warnings), 1)
            self.assertIn("the septum rests on points flagged for checking (RV_insertion_inferior)", warnings[0])
            self.assertIn("the septum comes from the RV insertion points", warnings[0])
            self.assertIn("anatomical convention", warnings[0])


if __name__ == "__main__":
    unittest.main()
