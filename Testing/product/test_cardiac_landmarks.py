"""LV centre, apex and base derived from a wall mask: a synthetic cup whose landmarks are known exactly."""

import unittest

import numpy as np

from SPECTFewShotLib.cardiac_landmarks import lv_landmarks
from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.volume import Volume


def cup_mask(axis, centre=(10.0, -20.0, 30.0), spacing=3.0, epi=(40.0, 32.0), endo=(31.0, 23.0), base_t=15.0,
             direction=(1, 0, 0, 0, 1, 0, 0, 0, -1), size=48):
    """A truncated ellipsoidal shell (apex closed, base open) and its true apex, base and centroid (LPS mm)."""
    u = np.asarray(axis, dtype=float)
    u /= np.linalg.norm(u)
    c = np.asarray(centre, dtype=float)
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    origin = c - d @ np.full(3, (size - 1) * spacing / 2)
    volume = Volume(np.zeros((size,) * 3, np.uint8), (spacing,) * 3, tuple(origin), tuple(direction))

    def inside(points):
        rel = points - c
        along = rel @ u
        radial = np.linalg.norm(rel - along[:, None] * u, axis=1)
        epi_in = (along / epi[0]) ** 2 + (radial / epi[1]) ** 2 <= 1
        endo_in = (along / endo[0]) ** 2 + (radial / endo[1]) ** 2 <= 1
        return epi_in & ~endo_in & (along <= base_t)

    k, j, i = np.indices((size,) * 3)
    points = volume.index_to_lps(np.stack([i, j, k], -1).reshape(-1, 3).astype(float))
    mask = inside(points).reshape((size,) * 3).astype(np.uint8)
    fine = c + np.stack(np.meshgrid(*[np.arange(-45, 45, 0.75)] * 3, indexing="ij"), -1).reshape(-1, 3)
    centroid = fine[inside(fine)].mean(axis=0)
    return volume.with_array(mask), {"LV_center": centroid, "LV_apex": c - epi[0] * u, "LV_base": c + base_t * u}


class CardiacLandmarksTest(unittest.TestCase):
    def check(self, axis, tolerance_mm=4.0, **kwargs):
        mask, truth = cup_mask(axis, **kwargs)
        found = {lm.label: np.asarray(lm.position_lps) for lm in lv_landmarks(mask)}
        self.assertEqual(set(found), {"LV_center", "LV_apex", "LV_base"})
        for label, position in truth.items():
            error = np.linalg.norm(found[label] - position)
            self.assertLess(error, tolerance_mm, f"{label} off by {error:.1f} mm (axis {axis})")
        return found

    def test_wide_cup_in_several_orientations(self):
        # As wide (64 mm) as it is long (55 mm): the first principal axis is not the long axis here. The axis (apex
        # to base) points away from the patient's left, anterior and inferior, as in patients.
        for axis in [(-0.6, 0.5, 0.6), (0.0, 0.0, 1.0), (-1.0, 0.3, 0.2), (-0.2, 1.0, 0.4)]:
            self.check(axis)

    def test_apex_and_base_are_not_swapped(self):
        for axis in [(-0.6, 0.5, 0.6), (1.0, 1.0, 0.0), (-1.0, -1.0, 0.0)]:  # the last two: across the prior
            found = self.check(axis)
            unit = np.asarray(axis) / np.linalg.norm(axis)
            self.assertGreater((found["LV_base"] - found["LV_apex"]) @ unit, 40.0)

    def test_a_tube_open_at_both_ends_takes_the_anatomical_apex(self):
        # Both ends open (an apical defect, a mask drawn as a tube): the apex is the left-anterior-inferior end.
        mask, _ = cup_mask((-0.6, 0.5, 0.6), base_t=15.0)
        tube = mask.array.copy()
        found_closed = {lm.label: np.asarray(lm.position_lps) for lm in lv_landmarks(mask)}
        k, j, i = np.nonzero(tube)
        points = mask.index_to_lps(np.stack([i, j, k], 1).astype(float))
        unit = np.array([-0.6, 0.5, 0.6]) / np.linalg.norm([-0.6, 0.5, 0.6])
        cut = (points - found_closed["LV_apex"]) @ unit < 12.0  # remove the apical cap
        tube[k[cut], j[cut], i[cut]] = 0
        found = {lm.label: np.asarray(lm.position_lps) for lm in lv_landmarks(mask.with_array(tube))}
        self.assertGreater((found["LV_base"] - found["LV_apex"]) @ unit, 20.0)

    def test_coarse_oblique_grid(self):
        self.check((-0.5, 0.5, 0.7), tolerance_mm=5.0, spacing=6.0, size=26,
                   direction=(0, 1, 0, 1, 0, 0, 0, 0, -1))

    def test_a_label_of_a_multi_label_map_is_used(self):
        mask, truth = cup_mask((0.0, 1.0, 0.0))
        labels = mask.array.astype(np.uint8) * 7
        labels[:4] = 3  # another tissue far away must not count
        found = {lm.label: np.asarray(lm.position_lps) for lm in lv_landmarks(mask.with_array(labels), label=7)}
        self.assertLess(np.linalg.norm(found["LV_apex"] - truth["LV_apex"]), 4.0)

    def test_unusable_masks_are_refused(self):
        mask, _ = cup_mask((0.0, 0.0, 1.0))
        with self.assertRaises(InputError):
            lv_landmarks(mask.with_array(np.zeros_like(mask.array)))
        flat = np.zeros_like(mask.array)
        flat[20, 10:30, 10:30] = 1
        with self.assertRaises(InputError):
            lv_landmarks(mask.with_array(flat))
        solid = np.zeros_like(mask.array)
        solid[10:30, 10:30, 10:30] = 1
        with self.assertRaises(InputError):
            lv_landmarks(mask.with_array(solid))



class FlaggedPointsWarningTest(unittest.TestCase):
    def test_the_polar_map_names_the_flagged_points_its_axis_and_septum_rest_on(self):
        from SPECTFewShotLib.cardiac_views.frame import flagged_points_warning, frame_from_landmarks
        from SPECTFewShotLib.io.markups_io import Landmark

        def points(apex=0.9, base=0.9, anterior=0.9, inferior=0.9):
            return [Landmark("LV_apex", (40.0, -30.0, -30.0), apex), Landmark("LV_base", (0.0, 0.0, 0.0), base),
                    Landmark("RV_insertion_anterior", (10.0, -30.0, 20.0), anterior),
                    Landmark("RV_insertion_inferior", (-10.0, 10.0, -30.0), inferior)]

        sure = points()
        self.assertIsNone(flagged_points_warning(sure, frame_from_landmarks(sure)))
        base = points(base=0.1)
        warning = flagged_points_warning(base, frame_from_landmarks(base))
        self.assertIn("the long axis rests on", warning)
        self.assertIn("LV_base", warning)
        septum = points(inferior=0.05)
        warning = flagged_points_warning(septum, frame_from_landmarks(septum))
        self.assertIn("the septum rests on", warning)
        self.assertIn("RV_insertion_inferior", warning)
        self.assertEqual(len(warning.splitlines()), 1)
        without = points(inferior=0.05)[:2]  # no insertion points: the septum from the anatomical convention
        self.assertIsNone(flagged_points_warning(without, frame_from_landmarks(without)))


if __name__ == "__main__":
    unittest.main()
