"""PRNet parts: network shapes, the R·tanh and reconstruction losses, input masking, patch geometry in LPS mm,
the coarse-to-fine search (with an analytic position network), training that learns and is reproducible."""

import unittest

import numpy as np
import torch

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.io.markups_io import Landmark
from SPECTFewShotLib.prnet.config import ScaleConfig, TrainingConfig
from SPECTFewShotLib.prnet.localize import Localizer, SearchSettings
from SPECTFewShotLib.prnet.network import PRNet, PRNetOutput, network_input
from SPECTFewShotLib.prnet.patches import patch_offsets_mm, prepare_volume, sample_patches
from SPECTFewShotLib.research.prnet_training.losses import distance_loss, predicted_offset_mm, reconstruction_loss
from SPECTFewShotLib.research.prnet_training.masking import mask_patches
from SPECTFewShotLib.research.prnet_training.training import train_scale
from SPECTFewShotLib.volume import Volume
from Testing.prnet_synthetic import synthetic_torso

TINY_3D = ScaleConfig("3d", 16, 1, 6.0, 6.0, (40.0, 40.0, 40.0), (30.0, 30.0, 30.0), (4, 8, 16))
TINY_25D = ScaleConfig("2.5d", 16, 5, 6.0, 6.0, (40.0, 40.0, 40.0), (30.0, 30.0, 30.0), (4, 8, 16))


def blob_volume(centre_lps, spacing=4.0, size=40, direction=(1, 0, 0, 0, 1, 0, 0, 0, 1), sigma_mm=8.0):
    """A Gaussian blob of counts at an LPS point, on a grid centred on (0, 0, 0)."""
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    origin = -d @ np.full(3, (size - 1) * spacing / 2)
    volume = Volume(np.zeros((size,) * 3, np.float32), (spacing,) * 3, tuple(origin), tuple(direction))
    k, j, i = np.indices((size,) * 3)
    lps = volume.index_to_lps(np.stack([i, j, k], -1).reshape(-1, 3).astype(float))
    r2 = ((lps - np.asarray(centre_lps)) ** 2).sum(axis=1)
    return volume.with_array((1000 * np.exp(-r2 / (2 * sigma_mm ** 2)) + 1).reshape((size,) * 3).astype(np.float32))


class NetworkAndLossTest(unittest.TestCase):
    def test_shapes_of_both_variants(self):
        for config in (TINY_3D, TINY_25D):
            model = PRNet(config).eval()
            patches = torch.rand(3, *config.patch_shape)
            out = model(network_input(patches, config))
            self.assertIsInstance(out, PRNetOutput)
            self.assertEqual(tuple(out.position.shape), (3, 3))
            self.assertEqual(tuple(out.reconstruction.shape), tuple(network_input(patches, config).shape))
            self.assertEqual(tuple(out.features.shape), (3, model.feature_dims))
            self.assertTrue(torch.allclose(model.embed(network_input(patches, config)), out.position, atol=1e-5))

    def test_range_times_tanh_loss(self):
        range_mm = torch.tensor([100.0, 50.0, 20.0])
        offset = torch.tensor([[30.0, -20.0, 5.0]])
        p1 = torch.zeros(1, 3)
        p0 = torch.atanh(offset / range_mm)
        self.assertTrue(torch.allclose(predicted_offset_mm(p0, p1, range_mm), offset, atol=1e-4))
        self.assertLess(float(distance_loss(p0, p1, offset, range_mm)), 1e-10)
        far = predicted_offset_mm(torch.full((1, 3), 50.0), p1, range_mm)
        self.assertTrue(torch.all(far <= range_mm))
        # In units of R: an error of 10 % of R on one axis costs (0.1)^2 / 3.
        wrong = torch.atanh((offset + torch.tensor([[10.0, 0.0, 0.0]])) / range_mm)
        self.assertAlmostEqual(float(distance_loss(wrong, p1, offset, range_mm)), 0.01 / 3, places=5)
        self.assertAlmostEqual(float(reconstruction_loss(torch.ones(2, 4), torch.zeros(2, 4))), 1.0)


class MaskingTest(unittest.TestCase):
    def test_blocks_mask_the_requested_fraction_along_every_axis(self):
        generator = torch.Generator().manual_seed(0)
        for shape in ((7, 32, 32), (16, 16, 16)):
            patches = torch.rand(6, *shape) + 0.5
            masked, masks = mask_patches(patches, 0.3, 0.25, generator)
            fractions = masks.flatten(1).float().mean(dim=1)
            self.assertTrue(torch.all(fractions >= 0.3), fractions)
            self.assertTrue(torch.all(fractions <= 0.6), fractions)
            self.assertTrue(torch.all(masked[masks] == 0))
            self.assertTrue(torch.equal(masked[~masks], patches[~masks]))
            for axis in (1, 2, 3):  # masks vary along each spatial axis: blocks, not whole slices or columns
                other = tuple(a for a in (1, 2, 3) if a != axis)
                profile = masks.float().mean(dim=other)
                self.assertTrue(torch.any(profile.max(dim=1).values - profile.min(dim=1).values > 0.05))
        _, none = mask_patches(torch.rand(2, 4, 8, 8), 0.0, 0.25, generator)
        self.assertFalse(none.any())


