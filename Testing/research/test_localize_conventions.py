"""The evaluation's template conventions (research.evaluation.localize_conventions) are well-defined: on a
synthetic LV cup whose geometry is known, each puts the apex and base where its definition says, and a rigid
motion of the wall moves them with it (template and truth cannot disagree by construction)."""

import unittest
from unittest import mock

import numpy as np

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

    def test_the_annotators_axis_is_todays_fit(self):
        from SPECTFewShotLib.cardiac_landmarks import revolution_axis, wall_points_lps
        from SPECTFewShotLib.research.evaluation.localize_conventions import annotator_axis

        points = wall_points_lps(self.wall)
        self.assertGreater(abs(float(annotator_axis(points) @ revolution_axis(points))), 1 - 1e-9)


if __name__ == "__main__":
    unittest.main()
