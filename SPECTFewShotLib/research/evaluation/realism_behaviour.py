"""Phantom realism judged by behaviour: how intensity methods fare when painted as on real studies, and statistics
measured identically on phantoms and on real studies (METHODS section 8).

Behaviour: the LV myocardium is painted (full labels, myocardium against everything else) on the rounded quartile
slices of its axial extent, exactly as on the real studies, and GrowCut and the random forest classify the rest;
Dice of the myocardium on the unpainted slices.

Statistics, each computed from the image and the LV-wall mask alone (a phantom's other labels are not used, so the
numbers mean the same thing on both):
- myocardium / blood pool: median counts of the wall over those of the cavity (convex hull minus wall, opened);
- background / myocardium: median counts of the voxels with counts two voxels or more from the wall and cavity;
- wall thickness: the mask's mean thickness in voxels (four times its voxels' mean distance to its boundary);
- wall FWHM: median full width at half maximum of the image across the wall at mid-ventricle (mm); the effective
  resolution is the part of it the mask's thickness does not explain, sqrt(FWHM^2 - thickness^2);
- noise: standard deviation of the image minus its one-voxel Gaussian smoothing, inside the wall, over the wall's
  median (noise power at the highest frequencies); texture: that residual's correlation between neighbours;
- inferior uptake: the 95th percentile of the counts within 20 mm below the wall (outside wall and cavity) over
  the wall's median (extracardiac activity next to the inferior wall).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.volume import Volume

BACKGROUND, MYOCARDIUM = 1, 2
INFERIOR_REACH_MM = 20.0
STATISTICS = ("myocardium_to_blood_pool", "background_to_myocardium", "wall_thickness_voxels", "wall_fwhm_mm",
              "resolution_fwhm_mm", "noise_cv", "noise_correlation", "inferior_uptake")


@dataclass(frozen=True)
class BehaviourResult:
    """Dice of GrowCut and the random forest and the comparable statistics of one study."""

    name: str
    kind: str  # "real" or "phantom"
    growcut_dice: float
    forest_dice: float
    statistics: dict

    def as_dict(self) -> dict:
        """Plain dictionary."""
        return asdict(self)


def real_studies(folder: str | Path) -> list[tuple[str, Path, Path]]:
    """(name, image, mask) of every `<name>_image.nii.gz` with a `<name>_mask.nii.gz` in `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"real-study folder {folder} not found")
    pairs = []
    for image in sorted(folder.glob("*_image.nii.gz")):
        name = image.name[: -len("_image.nii.gz")]
        mask = folder / f"{name}_mask.nii.gz"
        if mask.exists():
            pairs.append((name, image, mask))
    if not pairs:
        raise InputError(f"no <name>_image.nii.gz with a <name>_mask.nii.gz in {folder}")
    return pairs


def read_real_study(image_path: Path, mask_path: Path) -> tuple[Volume, np.ndarray]:
    """A real study's volume and its LV-wall mask (bool [k, j, i])."""
    from SPECTFewShotLib.io.segmentation_io import read_segmentation
    from SPECTFewShotLib.io.volume_io import read_volume

    volume = read_volume(str(image_path))
    wall = np.asarray(read_segmentation(str(mask_path)).labels.array) > 0
    if wall.shape != volume.array.shape:
        raise InputError(f"mask {mask_path.name} is not on the grid of {image_path.name}")
    return volume, wall


def painted_dice(volume: Volume, wall: np.ndarray, methods: Sequence[str] = ("growcut", "forest")) -> dict:
    """Myocardium Dice on the unpainted slices of GrowCut and the random forest, painted as on real studies."""
    from SPECTFewShotLib.research.evaluation.metrics import dice
    from SPECTFewShotLib.selftest.painting import paint, quartile_slices, unpainted_slices

    class_map = np.where(wall, MYOCARDIUM, BACKGROUND).astype(np.int32)
    slices = quartile_slices(wall)
    where = unpainted_slices(wall.shape, slices)
    support = paint(class_map, slices, "slices")
    scores = {}
    if "growcut" in methods:
        from SPECTFewShotLib.research.baselines.growcut import grow_from_seeds

        scores["growcut"] = dice(grow_from_seeds(volume, support) == MYOCARDIUM, wall, where)
    if "forest" in methods:
        from SPECTFewShotLib.research.baselines.random_forest import random_forest_segment

        scores["forest"] = dice(random_forest_segment(volume.array, support) == MYOCARDIUM, wall, where)
    return scores


def study_statistics(volume: Volume, wall: np.ndarray) -> dict:
    """The comparable statistics of one study from its image and LV-wall mask (see the module's docstring)."""
    from scipy import ndimage

    from SPECTFewShotLib.research.phantom.realism import cavity_from_wall, wall_fwhm

    image = volume.array.astype(np.float64)
    voxel = float(volume.spacing[0])
    wall = wall & (image > 0)
    if wall.sum() < 20:
        raise InputError("the LV wall holds fewer than 20 voxels with counts")
    cavity = cavity_from_wall(wall)
    myo = float(np.median(image[wall]))
    near = ndimage.binary_dilation(wall | cavity, iterations=2)
    background = (image > 0) & ~near
    fwhm = wall_fwhm(image, wall, cavity, voxel)
    thickness = wall_thickness(wall)
    residual = image - ndimage.gaussian_filter(image, 1.0)
    inner = ndimage.binary_erosion(wall) if ndimage.binary_erosion(wall).sum() >= 20 else wall
    shifted = np.roll(residual, 1, axis=2)
    both = inner & np.roll(inner, 1, axis=2)
    correlation = float(np.corrcoef(residual[both], shifted[both])[0, 1]) if both.sum() > 2 else float("nan")
    return {
        "myocardium_to_blood_pool": myo / max(float(np.median(image[cavity])), 1e-9) if cavity.any() else math.nan,
        "background_to_myocardium": float(np.median(image[background])) / myo if background.any() else math.nan,
        "wall_thickness_voxels": thickness,
        "wall_fwhm_mm": fwhm,
        "resolution_fwhm_mm": math.sqrt(max(fwhm**2 - (thickness * voxel) ** 2, 0.0)),
        "noise_cv": float(residual[inner].std()) / myo,
        "noise_correlation": correlation,
        "inferior_uptake": inferior_uptake(volume, wall, cavity),
    }


def wall_thickness(wall: np.ndarray) -> float:
    """Mean thickness (voxels) of the wall mask: four times the mean distance of its voxels to its boundary (a slab
    of thickness T has mean distance T / 4; voxel-centre distances count half a voxel less)."""
    from scipy import ndimage

    distance = ndimage.distance_transform_edt(wall)
    return float(4.0 * np.mean(distance[wall] - 0.5)) if wall.any() else math.nan


def inferior_uptake(volume: Volume, wall: np.ndarray, cavity: np.ndarray) -> float:
    """95th percentile of the counts within INFERIOR_REACH_MM below the wall (outside wall and cavity) over the
    wall's median counts: extracardiac activity next to the inferior wall (0 when nothing lies there)."""
    from scipy import ndimage

    image = volume.array
    voxel = float(volume.spacing[0])
    reach = max(1, round(INFERIOR_REACH_MM / voxel))
    superior_first = float(volume.direction[8]) < 0  # k runs toward inferior
    shell = np.zeros_like(wall)
    for shift in range(1, reach + 1):
        moved = np.zeros_like(wall)
        if superior_first:
            moved[shift:] = wall[:-shift]
        else:
            moved[:-shift] = wall[shift:]
        shell |= moved
    grown = ndimage.binary_dilation(wall, iterations=1)
    shell &= ~(ndimage.binary_dilation(wall | cavity, iterations=1) | grown) & (image > 0)
    if not shell.any():
        return 0.0
    return float(np.percentile(image[shell], 95)) / float(np.median(image[wall]))


def measure_study(name: str, kind: str, volume: Volume, wall: np.ndarray,
                  methods: Sequence[str] = ("growcut", "forest")) -> BehaviourResult:
    """Behaviour and statistics of one study."""
    scores = painted_dice(volume, wall, methods)
    return BehaviourResult(name, kind, scores.get("growcut", math.nan), scores.get("forest", math.nan),
                           study_statistics(volume, wall))


def measure_phantoms(seeds: Iterable[int], config=None, methods: Sequence[str] = ("growcut", "forest"),
                     progress=None) -> list[BehaviourResult]:
    """Behaviour and statistics of the phantoms of `seeds` (LV myocardium label as the wall)."""
    from SPECTFewShotLib.research.phantom import generate_study

    results = []
    for seed in seeds:
        if progress is not None:
            progress(f"phantom seed {seed}")
        study = generate_study(int(seed), config)
        wall = np.asarray(study.labels.labels.array) == study.label_values["LV_myocardium"]
        results.append(measure_study(f"seed {seed}", "phantom", study.image, wall, methods))
    return results


def in_range(value: float, low: float, high: float) -> bool:
    """Whether a finite value lies in [low, high]."""
    return bool(np.isfinite(value) and low <= value <= high)


def markdown_report(real: Sequence[BehaviourResult], phantoms: Sequence[BehaviourResult], command: str,
                    config_text: str, gaps: Optional[Sequence[str]] = None) -> str:
    """The report: one row per study, the phantoms' mean and range, and which phantom means lie in the real range
    (the two real studies' range, widened to METHODS section 8 where it gives one)."""
    header = ["study", "GrowCut", "forest", *STATISTICS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def row(name: str, values: Sequence[float]) -> str:
        return "| " + " | ".join([name, *(f"{v:.3g}" if np.isfinite(v) else "-" for v in values)]) + " |"

    def values_of(result: BehaviourResult) -> list[float]:
        return [result.growcut_dice, result.forest_dice, *(result.statistics[s] for s in STATISTICS)]

    for result in [*real, *phantoms]:
        lines.append(row(f"{result.kind} {result.name}", values_of(result)))
    table = np.array([values_of(r) for r in phantoms]) if phantoms else np.zeros((0, len(header) - 1))
    if len(table):
        lines.append(row(f"phantom mean (n={len(table)})", np.nanmean(table, axis=0)))
    real_table = np.array([values_of(r) for r in real])
    ranges = real_ranges(real_table)
    checks = []
    for index, name in enumerate(header[1:]):
        low, high = ranges[index]
        if len(table) and np.isfinite(low):
            mean = float(np.nanmean(table[:, index]))
            checks.append(f"- {name}: phantom mean {mean:.3g}, real range {low:.3g}-{high:.3g}: "
                          f"{'inside' if in_range(mean, low, high) else 'OUTSIDE'}")
    from SPECTFewShotLib.research.provenance import provenance_line

    text = [provenance_line(command), "", "# Phantom realism by behaviour", "", f"Phantoms: {config_text}.",
            "Real: the shared PhysioNet MPS studies (Calixto et al. 2025, PhysioNet, doi:10.13026/ce2z-dw74).", "",
            *lines, "", "Real range used for each number (the two real studies; GrowCut, forest and the count ratio "
            "widened to METHODS section 8):", "", *checks]
    if gaps:
        text += ["", *gaps]
    text += ["", __doc__.strip().split("\n\n", 1)[1]]
    return "\n".join(text) + "\n"


# Ranges METHODS section 8 states from more real studies than the two shared ones (None: the two studies' range).
METHODS_RANGES = {0: (0.80, 0.95), 1: (0.65, 0.95), 2: (1.34, 3.33)}


def real_ranges(real_table: np.ndarray) -> list[tuple[float, float]]:
    """(low, high) per column: METHODS section 8's range where it states one, else the real studies' min and max
    widened by 10 % of their mean (two studies give no spread to speak of)."""
    ranges = []
    for index in range(real_table.shape[1] if real_table.size else 0):
        if index in METHODS_RANGES:
            ranges.append(METHODS_RANGES[index])
            continue
        column = real_table[:, index]
        column = column[np.isfinite(column)]
        if not column.size:
            ranges.append((math.nan, math.nan))
            continue
        margin = 0.1 * abs(float(column.mean()))
        ranges.append((float(column.min()) - margin, float(column.max()) + margin))
    return ranges