class PatchGeometryTest(unittest.TestCase):
    def test_patch_is_centred_on_an_lps_point_whatever_the_grid(self):
        point = np.array([12.0, -20.0, 16.0])
        grids = [dict(spacing=4.0, size=40), dict(spacing=6.0, size=28, direction=(1, 0, 0, 0, 1, 0, 0, 0, -1)),
                 dict(spacing=5.0, size=32, direction=(0, 1, 0, 1, 0, 0, 0, 0, -1))]
        patches = []
        for grid in grids:
            prepared = prepare_volume(blob_volume(point, **grid), 4.0)
            patch = sample_patches(prepared, point[None] + np.array([[8.0, 0.0, 0.0]]), (9, 9, 9), (4.0, 4.0, 4.0))[0]
            peak = np.unravel_index(int(torch.argmax(patch)), patch.shape)
            self.assertEqual(peak, (4, 4, 2))  # (S, P, L): the blob lies 8 mm = 2 voxels towards -L
            patches.append(patch.flatten().numpy())
        for other in patches[1:]:
            self.assertGreater(np.corrcoef(patches[0], other)[0, 1], 0.97)

    def test_offsets_are_lps_ordered(self):
        offsets = patch_offsets_mm((3, 5, 7), (2.0, 3.0, 4.0))
        self.assertEqual(tuple(offsets.shape), (3, 5, 7, 3))
        self.assertEqual(offsets[0, 0, 0].tolist(), [-6.0, -6.0, -4.0])
        self.assertEqual(offsets[2, 4, 6].tolist(), [6.0, 6.0, 4.0])


class AnalyticPRNet(torch.nn.Module):
    """p(x) = −(count-weighted centroid of the patch, mm from its centre) / R: exact relative positions."""

    def __init__(self, config: ScaleConfig) -> None:
        super().__init__()
        self.config = config
        self.offsets = patch_offsets_mm(config.patch_shape, config.patch_spacing)
        self.feature_dims = 3

    def embed(self, x):
        patches = x[:, 0] if self.config.variant == "3d" else x
        weights = patches.clamp_min(0) ** 2
        centroid = torch.einsum("ndhw,dhwc->nc", weights, self.offsets) / weights.flatten(1).sum(1, keepdim=True)
        return -centroid / torch.tensor(self.config.range_mm)

    def forward(self, x):
        position = self.embed(x)
        return PRNetOutput(position, x, torch.cat([position, torch.ones(len(x), 1)], dim=1))


def analytic_models(variant="3d"):
    slices = 1 if variant == "3d" else 15
    return {"coarse": AnalyticPRNet(ScaleConfig(variant, 16, slices, 8.0, 8.0, (100.0,) * 3, (100.0,) * 3,
                                                (4, 8, 16))),
            "fine": AnalyticPRNet(ScaleConfig(variant, 16, slices, 4.0, 4.0, (40.0,) * 3, (30.0,) * 3, (4, 8, 16)))}


