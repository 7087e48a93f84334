"""Simulated clinician painting: the slices, full labels, and one-voxel medial-axis strokes."""

import unittest

import numpy as np

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.research.evaluation.cases import real_study_case
from SPECTFewShotLib.selftest.painting import paint, paint_slices, paint_strokes, quartile_slices, unpainted_slices


class QuartileSlicesTest(unittest.TestCase):
    def test_rounded_quartiles_of_the_axial_extent(self):
        mask = np.zeros((40, 5, 5), dtype=bool)
        mask[18:32, 2, 2] = True  # k = 18..31, as the real study's LV wall
        self.assertEqual(quartile_slices(mask), [21, 24, 28])
        self.assertEqual(real_study_case().slices, [21, 24, 28])
        with self.assertRaises(InputError):
            quartile_slices(np.zeros((4, 4, 4), dtype=bool))


class PaintTest(unittest.TestCase):
    def setUp(self):
        _, j, i = np.mgrid[:12, :30, :30]
        radius = np.hypot(j - 15, i - 15)
        self.class_map = np.full((12, 30, 30), 1, dtype=np.int32)
        self.class_map[(radius < 9) & (radius >= 5)] = 7
        self.class_map[radius < 5] = 8
        self.class_map[:, :3, :3] = 200  # a tiny region in a corner

    def test_full_slices_copy_every_class_on_the_painted_slices_only(self):
        support = paint_slices(self.class_map, [3, 6])
        np.testing.assert_array_equal(support[[3, 6]], self.class_map[[3, 6]])
        self.assertFalse(support[unpainted_slices(support.shape, [3, 6])].any())

    def test_strokes_are_thin_lines_inside_every_class_region(self):
        support = paint_strokes(self.class_map, [3, 6])
        self.assertFalse(support[unpainted_slices(support.shape, [3, 6])].any())
        for k in (3, 6):
            painted = support[k]
            for value in (1, 7, 8, 200):
                stroke = painted == value
                self.assertTrue(stroke.any(), value)
                self.assertTrue(np.all(self.class_map[k][stroke] == value))
                blocks = stroke[:-1, :-1] & stroke[1:, :-1] & stroke[:-1, 1:] & stroke[1:, 1:]
                self.assertFalse(blocks.any(), f"class {value} has a 2x2 block: not a one-voxel stroke")
            self.assertLess(int((painted != 0).sum()), int(0.25 * painted.size))
        ring = support[3] == 7
        self.assertGreater(int(ring.sum()), 20)  # the ring's centreline goes all the way round

    def test_unknown_protocol_is_refused(self):
        with self.assertRaises(InputError):
            paint(self.class_map, [3], "lasso")


if __name__ == "__main__":
    unittest.main()
