"""The template's LV wall fitted to the study's one-shot wall (issue 35, helper N: the one-shot frame's axis).

The one-shot wall of patient001 (template patient003) has a partial arc past its base and voxels curled into its
ring on one side of the base; the revolution-axis fit leans into them (one_shot_frame_axis_steady.txt). Here the
template's own wall says where the axis is: the template's wall points are fitted to the study's wall points by a
similarity transform (rotation, translation, one scale) with an optional stretch along the template's long axis
(LVs differ in length), initialised by the map from the template's LV frame to the study's one-shot frame
(local_alignment.frame_map's shape: rotation from the frames' axes, radius and length ratios, turned by the roll at
which the counts agree). The criterion is robust: a trimmed iterative closest point fit (each round pairs every
study wall point with its nearest fitted template point and, with `both`, every template point with its nearest
study point, and refits on the `keep` share of each direction's pairs nearest each other), so the study's voxels
that the template's shape has no place for (an arc past the base, a curl on one side) are left out of the fit
instead of pulling it. The share kept falls from all to `keep` in `STAGES` stages: trimmed from the start, the fit
keeps the pairs that agree with where it starts and hardly turns. `fitted_frame` then maps the template's frame
through the fit; one_shot_variants composes the study's frame from it ("fit-..." variants).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

KEEP = 0.8  # share of the study's wall points (nearest the fitted template wall) the fit is made on
ROUNDS = 40  # closest-point rounds per stage at most
STAGES = 5  # the share kept goes from all the pairs to `KEEP` in this many stages (a fit trimmed from the start
# keeps the pairs that agree with where it starts and does not turn)
STRETCH_RANGE = (0.5, 2.0)  # the stretch along the template's axis (relative to the scale across it) stays here
CONVERGED_MM = 1e-3  # stop when the fitted template's points move less than this (largest move)


@dataclass(frozen=True)
class WallFit:
    """y = offset + scale * rotation @ stretched(x - centre), stretched: the component along the template's unit
    `axis` times `stretch`; `error_mm`: the root mean square distance of the kept pairs."""

    rotation: np.ndarray
    scale: float
    stretch: float
    centre: np.ndarray
    axis: np.ndarray
    offset: np.ndarray
    error_mm: float = 0.0

    def linear(self) -> np.ndarray:
        """The 3x3 matrix of the map (without its offset)."""
        stretched = np.eye(3) + (self.stretch - 1.0) * np.outer(self.axis, self.axis)
        return self.scale * self.rotation @ stretched

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Template LPS points (n, 3) or one point (3,) mapped into the study."""
        points = np.asarray(points, dtype=float)
        return (points - self.centre) @ self.linear().T + self.offset

    def direction(self, vector: np.ndarray) -> np.ndarray:
        """A template direction mapped into the study, unit length."""
        mapped = self.linear() @ np.asarray(vector, dtype=float)
        return mapped / np.linalg.norm(mapped)