class SearchTest(unittest.TestCase):
    def test_coarse_to_fine_search_finds_the_landmark_in_a_moved_volume_on_another_grid(self):
        offset = np.array([10.0, -6.0, 8.0])  # the landmark, relative to the blob
        template = blob_volume((-20.0, 10.0, 5.0))
        target = blob_volume((15.0, -8.0, -12.0), spacing=5.0, size=34, direction=(1, 0, 0, 0, 1, 0, 0, 0, -1))
        landmarks = [Landmark("near_blob", tuple(np.array([-20.0, 10.0, 5.0]) + offset)),
                     Landmark("at_blob", (-20.0, 10.0, 5.0))]
        search_only = SearchSettings(match_patches=False, register_neighbourhood=False)  # PRNet's own moves
        for variant in ("3d", "2.5d"):
            placed = Localizer(models=analytic_models(variant), device="cpu", settings=search_only).localize(
                target, template, landmarks)
            self.assertEqual([lm.label for lm in placed], ["near_blob", "at_blob"])
            expected = {"near_blob": np.array([15.0, -8.0, -12.0]) + offset, "at_blob": np.array([15.0, -8.0, -12.0])}
            for landmark in placed:
                error = np.linalg.norm(np.asarray(landmark.position_lps) - expected[landmark.label])
                self.assertLess(error, 1.5, f"{variant} {landmark.label}: {error:.2f} mm")
                self.assertTrue(0.0 <= landmark.confidence <= 1.0)

    def test_template_landmark_outside_the_template_volume_is_refused(self):
        template = blob_volume((0.0, 0.0, 0.0))
        with self.assertRaises(InputError) as caught:
            Localizer(models=analytic_models(), device="cpu").localize(
                template, template, [Landmark("far", (0.0, 0.0, 400.0))])
        self.assertIn("outside the template volume", str(caught.exception))
        with self.assertRaises(InputError):
            Localizer(models=analytic_models(), device="cpu").localize(template, template, [])


    def test_several_templates_report_progress_in_order_and_are_all_checked_first(self):
        target = blob_volume((15.0, -8.0, -12.0), spacing=5.0, size=34)
        templates = [(blob_volume(c), [Landmark("at_blob", c)]) for c in ((-20.0, 10.0, 5.0), (5.0, 0.0, -5.0))]
        localizer = Localizer(models=analytic_models(), device="cpu",
                              settings=SearchSettings(match_patches=False, register_neighbourhood=False))
        seen = []
        placed = localizer.localize_from_templates(target, templates, lambda f, m: seen.append((f, m)))
        fractions = [f for f, _ in seen]
        self.assertEqual(fractions, sorted(fractions))
        self.assertEqual(fractions[-1], 1.0)
        self.assertIn("template 2 of 2 placed", [m for _, m in seen])
        self.assertLess(np.linalg.norm(np.asarray(placed[0].position_lps) - (15.0, -8.0, -12.0)), 1.5)
        self.assertIn("median of 2 templates", placed[0].description)
        self.assertIsNotNone(placed[0].confidence)  # the two placements' agreement
        # a label only one template holds keeps that placement's own (feature) confidence
        extra = [(templates[0][0], [*templates[0][1], Landmark("only_here", (-20.0, 10.0, 15.0))]), templates[1]]
        with_extra = localizer.localize_from_templates(target, extra)
        self.assertEqual([lm.label for lm in with_extra], ["at_blob", "only_here"])
        self.assertTrue(all(0.0 <= lm.confidence <= 1.0 for lm in with_extra))
        from SPECTFewShotLib.prnet.fusion import fuse_landmarks
        from SPECTFewShotLib.threads import one_thread

        with one_thread():  # one placement after the other, single-threaded: exactly the same landmarks
            expected = fuse_landmarks([localizer.localize(target, *template) for template in templates])
        self.assertEqual([lm.position_lps for lm in placed], [lm.position_lps for lm in expected])
        stray = (blob_volume((0.0, 0.0, 0.0)), [Landmark("at_blob", (0.0, 0.0, 400.0))])
        seen.clear()
        with self.assertRaises(InputError):
            localizer.localize_from_templates(target, [templates[0], stray], lambda f, m: seen.append((f, m)))
        self.assertEqual(seen, [])  # refused before any template was searched

    def test_all_templates_are_placed_at_once_even_with_more_templates_than_cores(self):
        import threading
        from unittest import mock

        target = blob_volume((15.0, -8.0, -12.0), spacing=5.0, size=34)
        templates = [(blob_volume(c), [Landmark("at_blob", c)]) for c in ((-20.0, 10.0, 5.0), (5.0, 0.0, -5.0),
                                                                         (0.0, 5.0, 0.0))]
        localizer = Localizer(models=analytic_models(), device="cpu",
                              settings=SearchSettings(match_patches=False, register_neighbourhood=False))
        together = threading.Barrier(len(templates), timeout=20)  # broken unless all three placements overlap
        place = localizer._place

        def place_together(*args, **kwargs):
            together.wait()
            return place(*args, **kwargs)

        with mock.patch("torch.get_num_threads", return_value=2), \
                mock.patch.object(localizer, "_place", side_effect=place_together):
            placed = localizer.localize_from_templates(target, templates)
        self.assertIn("median of 3 templates", placed[0].description)

    def test_each_direction_gets_its_registration_settings(self):
        from dataclasses import replace

        from SPECTFewShotLib.prnet.refinement import (
            FUSED_MAX_STARTS,
            FUSED_MIN_STEP,
            LIGHT_ITERATIONS,
            LIGHT_RELAXATION,
            RegistrationSettings,
        )

        full = RegistrationSettings()
        self.assertTrue(full.gradient_image)
        for count in (1, 2, 3, 5):
            self.assertIs(full.for_placement(count, inverse=False, both_ways=False), full)  # forward alone: full
        for count in (1, 2):  # inverse: full steps, gradients at the samples
            self.assertEqual(full.for_placement(count, inverse=True, both_ways=True),
                             replace(full, gradient_image=False))
        self.assertEqual(full.for_placement(3, inverse=True, both_ways=True),
                         replace(full, max_starts=FUSED_MAX_STARTS, gradient_image=False, min_step=FUSED_MIN_STEP))
        self.assertGreater(FUSED_MIN_STEP, full.min_step)
        light = full.for_placement(1, inverse=False, both_ways=True)
        self.assertEqual((light.iterations, light.relaxation_factor, light.max_starts),
                         (LIGHT_ITERATIONS, LIGHT_RELAXATION, None))
        self.assertLess(light.iterations, full.iterations)
        self.assertGreater(light.relaxation_factor, full.relaxation_factor)
        self.assertEqual(full.for_placement(2, inverse=False, both_ways=True), light)
        fused = full.for_placement(3, inverse=False, both_ways=True)
        self.assertEqual(fused.max_starts, FUSED_MAX_STARTS)
        self.assertEqual((fused.iterations, fused.radius_mm), (LIGHT_ITERATIONS, full.radius_mm))

    def test_both_ways_are_registered_and_averaged_and_a_way_that_failed_gives_way(self):
        from dataclasses import replace
        from unittest import mock

        from SPECTFewShotLib.prnet import localize as localize_module
        from SPECTFewShotLib.prnet.fusion import agreement_confidence
        from SPECTFewShotLib.prnet.refinement import (
            FUSED_MAX_STARTS,
            FUSED_MIN_STEP,
            LIGHT_ITERATIONS,
            RegistrationSettings,
        )

        full = RegistrationSettings()
        target = blob_volume((15.0, -8.0, -12.0), spacing=5.0, size=34)
        template = blob_volume((0.0, 5.0, 0.0))
        landmarks = [Landmark("a", (0.0, 5.0, 0.0)), Landmark("b", (10.0, 5.0, 0.0)), Landmark("c", (0.0, 15.0, 0.0))]
        # forward: a and b registered; inverse: a and c registered; b and c only one way each
        ways = {False: (np.array([[10.0, 0, 0], [20.0, 0, 0], [30.0, 0, 0]]), [np.eye(3), np.eye(3), None]),
                True: (np.array([[14.0, 0, 0], [50.0, 0, 0], [36.0, 0, 0]]), [np.eye(3), None, np.eye(3)])}
        used = {}

        def record(volume, template, estimates, points, settings, counts=None, inverse=False, anchors=None):
            used.setdefault(inverse, []).append(settings)
            np.testing.assert_array_equal(anchors, [True, True, True])  # no LV labels here: every landmark
            return ways[inverse]

        def localizer(**kwargs):  # without the second try from global candidates (test_prnet_global_search.py)
            return Localizer(models=analytic_models(), device="cpu",
                             settings=SearchSettings(match_patches=False, global_candidates=0, **kwargs))

        with mock.patch.object(localize_module, "register_neighbourhood", side_effect=record), \
                mock.patch.object(localize_module, "match_warped_patches", side_effect=lambda v, t, placed, *a, **k:
                                  placed):
            placed = localizer().localize(target, template, landmarks)
            np.testing.assert_allclose([lm.position_lps for lm in placed], [[12.0, 0, 0], [20.0, 0, 0], [36.0, 0, 0]])
            # confidence: how far the two ways agree (4, 30 and 6 mm apart; an unregistered way's fallback counts)
            np.testing.assert_allclose([lm.confidence for lm in placed], agreement_confidence([4.0, 30.0, 6.0]))
            self.assertGreater(placed[0].confidence, 0.5)
            self.assertLess(placed[1].confidence, 0.05)
            # the flag travels with the point (its description, which Slicer's markups table and file keep)
            self.assertEqual(placed[0].description, f"confidence {placed[0].confidence:.2f}")
            self.assertEqual(placed[1].description,
                             f"confidence {placed[1].confidence:.2f} (low confidence: check this point)")
            self.assertEqual(used[False][0].iterations, LIGHT_ITERATIONS)
            self.assertEqual(used[True][0], replace(full, gradient_image=False))
            # b's two ways disagree (30 mm): both ways ran again, their starts also tilted
            tilt = SearchSettings().tilted_retry_degrees
            self.assertGreater(tilt, 0)
            self.assertEqual([settings.tilt_degrees for settings in used[False]], [0.0, tilt])
            self.assertEqual(used[True], [replace(full, gradient_image=False),
                                          replace(full, gradient_image=False, tilt_degrees=tilt)])
            used.clear()
            untilted = localizer(tilted_retry_degrees=0.0).localize(target, template, landmarks)
            np.testing.assert_allclose([lm.position_lps for lm in untilted], [lm.position_lps for lm in placed])
            self.assertEqual((len(used[False]), len(used[True])), (1, 1))
            used.clear()
            forward_only = localizer(both_ways=False).localize(target, template, landmarks)
            np.testing.assert_allclose([lm.position_lps for lm in forward_only], ways[False][0])
            self.assertEqual(list(used), [False])
            self.assertEqual(used[False][0], full)
            used.clear()
            localizer().localize_from_templates(target, [(template, landmarks)] * 2)  # two: both ways each
            self.assertEqual(len(used[False]), 4)  # and again, tilted
            self.assertEqual(sorted(used[True], key=lambda settings: settings.tilt_degrees),
                             [replace(full, gradient_image=False)] * 2
                             + [replace(full, gradient_image=False, tilt_degrees=tilt)] * 2)
            used.clear()
            fused = localizer().localize_from_templates(target, [(template, landmarks)] * 3)  # three: inverse only
            self.assertEqual(list(used), [True])
            self.assertEqual(used[True], [replace(full, max_starts=FUSED_MAX_STARTS, gradient_image=False,
                                                  min_step=FUSED_MIN_STEP)] * 3)
            np.testing.assert_allclose([lm.position_lps for lm in fused], ways[True][0])


    def test_the_tilted_second_try_is_kept_only_when_its_two_ways_agree_better(self):
        from unittest import mock

        from SPECTFewShotLib.prnet import localize as localize_module

        target = blob_volume((15.0, -8.0, -12.0), spacing=5.0, size=34)
        template = blob_volume((0.0, 5.0, 0.0))
        landmarks = [Landmark("a", (0.0, 5.0, 0.0)), Landmark("b", (10.0, 5.0, 0.0))]
        first = {False: np.array([[10.0, 0, 0], [20.0, 0, 0]]), True: np.array([[12.0, 0, 0], [40.0, 0, 0]])}
        closer = {False: np.array([[11.0, 0, 0], [30.0, 0, 0]]), True: np.array([[11.0, 0, 0], [33.0, 0, 0]])}
        apart = {False: np.array([[0.0, 0, 0], [20.0, 0, 0]]), True: np.array([[30.0, 0, 0], [25.0, 0, 0]])}

        def place(second):
            def register(volume, template, estimates, points, settings, counts=None, inverse=False, anchors=None):
                ways = second if settings.tilt_degrees > 0 else first
                return ways[inverse].copy(), [np.eye(3)] * len(estimates)

            with mock.patch.object(localize_module, "register_neighbourhood", side_effect=register), \
                    mock.patch.object(localize_module, "match_warped_patches",
                                      side_effect=lambda v, t, placed, *a, **k: placed):
                localizer = Localizer(models=analytic_models(), device="cpu",
                                      settings=SearchSettings(match_patches=False))
                return np.array([lm.position_lps for lm in localizer.localize(target, template, landmarks)])

        # b's ways are 20 mm apart: the second try brings them to 3 mm (kept), or 5 mm with a 30 mm apart (not)
        np.testing.assert_allclose(place(closer), [[11.0, 0, 0], [31.5, 0, 0]])
        np.testing.assert_allclose(place(apart), [[11.0, 0, 0], [30.0, 0, 0]])

    def test_a_landmark_that_neither_way_registered_gets_no_confidence(self):
        from unittest import mock

        from SPECTFewShotLib.prnet import localize as localize_module

        target = blob_volume((15.0, -8.0, -12.0), spacing=5.0, size=34)
        template = blob_volume((0.0, 5.0, 0.0))
        landmarks = [Landmark("a", (0.0, 5.0, 0.0)), Landmark("b", (10.0, 5.0, 0.0))]

        def register(volume, template, estimates, points, settings, counts=None, inverse=False, anchors=None):
            return np.array([[10.0, 0, 0], [20.0, 0, 0]]), [np.eye(3), None]  # b: neither way, same fallback

        with mock.patch.object(localize_module, "register_neighbourhood", side_effect=register), \
                mock.patch.object(localize_module, "match_warped_patches",
                                  side_effect=lambda v, t, placed, *a, **k: placed):
            placed = Localizer(models=analytic_models(), device="cpu", settings=SearchSettings(
                match_patches=False, global_candidates=0)).localize(target, template, landmarks)
        np.testing.assert_allclose([lm.position_lps for lm in placed], [[10.0, 0, 0], [20.0, 0, 0]])
        self.assertEqual([lm.confidence for lm in placed], [1.0, 0.0])  # b's two ways coincide only by falling back

    def test_the_lv_landmarks_anchor_the_registration_when_the_template_has_two_or_more(self):
        from unittest import mock

        from SPECTFewShotLib.prnet import localize as localize_module
        from SPECTFewShotLib.prnet.localize import registration_anchors

        labels = ["LV_center", "RV_insertion_anterior", "lv_apex", "LV_base", "septum"]
        np.testing.assert_array_equal(registration_anchors(labels), [True, False, True, True, False])
        np.testing.assert_array_equal(registration_anchors(["LV_apex", "LV_base"]), [True, True])
        np.testing.assert_array_equal(registration_anchors(["LV_apex", "RV_insertion_anterior", "x"]), [True] * 3)
        np.testing.assert_array_equal(registration_anchors(["a", "b"]), [True, True])
        np.testing.assert_array_equal(registration_anchors(labels, ()), [True] * 5)

        target = blob_volume((15.0, -8.0, -12.0), spacing=5.0, size=34)
        template = blob_volume((0.0, 5.0, 0.0))
        landmarks = [Landmark(label, (float(n), 5.0, 0.0)) for n, label in enumerate(["LV_apex", "RV", "LV_base"])]
        seen = []

        def record(volume, template, estimates, points, settings, counts=None, inverse=False, anchors=None):
            seen.append(np.asarray(anchors).tolist())
            return estimates, [np.eye(3)] * len(estimates)

        with mock.patch.object(localize_module, "register_neighbourhood", side_effect=record), \
                mock.patch.object(localize_module, "match_warped_patches", side_effect=lambda v, t, placed, *a, **k:
                                  placed):
            Localizer(models=analytic_models(), device="cpu",
                      settings=SearchSettings(match_patches=False)).localize(target, template, landmarks)
            self.assertEqual(seen, [[True, False, True]] * 2)  # both ways
            seen.clear()
            Localizer(models=analytic_models(), device="cpu", settings=SearchSettings(
                match_patches=False, anchor_labels=())).localize(target, template, landmarks)
            self.assertEqual(seen, [[True, True, True]] * 2)


