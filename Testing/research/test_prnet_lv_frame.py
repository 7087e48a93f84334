"""The PRNet stage reads each study in its LV frame (issue 35 item 2): the template's patches lie in its LV frame
(short-axis slices), the new study's are turned by the rotation of the map that placed the points, so a template
localised in a copy of itself shifted and turned by 30 degrees keeps every point where it belongs (on axial slices
the same search moved them by 3-4 mm), and `Localizer(prnet=True)` returns every landmark within one voxel. Points
placed between two walls (frames from segmentations) are left where they are."""

import unittest
from dataclasses import replace

import numpy as np

from SPECTFewShotLib.cardiac_views.rotations import axis_rotation
from SPECTFewShotLib.landmarks.prnet.refine import (
    FramePair,
    PRNetRefiner,
    map_turn,
    nearest_rotation,
)
from SPECTFewShotLib.landmarks.staged import Localizer
from SPECTFewShotLib.research.evaluation.localize_cases import moved_copy
from SPECTFewShotLib.research.phantom import generate_study
from Testing.fixtures import counts_frame_pair

AXIS, DEGREES, SHIFT_MM = (1.0, 1.0, 1.0), 30.0, (12.0, -8.0, 16.0)


class TurnTest(unittest.TestCase):
    def test_the_turn_of_an_affine_map_is_its_rotation(self):
        rotation = axis_rotation((0.2, -1.0, 0.5), 25.0)
        matrix = rotation @ np.diag([1.2, 0.9, 1.1])

        def affine(points):
            return points @ matrix.T + np.array([3.0, -4.0, 5.0])

        np.testing.assert_allclose(map_turn(affine, np.array([10.0, 20.0, -30.0])), matrix, atol=1e-9)
        np.testing.assert_allclose(map_turn(affine, np.zeros(3), then=affine), matrix @ matrix, atol=1e-9)
        turned = nearest_rotation(rotation * 1.3)
        np.testing.assert_allclose(turned, rotation, atol=1e-9)
        self.assertAlmostEqual(float(np.linalg.det(nearest_rotation(matrix))), 1.0)


class LVFrameSearchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        phantom = generate_study(1000003)
        cls.volume, cls.landmarks = phantom.image, list(phantom.landmarks)
        cls.points = np.array([lm.position_lps for lm in cls.landmarks])
        cls.moved, truth = moved_copy(cls.volume, cls.landmarks, SHIFT_MM, AXIS, DEGREES)
        cls.truth = np.array([lm.position_lps for lm in truth])
        cls.frames, cls.turn = counts_frame_pair(cls.volume, cls.moved)

    def test_the_template_is_read_in_short_axis_slices_of_its_lv(self):
        template_axes = FramePair(self.frames.template, self.frames.target).rotations()[0]
        np.testing.assert_allclose(template_axes[:, 2], -self.frames.template.geometry.axis, atol=1e-9)
        np.testing.assert_allclose(template_axes.T @ template_axes, np.eye(3), atol=1e-9)
        self.assertLess(abs(float(template_axes[:, 2] @ [0.0, 0.0, 1.0])), 0.95)  # not the axial slices' normal

    def test_the_placement_turns_the_patches_with_the_study(self):
        turn = nearest_rotation(self.turn)
        angle = np.degrees(np.arccos(np.clip((np.trace(turn.T @ axis_rotation(AXIS, DEGREES)) - 1) / 2, -1, 1)))
        self.assertLess(angle, 5.0)

    def test_true_points_of_a_turned_copy_stay_where_they_are(self):
        result = PRNetRefiner().refine(self.volume, self.points, self.moved, self.truth, frames=self.frames,
                                       turn=self.turn)
        self.assertLess(float(np.max(np.linalg.norm(result.points - self.truth, axis=1))), 1.0)
        # on axial slices (the stage before the frames) the same search moved them by 3-4 mm
        axial = PRNetRefiner(orientation="axial", match="centre").refine(self.volume, self.points, self.moved,
                                                                        self.truth, frames=self.frames,
                                                                        turn=np.eye(3))
        self.assertGreater(float(np.max(axial.moved_mm)), 2.0)

    def test_points_placed_between_two_walls_stay(self):
        walls = FramePair(replace(self.frames.template, source="segmentation"),
                          replace(self.frames.target, source="one-shot"))
        start = self.truth + np.array([3.0, -2.0, 1.0])
        result = PRNetRefiner().refine(self.volume, self.points, self.moved, start, frames=walls, turn=self.turn)
        np.testing.assert_array_equal(result.points, start)
        self.assertTrue(np.all(result.moved_mm == 0))
        searched = PRNetRefiner(on_walls=True).refine(self.volume, self.points, self.moved, start, frames=walls,
                                                      turn=self.turn)
        self.assertGreater(float(np.max(searched.moved_mm)), 0.0)

    def test_identity_with_the_stage_on(self):
        voxel = min(self.volume.spacing)
        placed = Localizer(prnet=True).place(self.moved, [(self.volume, self.landmarks)]).landmarks
        self.assertEqual([lm.label for lm in placed], [lm.label for lm in self.landmarks])
        for landmark, true in zip(placed, self.truth):
            self.assertLess(float(np.linalg.norm(np.subtract(landmark.position_lps, true))), voxel, landmark.label)


if __name__ == "__main__":
    unittest.main()
