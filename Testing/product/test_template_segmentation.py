"""The one-shot wall (landmarks.template_segmentation): a study's LV myocardium classified by ProtoNet from a
template's, kept near the LV in the counts; the frame it makes, and the counts' frame when it makes none."""

import unittest
from unittest import mock

import numpy as np
from scipy.spatial import cKDTree

from SPECTFewShotLib.cardiac_landmarks import LVGeometry
from SPECTFewShotLib.landmarks.heart_search import smoothed_counts
from SPECTFewShotLib.landmarks.local_alignment import lv_region
from SPECTFewShotLib.landmarks.long_axis import angle_between_deg
from SPECTFewShotLib.landmarks.lv_frame import (
    WALL_BAND_MM,
    WALL_FRACTION,
    LVFrame,
    frame_from_segmentation,
    mid_wall_points,
)
from SPECTFewShotLib.landmarks.staged import Localizer, find_lv_frame
from SPECTFewShotLib.landmarks.template_segmentation import (
    CAVITY,
    SURROUNDINGS,
    WALL,
    OneShotWall,
    basal_overhang,
    closed_ring_end,
    near_points,
    on_grid,
    shell_coverage,
    template_classes,
    wall_from_probabilities,
    within_closed_ring,
)
from SPECTFewShotLib.volume import Volume
from Testing.fixtures import study


