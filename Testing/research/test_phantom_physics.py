"""Phantom physics: collimator blur grows with distance as modelled, attenuation follows exp(-mu x), counts scale
and are Poisson, OSEM recovers a known object, and image noise falls with the square root of the counts."""

import unittest

import numpy as np
import torch

from SPECTFewShotLib.research.phantom import PhantomConfig, generate_study
from SPECTFewShotLib.research.phantom.physics.acquisition import acquire
from SPECTFewShotLib.research.phantom.physics.projector import (
    FWHM_PER_SIGMA,
    CollimatorResolution,
    ProjectionGeometry,
    Projector,
)
from SPECTFewShotLib.research.phantom.reconstruction import osem

_THREADS = []


def setUpModule():
    # the projector runs many small operations: one thread (as generate_study does) avoids stalls on busy cores
    _THREADS.append(torch.get_num_threads())
    torch.set_num_threads(1)


def tearDownModule():
    torch.set_num_threads(_THREADS.pop())


ANTERIOR = -np.pi / 2  # detector in front of the patient: rotation maps voxels exactly (no interpolation)
VOXEL = 4.0
SHAPE = (16, 48, 48)  # (k, j, i)


def single_view(radius_mm=150.0):
    return ProjectionGeometry(np.array([ANTERIOR]), np.array([radius_mm]), VOXEL, SHAPE)


def point_source(j, i=24, k=8):
    image = np.zeros(SHAPE, dtype=np.float32)
    image[k, j, i] = 1.0
    return torch.from_numpy(image)


def widths(projection):
    """Standard deviations (mm) of a projection [k, t] along t and k, from second moments."""
    p = projection.numpy().astype(float)
    t = np.arange(p.shape[1]) * VOXEL
    k = np.arange(p.shape[0]) * VOXEL
    pt, pk = p.sum(axis=0), p.sum(axis=1)
    sd_t = np.sqrt((pt * t**2).sum() / pt.sum() - ((pt * t).sum() / pt.sum()) ** 2)
    sd_k = np.sqrt((pk * k**2).sum() / pk.sum() - ((pk * k).sum() / pk.sum()) ** 2)
    return sd_t, sd_k


