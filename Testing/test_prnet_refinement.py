"""The local steps after PRNet's moves: patch matching corrects a translation, the neighbourhood registration
corrects a rotation a translation cannot and is rescued by a second start when most estimates went astray;
landmarks far apart are registered separately."""

import time
import unittest

import numpy as np
import torch

from SPECTFewShotLib.io.markups_io import Landmark
from SPECTFewShotLib.prnet.correlation import normalised_cross_correlation, peak_position
from SPECTFewShotLib.prnet.refinement import (
    _neighbourhood_mask,
    landmark_groups,
    match_patches,
    match_warped_patches,
    register_neighbourhood,
    replace_outliers,
    score_weights,
    start_rotations,
    start_translations,
)
from SPECTFewShotLib.research.evaluation.localize_cases import moved_copy
from SPECTFewShotLib.rotations import axis_rotation
from SPECTFewShotLib.volume import Volume
from Testing.prnet_synthetic import synthetic_torso

LABELS = ("LV_center", "LV_apex", "LV_base")


def torso_and_points(size=48, spacing=5.0, **kwargs):
    volume, landmarks = synthetic_torso(seed=3, size=size, spacing=spacing, **kwargs)
    return volume, np.array([landmarks[label] for label in LABELS])


def rotated_copy(degrees):
    """A 64^3 torso (template), its copy rotated by `degrees` about (1, 1, 1) and moved (target), the template's
    landmark positions and their true positions in the copy."""
    template, template_points = torso_and_points(size=64, spacing=4.0)
    landmarks = [Landmark(label, tuple(p)) for label, p in zip(LABELS, template_points)]
    target, moved = moved_copy(template, landmarks, translation_mm=(6.0, -4.0, 5.0), degrees=degrees)
    return template, template_points, target, np.array([lm.position_lps for lm in moved])


class PatchMatchingTest(unittest.TestCase):
    def test_a_translated_study_is_matched_to_within_a_few_millimetres(self):
        template, template_points = torso_and_points()
        shift = np.array([9.0, -7.0, 6.0])
        target, truth = torso_and_points(shift_mm=tuple(shift))
        start = truth + np.array([[12.0, -8.0, 5.0], [-10.0, 6.0, 9.0], [7.0, 11.0, -6.0]])  # up to 17 mm off
        before = template.array.copy(), target.array.copy()
        found = match_patches(target, template, start, template_points)
        errors = np.linalg.norm(found - truth, axis=1)
        self.assertLess(errors.max(), 3.0, f"errors {np.round(errors, 1)} mm")
        np.testing.assert_array_equal(template.array, before[0])  # inputs untouched
        np.testing.assert_array_equal(target.array, before[1])