def ring_basis() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A long axis, two directions across it and the angles (every 6 degrees) to build rings about it."""
    axis = np.array([0.0, 0.6, 0.8])
    first = np.cross(axis, [1.0, 0.0, 0.0])
    first /= np.linalg.norm(first)
    return axis, first, np.cross(axis, first), np.radians(np.arange(0.0, 360.0, 6.0))


class OneShotWallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.template, cls.template_wall, *_ = study(seed=2)
        cls.volume, cls.wall, cls.centre, cls.apex, cls.base, cls.toward_apex = study(
            center=(-4.0, 6.0, -2.0), apex_direction=(0.3, -0.8, -0.5), seed=3)
        cls.one_shot = OneShotWall()

    def test_the_templates_support_has_wall_cavity_and_surroundings(self):
        wall = self.template_wall.array > 0
        classes = template_classes(wall, self.template.spacing[::-1])
        self.assertTrue(np.array_equal(classes == WALL, wall))
        self.assertTrue((classes == CAVITY).any() and (classes == SURROUNDINGS).any())
        self.assertTrue((classes == -1).any())  # far from the wall: not part of the support
        mask = self.template_wall
        cropped = Volume(np.ascontiguousarray(mask.array[4:-4, 2:, :-3]), mask.spacing,
                         tuple(mask.index_to_lps((0, 2, 4))), mask.direction)
        self.assertTrue(np.array_equal(on_grid(cropped, self.template), wall))

    def test_the_studys_wall_is_found_and_only_near_its_lv(self):
        counts_frame = find_lv_frame(self.volume)
        found = self.one_shot.wall(self.template, self.template_wall, self.volume, counts_frame).array > 0
        truth = self.wall.array > 0
        self.assertGreater(2 * (found & truth).sum() / (found.sum() + truth.sum()), 0.8)
        k, j, i = np.nonzero(found)
        far = np.linalg.norm(self.volume.index_to_lps(np.stack([i, j, k], 1).astype(float)) - self.centre, axis=1)
        self.assertLess(far.max(), 80.0)  # not the liver (70 mm away and larger) nor the hot rim

    def test_a_network_that_calls_everything_near_the_lv_wall_still_gives_the_lvs_hot_wall(self):
        # what went wrong on phantoms: lungs, body and the RV cavity beside the LV classified as wall (twice the LV's
        # volume, a frame 29 degrees off); the counts' myocardium edge keeps only the hot shell
        one_shot = OneShotWall()
        one_shot._session = self._everything_session()
        counts_frame = find_lv_frame(self.volume)
        counts = smoothed_counts(self.volume)
        found = one_shot.wall(self.template, self.template_wall, self.volume, counts_frame, counts).array > 0
        _, level = mid_wall_points(self.volume, counts, counts_frame.geometry.center)
        self.assertTrue(np.all(counts[found] >= WALL_FRACTION * level))
        truth = self.wall.array > 0
        self.assertGreater((found & truth).sum() / truth.sum(), 0.9)  # the true wall is kept
        frame = find_lv_frame(self.volume, self.volume.with_array(found.astype(np.uint8)), counts=counts)
        self.assertEqual(frame.source, "segmentation")
        self.assertLess(angle_between_deg(-frame.geometry.axis, self.toward_apex), 10.0)
        self.assertLess(np.linalg.norm(frame.geometry.center - self.centre), 6.0)
        # the region near the LV alone would have made its wall of everything there: no LV frame from it
        region = lv_region(self.volume, counts_frame)
        self.assertGreater(region.sum(), 3 * found.sum())

    def test_a_hot_atrium_against_the_base_is_not_taken_for_wall(self):
        # an atrium as hot as the wall, touching the open base: the network calls it wall (here: everything is), the
        # count floor and the LV region keep it, and the frame's base went 27 mm into it; only voxels within the
        # counts' own myocardium band (lv_frame.WALL_BAND_MM of the wall the rays found) stay
        k, j, i = np.indices(self.volume.array.shape)
        lps = self.volume.index_to_lps(np.stack([i, j, k], -1).reshape(-1, 3).astype(float))
        atrium = (np.linalg.norm(lps - (self.base - 14.0 * self.toward_apex), axis=1) <= 14.0).reshape(k.shape)
        array = self.volume.array.copy()
        array[atrium] = np.maximum(array[atrium], 1100.0)
        volume = self.volume.with_array(array)
        counts = smoothed_counts(volume)
        counts_frame = find_lv_frame(volume, counts=counts)
        everything = np.stack([np.zeros(array.shape), np.ones(array.shape), np.zeros(array.shape)])
        found = wall_from_probabilities(everything, volume, counts_frame, counts)
        self.assertFalse((found & atrium).any())
        self.assertGreater((found & (self.wall.array > 0)).sum() / (self.wall.array > 0).sum(), 0.9)
        _, level = mid_wall_points(volume, counts, counts_frame.geometry.center)
        floor_only = lv_region(volume, counts_frame) & (counts >= WALL_FRACTION * level)  # the rule before the band
        self.assertEqual(int((floor_only & atrium).sum()), int(atrium.sum()))
        before = frame_from_segmentation(volume.with_array(floor_only.astype(np.uint8)))
        after = frame_from_segmentation(volume.with_array(found.astype(np.uint8)))
        self.assertGreater(np.linalg.norm(before.geometry.base - self.base), 20.0)
        self.assertLess(np.linalg.norm(after.geometry.base - self.base), 6.0)
        # the band itself: voxels farther than it from every point are dropped, those within it kept
        points = counts_frame.wall_points
        near = near_points(volume, np.ones(array.shape, bool), points, WALL_BAND_MM)
        k, j, i = np.nonzero(near)
        distances = cKDTree(points).query(volume.index_to_lps(np.stack([i, j, k], 1).astype(float)))[0]
        self.assertTrue(np.all(distances <= WALL_BAND_MM))
        self.assertTrue((~near).any())

    def test_a_partial_arc_past_the_closed_ring_is_cut_unless_the_template_runs_past_its_own(self):
        # what tilted patient001's one-shot axis (template patient003): past its closed ring the wall ran on as an arc
        # on one side of the base (hot, within the counts' band); the template's own wall ends with its ring, so the
        # study's is cut where its closed ring ends
        k, j, i = np.indices(self.volume.array.shape)
        relative = self.volume.index_to_lps(np.stack([i, j, k], -1).reshape(-1, 3).astype(float)) - self.centre
        along = relative @ self.toward_apex
        across = relative - along[:, None] * self.toward_apex
        side = np.cross(self.toward_apex, [0.0, 0.0, 1.0])
        turn = np.arctan2(across @ side, across @ np.cross(self.toward_apex, side))
        radial = np.linalg.norm(across, axis=1)
        arc = ((along < -18.0) & (along >= -40.0) & (radial >= 18.0) & (radial <= 28.0)
               & (np.abs(turn) < np.pi / 3)).reshape(k.shape)  # a third of the circumference, 22 mm past the base
        array = self.volume.array.copy()
        array[arc] = np.maximum(array[arc], 1000.0)
        volume = self.volume.with_array(array)
        counts = smoothed_counts(volume)
        counts_frame = find_lv_frame(volume, counts=counts)
        everything = np.stack([np.zeros(array.shape), np.ones(array.shape), np.zeros(array.shape)])
        overhang = basal_overhang(frame_from_segmentation(self.template_wall))
        self.assertEqual(overhang, 0.0)  # the template's wall ends where its ring does
        uncut = wall_from_probabilities(everything, volume, counts_frame, counts)
        cut = wall_from_probabilities(everything, volume, counts_frame, counts, overhang)
        truth = self.wall.array > 0
        self.assertGreater((cut & truth).sum() / truth.sum(), 0.99)  # the LV's own wall is kept
        self.assertLess((cut & arc).sum(), 0.8 * (uncut & arc).sum())
        before = frame_from_segmentation(volume.with_array(uncut.astype(np.uint8))).geometry
        after = frame_from_segmentation(volume.with_array(cut.astype(np.uint8))).geometry
        self.assertGreater(angle_between_deg(-before.axis, self.toward_apex), 12.0)
        self.assertLess(angle_between_deg(-after.axis, self.toward_apex), 9.0)
        self.assertLess(np.linalg.norm(after.base - self.base), np.linalg.norm(before.base - self.base) - 3.0)
        # a template whose annotator followed the arc further than the study's runs keeps it all
        self.assertTrue(np.array_equal(wall_from_probabilities(everything, volume, counts_frame, counts, 60.0),
                                       uncut))
        # the product's one-shot wall applies the template's overhang (a network that calls everything wall)
        one_shot = OneShotWall()
        one_shot._session = self._everything_session()
        found = one_shot.wall(self.template, self.template_wall, volume, counts_frame, counts).array > 0
        self.assertTrue(np.array_equal(found, cut))

    def test_where_a_walls_closed_ring_ends_and_how_far_it_runs_past(self):
        # a ring (radius 25 mm, every direction round) from 0 to 40 mm along the axis, then a third of it to 60 mm
        axis, first, second, turns = ring_basis()
        points = [25.0 * (np.cos(t) * first + np.sin(t) * second) + s * axis for s in np.arange(0.5, 60.0, 2.0)
                  for t in turns if s < 40.0 or np.cos(t) > 0.5]
        origin = np.array([3.0, -2.0, 1.0])
        points = np.asarray(points) + origin
        along, end = closed_ring_end(points, origin, axis)
        self.assertEqual(end, 40.0)
        self.assertAlmostEqual(along.max(), 58.5)
        geometry = LVGeometry(origin, origin, points.mean(axis=0), axis)
        frame = LVFrame(geometry, 25.0, 1.0, "segmentation", points)
        self.assertAlmostEqual(basal_overhang(frame), 18.5)
        ring = points[along < 40.0]
        self.assertEqual(basal_overhang(LVFrame(geometry, 25.0, 1.0, "segmentation", ring)), 0.0)

    def test_a_cut_oblique_through_a_closed_wall_is_not_made(self):
        # phantom 500: the counts' axis 22 degrees off, so slabs along it cut a closed wall's base obliquely and the
        # cut wall's axis turned 20 degrees; such a cut is not made (a trimmed arc turned patient001's by 5)
        axis, first, second, turns = ring_basis()
        points = []
        for radius in (23.0, 27.0):  # a closed cup: a hemispherical apex and a cylinder to 70 mm, two layers
            points += [radius * (np.cos(t) * first + np.sin(t) * second) + s * axis for s in np.arange(0.0, 70.0, 2.0)
                       for t in turns]
            points += [radius * np.sin(p) * (np.cos(t) * first + np.sin(t) * second) - radius * np.cos(p) * axis
                       for p in np.radians(np.arange(3.0, 90.0, 6.0)) for t in turns]
        points = np.asarray(points)
        self.assertTrue(within_closed_ring(points, np.zeros(3), axis, 0.0).all())
        tilted = np.cos(np.radians(30.0)) * axis + np.sin(np.radians(30.0)) * first
        along, end = closed_ring_end(points, np.zeros(3), tilted)
        self.assertGreater(np.count_nonzero(along > end), 300)  # the cut along the tilted axis would take these
        self.assertTrue(within_closed_ring(points, np.zeros(3), tilted, 0.0).all())
        with mock.patch("SPECTFewShotLib.landmarks.template_segmentation.CUT_MAX_TURN_DEG", 180.0):
            self.assertFalse(within_closed_ring(points, np.zeros(3), tilted, 0.0).all())

    @staticmethod
    def _everything_session():
        """A few-shot session stand-in whose every voxel is wall with probability 1."""
        class EverythingWall:
            grid = type("Grid", (), {"to_voxels": staticmethod(lambda cells: cells)})()

            def set_volume(self, volume):
                self.shape = volume.array.shape

            def prototypes(self, classes, where):
                return None

            def grid_probabilities(self, prototypes):
                return np.stack([np.zeros(self.shape), np.ones(self.shape), np.zeros(self.shape)])

        return EverythingWall()

    def test_the_share_of_the_counts_lv_a_wall_covers(self):
        counts_frame = find_lv_frame(self.volume)
        truth = self.wall.array > 0
        self.assertGreater(shell_coverage(truth, self.volume, counts_frame), 0.6)  # the counts blur the wall thicker
        self.assertEqual(shell_coverage(np.zeros_like(truth), self.volume, counts_frame), 0.0)
        k, j, i = np.nonzero(truth)
        points = self.volume.index_to_lps(np.stack([i, j, k], 1).astype(float))
        half = truth.copy()  # the wall on one side of a plane through the LV's axis
        half[k, j, i] = (points - self.centre) @ np.cross(self.toward_apex, [0.0, 0.0, 1.0]) > 0
        self.assertAlmostEqual(shell_coverage(half, self.volume, counts_frame),
                               shell_coverage(truth, self.volume, counts_frame) / 2, delta=0.12)

    def test_the_localizer_uses_its_frame_or_says_why_not(self):
        localizer = Localizer(one_shot=True)
        landmarks = [lm for lm in find_lv_frame(self.template, self.template_wall).geometry.landmarks()]
        placement = localizer.place(self.volume, [(self.template, landmarks)], template_myocardia=[self.template_wall])
        self.assertEqual(placement.frame.source, "one-shot")
        self.assertLess(angle_between_deg(-placement.frame.geometry.axis, self.toward_apex), 10.0)
        placed = {lm.label: np.asarray(lm.position_lps) for lm in placement.landmarks}
        self.assertLess(np.linalg.norm(placed["LV_center"] - self.centre), 6.0)
        # each point's confidence also hears the counts' placement, which does not share the one-shot wall's errors
        from_counts = Localizer().place(self.volume, [(self.template, landmarks)]).landmarks
        gap = [np.linalg.norm(placed[lm.label] - np.asarray(lm.position_lps)) for lm in from_counts]
        self.assertTrue(np.all(placement.evidence.spread_mm >= np.asarray(gap) - 1e-6))
        self.assertTrue(np.all(placement.evidence.counts_frame == 1.0))
        # and how much of the counts' LV the one-shot wall leaves out (here a good wall: little)
        self.assertTrue(np.all(placement.evidence.uncovered < 0.3))
        # a template "myocardium" that is no LV wall (14 mL outside the body) teaches nothing: the counts' frame
        outside = np.zeros_like(self.template_wall.array)
        outside[:6, :6, :6] = 1
        placement = localizer.place(self.volume, [(self.template, landmarks)],
                                    template_myocardia=[self.template_wall.with_array(outside)])
        self.assertEqual(placement.frame.source, "counts")
        self.assertTrue(any("template: the myocardium given was not used" in w for w in placement.warnings))


if __name__ == "__main__":
    unittest.main()
