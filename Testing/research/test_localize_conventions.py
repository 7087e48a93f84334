"""The evaluation's template conventions (research.evaluation.localize_conventions) are well-defined: on a
synthetic LV cup whose geometry is known, each puts the apex and base where its definition says, and a rigid
motion of the wall moves them with it (template and truth cannot disagree by construction); the exam's default
annotator axis reproduces on patient003's mask turned exactly by 3 degrees, where the old single fit (still
available) does not."""

import unittest
from unittest import mock

import numpy as np

from SPECTFewShotLib.cardiac_landmarks import lv_geometry
from SPECTFewShotLib.landmarks.long_axis import angle_between_deg
from SPECTFewShotLib.research.evaluation.localize_conventions import convention_landmarks
from Testing.fixtures import SPACING, study


class ConventionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # the cup: outer semi-axes 44 (along) and 28 mm, inner 34 and 18 mm, cut open 18 mm basal of its centre
        cls.volume, cls.wall, cls.centre, cls.tip, cls.open_end, cls.toward_apex = study()

    def test_each_convention_puts_the_apex_and_base_where_it_says(self):
        wall = self.wall.array > 0
        extremal = convention_landmarks(wall, self.volume, "extremal")
        self.assertLess(np.linalg.norm(extremal["LV_apex"] - self.tip), SPACING)  # the epicardial tip
        base_on_axis = (extremal["LV_base"] - self.open_end) @ self.toward_apex
        self.assertLess(abs(base_on_axis), SPACING)  # the outermost basal rim
        endocardial = convention_landmarks(wall, self.volume, "endocardial")
        self.assertLess(np.linalg.norm(endocardial["LV_apex"] - (self.centre_of_cup() + 34.0 * self.toward_apex)),
                        SPACING)  # where the axis meets the wall from the cavity
        for name in ("extremal", "endocardial"):
            points = convention_landmarks(wall, self.volume, name)
            self.assertLess(np.linalg.norm(points["LV_center"] - (points["LV_apex"] + points["LV_base"]) / 2), 1e-9)

    def centre_of_cup(self) -> np.ndarray:
        """The cup's ellipsoid centre (the fixture's `center`)."""
        return self.tip - 44.0 * self.toward_apex

    def test_a_turned_wall_turns_its_landmarks(self):
        wall = self.wall.array > 0
        turned = np.ascontiguousarray(np.rot90(wall, 1, axes=(1, 2)))  # 90 degrees about the volume's k axis
        size = np.asarray(wall.shape[::-1], dtype=float)
        for name in ("ours", "extremal", "endocardial"):
            before = convention_landmarks(wall, self.volume, name)
            after = convention_landmarks(turned, self.volume, name)
            for label, point in before.items():
                i, j, k = self.volume.lps_to_index(point[None])[0]
                expected = self.volume.index_to_lps(np.array([[j, size[0] - 1 - i, k]]))[0]
                with self.subTest(convention=name, landmark=label):
                    self.assertLess(np.linalg.norm(after[label] - expected), SPACING)

    def test_the_annotators_axis_does_not_follow_the_products_fit(self):
        wall = self.wall.array > 0
        before = {name: convention_landmarks(wall, self.volume, name) for name in ("ours", "extremal", "endocardial")}
        tilted = np.array([0.3, 0.2, 0.93]) / np.linalg.norm([0.3, 0.2, 0.93])
        with mock.patch("SPECTFewShotLib.cardiac_landmarks.revolution_axis", return_value=tilted):
            for name, points in before.items():
                after = convention_landmarks(wall, self.volume, name)
                for label, point in points.items():
                    with self.subTest(convention=name, landmark=label):
                        self.assertLess(np.linalg.norm(after[label] - point), 1e-9)

    def test_the_annotators_axes_are_the_products_two_fits_with_their_own_constants(self):
        from SPECTFewShotLib import cardiac_landmarks
        from SPECTFewShotLib.cardiac_landmarks import least_spread_direction, revolution_axis, wall_points_lps
        from SPECTFewShotLib.research.evaluation.localize_conventions import (
            annotator_axis,
            reproducible_annotator_axis,
        )

        points = wall_points_lps(self.wall)
        # the single fit as the product had it until issue 35's helper I, and the steady fit the product has now
        self.assertGreater(abs(float(annotator_axis(points) @ least_spread_direction(points))), 1 - 1e-9)
        steady = reproducible_annotator_axis(points)
        self.assertGreater(abs(float(steady @ revolution_axis(points))), 1 - 1e-9)
        with mock.patch.object(cardiac_landmarks, "STEADY_RADIUS_DEG", 2.0), \
                mock.patch.object(cardiac_landmarks, "STEADY_SHIFTS", 1), \
                mock.patch.object(cardiac_landmarks, "STEADY_TEMPERATURE", 1.0):
            self.assertGreater(abs(float(steady @ revolution_axis(points))), 1e-9)  # the product's fit follows them
            np.testing.assert_array_equal(reproducible_annotator_axis(points), steady)  # the exam does not


