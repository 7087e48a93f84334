"""The one-shot frame-axis screen's rules (research.evaluation.one_shot_axis): the ring trim leaves out a wall
curled into its ring on one side and nothing of a plain ring; the second round falls back to the product's wall
when nothing is sure enough to paint; the variants' frame composers (one_shot_variants.with_axis, with_ends) take
the other frame's axis (and apex) and keep the frame's own centre, base and wall."""

import unittest

import numpy as np

from SPECTFewShotLib.landmarks.heart_search import smoothed_counts
from SPECTFewShotLib.landmarks.lv_frame import frame_from_segmentation
from SPECTFewShotLib.landmarks.staged import find_lv_frame
from SPECTFewShotLib.research.evaluation.one_shot_axis import RULES, ring_trimmed
from SPECTFewShotLib.research.evaluation.one_shot_variants import with_axis, with_ends
from Testing.fixtures import study


def ring_with_curl() -> tuple[np.ndarray, np.ndarray]:
    """Points of a 20 mm ring wall along z (0-60 mm) and, in its last slab, a curl 10 mm inside it on one side;
    which points are the curl."""
    angles = np.linspace(0.0, 2 * np.pi, 72, endpoint=False)
    heights = np.arange(0.5, 60.0, 2.0)
    ring = np.array([[20 * np.cos(a), 20 * np.sin(a), z] for z in heights for a in angles])
    curl = np.array([[10 * np.cos(a), 10 * np.sin(a), z] for z in (56.0, 58.0) for a in angles[:12]])
    return np.concatenate([ring, curl]), np.r_[np.zeros(len(ring), bool), np.ones(len(curl), bool)]


class RingTrimTest(unittest.TestCase):
    def test_the_inner_trim_leaves_out_the_curl_and_keeps_the_ring(self):
        points, curl = ring_with_curl()
        keep = ring_trimmed(points, np.zeros(3), np.array([0.0, 0.0, 1.0]), 8.0, side="inner")
        self.assertFalse(keep[curl].any())
        self.assertTrue(keep[~curl].all())

    def test_the_outer_trim_keeps_a_curl_inside_the_ring(self):
        points, curl = ring_with_curl()
        keep = ring_trimmed(points, np.zeros(3), np.array([0.0, 0.0, 1.0]), 8.0, side="outer")
        self.assertTrue(keep[curl].all())


class SecondRoundTest(unittest.TestCase):
    def test_nothing_sure_to_paint_gives_the_products_wall(self):
        volume, *_ = study(center=(-4.0, 6.0, -2.0), apex_direction=(0.3, -0.8, -0.5), seed=3)
        counts = smoothed_counts(volume)
        near = find_lv_frame(volume, counts=counts)
        shape = volume.array.shape
        unsure = np.stack([np.full(shape, 0.25), np.full(shape, 0.5), np.full(shape, 0.25)]).astype(np.float32)
        product = RULES["product"](unsure, volume, near, counts, 0.0)
        self.assertTrue(product.any())
        self.assertTrue(np.array_equal(RULES["paint sure"](unsure, volume, near, counts, 0.0), product))


class FrameCompositionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        _, wall, *_ = study(seed=1)
        _, tilted, *_ = study(apex_direction=(0.3, -0.8, -0.5), seed=2)
        cls.spacing = min(wall.spacing)
        cls.frame, cls.other = frame_from_segmentation(wall), frame_from_segmentation(tilted)

    def test_its_own_axis_gives_the_frame_back(self):
        same = with_axis(self.frame, self.frame, self.spacing)
        for name in ("center", "apex", "base", "axis"):
            np.testing.assert_allclose(getattr(same.geometry, name), getattr(self.frame.geometry, name), atol=1e-9)
        self.assertAlmostEqual(same.radius_mm, self.frame.radius_mm, places=6)

    def test_another_axis_turns_the_frame_about_its_own_centre(self):
        turned = with_axis(self.frame, self.other, self.spacing)
        self.assertGreater(abs(turned.geometry.axis @ self.other.geometry.axis), 0.9999)
        self.assertLess(abs(self.frame.geometry.axis @ self.other.geometry.axis), 0.99)
        np.testing.assert_allclose(turned.geometry.center, self.frame.geometry.center)
        self.assertIs(turned.wall_points, self.frame.wall_points)
        self.assertGreater(np.linalg.norm(turned.geometry.base - self.frame.geometry.base), 1.0)

    def test_the_ends_take_the_other_apex_and_keep_the_own_base(self):
        composed = with_ends(self.frame, self.other, self.spacing)
        np.testing.assert_allclose(composed.geometry.apex, self.other.geometry.apex)
        np.testing.assert_allclose(composed.geometry.base, self.frame.geometry.base)
        np.testing.assert_allclose(composed.geometry.center, self.frame.geometry.center)
        self.assertGreater(composed.geometry.axis @ self.frame.geometry.axis, 0.0)
        self.assertGreater(abs(composed.geometry.axis @ self.other.geometry.axis), 0.9999)


if __name__ == "__main__":
    unittest.main()