class MatchingFreedomTest(unittest.TestCase):
    """The LV centre keeps the registration's position, the LV apex keeps the matching's move along the long axis,
    every other landmark keeps the whole move."""

    def test_projections_per_label_in_any_case(self):
        from SPECTFewShotLib.prnet.matching_freedom import keep_moves, move_projections

        labels = ["lv_center", "LV_APEX", "LV_base", "RV_insertion_anterior"]
        registered = np.array([[0.0, 0, 0], [0.0, 0, -40], [0.0, 0, 30], [25.0, 5, 0]])
        projections = move_projections(labels, registered)
        np.testing.assert_array_equal(projections[0], np.zeros((3, 3)))
        np.testing.assert_allclose(projections[1], np.diag([0.0, 0.0, 1.0]))  # base -> apex is the S axis
        np.testing.assert_array_equal(projections[2], np.eye(3))
        np.testing.assert_array_equal(projections[3], np.eye(3))
        moved = keep_moves(registered, registered + np.array([3.0, 4.0, 5.0]), projections)
        np.testing.assert_allclose(moved, [[0.0, 0, 0], [0.0, 0, -35], [3.0, 4, 35], [28.0, 9, 5]])
        # without a base the axis runs from the centre; tilted by 45 degrees in the L-S plane
        tilted = move_projections(["LV_apex", "LV_center"], np.array([[10.0, 0, 10], [0.0, 0, 0]]))[0]
        np.testing.assert_allclose(keep_moves(np.zeros((1, 3)), np.array([[2.0, 7.0, 0.0]]), [tilted]), [[1.0, 0, 1]])
        # an apex with neither (or on top of them) keeps the whole move
        np.testing.assert_array_equal(move_projections(["LV_apex", "x"], np.zeros((2, 3)))[0], np.eye(3))
        np.testing.assert_array_equal(move_projections(["LV_apex", "LV_base"], np.zeros((2, 3)))[0], np.eye(3))

    def test_the_apex_ends_on_the_placed_axis_offset_as_in_the_template(self):
        from SPECTFewShotLib.prnet.matching_freedom import apex_on_axis

        labels = ["LV_apex", "lv_base", "LV_CENTER", "RV"]
        placed = np.array([[4.0, -3.0, -40.0], [0.0, 0.0, 30.0], [0.0, 0.0, 0.0], [25.0, 5.0, 0.0]])
        on_a_line = np.array([[0.0, 0.0, -50.0], [0.0, 0.0, 40.0], [0.0, 0.0, 0.0], [30.0, 0.0, 0.0]])
        # the template's apex on its base-centre line: the apex keeps its distance along the placed axis (S)
        np.testing.assert_allclose(apex_on_axis(labels, placed, on_a_line), [[0.0, 0, -40], *placed[1:]])
        # a template apex 6 mm off its line: a turned and moved copy of the template keeps its apex exactly, and an
        # apex placed elsewhere keeps its distance along the axis and ends 6 mm from the placed line
        from SPECTFewShotLib.rotations import axis_rotation

        off_the_line = on_a_line.copy()
        off_the_line[0, 0] += 6.0
        copy = off_the_line @ axis_rotation((0.3, -0.5, 0.8), 70.0).T + [10.0, -20.0, 5.0]
        np.testing.assert_allclose(apex_on_axis(labels, copy, off_the_line), copy, atol=1e-9)
        moved = copy.copy()
        moved[0] += [3.0, -2.0, 4.0]
        result = apex_on_axis(labels, moved, off_the_line)
        axis = (copy[2] - copy[1]) / np.linalg.norm(copy[2] - copy[1])
        self.assertAlmostEqual(float((result[0] - copy[1]) @ axis), float((moved[0] - copy[1]) @ axis))
        across = result[0] - copy[1] - ((result[0] - copy[1]) @ axis) * axis
        self.assertAlmostEqual(float(np.linalg.norm(across)), 6.0)
        np.testing.assert_array_equal(result[1:], moved[1:])
        # without all three LV labels, or with base and centre on top of each other: unchanged
        np.testing.assert_array_equal(apex_on_axis(["LV_apex", "LV_base", "x", "RV"], placed, on_a_line), placed)
        centre_on_base = placed.copy()
        centre_on_base[2] = centre_on_base[1]
        np.testing.assert_array_equal(apex_on_axis(labels, centre_on_base, on_a_line), centre_on_base)

    def test_the_localizer_keeps_the_registered_centre_and_moves_the_apex_along_the_axis(self):
        from unittest import mock

        from SPECTFewShotLib.prnet import localize as localize_module

        target = blob_volume((15.0, -8.0, -12.0), spacing=5.0, size=34)
        template = blob_volume((0.0, 5.0, 0.0))
        labels = ["LV_center", "LV_apex", "LV_base", "RV"]
        landmarks = [Landmark(label, (float(n), 5.0, 0.0)) for n, label in enumerate(labels)]
        registered = np.array([[0.0, 0, 0], [0.0, 0, -40], [0.0, 0, 30], [25.0, 5, 0]])
        matched_with = []

        def register(volume, template, estimates, points, settings, counts=None, inverse=False, anchors=None):
            return registered.copy(), [np.eye(3)] * len(estimates)

        def match(volume, template, placed, points, linear, counts=None):
            matched_with.append([matrix is not None for matrix in linear])
            return placed + np.array([3.0, 4.0, 5.0])

        def place(**kwargs):
            localizer = Localizer(models=analytic_models(), device="cpu",
                                  settings=SearchSettings(match_patches=False, **kwargs))
            return np.array([lm.position_lps for lm in localizer.localize(target, template, landmarks)])

        with mock.patch.object(localize_module, "register_neighbourhood", side_effect=register), \
                mock.patch.object(localize_module, "match_warped_patches", side_effect=match):
            # the apex moved 5 mm along the axis to (0, 0, -35), then onto the line through the matched base
            # (3, 4, 35) and the centre (0, 0, 0), as the template's four points lie on one line: -0.98 x (3, 4, 35)
            np.testing.assert_allclose(place(), [[0.0, 0, 0], [-2.94, -3.92, -34.3], [3.0, 4, 35], [28.0, 9, 5]])
            self.assertEqual(matched_with, [[False, True, True, True]] * 2)  # the centre is not matched, both ways
            np.testing.assert_allclose(place(lv_shape_moves=False), registered + np.array([3.0, 4.0, 5.0]))
            # three fused templates run the inverse way alone: the apex stays where the matching put it
            localizer = Localizer(models=analytic_models(), device="cpu", settings=SearchSettings(match_patches=False))
            fused = localizer.localize_from_templates(target, [(template, landmarks)] * 3)
            np.testing.assert_allclose([lm.position_lps for lm in fused],
                                       [[0.0, 0, 0], [0.0, 0, -35], [3.0, 4, 35], [28.0, 9, 5]], atol=1e-6)