class NeighbourhoodRegistrationTest(unittest.TestCase):
    def test_a_rotation_is_corrected_where_matching_alone_leaves_the_apex_off(self):
        template, template_points, target, truth = rotated_copy(10.0)
        matched = match_patches(target, template, truth + 4.0, template_points)
        registered, linear = register_neighbourhood(target, template, matched, template_points)
        matched_errors = np.linalg.norm(matched - truth, axis=1)
        errors = np.linalg.norm(registered - truth, axis=1)
        message = f"registered {np.round(errors, 1)} mm, matched {np.round(matched_errors, 1)} mm"
        self.assertGreater(matched_errors.max(), 3.5, message)  # the rotation moved the apex off
        self.assertLess(errors.max(), 3.0, message)
        self.assertLess(errors.mean(), matched_errors.mean())
        rotation = axis_rotation((1.0, 1.0, 1.0), 10.0)  # the copy's motion
        for matrix in linear:  # volume -> template: the inverse rotation, to within the registration's accuracy
            np.testing.assert_allclose(matrix @ rotation, np.eye(3), atol=0.08)

    def test_tilted_starts_register_a_heart_turned_further_than_an_untilted_start_reaches(self):
        from dataclasses import replace

        from SPECTFewShotLib.prnet.refinement import RegistrationSettings

        template, template_points, target, truth = rotated_copy(40.0)
        errors = {}
        for tilt in (0.0, 15.0):
            registered, _ = register_neighbourhood(target, template, truth, template_points,
                                                   replace(RegistrationSettings(), tilt_degrees=tilt))
            errors[tilt] = np.linalg.norm(registered - truth, axis=1)
        message = f"untilted {np.round(errors[0.0], 1)} mm, tilted {np.round(errors[15.0], 1)} mm"
        self.assertGreater(errors[0.0].max(), 2.5, message)  # started untilted, it stops short of 40 degrees
        self.assertLess(errors[15.0].max(), 1.5, message)

    def test_start_rotations_tilt_the_points_long_axis_evenly_around_it(self):
        points = np.array([[0.0, 0, 0], [3.0, 4, 0], [-6.0, -8, 0]])  # long axis (3, 4, 0) / 5
        axis = np.array([0.6, 0.8, 0.0])
        np.testing.assert_array_equal(start_rotations(points, 0.0, 4), [np.eye(3)])
        rotations = start_rotations(points, 15.0, 4)
        self.assertEqual(len(rotations), 5)
        np.testing.assert_array_equal(rotations[0], np.eye(3))
        tilted = []
        for rotation in rotations[1:]:
            np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
            self.assertAlmostEqual(np.linalg.det(rotation), 1.0)
            self.assertAlmostEqual(float(np.degrees(np.arccos(abs(rotation @ axis @ axis)))), 15.0)
            moved = rotation @ axis
            tilted.append(moved - (moved @ axis) * axis)  # where the axis leans to
        leans = np.array(tilted) / np.linalg.norm(tilted, axis=1)[:, None]
        np.testing.assert_allclose(leans @ leans.T, [[1, 0, -1, 0], [0, 1, 0, -1], [-1, 0, 1, 0], [0, -1, 0, 1]],
                                   atol=1e-12)  # four directions, 90 degrees apart
        # a single point tilts the S axis; Rodrigues' formula turns L towards P about S
        self.assertAlmostEqual(float(start_rotations(np.zeros((1, 3)), 20.0, 1)[1][2, 2]), np.cos(np.radians(20)))
        np.testing.assert_allclose(axis_rotation(np.array([0.0, 0, 2]), 90.0) @ [1.0, 0, 0], [0.0, 1, 0], atol=1e-12)

    def test_the_volume_registered_onto_the_template_corrects_the_rotation_too(self):
        from SPECTFewShotLib.prnet.refinement import FUSED_MIN_STEP, RegistrationSettings

        template, template_points, target, truth = rotated_copy(10.0)
        matched = match_patches(target, template, truth + 4.0, template_points)
        matched_errors = np.linalg.norm(matched - truth, axis=1)
        rotation = axis_rotation((1.0, 1.0, 1.0), 10.0)
        # as the localiser runs it: gradients at the samples, and from three templates the larger smallest step
        for settings in (RegistrationSettings(), RegistrationSettings(gradient_image=False),
                         RegistrationSettings(gradient_image=False, min_step=FUSED_MIN_STEP)):
            registered, linear = register_neighbourhood(target, template, matched, template_points, settings,
                                                        inverse=True)
            errors = np.linalg.norm(registered - truth, axis=1)
            message = (f"{settings}: registered {np.round(errors, 1)} mm, "
                       f"matched {np.round(matched_errors, 1)} mm")
            self.assertLess(errors.max(), 3.0, message)
            self.assertLess(errors.mean(), matched_errors.mean(), message)
            for matrix in linear:  # still volume -> template, as the forward registration gives it
                np.testing.assert_allclose(matrix @ rotation, np.eye(3), atol=0.08)

    def test_a_study_far_from_the_template_and_its_translated_copy_register_alike_both_ways(self):
        from SPECTFewShotLib.prnet.refinement import RegistrationSettings

        template, template_points, target, truth = rotated_copy(10.0)
        far = np.array([90.0, -70.0, 60.0])  # the study lies far from the template in its own coordinates
        target = Volume(target.array, target.spacing, tuple(np.asarray(target.origin) + far), target.direction)
        shift = np.array([3.0, -2.0, 4.0]) * target.spacing  # and a copy of it moved by whole voxels
        copy = Volume(target.array, target.spacing, tuple(np.asarray(target.origin) + shift), target.direction)
        start = truth + far + 4.0
        for inverse in (False, True):
            placed, _ = register_neighbourhood(target, template, start, template_points, RegistrationSettings(),
                                               inverse=inverse)
            moved, _ = register_neighbourhood(copy, template, start + shift, template_points, RegistrationSettings(),
                                              inverse=inverse)
            message = f"inverse={inverse}: placed {np.round(placed - truth - far, 1)} mm from the truth"
            self.assertLess(np.linalg.norm(placed - truth - far, axis=1).max(), 3.0, message)
            np.testing.assert_allclose(moved - placed, np.tile(shift, (3, 1)), atol=0.05, err_msg=message)

    def test_a_group_tries_at_most_max_starts_starts(self):
        from dataclasses import replace
        from unittest import mock

        from SPECTFewShotLib.prnet import refinement

        template, template_points, target, truth = rotated_copy(10.0)
        estimates = truth.copy()
        estimates[1:] += [25.0, 0.0, 0.0]  # two distinct starts
        tried = []
        register = refinement._register

        def count(*args):
            tried.append(args[4])  # the start translation
            return register(*args)

        with mock.patch.object(refinement, "_register", side_effect=count):
            register_neighbourhood(target, template, estimates, template_points)
            self.assertEqual(len(tried), 2)
            tried.clear()
            register_neighbourhood(target, template, estimates, template_points,
                                   replace(refinement.RegistrationSettings(), max_starts=1))
        np.testing.assert_allclose(tried, [np.median(template_points - estimates, axis=0)])

    def test_one_good_estimate_rescues_a_group_whose_other_estimates_went_astray_together(self):
        template, template_points, target, truth = rotated_copy(10.0)
        for offset in ([25.0, 0.0, 0.0], [0.0, 0.0, -30.0], [25.0, -25.0, 0.0]):
            estimates = truth.copy()
            estimates[1:] += offset  # two of three moved as one: their median start is off by the same amount
            registered, _ = register_neighbourhood(target, template, estimates, template_points)
            errors = np.linalg.norm(registered - truth, axis=1)
            self.assertLess(errors.max(), 1.0, f"offset {offset}: errors {np.round(errors, 1)} mm")

    def test_the_starts_of_a_group_run_at_once_and_give_what_they_give_one_after_the_other(self):
        import threading
        from concurrent.futures import ThreadPoolExecutor
        from unittest import mock

        from SPECTFewShotLib.prnet import refinement

        template, template_points, target, truth = rotated_copy(10.0)
        estimates = truth.copy()
        estimates[1:] += [25.0, 0.0, 0.0]
        starts = start_translations(template_points, estimates, 15.0)
        self.assertGreaterEqual(len(starts), 2)
        together = threading.Barrier(len(starts), timeout=10)  # broken unless every start's registration overlaps
        register = refinement._register

        def register_together(*args):
            together.wait()
            return register(*args)

        with mock.patch.object(refinement, "_register", side_effect=register_together):
            parallel, parallel_linear = register_neighbourhood(target, template, estimates, template_points)
        with mock.patch.object(refinement, "ThreadPoolExecutor", lambda max_workers: ThreadPoolExecutor(1)):
            sequential, sequential_linear = register_neighbourhood(target, template, estimates, template_points)
        np.testing.assert_array_equal(parallel, sequential)
        for a, b in zip(parallel_linear, sequential_linear):
            np.testing.assert_array_equal(a, b)

    def test_the_same_input_gives_the_same_landmarks_and_itk_keeps_its_threads(self):
        import SimpleITK as sitk

        template, template_points, target, truth = rotated_copy(10.0)
        threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
        runs = [register_neighbourhood(target, template, truth + 3.0, template_points)[0] for _ in range(3)]
        for run in runs[1:]:
            np.testing.assert_array_equal(run, runs[0])
        self.assertEqual(sitk.ProcessObject.GetGlobalDefaultNumberOfThreads(), threads)

    def test_registrations_in_parallel_threads_all_run_single_threaded_and_restore_itk_after_the_last(self):
        import threading

        import SimpleITK as sitk

        from SPECTFewShotLib.sitk_registration import execute_reproducibly

        first_inside, first_done = threading.Event(), threading.Event()
        seen = {}

        class Method:  # stands in for sitk.ImageRegistrationMethod: records ITK's global threads while it runs
            def __init__(self, name, before=None, after=None):
                self.name, self.before, self.after = name, before, after

            def SetNumberOfThreads(self, count):
                pass

            def Execute(self, fixed, moving):
                if self.before:
                    self.before()
                seen[self.name] = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
                if self.after:
                    self.after()

        original = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
        self.addCleanup(sitk.ProcessObject.SetGlobalDefaultNumberOfThreads, original)
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(3)  # several, whatever this machine has
        first = threading.Thread(target=execute_reproducibly, args=(
            Method("first", after=lambda: (first_inside.set(), time.sleep(0.05))), None, None))
        first.start()
        first_inside.wait(5)
        second = threading.Thread(target=execute_reproducibly, args=(  # starts inside the first, ends after it
            Method("second", before=lambda: first_done.wait(5)), None, None))
        second.start()
        first.join(5)
        first_done.set()
        second.join(5)
        self.assertEqual(seen, {"first": 1, "second": 1})
        self.assertEqual(sitk.ProcessObject.GetGlobalDefaultNumberOfThreads(), 3)

    def test_the_metric_looks_only_around_the_anchors_and_the_other_points_ride_along(self):
        from unittest import mock

        from SPECTFewShotLib.prnet import refinement

        template, template_points = torso_and_points()
        shift = np.array([6.0, -4.0, 5.0])
        target, truth = torso_and_points(shift_mm=tuple(shift))
        rider = template_points[0] + np.array([0.0, 0.0, 40.0])  # 40 mm above the centre: not an anchor
        points = np.vstack([template_points, rider])
        estimates = np.vstack([truth, rider + shift]) + 3.0
        calls = []

        def spy(volume, mask_points, radius_mm):
            calls.append(np.array(mask_points, dtype=float))
            return _neighbourhood_mask(volume, mask_points, radius_mm)

        for inverse in (False, True):
            calls.clear()
            with mock.patch.object(refinement, "_neighbourhood_mask", side_effect=spy):
                placed, linear = register_neighbourhood(target, template, estimates, points, inverse=inverse,
                                                        anchors=np.array([True, True, True, False]))
            self.assertEqual(calls[0].tolist(), template_points.tolist())  # the template's neighbourhood
            for mask_points in calls[1:]:  # forward: the new volume's, around the anchors moved by a start
                self.assertEqual(len(mask_points), 3)
                translation = mask_points - template_points
                np.testing.assert_allclose(translation, translation[[0, 0, 0]], atol=1e-9)
            self.assertEqual(len(calls), 1 if inverse else 2)  # the estimates agree: one start
            errors = np.linalg.norm(placed - np.vstack([truth, rider + shift]), axis=1)
            self.assertLess(errors.max(), 3.0, f"inverse={inverse}: {np.round(errors, 1)} mm")
            self.assertTrue(all(matrix is not None for matrix in linear))  # the rider took the group's transform

    def test_estimates_outside_the_volume_are_kept_as_they_are(self):
        template, template_points = torso_and_points()
        far = template_points + np.array([0.0, 0.0, 600.0])
        for inverse in (False, True):
            with self.subTest(inverse=inverse):
                kept, linear = register_neighbourhood(template, template, far, template_points, inverse=inverse)
                np.testing.assert_array_equal(kept, far)
                self.assertEqual(linear, [None, None, None])


