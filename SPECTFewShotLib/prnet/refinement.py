"""The last moves of the one-shot search, after PRNet has brought every landmark near its place.

PRNet's position vectors carry a landmark across studies to within about two centimetres (coarse model) but
not to millimetres: across anatomies its fine moves drift as often as they help (docs/prnet.md measures it).
Three local steps, which only work because PRNet's estimate is already close, finish the job:

1. `match_patches`: normalised cross-correlation of the template's counts around each landmark (a 68 mm cube)
   with the new volume's counts at every shift within ±24 mm of the estimate (4 mm steps), then ±7.5 mm (2.5 mm
   steps). It corrects the estimate's translation.
2. `register_neighbourhood`: an affine registration (SimpleITK, Mattes mutual information on every voxel near the
   landmarks, one thread (`execute_reproducibly`): reproducible, and a moved study gives a moved result) of the
   template onto the new volume that only looks at the voxels within 30 mm of the template's landmarks (of the
   `anchors` among them: the localiser anchors the LV's centre, apex and base when it has them), started from
   the median translation of the estimates and from each estimate's own translation (one start per 15 mm; the starts
   run at once, one thread each). It corrects what a translation cannot: a heart that is larger, smaller or tilted, and
   an estimate that went astray follows its group. Of the registrations that converged (moved the landmarks, median, at
   most 20 mm from their start), the ones under which the template's neighbourhood correlates best with the new volume
   win (softmax weights of the correlations: near ties are averaged); a second start rescues a group whose median start
   sat on a hot neighbour (gut, liver) the registration then slid into. Landmarks further apart than 80 mm in the
   template are registered in separate groups. A group without a converged registration keeps its matched positions,
   except an estimate more than 20 mm from the template's shape moved as one (by the median translation), which takes
   that place. With `inverse=True` each start registers the new volume onto the template instead, the metric on the
   template's own neighbourhood of its landmarks; the localiser runs both ways and averages them, or from three
   fused templates on the inverse way alone (localize.py). With `tilt_degrees` > 0 every start is also tried
   with the anchors' long axis tilted that far four ways around it (`start_rotations`): the localiser's second
   try where the two ways disagreed.
3. `match_warped_patches`: the patch matching once more (1 mm shifts, ±6 mm, a 58 mm cube sampled every 2 mm),
   with the template's patch resampled through the registration's linear part, for what an affine map of the
   whole neighbourhood leaves at each landmark.

All steps work on counts divided by their robust maximum (so units and injected activity do not matter) and
never change the volumes given. All settings were chosen on validation phantoms (seeds 900000-900063).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import Optional, Sequence

import numpy as np
import torch

from ..rotations import axis_rotation
from ..sitk_registration import execute_reproducibly, sampling_seed
from ..volume import Volume
from .correlation import normalised_cross_correlation, peak_position
from .patches import PreparedVolume, normalised_counts, normalised_counts_image, prepare_volume, sample_patches

log = logging.getLogger(__name__)

# Normalised counts of (volume, template), when the caller has them already (else each step computes them).
Counts = Optional[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class MatchingStage:
    """One patch-matching stage: sampling spacing (mm), template half-size and search half-range (voxels), and the
    shifts tried per voxel along each axis (2: every half voxel, the template's samples spread out to match)."""

    spacing_mm: float
    half_voxels: int
    search_voxels: int
    substeps: int = 1


MATCHING_STAGES = (MatchingStage(4.0, 8, 6), MatchingStage(2.5, 8, 3))
# After the registration: a 58 mm cube (42, 50, 58, 66, 74 mm tried on validation phantoms 900000-900063: LV
# centre/apex/base mean 5.5, 5.4, 5.0, 5.0, 5.3 mm), ±6 mm, shifted by 1 mm (2 mm shifts and the sub-step parabola
# made a landmark jump by up to 1 mm between a study and its translated copy).
WARPED_STAGE = MatchingStage(2.0, 14, 3, substeps=2)


# The forward registration (template onto volume) when the inverse one also runs: iterations per level and step
# relaxation.
LIGHT_ITERATIONS, LIGHT_RELAXATION = 150, 0.9
# From FUSED_TEMPLATES fused templates on, a registration starts only once, the inverse one stops once its step is
# below FUSED_MIN_STEP (instead of 1e-3), and the localiser runs the inverse one alone.
FUSED_TEMPLATES, FUSED_MAX_STARTS, FUSED_MIN_STEP = 3, 1, 0.01


@dataclass(frozen=True)
class RegistrationSettings:
    """The local affine registration of the landmarks' neighbourhood."""

    radius_mm: float = 30.0  # the metric looks at voxels this close to a landmark estimate (35 until stop 14)
    group_distance_mm: float = 80.0  # landmarks closer than this (single linkage) share one registration
    smoothing_mm: float = 2.0
    histogram_bins: int = 32
    sampling_fraction: float = 1.0  # 1: every voxel near the landmarks; less: random samples (less steady)
    iterations: int = 400
    learning_rate: float = 8.0  # the longest first step (mm); 2 and 4 tried: same iterations, 8 measured best
    relaxation_factor: float = 0.5  # the step is multiplied by this each time the gradient turns back
    shrink_factors: tuple[int, ...] = (2, 1)
    smoothing_voxels: tuple[float, ...] = (1.0, 0.0)
    start_separation_mm: float = 15.0  # a start translation this close to one already tried is not tried again
    max_starts: Optional[int] = None  # at most this many starts per group (None: every distinct one)
    gradient_image: bool = True  # ITK's gradient image of the whole moving image, else gradients at the samples
    min_step: float = 1e-3  # the optimiser stops when its step (in physical-shift units) falls below this
    max_move_mm: float = 20.0  # median move from its start beyond this: that registration diverged
    outlier_mm: float = 20.0  # unregistered: an estimate this far from the template's shape moved as one is replaced
    score_temperature: float = 0.03  # of the softmax over the converged registrations' correlations
    tilt_degrees: float = 0.0  # > 0: starts also tilted this far (`start_rotations`); the localiser's second try
    tilt_directions: int = 4
    seed: int = 0

    def for_placement(self, fused_templates: int, inverse: bool, both_ways: bool) -> RegistrationSettings:
        """The settings of one direction of one of `fused_templates` placements.

        The inverse registration (volume onto template) keeps these steps (the lighter steps below made it
        diverge) but takes ITK's gradients at its samples instead of a gradient image of the whole new volume:
        it converges in tens of iterations, so building that image cost more than it saved (validation phantoms,
        three templates, inverse alone: 0.38 -> 0.13 s per registration, LV centre / apex / base fused 3.28 /
        4.47 / 3.49 -> 2.88 / 4.69 / 2.79 mm). When it runs too, the forward one (template onto volume) is
        lighter: 150 iterations per level, the step shrinking by 0.9 instead of 0.5 when the gradient turns back
        (it runs to its cap either way). From three fused templates on, a registration starts only once, from
        the median translation: the fusion outvotes a placement gone astray (and the localiser then registers the
        inverse way alone), and the inverse one stops once its step falls below
        `FUSED_MIN_STEP` (validation, three templates fused: 2.88 / 4.69 / 2.79 -> 2.81 / 4.87 / 2.78 mm, single
        placements unchanged, 12 % less time per placement). Forward alone (`both_ways` off) keeps these settings.
        """
        if not both_ways:
            return self
        settings = replace(self, gradient_image=False) if inverse else replace(
            self, iterations=LIGHT_ITERATIONS, relaxation_factor=LIGHT_RELAXATION)
        if fused_templates < FUSED_TEMPLATES:
            return settings
        return replace(settings, max_starts=FUSED_MAX_STARTS, min_step=FUSED_MIN_STEP if inverse else self.min_step)


def match_patches(volume: Volume, template: Volume, estimates: np.ndarray, template_points: np.ndarray,
                  stages: Sequence[MatchingStage] = MATCHING_STAGES, counts: Counts = None) -> np.ndarray:
    """Estimates (n, 3) LPS moved to the best normalised cross-correlation of the template's patches."""
    estimates = np.array(estimates, dtype=float)
    volume_counts, template_counts = counts or (normalised_counts(volume), normalised_counts(template))
    for stage in stages:
        _match_stage(prepare_volume(volume, stage.spacing_mm, volume_counts),
                     prepare_volume(template, stage.spacing_mm, template_counts),
                     estimates, template_points, stage, [np.eye(3)] * len(estimates))
    return estimates


def _match_stage(volume_prepared: PreparedVolume, template_prepared: PreparedVolume, estimates: np.ndarray,
                 template_points: np.ndarray, stage: MatchingStage, matrices: Sequence[np.ndarray | None]) -> None:
    """Move each estimate (in place) to the NCC peak of the template's patch around its landmark, sampled through
    its matrix (volume -> template directions); an estimate whose matrix is None stays."""
    spacing = (stage.spacing_mm,) * 3
    side = 2 * stage.half_voxels + 1
    for index, matrix in enumerate(matrices):
        if matrix is None:
            continue
        kernel = sample_patches(template_prepared, template_points[index][None], (side,) * 3, spacing,
                                torch.as_tensor(matrix[None], dtype=torch.float32))[0]
        step, search = stage.spacing_mm / stage.substeps, stage.search_voxels * stage.substeps
        region = sample_patches(volume_prepared, estimates[index][None],
                                ((side - 1) * stage.substeps + 1 + 2 * search,) * 3, (step,) * 3)[0]
        score = normalised_cross_correlation(region, kernel, stage.substeps)
        estimates[index] += (peak_position(score) - search) * step


def landmark_groups(points: np.ndarray, distance_mm: float) -> list[list[int]]:
    """Indices of the points grouped by single linkage: a point joins a group when within `distance_mm` of one."""
    groups: list[list[int]] = []
    for index, point in enumerate(points):
        near = [g for g in groups if min(np.linalg.norm(points[other] - point) for other in g) <= distance_mm]
        merged = [index] + [i for g in near for i in g]
        groups = [g for g in groups if g not in near] + [sorted(merged)]
    return sorted(groups)


def register_neighbourhood(volume: Volume, template: Volume, estimates: np.ndarray, template_points: np.ndarray,
                           settings: RegistrationSettings = RegistrationSettings(), counts: Counts = None,
                           inverse: bool = False, anchors: Optional[np.ndarray] = None
                           ) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """Template points carried into `volume` by affine registrations of the neighbourhoods of the estimates, and
    for each point the linear part (3 x 3, `volume` -> template) of its registration (None where it was kept).

    Groups follow the template's geometry (which is right by definition). Each group is registered from several
    starts (`start_translations`, each also tilted by `start_rotations` when `settings.tilt_degrees` > 0); the
    converged registrations are averaged with `score_weights` of how well the
    template's neighbourhood correlates with the volume under each, so that neither one estimate gone astray nor
    a start next to a hot neighbour decides the result. `inverse`: each start registers `volume` onto the template
    instead, with the metric on the template's neighbourhood of its own landmarks (`_register_from`).
    `anchors` (one flag per point; None: all): the points whose neighbourhood the metric looks at; a group
    without an anchor uses all its points. The other points ride along with the group's transform.
    """
    import SimpleITK as sitk

    estimates = np.asarray(estimates, dtype=float)
    template_points = np.asarray(template_points, dtype=float)
    volume_counts, template_counts = counts or (normalised_counts(volume), normalised_counts(template))
    fixed = sitk.SmoothingRecursiveGaussian(normalised_counts_image(volume, volume_counts), settings.smoothing_mm)
    moving = sitk.SmoothingRecursiveGaussian(normalised_counts_image(template, template_counts),
                                             settings.smoothing_mm)
    placed = estimates.copy()
    linear: list[np.ndarray | None] = [None] * len(estimates)
    anchored = np.ones(len(template_points), dtype=bool) if anchors is None else np.asarray(anchors, dtype=bool)
    for group in landmark_groups(template_points, settings.group_distance_mm):
        points = template_points[group]
        mask_points = points[anchored[group]] if anchored[group].any() else points
        template_mask = _neighbourhood_mask(template, mask_points, settings.radius_mm)
        neighbourhood = _crop_to_mask(moving, template_mask) if template_mask.GetNumberOfPixels() else None
        translations = start_translations(points, estimates[group], settings.start_separation_mm)
        rotations = start_rotations(mask_points, settings.tilt_degrees, settings.tilt_directions)
        starts = [(translation, rotation) for translation in translations[:settings.max_starts]
                  for rotation in rotations]
        register = partial(_register_from, fixed, moving, volume, points, neighbourhood=neighbourhood,
                           settings=settings, template_mask=template_mask if inverse else None,
                           mask_points=mask_points)
        with ThreadPoolExecutor(max_workers=len(starts)) as pool:  # each start single-threaded: cores share them
            tried = list(pool.map(register, starts))
        converged = [result for result in tried if result is not None]
        if not converged:
            placed[group] = replace_outliers(points, estimates[group], settings.outlier_mm)
            continue
        weights = score_weights(np.array([score for score, _, _ in converged]), settings.score_temperature)
        placed[group] = sum(w * moved for w, (_, moved, _) in zip(weights, converged))
        matrix = sum(w * _linear_part(transform, moved[0]) for w, (_, moved, transform) in zip(weights, converged))
        for index in group:  # an affine map has one linear part for the whole group
            linear[index] = matrix
    return placed, linear


def _register_from(fixed, moving, volume: Volume, points: np.ndarray, start: tuple[np.ndarray, np.ndarray],
                   neighbourhood, settings: RegistrationSettings, template_mask=None,
                   mask_points: Optional[np.ndarray] = None) -> tuple[float, np.ndarray, object] | None:
    """One start of a group's registration: (correlation score, the template points carried into `volume`,
    transform `volume` -> template), or None when it failed or moved the points further than `settings.max_move_mm`.
    `start`: the translation (volume -> template) and the rotation (template -> volume directions, about the
    points' centroid) the registration starts from.

    With `template_mask` the registration runs the other way: `volume` onto the template, the metric summed over
    the template's neighbourhood of its own landmarks (`template_mask`) instead of the new volume's
    neighbourhood of the start. That neighbourhood is centred where the landmarks truly are, and it converges in
    tens of iterations where the forward registration runs to its cap. `mask_points` (template mm; None: `points`):
    the forward metric looks at the new volume's neighbourhood of these, moved by the start translation.
    """
    translation, rotation = start
    centre = points.mean(axis=0)

    def in_volume(template_points: np.ndarray) -> np.ndarray:  # where the start puts template points in `volume`
        return (template_points - centre) @ rotation.T + centre - translation

    started = in_volume(points)
    around = in_volume(points if mask_points is None else mask_points)
    try:
        if template_mask is None:
            transform = _register(fixed, moving, _neighbourhood_mask(volume, around, settings.radius_mm), started,
                                  translation, settings, rotation.T)
            to_volume = transform.GetInverse()
        else:
            to_volume = _register(moving, fixed, template_mask, points, -translation, settings, rotation)
            transform = to_volume.GetInverse()
    except RuntimeError as error:
        log.info("local registration failed (%s)", str(error).strip()[-120:])
        return None
    moved = np.array([to_volume.TransformPoint(tuple(map(float, p))) for p in points])
    if np.median(np.linalg.norm(moved - started, axis=1)) > settings.max_move_mm:
        log.info("local registration moved the landmarks further than %.0f mm from its start: dropped",
                 settings.max_move_mm)
        return None
    return _neighbourhood_correlation(fixed, neighbourhood, transform), moved, transform


def score_weights(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax weights of the registrations' scores: the best one wins clearly when it fits clearly better, and
    near ties share (a pick between them would flip, and move landmarks by millimetres, on a rounding difference)."""
    weights = np.exp((scores - scores.max()) / temperature)
    return weights / weights.sum()


def start_translations(template_points: np.ndarray, estimates: np.ndarray, separation_mm: float) -> list[np.ndarray]:
    """Translations (volume -> template) to start a group's registration from: the median of its estimates' (robust
    to one estimate gone astray), then each estimate's own, skipping any within `separation_mm` of one kept."""
    candidates = [np.median(template_points - estimates, axis=0), *(template_points - estimates)]
    kept: list[np.ndarray] = []
    for translation in candidates:
        if all(np.linalg.norm(translation - other) > separation_mm for other in kept):
            kept.append(translation)
    return kept


def start_rotations(points: np.ndarray, degrees: float, directions: int) -> list[np.ndarray]:
    """Rotations (template -> volume directions) to start a registration from: the identity, then, with `degrees`
    > 0, the points' long axis (their principal direction; for a single point, S) tilted by `degrees` towards
    `directions` directions evenly spread around it. A registration started untilted stays near its start, and a
    template whose LV lies more than about 15 degrees from the new study's then carries its apex off across the
    axis (validation phantoms: registrations started from the true axis, as an oracle, halved the gross failures)."""
    rotations = [np.eye(3)]
    if degrees <= 0 or directions < 1:
        return rotations
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    axis = np.array([0.0, 0.0, 1.0])
    if len(points) > 1 and np.ptp(points, axis=0).max() > 1e-6:
        axis = np.linalg.svd(points - points.mean(axis=0))[2][0]
    first = np.cross(axis, np.eye(3)[int(np.argmin(np.abs(axis)))])
    first /= np.linalg.norm(first)
    second = np.cross(axis, first)
    for number in range(directions):
        angle = 2 * np.pi * number / directions
        rotations.append(axis_rotation(np.cos(angle) * first + np.sin(angle) * second, degrees))
    return rotations


def replace_outliers(template_points: np.ndarray, estimates: np.ndarray, distance_mm: float) -> np.ndarray:
    """Estimates, except those further than `distance_mm` from the template's points moved as one by the median
    translation: those take that place (the template's shape is a better guess than a stray match)."""
    shape = template_points - np.median(template_points - estimates, axis=0)
    far = np.linalg.norm(estimates - shape, axis=1) > distance_mm
    return np.where(far[:, None], shape, estimates)


def _neighbourhood_correlation(fixed, neighbourhood, transform) -> float:
    """Correlation of the template's neighbourhood (image and mask, cropped) with the new volume sampled at the
    points the transform (volume -> template) maps onto it: the same template voxels score every start."""
    import SimpleITK as sitk

    if neighbourhood is None:
        return -1.0
    image, mask = neighbourhood
    inside = sitk.GetArrayViewFromImage(mask) > 0
    sampled = sitk.Resample(fixed, image, transform.GetInverse(), sitk.sitkLinear, 0.0)
    a = sitk.GetArrayViewFromImage(image)[inside].astype(float)
    b = sitk.GetArrayViewFromImage(sampled)[inside].astype(float)
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-12))


