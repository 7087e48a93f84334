"""Stage 4: the LV-frame map from the template to the new study, refined on the counts around the LV.

Carrying in the LV frame (carry) maps the template's LV onto the new study's by their centres, axes, lengths,
radii and the roll where their counts agree. Each of those is estimated on each study separately, so a study and
a rotated copy of itself give frames a few degrees and millimetres apart (the wall found in the counts moves with
the voxel grid). Here the template's counts, first resampled onto the new study's grid through the frame map,
are aligned to the new study's by a similarity transform (rotation, translation, one scale), the metric the
correlation of the smoothed counts within `REGION_RADII` LV radii of the new study's LV (the wall and its
surroundings, not the rest of the body). The map stays the frame's in shape (the anisotropic length and radius
ratios); the similarity only corrects where the two LVs' counts say the frames disagree, and a correction that
moves a landmark by more than `MAX_CORRECTION_MM` is not used (a far optimum is another structure, not the LV).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..volume import Volume
from .carry import frame_axes
from .lv_frame import LVFrame
from .sitk_registration import execute_reproducibly

log = logging.getLogger(__name__)

REGION_RADII = 2.5  # the region compared: within this many LV radii of the new study's LV (its axis segment)
ITERATIONS = 120
SHRINK_FACTORS = (2, 1)
SMOOTHING_SIGMAS_VOXELS = (1.0, 0.0)
MAX_CORRECTION_MM = 20.0


@dataclass(frozen=True)
class FrameMap:
    """An affine map of template LPS points to the new study's: y = matrix @ x + offset."""

    matrix: np.ndarray
    offset: np.ndarray

    def __call__(self, points_lps: np.ndarray) -> np.ndarray:
        """Map LPS points (n, 3) of the template into the new study."""
        return np.asarray(points_lps, dtype=float) @ self.matrix.T + self.offset

    def inverse(self) -> FrameMap:
        """The map from the new study's points back to the template's."""
        inverse = np.linalg.inv(self.matrix)
        return FrameMap(inverse, -inverse @ self.offset)


def frame_map(template: LVFrame, target: LVFrame, roll_deg: float) -> FrameMap:
    """The affine map nearest `carry.carry_landmarks` (the template's frame to the target's, turned by `roll_deg`,
    lengths scaled by the LVs' apex-base lengths; carry's own map is piecewise along the axis): it resamples the
    template's counts for the alignment."""
    source_scale = np.array([template.radius_mm, template.radius_mm, template.length_mm])
    target_scale = np.array([target.radius_mm, target.radius_mm, target.length_mm])
    matrix = frame_axes(target, roll_deg) @ np.diag(target_scale / source_scale) @ frame_axes(template).T
    return FrameMap(matrix, target.geometry.center - matrix @ template.geometry.center)


def lv_region(volume: Volume, frame: LVFrame) -> np.ndarray:
    """Voxels [k, j, i] within `REGION_RADII` LV radii of the LV's axis segment (apex to base)."""
    k, j, i = np.indices(volume.array.shape)
    points = volume.index_to_lps(np.stack([i, j, k], axis=-1).reshape(-1, 3).astype(float))
    apex, base = frame.geometry.apex, frame.geometry.base
    along = np.clip((points - apex) @ (base - apex) / max(float((base - apex) @ (base - apex)), 1e-9), 0.0, 1.0)
    distance = np.linalg.norm(points - (apex + along[:, None] * (base - apex)), axis=1)
    return (distance <= REGION_RADII * frame.radius_mm).reshape(volume.array.shape)


def refine_map(volume: Volume, counts: np.ndarray, target: LVFrame, template_volume: Volume,
               template_counts: np.ndarray, initial: FrameMap) -> tuple[Callable[[np.ndarray], np.ndarray], float]:
    """How the counts around the LV say the frame map's points must move (see the module docstring): a function
    correcting points of the new study placed through `initial`, and the correlation reached (0..1; 0 when the
    alignment failed: the function then moves nothing)."""
    import SimpleITK as sitk

    fixed = volume.with_array(counts.astype(np.float32)).to_sitk()
    moving_image = template_volume.with_array(template_counts.astype(np.float32)).to_sitk()
    to_template = initial.inverse()
    pull = sitk.AffineTransform(3)
    pull.SetMatrix(tuple(to_template.matrix.ravel()))
    pull.SetTranslation(tuple(to_template.offset))
    moved = sitk.Resample(moving_image, fixed, pull, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    region = sitk.GetImageFromArray(lv_region(volume, target).astype(np.uint8))
    region.CopyInformation(fixed)
    similarity = sitk.Similarity3DTransform()
    similarity.SetCenter(tuple(map(float, target.geometry.center)))
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsCorrelation()
    method.SetMetricFixedMask(region)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=1e-3, numberOfIterations=ITERATIONS,
                                                    gradientMagnitudeTolerance=1e-6)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(SHRINK_FACTORS))
    method.SetSmoothingSigmasPerLevel(list(SMOOTHING_SIGMAS_VOXELS))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    method.SetInitialTransform(similarity, inPlace=True)
    try:
        execute_reproducibly(method, fixed, moved)
    except RuntimeError as error:
        log.info("the local alignment failed (%s); the frame map is kept", str(error).strip().splitlines()[-1][:80])
        return lambda points: np.asarray(points, dtype=float).reshape(-1, 3), 0.0
    correlation = float(np.clip(-method.GetMetricValue(), 0.0, 1.0))
    inverse = similarity.GetInverse()  # the pre-aligned template's points -> the new study's

    def corrected(points_lps: np.ndarray) -> np.ndarray:
        points = np.asarray(points_lps, dtype=float).reshape(-1, 3)
        return np.array([inverse.TransformPoint(tuple(map(float, p))) for p in points]).reshape(-1, 3)

    return corrected, correlation