class RegistrationStartsTest(unittest.TestCase):
    def test_starts_are_the_median_translation_then_each_estimates_own_one_per_separation(self):
        template = np.array([[0.0, 0, 0], [40.0, 0, 0], [0.0, 40, 0]])
        estimates = template - np.array([[10.0, 0, 0], [12.0, 0, 0], [40.0, 0, 0]])
        starts = start_translations(template, estimates, 15.0)
        np.testing.assert_allclose(starts, [[12.0, 0, 0], [40.0, 0, 0]])  # 10 and 12 are within 15 mm of 12
        self.assertEqual(len(start_translations(template, estimates, 1.0)), 3)

    def test_an_unregistered_estimate_far_from_the_templates_shape_takes_its_place_in_that_shape(self):
        template = np.array([[0.0, 0, 0], [40.0, 0, 0], [0.0, 40, 0]])
        estimates = template + np.array([[5.0, 0, 0], [7.0, 1, 0], [60.0, 0, 0]])
        placed = replace_outliers(template, estimates, 20.0)
        np.testing.assert_array_equal(placed[:2], estimates[:2])
        np.testing.assert_allclose(placed[2], template[2] + [7.0, 0, 0])  # the median translation

    def test_a_clear_winner_takes_all_and_near_ties_share(self):
        np.testing.assert_allclose(score_weights(np.array([0.9, 0.6]), 0.03), [1.0, 0.0], atol=1e-4)
        weights = score_weights(np.array([0.7636, 0.7632]), 0.03)
        self.assertAlmostEqual(weights.sum(), 1.0)
        self.assertLess(abs(weights[0] - weights[1]), 0.02)


