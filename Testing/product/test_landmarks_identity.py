"""The identity under rigid motion (issue 35): a template localised in a copy of itself, shifted and turned by up
to 30 degrees about any axis (the LV's own included), returns every landmark, in any annotator's convention, within
one voxel of the template's point moved the same way; from the counts, and from the two studies' myocardia."""

import unittest

import numpy as np
from scipy import ndimage

from SPECTFewShotLib.cardiac_views.rotations import axis_rotation
from SPECTFewShotLib.io.markups_io import Landmark
from SPECTFewShotLib.landmarks.staged import Localizer, place_landmarks
from SPECTFewShotLib.volume import Volume
from Testing.fixtures import SPACING, study

SHIFT_MM = np.array([5.0, -4.0, 6.0])


def study_with_rv() -> tuple[Volume, Volume, list[Landmark]]:
    """The synthetic torso's LV cup with an RV beside it (a cooler crescent on one side, so the counts around the
    LV are not the same at every roll), its LV wall mask, and landmarks in several conventions (the LV's centre,
    an endocardial and an epicardial apex, a base short of and at the open end, RV insertion points)."""
    volume, wall, centre, apex, base, toward_apex = study()
    k, j, i = np.indices(volume.array.shape)
    lps = volume.index_to_lps(np.stack([i, j, k], -1).reshape(-1, 3).astype(float)).reshape(*volume.array.shape, 3)
    rel = lps - centre
    along = rel @ toward_apex
    across = rel - along[..., None] * toward_apex
    radial = np.linalg.norm(across, axis=-1)
    side = np.cross(toward_apex, [0.0, 0.0, 1.0])
    side /= np.linalg.norm(side)
    facing = (across @ side) / np.maximum(radial, 1e-9)
    rv = (radial >= 30.0) & (radial <= 38.0) & (facing >= 0.5) & (along >= -16.0) & (along <= 24.0)
    array = volume.array + 600.0 * rv.astype(np.float32)
    other = np.cross(toward_apex, side)
    insertions = [centre + 30.0 * (0.5 * side + sign * np.sqrt(0.75) * other) for sign in (1.0, -1.0)]
    points = {"LV_center": centre, "LV_apex": centre + 34.0 * toward_apex, "epicardial_apex": apex,
              "LV_base": base + 6.0 * toward_apex, "open_end": base, "RV_insertion_anterior": insertions[0],
              "RV_insertion_inferior": insertions[1]}
    return volume.with_array(array), wall, [Landmark(name, tuple(map(float, p))) for name, p in points.items()]


def moved(volume: Volume, rotation: np.ndarray, points: np.ndarray, order: int = 1) -> tuple[Volume, np.ndarray]:
    """The volume's content turned by `rotation` about the field of view's centre and shifted by `SHIFT_MM` (same
    grid; the fixture's grid is axis-aligned and isotropic), and LPS points moved the same way."""
    centre = volume.index_to_lps((np.asarray(volume.size, dtype=float) - 1) / 2)
    ic = volume.lps_to_index(centre[None])[0]
    shift = SHIFT_MM / SPACING
    flip = np.eye(3)[::-1]  # (i, j, k) <-> the array's (k, j, i)
    matrix = flip @ rotation.T @ flip
    offset = flip @ (ic - rotation.T @ (ic + shift))
    array = ndimage.affine_transform(np.asarray(volume.array, dtype=np.float32), matrix, offset, order=order)
    return volume.with_array(array.astype(volume.array.dtype)), (points - centre) @ rotation.T + centre + SHIFT_MM


class IdentityUnderRigidMotionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.volume, cls.wall, cls.landmarks = study_with_rv()
        cls.points = np.array([lm.position_lps for lm in cls.landmarks])
        toward_apex = cls.points[1] - cls.points[0]
        cls.motions = {"30 deg about the LV's axis": axis_rotation(toward_apex, 30.0),
                       "-30 deg about the LV's axis": axis_rotation(toward_apex, -30.0),
                       "30 deg about an oblique axis": axis_rotation((1.0, 1.0, 1.0), 30.0),
                       "shift only": np.eye(3)}

    def check(self, placed, truth, motion):
        for landmark, expected in zip(placed, truth):
            error = float(np.linalg.norm(np.asarray(landmark.position_lps) - expected))
            self.assertLessEqual(error, SPACING, f"{motion}: {landmark.label} {error:.1f} mm from the template's")

    def test_from_the_counts(self):
        localizer = Localizer()
        for motion, rotation in self.motions.items():
            target, truth = moved(self.volume, rotation, self.points)
            with self.subTest(motion=motion):
                self.check(localizer.localize(target, self.volume, self.landmarks), truth, motion)

    def test_from_the_two_myocardia(self):
        template_wall = self.volume.with_array(self.wall.array)
        for motion, rotation in list(self.motions.items())[:2]:  # about the LV's own axis: the roll alone
            target, truth = moved(self.volume, rotation, self.points)
            target_wall, _ = moved(template_wall, rotation, self.points, order=0)
            with self.subTest(motion=motion):
                placement = place_landmarks(target, self.volume, self.landmarks, myocardium=target_wall,
                                            template_myocardium=template_wall)
                self.assertEqual(placement.frame.source, "segmentation")
                self.check(placement.landmarks, truth, motion)


if __name__ == "__main__":
    unittest.main()