def match_warped_patches(volume: Volume, template: Volume, positions: np.ndarray, template_points: np.ndarray,
                         linear: Sequence[np.ndarray | None], stage: MatchingStage = WARPED_STAGE,
                         counts: Counts = None) -> np.ndarray:
    """Positions moved to the best NCC of the template's patch around each landmark, resampled through the
    registration's linear part (so that a tilted or larger heart looks the same); points without one stay."""
    positions = np.array(positions, dtype=float)
    volume_counts, template_counts = counts or (normalised_counts(volume), normalised_counts(template))
    _match_stage(prepare_volume(volume, stage.spacing_mm, volume_counts),
                 prepare_volume(template, stage.spacing_mm, template_counts),
                 positions, template_points, stage, linear)
    return positions


def _linear_part(transform, point: np.ndarray) -> np.ndarray:
    """The 3 x 3 linear part of an affine SimpleITK transform (the same at every point), by its action on unit
    steps from `point` (the registration returns a generic transform, without GetMatrix)."""
    origin = np.asarray(transform.TransformPoint(tuple(map(float, point))))
    columns = [np.asarray(transform.TransformPoint(tuple(map(float, point + step)))) - origin for step in np.eye(3)]
    return np.stack(columns, axis=1)


def _neighbourhood_mask(volume: Volume, points: np.ndarray, radius_mm: float):
    """A uint8 SimpleITK mask of the voxels within `radius_mm` of any of `points` (distances computed only in the
    index box that can hold them)."""
    import SimpleITK as sitk

    shape = np.asarray(volume.array.shape[::-1])  # (i, j, k)
    centres = volume.lps_to_index(np.asarray(points, dtype=float).reshape(-1, 3))
    reach = radius_mm / np.min(volume.spacing)  # in voxels along any axis, whatever the direction
    low = np.clip(np.floor(centres.min(axis=0) - reach), 0, shape).astype(int)
    high = np.clip(np.ceil(centres.max(axis=0) + reach) + 1, 0, shape).astype(int)
    near = np.zeros(volume.array.shape, dtype=bool)
    if np.all(high > low):
        i, j, k = (np.arange(a, b, dtype=float) for a, b in zip(low, high))
        kk, jj, ii = np.meshgrid(k, j, i, indexing="ij")
        box = volume.index_to_lps(np.stack([ii.ravel(), jj.ravel(), kk.ravel()], axis=1))
        inside = np.zeros(len(box), dtype=bool)
        for point in np.asarray(points, dtype=float).reshape(-1, 3):
            inside |= ((box - point) ** 2).sum(axis=1) <= radius_mm ** 2
        near[low[2]:high[2], low[1]:high[1], low[0]:high[0]] = inside.reshape(kk.shape)
    return volume.with_array(near.astype(np.uint8)).to_sitk() if near.any() else sitk.Image()