def similarity(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Umeyama's least-squares similarity of paired points (n, 3): rotation, scale, translation with target ~ scale *
    rotation @ source + translation."""
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    a, b = source - source_mean, target - target_mean
    u, singular, vt = np.linalg.svd(b.T @ a / len(source))
    sign = np.ones(3)
    sign[2] = np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0
    rotation = u @ np.diag(sign) @ vt
    variance = float((a * a).sum() / len(source))
    scale = float((singular * sign).sum() / variance) if variance > 0 else 1.0
    return rotation, scale, target_mean - scale * rotation @ source_mean


def fit_wall(template_points: np.ndarray, centre: np.ndarray, axis: np.ndarray, study_points: np.ndarray,
             initial: WallFit | None = None, keep: float = KEEP, stretch: bool = True, rounds: int = ROUNDS,
             both: bool = False) -> WallFit:
    """The template's wall points (n, 3) fitted to the study's (m, 3), about the template's `centre` and unit long
    `axis`, from `initial` (identity when None) by trimmed closest points (see the module docstring); `stretch`:
    also fit a stretch along the axis (`STRETCH_RANGE`); `both`: the template's points also paired with their
    nearest study point (trimmed alike), so the template's wall must be covered as well as the study's."""
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    centre = np.asarray(centre, dtype=float)
    fit = initial or WallFit(np.eye(3), 1.0, 1.0, centre, axis, centre)
    fit = WallFit(fit.rotation, fit.scale, fit.stretch, centre, axis, fit.offset)
    relative = np.asarray(template_points, dtype=float) - centre
    along = relative @ axis
    across = relative - along[:, None] * axis
    study_points = np.asarray(study_points, dtype=float)
    placed = fit(template_points)
    error = 0.0
    study_tree = cKDTree(study_points) if both else None
    shares = np.linspace(1.0, keep, STAGES) if keep < 1.0 else np.ones(1)
    stage_rounds = [(share, n) for share in shares for n in range(rounds)]
    settled = -1.0  # the share at which the fit stopped moving: the rest of that stage's rounds are skipped
    for share, _ in stage_rounds:
        if share == settled:
            continue
        distance, nearest = cKDTree(placed).query(study_points)
        kept = np.argsort(distance)[:max(3, round(share * len(study_points)))]
        squared = distance[kept] ** 2
        source, target = nearest[kept], study_points[kept]
        if study_tree is not None:
            back, found = study_tree.query(placed)
            covered = np.argsort(back)[:max(3, round(share * len(placed)))]
            squared = np.r_[squared, back[covered] ** 2]
            source, target = np.r_[source, covered], np.r_[target, study_points[found[covered]]]
        error = float(np.sqrt(np.mean(squared)))
        stretched = across[source] + fit.stretch * along[source, None] * axis
        rotation, scale, translation = similarity(stretched, target)
        factor = fit.stretch
        if stretch:  # the stretch that best fits the pairs under that rotation and scale, within its range
            back = (target - translation) @ rotation / scale  # the pairs' targets in the template's frame
            weights = along[source]
            if float(weights @ weights) > 0:
                factor = float(np.clip((back @ axis) @ weights / (weights @ weights), *STRETCH_RANGE))
        fit = WallFit(rotation, scale, factor, centre, axis, translation)  # pairs relative to the centre
        moved = fit(template_points)
        step = float(np.max(np.linalg.norm(moved - placed, axis=1)))
        placed = moved
        if step < CONVERGED_MM:
            settled = share
    return WallFit(fit.rotation, fit.scale, fit.stretch, centre, axis, fit.offset, error)


def tilted(fit: WallFit, degrees: float, towards: float) -> WallFit:
    """`fit` with its rotation turned first by `degrees` about an axis across the template's long axis (at
    `towards` degrees round it from the template's first across-axis direction), about the template's centre."""
    axis = fit.axis
    first = np.cross(axis, [1.0, 0.0, 0.0] if abs(axis[0]) < 0.9 else [0.0, 1.0, 0.0])
    first /= np.linalg.norm(first)
    second = np.cross(axis, first)
    pivot = np.cos(np.radians(towards)) * first + np.sin(np.radians(towards)) * second
    angle = np.radians(degrees)
    cross = np.array([[0.0, -pivot[2], pivot[1]], [pivot[2], 0.0, -pivot[0]], [-pivot[1], pivot[0], 0.0]])
    turn = np.eye(3) + np.sin(angle) * cross + (1.0 - np.cos(angle)) * cross @ cross
    return WallFit(fit.rotation @ turn, fit.scale, fit.stretch, fit.centre, fit.axis, fit.offset)


def best_fit(template_points: np.ndarray, centre: np.ndarray, axis: np.ndarray, study_points: np.ndarray,
             initial: WallFit, tilts_deg: tuple = (), towards: int = 6, keep: float = KEEP, stretch: bool = True,
             both: bool = False) -> WallFit:
    """`fit_wall` from `initial` and from `initial` tilted by each of `tilts_deg` towards `towards` directions round
    the axis (closest-point fits of a thick, nearly round shell turn slowly: a start near the answer is needed);
    the fit with the least trimmed error."""
    starts = [initial] + [tilted(initial, degrees, 360.0 * n / towards) for degrees in tilts_deg
                          for n in range(towards)]
    fits = [fit_wall(template_points, centre, axis, study_points, start, keep, stretch, both=both) for start in starts]
    return min(fits, key=lambda fit: fit.error_mm)


def initial_fit(template_frame, study_frame, roll_deg: float = 0.0) -> WallFit:
    """The fit's start: local_alignment.frame_map's map from the template's LV frame to the study's (the study's
    frame turned by `roll_deg`) as a rotation, scale (the radii's ratio) and stretch (the lengths' ratio over it)."""
    from SPECTFewShotLib.landmarks.carry import frame_axes

    rotation = frame_axes(study_frame, roll_deg) @ frame_axes(template_frame).T
    scale = study_frame.radius_mm / template_frame.radius_mm
    stretch = float(np.clip(study_frame.length_mm / template_frame.length_mm / scale, *STRETCH_RANGE))
    return WallFit(rotation, scale, stretch, template_frame.geometry.center, template_frame.geometry.axis,
                   study_frame.geometry.center)


def fitted_frame(template_frame, study_frame, fit: WallFit):
    """The template's LV frame (lv_frame.LVFrame) mapped through `fit`: centre, apex and base mapped, the axis the
    template's mapped (apex to base), the radius scaled by the fit's scale, the template's wall points mapped; the
    study frame's confidence, source and note."""
    from dataclasses import replace

    from SPECTFewShotLib.cardiac_landmarks import LVGeometry

    geometry = template_frame.geometry
    mapped = LVGeometry(fit(geometry.center), fit(geometry.apex), fit(geometry.base), fit.direction(geometry.axis))
    return replace(study_frame, geometry=mapped, radius_mm=template_frame.radius_mm * fit.scale,
                   wall_points=fit(template_frame.wall_points))


def registered_fit(template_mask, study_mask, initial: WallFit, metric: str = "correlation",
                   sigmas_mm: tuple = (8.0, 4.0), shrink: tuple = (2, 1), iterations: int = 200) -> WallFit:
    """The template's wall mask (a Volume) registered onto the study's (a Volume) by SimpleITK: a similarity
    transform (rotation, translation, one scale) on the two masks smoothed by `sigmas_mm` at `shrink` levels,
    after `initial` (its stretch along the template's axis kept), `metric` "correlation" or "squares"; returned as
    the template-to-study map."""
    import SimpleITK as sitk

    from SPECTFewShotLib.landmarks.sitk_registration import execute_reproducibly

    fixed = study_mask.with_array((np.asarray(study_mask.array) != 0).astype(np.float32)).to_sitk()
    moving = template_mask.with_array((np.asarray(template_mask.array) != 0).astype(np.float32)).to_sitk()
    linear = initial.linear()
    to_template = np.linalg.inv(linear)  # the initial map's inverse: study points -> template points
    pull = sitk.AffineTransform(3)
    pull.SetMatrix(tuple(to_template.ravel()))
    pull.SetTranslation(tuple(initial.centre - to_template @ initial.offset))
    correction = sitk.Similarity3DTransform()
    correction.SetCenter(tuple(map(float, initial.offset)))
    method = sitk.ImageRegistrationMethod()
    if metric == "correlation":
        method.SetMetricAsCorrelation()
    else:
        method.SetMetricAsMeanSquares()
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=1e-3, numberOfIterations=iterations,
                                                    gradientMagnitudeTolerance=1e-6)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(shrink))
    method.SetSmoothingSigmasPerLevel(list(sigmas_mm))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetMovingInitialTransform(pull)
    method.SetInitialTransform(correction, inPlace=True)
    execute_reproducibly(method, fixed, moving)
    inverse = correction.GetInverse()  # the study's points as first placed -> as corrected
    matrix = np.array(inverse.GetMatrix()).reshape(3, 3)
    full = matrix @ linear
    scale = float(np.cbrt(np.linalg.det(matrix))) * initial.scale
    rotation = matrix / float(np.cbrt(np.linalg.det(matrix))) @ initial.rotation
    offset = np.array(inverse.TransformPoint(tuple(map(float, initial.offset))))
    fit = WallFit(rotation, scale, initial.stretch, initial.centre, initial.axis, offset,
                  float(method.GetMetricValue()))
    assert np.allclose(fit.linear(), full, atol=1e-6)
    return fit