class ReproducibleExamAxisTest(unittest.TestCase):
    """Issue 35 (helper H): patient003's mask, whose single annotator fit moved 9.7 degrees (median) under exact
    3-degree turns; the exam's default fit (the steady one) moves under 2 on it."""

    @classmethod
    def setUpClass(cls):
        from SPECTFewShotLib.io.volume_io import read_volume
        from SPECTFewShotLib.resources import SAMPLE_DIR

        cls.mask = read_volume(SAMPLE_DIR / "patient003_mask.nii.gz")
        k, j, i = np.nonzero(cls.mask.array)
        cls.points = cls.mask.index_to_lps(np.stack([i, j, k], axis=1).astype(float))

    def turned_fits(self, fit) -> list[float]:
        """Degrees between `fit` of the points and of the points turned exactly by 3 degrees (then turned back),
        about three fixed axes through the centroid."""
        from SPECTFewShotLib.research.evaluation.localize_variants import rotation_matrix

        centre = self.points.mean(axis=0)
        plain = fit(self.points)
        moves = []
        for axis in ([1.0, 0.0, 0.0], [0.3, 1.0, -0.4], [-0.5, 0.2, 1.0]):
            turn = rotation_matrix(np.array(axis), 3.0)
            moved = fit((self.points - centre) @ turn.T + centre) @ turn
            angle = angle_between_deg(moved, plain)
            moves.append(min(angle, 180.0 - angle))
        return moves

    def test_the_exams_axis_reproduces_under_exact_turns_and_the_old_one_is_kept(self):
        from SPECTFewShotLib.research.evaluation.localize_conventions import annotator_axis

        new = self.turned_fits(lambda points: annotator_axis(points, reproducible=True))
        self.assertLess(max(new), 4.0, new)  # 1.4, 2.9, 1.3 degrees
        old = self.turned_fits(annotator_axis)  # the single fit, as before: still there, still moving
        self.assertGreater(min(old), 8.0, old)  # 10.1, 10.2, 10.6 degrees

    def test_the_exam_uses_the_reproducible_axis_by_default(self):
        from SPECTFewShotLib.research.evaluation import localize_conventions as conventions

        wall = self.mask.array > 0
        spacing = min(self.mask.spacing)
        for reproducible in (True, False):
            expected = lv_geometry(self.points, spacing, axis=conventions.annotator_axis(self.points, reproducible))
            with self.subTest(reproducible=reproducible):
                chosen = conventions.convention_landmarks(wall, self.mask, "ours", reproducible)
                self.assertLess(np.linalg.norm(chosen["LV_apex"] - expected.apex), 1e-9)
        self.assertTrue(conventions.REPRODUCIBLE_EXAM)
        default = conventions.convention_landmarks(wall, self.mask, "ours")
        steady = lv_geometry(self.points, spacing, axis=conventions.reproducible_annotator_axis(self.points))
        self.assertLess(np.linalg.norm(default["LV_apex"] - steady.apex), 1e-9)


if __name__ == "__main__":
    unittest.main()
