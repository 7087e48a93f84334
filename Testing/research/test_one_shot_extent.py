"""research.evaluation.one_shot_extent: the slab profile counts each mask's voxels once, and its cut is the
product's closed-ring cut with the settings given."""

import unittest

import numpy as np

from SPECTFewShotLib.landmarks.heart_search import smoothed_counts
from SPECTFewShotLib.landmarks.lv_frame import frame_from_segmentation
from SPECTFewShotLib.landmarks.staged import find_lv_frame
from SPECTFewShotLib.landmarks.template_segmentation import CUT_MAX_TURN_DEG, RING_CLOSED
from SPECTFewShotLib.research.evaluation.one_shot_extent import cut, points_of, slab_profile
from Testing.fixtures import study


class OneShotExtentTest(unittest.TestCase):
    def test_the_profile_and_the_cut(self):
        volume, wall, *_ = study(center=(-4.0, 6.0, -2.0), apex_direction=(0.3, -0.8, -0.5), seed=3)
        mask = wall.array > 0
        counts = smoothed_counts(volume)
        template_frame = frame_from_segmentation(wall)
        truth = template_frame.geometry
        rows = list(slab_profile(volume, {"mask": mask}, counts, float(counts[mask].max()), truth.apex, truth.axis))
        self.assertEqual(len(rows), 4)  # the slabs' starts, then voxels, sectors and counts
        self.assertEqual(sum(int(v) for v in rows[1].split()[2:]), int(mask.sum()))
        self.assertTrue(all(0 <= int(v) <= 12 for v in rows[2].split()[2:]))
        near = find_lv_frame(volume, counts=counts)
        case = {"wall": mask, "volume": volume, "near": near, "template_frame": template_frame}
        kept = cut(case, RING_CLOSED, 0.0, CUT_MAX_TURN_DEG)
        self.assertTrue(np.all(mask[kept]))
        everything = cut(case, RING_CLOSED, 1000.0, CUT_MAX_TURN_DEG)  # an allowance past any wall: nothing cut
        self.assertTrue(np.array_equal(everything, mask))
        self.assertEqual(len(points_of(volume, mask)), int(mask.sum()))


if __name__ == "__main__":
    unittest.main()