@dataclass(frozen=True)
class FitSetting:
    """How the template's wall is fitted to the study's (`best_fit`: `tilts_deg`, `keep`, `both`); the default is
    the one chosen on the training-range phantoms (both walls' pairs, 80 % kept, one start)."""

    tilts_deg: tuple = ()
    keep: float = KEEP
    both: bool = True


def study_fit(template_frame, template_volume, study_frame, volume, counts: np.ndarray, setting: FitSetting
              ) -> WallFit:
    """The template frame's wall points fitted to the study frame's (`best_fit` with `setting`), started from the
    map between the two frames turned by the roll at which their counts agree (carry.roll_offset, as
    staged.place_landmarks finds it)."""
    from SPECTFewShotLib.landmarks.carry import roll_offset, roll_profile
    from SPECTFewShotLib.landmarks.heart_search import smoothed_counts

    roll, _ = roll_offset(roll_profile(template_volume, smoothed_counts(template_volume), template_frame),
                          roll_profile(volume, counts, study_frame))
    return best_fit(template_frame.wall_points, template_frame.geometry.center, template_frame.geometry.axis,
                    study_frame.wall_points, initial_fit(template_frame, study_frame, roll), setting.tilts_deg,
                    keep=setting.keep, both=setting.both)


def with_fitted_axis(study_frame, template_frame, fit: WallFit, spacing_mm: float, apex: str = "own"):
    """`study_frame` with its long axis the template's mapped through `fit` (apex to base); its centre and base
    point its own; its apex its own (`apex` "own"), the template's mapped ("fit"), or found on its own wall along
    the new axis by lv_geometry's definition ("found", voxels of `spacing_mm`); its radius its wall's mean
    distance from the new axis."""
    from dataclasses import replace

    from SPECTFewShotLib.cardiac_landmarks import LVGeometry, lv_geometry

    geometry = study_frame.geometry
    axis = fit.direction(template_frame.geometry.axis)
    point = {"own": lambda: geometry.apex, "fit": lambda: fit(template_frame.geometry.apex),
             "found": lambda: lv_geometry(study_frame.wall_points, spacing_mm, axis).apex}[apex]()
    composed = LVGeometry(geometry.center, point, geometry.base, axis)
    relative = study_frame.wall_points - geometry.center
    along = relative @ axis
    radius = float(np.linalg.norm(relative - along[:, None] * axis, axis=1).mean())
    return replace(study_frame, geometry=composed, radius_mm=radius)
