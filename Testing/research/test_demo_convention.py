"""The demo's template in another convention (research.demo_landmarks.endocardial_convention): its points lie where
the convention says on a synthetic LV of known wall, and the staged localiser follows them into a rigidly moved copy
(the template rules), not our definitions."""

import unittest

import numpy as np

from SPECTFewShotLib.cardiac_landmarks import SLAB_MM, lv_geometry, wall_points_lps
from SPECTFewShotLib.cardiac_views.rotations import axis_rotation
from SPECTFewShotLib.volume import Volume
from Testing.cardiac_synthetic import synthetic_lv


class EndocardialConventionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from SPECTFewShotLib.research.demo_landmarks import endocardial_convention

        cls.apex_wall_mm = 12.0
        cls.lv = synthetic_lv(apex_wall=cls.apex_wall_mm, blur_mm=8.0)
        cls.mask = cls.lv.image.with_array(cls.lv.wall.astype(np.uint8))
        cls.geometry = lv_geometry(wall_points_lps(cls.mask), min(cls.mask.spacing))
        cls.points = {lm.label: np.asarray(lm.position_lps) for lm in endocardial_convention(cls.mask)}

    def test_the_points_follow_the_convention_on_a_wall_of_known_thickness(self):
        g, p = self.geometry, self.points
        self.assertEqual(list(p), ["LV_center", "LV_apex", "LV_base"])
        voxel = min(self.mask.spacing)
        # the apex where the cavity begins: the apical wall's thickness in from our (epicardial) apex, on the axis
        self.assertAlmostEqual(float(np.linalg.norm(p["LV_apex"] - g.apex)), self.apex_wall_mm, delta=voxel)
        self.assertLess(float(np.linalg.norm(np.cross(p["LV_apex"] - g.apex, g.axis))), 1e-6)
        # the base at the basal ring's centre: short of our valve-plane base, towards the apex, by up to a slab
        short = float((g.base - p["LV_base"]) @ g.axis)
        self.assertGreater(short, 0.0)
        self.assertLess(short, SLAB_MM)
        np.testing.assert_allclose(p["LV_center"], (p["LV_apex"] + p["LV_base"]) / 2)

    def test_a_template_in_this_convention_is_followed_into_a_moved_copy(self):
        from SPECTFewShotLib.landmarks.staged import Localizer
        from SPECTFewShotLib.research.demo_landmarks import endocardial_convention

        study = self.lv.image
        rotation = axis_rotation((1.0, 1.0, 1.0), 20.0)
        centre = study.index_to_lps((np.asarray(study.size, dtype=float) - 1) / 2)
        shift = np.array([12.0, -8.0, 16.0])

        def move(point):
            return rotation @ (np.asarray(point, dtype=float) - centre) + centre + shift

        moved = Volume(study.array, study.spacing, tuple(move(study.origin)),
                       tuple((rotation @ study.direction_matrix).ravel()))
        template = endocardial_convention(self.mask)
        placed = Localizer().place(moved, [(study, template)], myocardium=moved.with_array(self.mask.array),
                                   template_myocardia=[self.mask]).landmarks
        ours = {"LV_center": self.geometry.center, "LV_apex": self.geometry.apex, "LV_base": self.geometry.base}
        for found, given in zip(placed, template):
            self.assertLessEqual(np.linalg.norm(np.asarray(found.position_lps) - move(given.position_lps)),
                                 min(study.spacing), found.label)
        apex = next(lm for lm in placed if lm.label == "LV_apex")
        self.assertGreater(np.linalg.norm(np.asarray(apex.position_lps) - move(ours["LV_apex"])), 8.0)


if __name__ == "__main__":
    unittest.main()
