"""PRNet parts: network shapes, the R·tanh and reconstruction losses, input masking, patch geometry in LPS mm,
the fusion of several templates' placements, training that learns and is reproducible."""

import unittest

import numpy as np
import torch

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.io.markups_io import Landmark
from SPECTFewShotLib.landmarks.prnet.config import ScaleConfig
from SPECTFewShotLib.landmarks.prnet.network import PRNet, PRNetOutput, network_input
from SPECTFewShotLib.landmarks.prnet.patches import patch_offsets_mm, prepare_volume, sample_patches
from SPECTFewShotLib.research.prnet_training.config import TrainingConfig
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


class FusionTest(unittest.TestCase):
    def test_geometric_median_outvotes_one_stray_template(self):
        from SPECTFewShotLib.landmarks.fusion import (
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

        from SPECTFewShotLib.landmarks.fusion import geometric_median

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
