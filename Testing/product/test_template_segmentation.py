"""The one-shot wall (landmarks.template_segmentation): a study's LV myocardium classified by ProtoNet from a
template's, kept near the LV in the counts; the frame it makes, and the counts' frame when it makes none."""

import unittest

import numpy as np

from SPECTFewShotLib.landmarks.heart_search import smoothed_counts
from SPECTFewShotLib.landmarks.local_alignment import lv_region
from SPECTFewShotLib.landmarks.long_axis import angle_between_deg
from SPECTFewShotLib.landmarks.lv_frame import WALL_FRACTION, mid_wall_points
from SPECTFewShotLib.landmarks.staged import Localizer, find_lv_frame
from SPECTFewShotLib.landmarks.template_segmentation import (
    CAVITY,
    SURROUNDINGS,
    WALL,
    OneShotWall,
    on_grid,
    template_classes,
)
from SPECTFewShotLib.volume import Volume
from Testing.fixtures import study


class OneShotWallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.template, cls.template_wall, *_ = study(seed=2)
        cls.volume, cls.wall, cls.centre, cls.apex, _base, cls.toward_apex = study(
            center=(-4.0, 6.0, -2.0), apex_direction=(0.3, -0.8, -0.5), seed=3)
        cls.one_shot = OneShotWall()

    def test_the_templates_support_has_wall_cavity_and_surroundings(self):
        wall = self.template_wall.array > 0
        classes = template_classes(wall, self.template.spacing[::-1])
        self.assertTrue(np.array_equal(classes == WALL, wall))
        self.assertTrue((classes == CAVITY).any() and (classes == SURROUNDINGS).any())
        self.assertTrue((classes == -1).any())  # far from the wall: not part of the support
        mask = self.template_wall
        cropped = Volume(np.ascontiguousarray(mask.array[4:-4, 2:, :-3]), mask.spacing,
                         tuple(mask.index_to_lps((0, 2, 4))), mask.direction)
        self.assertTrue(np.array_equal(on_grid(cropped, self.template), wall))

    def test_the_studys_wall_is_found_and_only_near_its_lv(self):
        counts_frame = find_lv_frame(self.volume)
        found = self.one_shot.wall(self.template, self.template_wall, self.volume, counts_frame).array > 0
        truth = self.wall.array > 0
        self.assertGreater(2 * (found & truth).sum() / (found.sum() + truth.sum()), 0.8)
        k, j, i = np.nonzero(found)
        far = np.linalg.norm(self.volume.index_to_lps(np.stack([i, j, k], 1).astype(float)) - self.centre, axis=1)
        self.assertLess(far.max(), 80.0)  # not the liver (70 mm away and larger) nor the hot rim

    def test_a_network_that_calls_everything_near_the_lv_wall_still_gives_the_lvs_hot_wall(self):
        # what went wrong on phantoms: lungs, body and the RV cavity beside the LV classified as wall (twice the LV's
        # volume, a frame 29 degrees off); the counts' myocardium edge keeps only the hot shell
        class EverythingWall:
            grid = type("Grid", (), {"to_voxels": staticmethod(lambda cells: cells)})()

            def set_volume(self, volume):
                self.shape = volume.array.shape

            def prototypes(self, classes, where):
                return None

            def grid_probabilities(self, prototypes):
                return np.stack([np.zeros(self.shape), np.ones(self.shape), np.zeros(self.shape)])

        one_shot = OneShotWall()
        one_shot._session = EverythingWall()
        counts_frame = find_lv_frame(self.volume)
        counts = smoothed_counts(self.volume)
        found = one_shot.wall(self.template, self.template_wall, self.volume, counts_frame, counts).array > 0
        _, level = mid_wall_points(self.volume, counts, counts_frame.geometry.center)
        self.assertTrue(np.all(counts[found] >= WALL_FRACTION * level))
        truth = self.wall.array > 0
        self.assertGreater((found & truth).sum() / truth.sum(), 0.9)  # the true wall is kept
        frame = find_lv_frame(self.volume, self.volume.with_array(found.astype(np.uint8)), counts=counts)
        self.assertEqual(frame.source, "segmentation")
        self.assertLess(angle_between_deg(-frame.geometry.axis, self.toward_apex), 10.0)
        self.assertLess(np.linalg.norm(frame.geometry.center - self.centre), 6.0)
        # the region near the LV alone would have made its wall of everything there: no LV frame from it
        region = lv_region(self.volume, counts_frame)
        self.assertGreater(region.sum(), 3 * found.sum())

    def test_the_localizer_uses_its_frame_or_says_why_not(self):
        localizer = Localizer(one_shot=True)
        landmarks = [lm for lm in find_lv_frame(self.template, self.template_wall).geometry.landmarks()]
        placement = localizer.place(self.volume, [(self.template, landmarks)], template_myocardia=[self.template_wall])
        self.assertEqual(placement.frame.source, "one-shot")
        self.assertLess(angle_between_deg(-placement.frame.geometry.axis, self.toward_apex), 10.0)
        placed = {lm.label: np.asarray(lm.position_lps) for lm in placement.landmarks}
        self.assertLess(np.linalg.norm(placed["LV_center"] - self.centre), 6.0)
        # each point's confidence also hears the counts' placement, which does not share the one-shot wall's errors
        from_counts = Localizer().place(self.volume, [(self.template, landmarks)]).landmarks
        gap = [np.linalg.norm(placed[lm.label] - np.asarray(lm.position_lps)) for lm in from_counts]
        self.assertTrue(np.all(placement.evidence.spread_mm >= np.asarray(gap) - 1e-6))
        self.assertTrue(np.all(placement.evidence.counts_frame == 1.0))
        # a template "myocardium" that is no LV wall (14 mL outside the body) teaches nothing: the counts' frame
        outside = np.zeros_like(self.template_wall.array)
        outside[:6, :6, :6] = 1
        placement = localizer.place(self.volume, [(self.template, landmarks)],
                                    template_myocardia=[self.template_wall.with_array(outside)])
        self.assertEqual(placement.frame.source, "counts")
        self.assertTrue(any("template: the myocardium given was not used" in w for w in placement.warnings))


if __name__ == "__main__":
    unittest.main()