class CollimatorBlurTest(unittest.TestCase):
    def test_point_spread_matches_the_resolution_model_at_every_depth(self):
        resolution = CollimatorResolution.with_fwhm_at(10.0, 150.0, intrinsic_mm=3.8, offset_mm=35.0)
        projector = Projector(single_view(), None, resolution, slabs=8)
        measured = []
        for j in (3, 15, 27, 39):  # one point per depth slab of 6 voxels (depth 0 faces the detector)
            slab_centre = (j // 6) * 6 + 2.5
            distance = 150.0 - ((SHAPE[1] - 1) / 2.0 - slab_centre) * VOXEL
            expected = float(resolution.fwhm(distance)) / FWHM_PER_SIGMA
            sd_t, sd_k = widths(projector.forward(point_source(j), np.array([0]))[0])
            self.assertAlmostEqual(sd_t, expected, delta=0.05 * expected)
            self.assertAlmostEqual(sd_k, expected, delta=0.05 * expected)
            measured.append(sd_t)
        self.assertTrue(np.all(np.diff(measured) > 0), f"blur must grow with distance: {measured}")

    def test_czt_resolution_is_finer_and_flatter_than_parallel_hole(self):
        lehr = CollimatorResolution.with_fwhm_at(12.0, 200.0, intrinsic_mm=3.8, offset_mm=35.0)
        czt = CollimatorResolution.with_fwhm_at(6.0, 200.0, intrinsic_mm=2.5, offset_mm=150.0)
        self.assertAlmostEqual(float(lehr.fwhm(200.0)), 12.0, places=6)
        self.assertLess(float(czt.fwhm(100.0)), float(lehr.fwhm(100.0)))
        self.assertLess(float(czt.fwhm(300.0) - czt.fwhm(100.0)), float(lehr.fwhm(300.0) - lehr.fwhm(100.0)))


class AttenuationTest(unittest.TestCase):
    def test_counts_fall_as_exp_minus_mu_times_depth(self):
        mu = np.full(SHAPE, 0.015, dtype=np.float32)
        projector = Projector(single_view(), mu, None, slabs=8)
        near = float(projector.forward(point_source(5), np.array([0])).sum())
        far = float(projector.forward(point_source(25), np.array([0])).sum())
        self.assertAlmostEqual(near, np.exp(-0.015 * VOXEL * 5.5), places=4)
        self.assertAlmostEqual(far / near, np.exp(-0.015 * VOXEL * 20), places=4)


class CountsTest(unittest.TestCase):
    def setUp(self):
        angles = np.radians(np.linspace(-135, 45, 12, endpoint=False))
        self.geometry = ProjectionGeometry(angles, np.full(12, 150.0), VOXEL, SHAPE)
        image = np.zeros(SHAPE, dtype=np.float32)
        image[4:12, 14:34, 14:34] = 1.0
        self.image = image
        self.projector = Projector(self.geometry, None, CollimatorResolution.with_fwhm_at(9.0, 150.0, 3.8, 35.0))

    def test_expected_counts_equal_the_requested_total_and_noise_is_poisson(self):
        expected = acquire(self.projector, self.image, 2e6, 0.3, 50.0, None)
        self.assertAlmostEqual(float(expected.counts.sum(dtype=np.float64)), 2e6, delta=2.0)
        self.assertGreater(float(expected.scatter.sum()), 0.1 * 2e6)
        noisy = acquire(self.projector, self.image, 2e6, 0.3, 50.0, np.random.default_rng(0))
        self.assertTrue(np.all(noisy.counts == np.round(noisy.counts)))
        self.assertAlmostEqual(float(noisy.counts.sum()), 2e6, delta=4 * np.sqrt(2e6))
        busy = expected.counts > 50
        z = (noisy.counts[busy] - expected.counts[busy]) / np.sqrt(expected.counts[busy])
        self.assertAlmostEqual(float(z.var()), 1.0, delta=0.1)  # variance equals the mean

    def test_osem_recovers_a_noise_free_object(self):
        projections = acquire(self.projector, self.image, 1e7, 0.0, 50.0, None)
        recon = osem(self.projector, projections.counts, iterations=10, subsets=3)
        normalised = recon / projections.scale  # OSEM estimates the activity in the projections' units
        self.assertLess(abs(normalised[6:10, 20:28, 20:28].mean() - 1.0), 0.05)
        self.assertLess(normalised[:, :6, :].mean(), 0.05)  # nothing where there is no activity

    def test_back_projector_is_close_to_the_transpose(self):
        rng = np.random.default_rng(1)
        x = torch.from_numpy(rng.uniform(size=SHAPE).astype(np.float32))
        y = torch.from_numpy(rng.uniform(size=(12, SHAPE[0], SHAPE[2])).astype(np.float32))
        views = np.arange(12)
        lhs = float((self.projector.forward(x, views) * y).sum())
        rhs = float((x * self.projector.back(y, views)).sum())
        self.assertAlmostEqual(lhs / rhs, 1.0, delta=0.03)


class MotionTest(unittest.TestCase):
    def test_cardiac_blur_stays_in_the_heart_and_breathing_blurs_along_z_only(self):
        from SPECTFewShotLib.research.phantom.anatomy import LABEL_VALUES
        from SPECTFewShotLib.research.phantom.motion import Motion, blurred_by_motion

        labels = np.zeros((40, 40, 40), dtype=np.uint8)
        labels[15:25, 15:25, 15:25] = LABEL_VALUES["LV_myocardium"]
        labels[:, :, 30:] = LABEL_VALUES["liver"]
        activity = np.where(labels > 0, 1.0, 0.0).astype(np.float32)
        beating = blurred_by_motion(activity, labels, 4.0, Motion(8.0, 0.0))
        np.testing.assert_array_equal(beating[:, :, 30:], activity[:, :, 30:])  # liver untouched
        self.assertAlmostEqual(float(beating.sum()), float(activity.sum()), delta=1e-3 * activity.sum())
        self.assertLess(beating[20, 20, 15], 0.9)  # the heart's edge is blurred
        breathing = blurred_by_motion(activity, labels, 4.0, Motion(0.0, 12.0))
        np.testing.assert_allclose(breathing[20, 20, :], activity[20, 20, :], atol=1e-3)  # in-plane: unchanged
        self.assertLess(breathing[15, 20, 20], 0.9)  # the heart's top edge moves with breathing


class StudyNoiseTest(unittest.TestCase):
    def test_image_noise_falls_with_the_square_root_of_counts(self):
        base = dict(matrix=32, slices=24, voxel_mm=7.0, views=12, iterations=2, subsets=3, supersample=1,
                    camera="parallel", post_filter_fwhm_mm=0.0)
        clean = generate_study(3, PhantomConfig(**base, counts=1e6, noise=False)).image.array
        noise = []
        for counts in (1e5, 1e6):
            image = generate_study(3, PhantomConfig(**base, counts=counts)).image.array * (1e6 / counts)
            body = clean > 0.2 * clean.max()
            noise.append(float(np.std((image - clean)[body]) / clean[body].mean()))
        ratio = noise[0] / noise[1]
        self.assertGreater(ratio, 0.6 * np.sqrt(10))
        self.assertLess(ratio, 1.4 * np.sqrt(10))


if __name__ == "__main__":
    unittest.main()
