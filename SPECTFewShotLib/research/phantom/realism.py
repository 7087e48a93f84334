"""The numbers that make SPECT look like SPECT, measured the same way on the real study and on phantoms.

- myocardium-to-blood-pool and myocardium-to-liver: ratios of median counts in the LV wall, the LV cavity, the liver;
- noise: coefficient of variation (std / mean) in the liver (a uniform organ), eroded by two voxels;
- wall FWHM: median full width at half maximum of radial profiles across the LV wall at mid-ventricle (the wall's
  apparent thickness: true thickness and system resolution together), half maximum taken above the lowest value
  on each side of the peak within 25 mm;
- background / myocardium: median counts of the tissue outside the heart and the liver over the wall's median;
- hot extra-cardiac volume: millilitres outside the LV wall (dilated by one voxel) hotter than half the
  myocardial maximum (what makes the tissue classes hard to tell apart).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from SPECTFewShotLib.volume import Volume


@dataclass(frozen=True)
class RealismMetrics:
    """The realism numbers of one volume."""

    myocardium_to_blood_pool: float
    myocardium_to_liver: float
    liver_cv: float
    wall_fwhm_mm: float
    hot_extracardiac_ml: float
    background_to_myocardium: float

    def as_dict(self) -> dict:
        """Plain dictionary."""
        return asdict(self)


def cavity_from_wall(wall: np.ndarray) -> np.ndarray:
    """The LV cavity of a wall mask: its convex hull minus the wall, opened by one voxel (for the real study)."""
    from scipy import ndimage
    from skimage.morphology import convex_hull_image

    hull = convex_hull_image(wall)
    return ndimage.binary_opening(hull & ~wall)


def liver_from_counts(image: np.ndarray, wall: np.ndarray) -> np.ndarray:
    """The liver of an unlabelled study: the largest region hotter than 60 % of the wall maximum (smoothed by one
    voxel), outside the dilated wall, in the patient's right half (low i in LPS)."""
    from scipy import ndimage

    hot = ndimage.gaussian_filter(image.astype(float), 1.0) > 0.6 * float(image[wall].max())
    hot &= ~ndimage.binary_dilation(wall, iterations=2)
    hot[:, :, image.shape[2] // 2:] = False
    regions, count = ndimage.label(hot)
    if count == 0:
        return hot
    sizes = ndimage.sum(hot, regions, range(1, count + 1))
    return regions == int(np.argmax(sizes)) + 1


def measure(volume: Volume, wall: np.ndarray, cavity: np.ndarray, liver: np.ndarray,
            tissue: np.ndarray) -> RealismMetrics:
    """Realism numbers of a volume from its LV wall, LV cavity, liver and candidate background masks (bool [k, j, i]);
    the background is `tissue` with counts, two voxels away from the wall, the cavity and the liver."""
    from scipy import ndimage

    image = volume.array.astype(np.float64)
    seen = image > 0  # the field of view (CZT reconstructions are zero outside their cylinder)
    wall, cavity, liver = wall & seen, cavity & seen, liver & seen
    myo = float(np.median(image[wall]))
    near = ndimage.binary_dilation(wall | cavity | liver, iterations=2)
    background = tissue & (image > 0) & ~near
    core = ndimage.binary_erosion(liver, iterations=2)
    core = core if core.sum() >= 20 else liver
    hot = image > 0.5 * float(image[wall].max())
    hot &= ~ndimage.binary_dilation(wall)
    return RealismMetrics(
        myocardium_to_blood_pool=myo / float(np.median(image[cavity])),
        myocardium_to_liver=myo / float(np.median(image[liver])) if liver.any() else float("nan"),
        liver_cv=float(image[core].std() / image[core].mean()) if core.any() else float("nan"),
        wall_fwhm_mm=wall_fwhm(image, wall, cavity, volume.spacing[0]),
        hot_extracardiac_ml=float(hot.sum()) * volume.voxel_volume_ml,
        background_to_myocardium=float(np.median(image[background])) / myo if background.any() else float("nan"),
    )


def lv_axis(wall: np.ndarray, cavity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre (voxel [k, j, i]) of wall + cavity and the unit apex direction (wall centroid minus cavity centroid)."""
    centre = np.argwhere(wall | cavity).mean(axis=0)
    direction = np.argwhere(wall).mean(axis=0) - np.argwhere(cavity).mean(axis=0)
    return centre, direction / max(np.linalg.norm(direction), 1e-9)


def wall_fwhm(image: np.ndarray, wall: np.ndarray, cavity: np.ndarray, voxel_mm: float, rays: int = 48) -> float:
    """Median FWHM (mm) of radial profiles across the LV wall, perpendicular to the long axis at mid-ventricle."""
    from scipy.ndimage import map_coordinates

    centre, axis = lv_axis(wall, cavity)
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = np.cross(axis, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    step = 0.25  # voxels
    radii = np.arange(0.0, 60.0 / voxel_mm, step)
    widths = []
    for level in (-0.1, 0.0, 0.1):
        length = np.ptp(np.argwhere(wall | cavity) @ axis)
        origin = centre + level * length * axis
        for angle in np.linspace(0.0, 2 * np.pi, rays, endpoint=False):
            direction = np.cos(angle) * e1 + np.sin(angle) * e2
            points = origin[:, None] + direction[:, None] * radii[None, :]
            in_wall = map_coordinates(wall.astype(np.float32), points, order=0)
            if not in_wall.any():
                continue
            profile = map_coordinates(image, points, order=1)
            wall_part = np.nonzero(in_wall > 0)[0]
            peak = wall_part[np.argmax(profile[wall_part])]
            width = _profile_fwhm(profile, peak, round(25.0 / voxel_mm / step))
            if width is not None:
                widths.append(width * step * voxel_mm)
    return float(np.median(widths)) if widths else float("nan")


def _profile_fwhm(profile: np.ndarray, peak: int, reach: int) -> float | None:
    """Width between the half-maximum crossings on each side of `peak` (above each side's minimum)."""
    value = profile[peak]
    left = profile[max(0, peak - reach):peak + 1][::-1]
    right = profile[peak:peak + reach + 1]
    crossings = []
    for side in (left, right):
        half = 0.5 * (value + side.min())
        below = np.nonzero(side < half)[0]
        if below.size == 0:
            return None
        i = below[0]
        crossings.append(i - 1 + (side[i - 1] - half) / (side[i - 1] - side[i]))
    return float(crossings[0] + crossings[1])