class WarpedMatchingTest(unittest.TestCase):
    def test_patches_resampled_through_the_rotation_find_the_landmarks_of_a_rotated_copy(self):
        template, template_points, target, truth = rotated_copy(20.0)
        start = truth + np.array([[4.0, -3.0, 2.0], [-3.0, 4.0, 3.0], [2.0, 3.0, -4.0]])
        inverse = axis_rotation((1.0, 1.0, 1.0), -20.0)
        found = match_warped_patches(target, template, start, template_points, [inverse] * 3)
        errors = np.linalg.norm(found - truth, axis=1)
        self.assertLess(errors.max(), 2.5, f"errors {np.round(errors, 1)} mm")
        unchanged = match_warped_patches(target, template, start, template_points, [None] * 3)
        np.testing.assert_array_equal(unchanged, start)


class CrossCorrelationTest(unittest.TestCase):
    def test_a_kernel_of_every_second_voxel_is_found_where_it_was_cut_out_at_half_voxel_shifts(self):
        region = torch.rand((21, 21, 21), generator=torch.Generator().manual_seed(0))
        kernel = region[3:14:2, 4:15:2, 5:16:2]  # 6 samples, 2 voxels apart
        score = normalised_cross_correlation(region, kernel, dilation=2)
        self.assertEqual(tuple(score.shape), (11, 11, 11))
        self.assertEqual(np.unravel_index(int(score.argmax()), score.shape), (3, 4, 5))
        self.assertAlmostEqual(float(score.max()), 1.0, places=4)

    def test_every_shift_equals_the_correlation_computed_directly(self):
        generator = torch.Generator().manual_seed(1)
        for dilation, region_shape, kernel_shape in [(1, (9, 11, 10), (4, 5, 3)), (2, (13, 12, 11), (4, 3, 5)),
                                                     (3, (10, 10, 13), (3, 2, 4))]:
            region = torch.rand(region_shape, generator=generator)
            kernel = torch.rand(kernel_shape, generator=generator)
            score = normalised_cross_correlation(region, kernel, dilation)
            expected = np.empty([r - dilation * (k - 1) for r, k in zip(region_shape, kernel_shape)])
            k = kernel.double().numpy().ravel()
            for t in np.ndindex(*expected.shape):
                window = region.double().numpy()[tuple(slice(s, s + dilation * (n - 1) + 1, dilation)
                                                       for s, n in zip(t, kernel_shape))].ravel()
                expected[t] = np.corrcoef(window, k)[0, 1]
            np.testing.assert_allclose(score.numpy(), expected, atol=1e-4, err_msg=f"dilation {dilation}")


