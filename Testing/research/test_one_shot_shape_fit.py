"""The template's wall fitted to the study's (research.evaluation.one_shot_shape_fit): a known turn, scale and
shift of an LV-shaped shell are recovered although the study's wall has a one-sided arc past its base; the
template's frame maps through the fit; the axis-only composition keeps the study frame's centre and base."""

import unittest

import numpy as np

from SPECTFewShotLib.landmarks.lv_frame import frame_from_segmentation
from SPECTFewShotLib.research.evaluation.one_shot_shape_fit import WallFit, fit_wall, fitted_frame, with_fitted_axis
from Testing.fixtures import study

ALONG = np.array([0.0, 0.0, 1.0])


def shell_with_arc(spacing_mm: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Voxel centres of a truncated prolate LV shell along z (apex at -65 mm, base at +10 mm) and of an arc on one
    side past its base (10-25 mm, a third of the way round)."""
    grid = np.arange(-45.0, 45.0, spacing_mm)
    x, y, z = np.meshgrid(grid, grid, np.arange(-75.0, 30.0, spacing_mm), indexing="ij")
    points = np.stack([x, y, z], axis=-1).reshape(-1, 3)
    across = np.hypot(points[:, 0], points[:, 1])
    outer = (across / 26.0) ** 2 + (points[:, 2] / 65.0) ** 2 <= 1.0
    inner = (across / 18.0) ** 2 + (points[:, 2] / 57.0) ** 2 <= 1.0
    wall = outer & ~inner & (points[:, 2] <= 10.0)
    angle = np.degrees(np.arctan2(points[:, 1], points[:, 0]))
    arc = (points[:, 2] > 10.0) & (points[:, 2] <= 25.0) & (angle >= 0.0) & (angle <= 120.0) & \
        (np.abs(across - 22.0) <= 4.0)
    return points[wall], points[arc]


def turn(degrees: float, about: np.ndarray) -> np.ndarray:
    """The rotation matrix by `degrees` about the unit direction `about`."""
    about = np.asarray(about, dtype=float) / np.linalg.norm(about)
    cross = np.array([[0.0, -about[2], about[1]], [about[2], 0.0, -about[0]], [-about[1], about[0], 0.0]])
    angle = np.radians(degrees)
    return np.eye(3) + np.sin(angle) * cross + (1.0 - np.cos(angle)) * cross @ cross


def degrees_between(a: np.ndarray, b: np.ndarray) -> float:
    """The angle between two directions (degrees)."""
    return float(np.degrees(np.arccos(np.clip(abs(a @ b) / np.linalg.norm(a) / np.linalg.norm(b), 0.0, 1.0))))


class ShellFitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.wall, arc = shell_with_arc()
        cls.truth = WallFit(turn(15.0, [1.0, 1.0, 0.0]), 0.9, 1.1, np.zeros(3), ALONG, np.array([5.0, -3.0, 2.0]))
        # the study's wall: the shell turned, scaled and shifted, with the arc, on a 3 mm grid
        cls.study = np.round(np.concatenate([cls.truth(cls.wall), cls.truth(arc)]) / 3.0) * 3.0
        cls.start = WallFit(np.eye(3), 1.0, 1.0, np.zeros(3), ALONG, np.zeros(3))

    def test_the_trimmed_fit_of_both_walls_recovers_the_turn_despite_the_arc(self):
        fit = fit_wall(self.wall, np.zeros(3), ALONG, self.study, self.start, keep=0.8, both=True)
        self.assertLess(degrees_between(fit.direction(ALONG), self.truth.direction(ALONG)), 2.0)
        self.assertAlmostEqual(fit.scale, 0.9, delta=0.05)
        self.assertLess(np.linalg.norm(fit.offset - self.truth.offset), 4.0)

    def test_the_untrimmed_fit_is_pulled_by_the_arc(self):
        trimmed = fit_wall(self.wall, np.zeros(3), ALONG, self.study, self.start, keep=0.8, both=True)
        plain = fit_wall(self.wall, np.zeros(3), ALONG, self.study, self.start, keep=1.0, both=True)
        self.assertGreater(np.linalg.norm(plain.offset - self.truth.offset),
                           np.linalg.norm(trimmed.offset - self.truth.offset) + 1.0)

    def test_a_known_map_is_its_own_fit(self):
        exact = self.truth(self.wall)
        fit = fit_wall(self.wall, np.zeros(3), ALONG, exact, self.truth, keep=0.8, both=True)
        np.testing.assert_allclose(fit(self.wall), exact, atol=1e-6)


class FrameThroughFitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        _, wall, *_ = study(seed=1)
        _, tilted, *_ = study(apex_direction=(0.3, -0.8, -0.5), seed=2)
        cls.template, cls.study = frame_from_segmentation(wall), frame_from_segmentation(tilted)
        geometry = cls.template.geometry
        cls.fit = WallFit(turn(20.0, [0.0, 1.0, 0.0]), 1.1, 0.9, geometry.center, geometry.axis,
                          cls.study.geometry.center)

    def test_the_whole_frame_is_the_templates_mapped(self):
        mapped = fitted_frame(self.template, self.study, self.fit)
        for name in ("center", "apex", "base"):
            np.testing.assert_allclose(getattr(mapped.geometry, name), self.fit(getattr(self.template.geometry, name)))
        np.testing.assert_allclose(mapped.geometry.axis, self.fit.rotation @ self.template.geometry.axis, atol=1e-9)
        self.assertAlmostEqual(mapped.radius_mm, 1.1 * self.template.radius_mm)
        self.assertEqual(mapped.source, self.study.source)

    def test_the_axis_only_keeps_the_study_frames_centre_base_and_apex(self):
        composed = with_fitted_axis(self.study, self.template, self.fit, 2.0)
        for name in ("center", "apex", "base"):
            np.testing.assert_allclose(getattr(composed.geometry, name), getattr(self.study.geometry, name))
        np.testing.assert_allclose(composed.geometry.axis, self.fit.direction(self.template.geometry.axis))
        apex = with_fitted_axis(self.study, self.template, self.fit, 2.0, apex="fit")
        np.testing.assert_allclose(apex.geometry.apex, self.fit(self.template.geometry.apex))


if __name__ == "__main__":
    unittest.main()
