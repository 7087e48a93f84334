"""The landmark baseline: affine registration of the template to the target (SimpleITK, Mattes mutual
information, multi-resolution), template landmarks mapped through the transform (METHODS section 6)."""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.io.markups_io import Landmark
from SPECTFewShotLib.landmarks.prnet.patches import normalised_counts_image
from SPECTFewShotLib.landmarks.sitk_registration import execute_reproducibly, sampling_seed
from SPECTFewShotLib.volume import Volume

log = logging.getLogger(__name__)

SHRINK_FACTORS = (4, 2, 1)
SMOOTHING_SIGMAS_VOXELS = (2.0, 1.0, 0.0)
HISTOGRAM_BINS = 32
SAMPLING_FRACTION = 0.25
ITERATIONS = 200


def register_affine(target: Volume, template: Volume, seed: int = 0):
    """Affine transform mapping target (fixed) LPS points to template (moving) LPS points."""
    import SimpleITK as sitk

    fixed, moving = normalised_counts_image(target), normalised_counts_image(template)
    initial = sitk.CenteredTransformInitializer(fixed, moving, sitk.AffineTransform(3),
                                                sitk.CenteredTransformInitializerFilter.MOMENTS)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=HISTOGRAM_BINS)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(SAMPLING_FRACTION, sampling_seed(seed))
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-3,
                                                    numberOfIterations=ITERATIONS, gradientMagnitudeTolerance=1e-6)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(SHRINK_FACTORS))
    method.SetSmoothingSigmasPerLevel(list(SMOOTHING_SIGMAS_VOXELS))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    method.SetInitialTransform(initial, inPlace=False)
    try:
        transform = execute_reproducibly(method, fixed, moving)
    except RuntimeError as error:
        raise InputError(f"affine registration failed ({str(error).strip().splitlines()[-1][:120]})") from None
    log.debug("affine registration: metric %.4f after %d iterations (%s)", method.GetMetricValue(),
              method.GetOptimizerIteration(), method.GetOptimizerStopConditionDescription())
    return transform


def register_landmarks(target: Volume, template: Volume, template_landmarks: Sequence[Landmark],
                       seed: int = 0) -> list[Landmark]:
    """Template landmarks carried to the target through the affine registration of template to target."""
    transform = register_affine(target, template, seed)
    inverse = transform.GetInverse()  # template (moving) points -> target (fixed) points
    return [Landmark(lm.label, tuple(float(v) for v in inverse.TransformPoint(tuple(map(float, lm.position_lps)))))
            for lm in template_landmarks]


def transform_points(transform, points_lps: np.ndarray) -> np.ndarray:
    """Apply a SimpleITK transform to LPS points (n, 3)."""
    return np.array([transform.TransformPoint(tuple(map(float, p))) for p in np.asarray(points_lps)])