class NeighbourhoodMaskTest(unittest.TestCase):
    def test_the_mask_holds_exactly_the_voxels_within_the_radius_on_an_oblique_anisotropic_grid(self):
        import SimpleITK as sitk

        direction = axis_rotation((1.0, 2.0, 0.5), 30.0)
        volume = Volume(np.zeros((20, 24, 22), dtype=np.float32), spacing=(3.0, 4.0, 5.0), origin=(-40.0, 10.0, 5.0),
                        direction=tuple(direction.ravel()))
        points = volume.index_to_lps(np.array([[3.0, 4.0, 2.0], [15.0, 20.0, 12.0], [0.0, 23.0, 19.0]]))
        k, j, i = np.indices(volume.array.shape)
        voxels = volume.index_to_lps(np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1).astype(float))
        distance = np.min(np.linalg.norm(voxels[:, None] - points[None], axis=2), axis=1)
        expected = (distance <= 17.5).reshape(volume.array.shape)
        mask = sitk.GetArrayFromImage(_neighbourhood_mask(volume, points, 17.5))
        np.testing.assert_array_equal(mask.astype(bool), expected)
        self.assertEqual(_neighbourhood_mask(volume, points + 1000.0, 17.5).GetNumberOfPixels(), 0)


class PeakTest(unittest.TestCase):
    def test_the_peak_of_a_sampled_paraboloid_is_found_between_the_samples(self):
        sup, post, left = np.meshgrid(np.arange(7.0), np.arange(9.0), np.arange(5.0), indexing="ij")
        true_peak = np.array([2.3, 4.6, 3.2])  # (L, P, S)
        score = -((left - true_peak[0]) ** 2 + 2 * (post - true_peak[1]) ** 2 + 0.5 * (sup - true_peak[2]) ** 2)
        np.testing.assert_allclose(peak_position(torch.as_tensor(score)), true_peak, atol=1e-9)
        edge = torch.zeros((3, 3, 3), dtype=torch.float64)
        edge[0, 0, 2] = 1.0  # a maximum on the border stays on its sample
        np.testing.assert_array_equal(peak_position(edge), [2.0, 0.0, 0.0])


class LandmarkGroupsTest(unittest.TestCase):
    def test_single_linkage_groups(self):
        points = np.array([[0.0, 0, 0], [300.0, 0, 0], [60.0, 0, 0], [120.0, 0, 0]])
        self.assertEqual(landmark_groups(points, 80.0), [[0, 2, 3], [1]])
        self.assertEqual(landmark_groups(points, 10.0), [[0], [1], [2], [3]])


if __name__ == "__main__":
    unittest.main()