class FusionTest(unittest.TestCase):
    def test_geometric_median_outvotes_one_stray_template(self):
        from SPECTFewShotLib.prnet.fusion import (
            AGREEMENT_MM,
            LOW_CONFIDENCE,
            agreement_confidence,
            confidence_note,
            fuse_landmarks,
            low_confidence_labels,
        )

        placements = [[Landmark("LV_apex", (0.0, 0.0, 0.0), 0.9), Landmark("LV_base", (10.0, 0.0, 0.0), 0.8)],
                      [Landmark("LV_apex", (2.0, -1.0, 4.0), 0.5), Landmark("LV_base", (12.0, 2.0, 0.0), 0.6)],
                      [Landmark("LV_apex", (90.0, 50.0, -60.0), 0.1), Landmark("RV_insertion", (5.0, 5.0, 5.0))]]
        fused = fuse_landmarks(placements)
        self.assertEqual([lm.label for lm in fused], ["LV_apex", "LV_base", "RV_insertion"])
        apex, base, rv = fused
        # the stray third placement cannot pull the apex out of the ball whose diameter joins the other two: the
        # result sees them at 120 degrees
        first, second = np.array([0.0, 0.0, 0.0]), np.array([2.0, -1.0, 4.0])
        position = np.array(apex.position_lps)
        self.assertLess(np.linalg.norm(position - (first + second) / 2), np.linalg.norm(second - first) / 2)
        to_first, to_second = first - position, second - position
        angle = np.degrees(np.arccos(to_first @ to_second / np.linalg.norm(to_first) / np.linalg.norm(to_second)))
        self.assertAlmostEqual(angle, 120.0, places=3)
        # confidence: how far the placements agree, twice their median distance from the fused point
        spread = 2 * np.median([np.linalg.norm(p - position) for p in (first, second, np.array([90.0, 50, -60]))])
        self.assertAlmostEqual(apex.confidence, float(agreement_confidence(spread)))
        self.assertAlmostEqual(apex.confidence, 0.33, places=2)
        self.assertIn("median of 3 templates", apex.description)
        self.assertIn("confidence 0.33", apex.description)
        farther = [placed[:] for placed in placements]  # the outvoted stray further out: same confidence
        farther[2][0] = Landmark("LV_apex", tuple(position + 10 * (np.array([90.0, 50, -60]) - position)), 0.1)
        self.assertAlmostEqual(fuse_landmarks(farther)[0].confidence, apex.confidence)
        self.assertEqual(base.position_lps, (11.0, 1.0, 0.0))  # two placements: their mean
        self.assertAlmostEqual(base.confidence, 1 / (1 + 8 / AGREEMENT_MM ** 2))  # 2.83 mm apart
        self.assertAlmostEqual(float(agreement_confidence(AGREEMENT_MM)), 0.5)
        self.assertAlmostEqual(float(agreement_confidence(0.0)), 1.0)
        # below LOW_CONFIDENCE (placements more than 10 mm apart) a landmark is flagged where it is printed
        self.assertAlmostEqual(float(agreement_confidence(10.0)), LOW_CONFIDENCE)
        self.assertIn("check this point", confidence_note(0.19))
        self.assertEqual((confidence_note(0.2), confidence_note(None)), ("", ""))
        self.assertEqual(low_confidence_labels([Landmark("a", (0.0, 0, 0), 0.1), Landmark("b", (0.0, 0, 0), 0.9),
                                                Landmark("c", (0.0, 0, 0))]), ["a"])
        self.assertEqual((rv.position_lps, rv.confidence, rv.description), ((5.0, 5.0, 5.0), None, ""))
        self.assertEqual(base.description, f"confidence {base.confidence:.2f}, median of 2 templates")
        apart = fuse_landmarks([[Landmark("LV_apex", (0.0, 0.0, 0.0), 0.9)], [Landmark("LV_apex", (20.0, 0, 0), 0.9)]])
        self.assertEqual(apart[0].description, "confidence 0.06 (low confidence: check this point), "
                                               "median of 2 templates")
        with self.assertRaises(InputError):
            fuse_landmarks([])

    def test_geometric_median_minimises_the_summed_distance_whatever_the_axes(self):
        from scipy.optimize import minimize

        from SPECTFewShotLib.prnet.fusion import geometric_median

        rng = np.random.default_rng(3)
        for case in range(60):
            points = rng.normal(size=(int(rng.integers(3, 6)), 3)) * rng.uniform(1.0, 30.0)
            if case % 5 == 0:
                points[1] = points[0]  # two templates agree exactly
            found = geometric_median(points)
            summed = lambda y, p=points: np.linalg.norm(p - y, axis=1).sum()  # noqa: E731
            best = minimize(summed, points.mean(axis=0), method="Nelder-Mead",
                            options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 40000})
            self.assertLessEqual(summed(found), best.fun + 1e-6)
            rotation = np.linalg.qr(rng.normal(size=(3, 3)))[0]  # the patient axes play no part
            np.testing.assert_allclose(geometric_median(points @ rotation.T), found @ rotation.T, atol=1e-4)
        obtuse = np.array([[0.0, 0.0, 0.0], [10.0, 1.0, 0.0], [-10.0, 1.0, 0.0]])  # 169 degrees at the first
        np.testing.assert_array_equal(geometric_median(obtuse), obtuse[0])
        triangle = np.array([[1.0, 0.0, 0.0], [-0.5, np.sqrt(0.75), 0.0], [-0.5, -np.sqrt(0.75), 0.0]])
        np.testing.assert_allclose(geometric_median(triangle), 0.0, atol=1e-6)