def _crop_to_mask(image, mask):
    """The image and the mask cropped to the mask's bounding box (plus one voxel), geometry kept."""
    import SimpleITK as sitk

    k, j, i = np.nonzero(sitk.GetArrayViewFromImage(mask))
    size = np.asarray(mask.GetSize())
    low = np.maximum(np.array([i.min(), j.min(), k.min()]) - 1, 0)
    high = np.minimum(np.array([i.max(), j.max(), k.max()]) + 1, size - 1)
    extent = [int(v) for v in high - low + 1]
    start = [int(v) for v in low]
    return sitk.RegionOfInterest(image, extent, start), sitk.RegionOfInterest(mask, extent, start)


def _register(fixed, moving, mask, fixed_points: np.ndarray, translation: np.ndarray,
              settings: RegistrationSettings, matrix: Optional[np.ndarray] = None):
    """Affine transform (fixed -> moving points) from a translation and a linear part (`matrix`, None: identity)
    centred on `fixed_points` (where the landmarks start in the fixed image), metric inside the mask (of the fixed
    image).

    The centre lies in the fixed image's space, by the neighbourhood: centred elsewhere, every rotation or scaling
    would also swing the neighbourhood through the lever arm between them, the optimiser's steps would depend on
    where the study lies in its own coordinates, and a translated copy of a study would register differently."""
    import SimpleITK as sitk

    if mask.GetNumberOfPixels() == 0:
        raise RuntimeError("no voxels near the landmarks")
    fixed, mask = _crop_to_mask(fixed, mask)  # samples are drawn from the fixed image: keep them near the mask
    initial = sitk.AffineTransform(3)
    initial.SetCenter(tuple(map(float, np.asarray(fixed_points, dtype=float).mean(axis=0))))
    if matrix is not None:
        initial.SetMatrix(tuple(float(value) for value in np.asarray(matrix, dtype=float).ravel()))
    initial.SetTranslation(tuple(map(float, translation)))
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=settings.histogram_bins)
    method.SetMetricFixedMask(mask)
    if settings.sampling_fraction < 1.0:
        method.SetMetricSamplingStrategy(method.RANDOM)
        method.SetMetricSamplingPercentage(settings.sampling_fraction, sampling_seed(settings.seed))
    else:  # every voxel near the landmarks: no random draw, so a moved study gives the same samples, moved
        method.SetMetricSamplingStrategy(method.NONE)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=settings.learning_rate, minStep=settings.min_step,
                                                    numberOfIterations=settings.iterations,
                                                    relaxationFactor=settings.relaxation_factor)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(settings.shrink_factors))
    method.SetSmoothingSigmasPerLevel(list(settings.smoothing_voxels))
    method.SetInitialTransform(initial, inPlace=False)
    method.SetMetricUseMovingImageGradientFilter(settings.gradient_image)
    return execute_reproducibly(method, fixed, moving)
