"""The template rules: a template localised in itself moved rigidly (shifts and rotations up to 30 degrees) gives
back every landmark within one voxel, in our convention and in another (an epicardial apex beyond the wall, a base
short of the valve plane); without a template the LV landmarks follow their definitions; an extracardiac blob in
the segmentation does not make the LV frame."""

import unittest

import numpy as np

from SPECTFewShotLib.io.markups_io import Landmark
from SPECTFewShotLib.landmarks.lv_frame import frame_from_segmentation
from SPECTFewShotLib.landmarks.staged import Localizer, find_lv_frame
from SPECTFewShotLib.mrml.scene_logic import SceneLogic
from SPECTFewShotLib.research.evaluation.localize_cases import moved_copy
from SPECTFewShotLib.research.phantom import generate_study
from Testing.fixtures import study

MOTIONS = [((1.0, 1.0, 1.0), 30.0, (12.0, -8.0, 16.0)), ((1.0, 0.0, 0.0), 30.0, (0.0, 0.0, 0.0)),
           ((0.0, 1.0, 0.0), -30.0, (5.0, 5.0, 5.0))]


def other_convention(landmarks):
    """The landmarks with the apex 8 mm beyond the wall along the long axis and the base 6 mm towards the apex."""
    by_label = {lm.label: np.asarray(lm.position_lps, dtype=float) for lm in landmarks}
    toward_apex = by_label["LV_apex"] - by_label["LV_base"]
    toward_apex /= np.linalg.norm(toward_apex)
    moved = {"LV_apex": by_label["LV_apex"] + 8.0 * toward_apex, "LV_base": by_label["LV_base"] + 6.0 * toward_apex}
    return [Landmark(lm.label, tuple(float(v) for v in moved.get(lm.label, by_label[lm.label])))
            for lm in landmarks]


class IdentityUnderRigidMotionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        phantom = generate_study(1000003)
        cls.volume, cls.landmarks = phantom.image, list(phantom.landmarks)

    def test_every_landmark_comes_back_within_one_voxel(self):
        voxel = min(self.volume.spacing)
        localizer = Localizer()
        for convention, landmarks in (("ours", self.landmarks), ("other", other_convention(self.landmarks))):
            for axis, degrees, shift in MOTIONS:
                moved, truth = moved_copy(self.volume, landmarks, shift, axis, degrees)
                placed = localizer.place(moved, [(self.volume, landmarks)]).landmarks
                with self.subTest(convention=convention, axis=axis, degrees=degrees):
                    self.assertEqual([lm.label for lm in placed], [lm.label for lm in landmarks])
                    for lm, true in zip(placed, truth):
                        self.assertLess(np.linalg.norm(np.subtract(lm.position_lps, true.position_lps)), voxel,
                                        lm.label)


class TemplateFreeTest(unittest.TestCase):
    def test_without_a_template_the_lv_landmarks_follow_their_definitions(self):
        volume, *_ = study(seed=4)
        placement = Localizer().place(volume, [])
        frame = find_lv_frame(volume)
        self.assertEqual([lm.label for lm in placement.landmarks], ["LV_center", "LV_apex", "LV_base"])
        for lm, defined in zip(placement.landmarks, (frame.geometry.center, frame.geometry.apex,
                                                     frame.geometry.base)):
            self.assertLess(np.linalg.norm(np.subtract(lm.position_lps, defined)), 1e-6)
            self.assertIn("definition", lm.description)


class HijackedFrameTest(unittest.TestCase):
    def test_an_extracardiac_blob_does_not_make_the_frame(self):
        volume, mask, *_ = study(seed=5)
        wall = mask.array.astype(bool)
        k, j, i = np.indices(wall.shape)
        blob = (k - 8) ** 2 + (j - 8) ** 2 + (i - 40) ** 2 <= 25  # solid, 60 mm away, LV-sized in mL
        alone = frame_from_segmentation(mask)
        with_blob = frame_from_segmentation(mask.with_array((wall | blob).astype(np.uint8)))
        self.assertLess(np.linalg.norm(with_blob.geometry.center - alone.geometry.center), 1e-6)
        self.assertIn("left out", with_blob.note)
        frame = find_lv_frame(volume, mask.with_array((wall | blob).astype(np.uint8)))
        self.assertEqual(frame.source, "segmentation")
        placement = Localizer().place(volume, [], myocardium=mask.with_array((wall | blob).astype(np.uint8)))
        status = SceneLogic.landmark_status(placement)  # the module's status line says which frame, and why
        self.assertIn("LV frame from the classified myocardium, left out", status)
        self.assertEqual(len(status.splitlines()), 1)

    def test_a_wall_joined_to_a_far_structure_is_not_used_and_the_user_is_told(self):
        volume, mask, *_ = study(seed=6)
        wall = mask.array.astype(bool)
        k, j, i = np.indices(wall.shape)
        centre = np.argwhere(wall).mean(axis=0)
        # a hollow box 60 mm wide and 80 mm long joined to the wall: one LV-sized piece around a cavity, off the LV
        slab = (np.abs(k - centre[0]) <= 7) & (np.abs(j - centre[1]) <= 7) & (i >= centre[2] + 4)
        inner = (np.abs(k - centre[0]) <= 5) & (np.abs(j - centre[1]) <= 5) & (i < 46)
        joined = mask.with_array((wall | (slab & ~inner)).astype(np.uint8))
        frame = find_lv_frame(volume, joined)
        placement = Localizer().place(volume, [], myocardium=joined)
        self.assertEqual(frame.source, "counts")
        self.assertIn("not used", frame.note)
        self.assertTrue(any("not used" in warning for warning in placement.warnings))


if __name__ == "__main__":
    unittest.main()