class TrainingTest(unittest.TestCase):
    def test_training_learns_relative_positions_and_is_reproducible(self):
        torch.set_num_threads(1)
        volumes = [synthetic_torso(seed, size=32, spacing=7.0)[0] for seed in range(2)]
        config = ScaleConfig("2.5d", 16, 5, 6.0, 6.0, (40.0, 40.0, 40.0), (30.0, 30.0, 30.0), (8, 16, 32))
        training = TrainingConfig(steps=150, groups_per_batch=2, patches_per_group=8, learning_rate=5e-3, seed=3)
        _, history = train_scale(volumes, config, training, log_every=50)
        # Pair offset error (mm) of the first 50 steps vs the last 50 (about 19 -> 15 mm when it learns).
        self.assertLess(history[-1]["err_mm"], 0.85 * history[0]["err_mm"], history)
        short = TrainingConfig(**{**training.__dict__, "steps": 5})
        again, _ = train_scale(volumes, config, short, log_every=5)
        once_more, _ = train_scale(volumes, config, short, log_every=5)
        for a, b in zip(again.state_dict().values(), once_more.state_dict().values()):
            self.assertTrue(torch.equal(a, b))

    def test_scales_trained_in_parallel_processes_equal_a_sequential_run(self):
        from SPECTFewShotLib.research.commands.train_prnet import _train_scales_in_parallel

        torch.set_num_threads(1)
        volumes = [synthetic_torso(seed, size=32, spacing=7.0)[0] for seed in range(2)]
        scales = {"coarse": ScaleConfig("2.5d", 16, 3, 12.0, 12.0, (80.0,) * 3, (80.0,) * 3, (4, 8, 16),
                                        whole_body=True),
                  "fine": ScaleConfig("2.5d", 16, 3, 6.0, 6.0, (30.0,) * 3, (20.0,) * 3, (4, 8, 16))}
        training = {name: TrainingConfig(steps=4, groups_per_batch=2, patches_per_group=4, seed=1) for name in scales}
        parallel, histories = _train_scales_in_parallel(volumes, scales, training, threads=1)
        for name in scales:
            sequential, _ = train_scale(volumes, scales[name], training[name])
            self.assertEqual(len(histories[name]), 1)
            for key, value in sequential.state_dict().items():
                self.assertTrue(torch.equal(value, parallel[name].state_dict()[key]), f"{name}.{key}")


if __name__ == "__main__":
    unittest.main()
