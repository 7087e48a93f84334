"""Evaluation cases: a volume, the reference class of every voxel, and the axial slices a clinician paints.

The real studies (the bundled patient001 and the shared patient003) have two classes (LV myocardium from their
wall masks, background for every other voxel), or three: the LV blood pool is the cavity the wall encloses,
slice by slice (the convex hull of the wall on each axial slice, less the wall, without the slivers the hull leaves
along the wall's outer outline: on axial slices the wall of these studies is a ring open at the base, which no
hole filling closes). A 32^3 crop around the wall's centre rehearses
the unseen studies (LV crops of 4-6 mm voxels).
A phantom study has the LV myocardium, the LV blood pool and the liver (when the liver shows on the painted
slices) as classes, with their phantom label values; every other voxel is background (value 1). The painted
slices are the rounded quartiles of the myocardium's axial extent (painting.quartile_slices).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from SPECTFewShotLib.io.segmentation_io import read_segmentation
from SPECTFewShotLib.io.volume_io import read_volume
from SPECTFewShotLib.resources import sample_study
from SPECTFewShotLib.selftest.painting import quartile_slices
from SPECTFewShotLib.volume import Volume

BACKGROUND = 1
MYOCARDIUM = 2
BLOOD_POOL = 3
CAVITY_DEPTH = 2.0  # voxels: how deep inside the hull a part of the hull less the wall must reach to be cavity
PHANTOM_CLASSES = ("LV_myocardium", "LV_blood_pool", "liver")
SHARED_STUDIES = ("001", "003")
CROP_SIZE = 32
# The shared real studies: SPECTFEWSHOT_SHARED_DATA, else the checkout's sibling shared/data/physionet-mps
SHARED_DATA = Path(os.environ.get("SPECTFEWSHOT_SHARED_DATA", "")) if os.environ.get("SPECTFEWSHOT_SHARED_DATA") \
    else Path(__file__).resolve().parents[4] / "shared" / "data" / "physionet-mps"


@dataclass(frozen=True, eq=False)
class ClassificationCase:
    """One volume with its reference class map [k, j, i] (every voxel >= 1), class names and painted slices."""

    name: str
    volume: Volume
    class_map: np.ndarray
    class_names: dict[int, str]
    slices: list[int]

    @property
    def classes(self) -> list[int]:
        """The class values, increasing."""
        return sorted(self.class_names)


def real_study_case() -> ClassificationCase:
    """The bundled PhysioNet study: LV myocardium (value 2) against background (1)."""
    image_path, mask_path = sample_study()
    volume = read_volume(image_path)
    wall = read_segmentation(mask_path).labels.array > 0
    class_map = np.where(wall, 2, BACKGROUND).astype(np.int32)
    return ClassificationCase("real study (PhysioNet patient001)", volume, class_map,
                              {BACKGROUND: "background", 2: "LV_myocardium"}, quartile_slices(wall))


def phantom_case(name: str, image: Volume, tissues: np.ndarray, label_values: dict[str, int]) -> ClassificationCase:
    """A phantom study as a case: myocardium, blood pool and (if painted) liver, everything else background."""
    myocardium = tissues == label_values["LV_myocardium"]
    slices = quartile_slices(myocardium)
    class_map = np.full(tissues.shape, BACKGROUND, dtype=np.int32)
    names = {BACKGROUND: "background"}
    for tissue in PHANTOM_CLASSES:
        value = label_values[tissue]
        region = tissues == value
        if region[slices].any():
            class_map[region] = value
            names[value] = tissue
    return ClassificationCase(name, image, class_map, names, slices)


def shared_study_paths(patient: str) -> Optional[tuple[Path, Path]]:
    """Image and wall-mask paths of a real study (patient "001" or "003"), or None where it is not available."""
    for folder in (SHARED_DATA, sample_study()[0].parent):
        image, mask = folder / f"patient{patient}_image.nii.gz", folder / f"patient{patient}_mask.nii.gz"
        if image.exists() and mask.exists():
            return image, mask
    return None


def shared_study_case(patient: str, blood_pool: bool = False, crop: Optional[int] = None) -> ClassificationCase:
    """A real study as a case: myocardium against background, with the LV blood pool as a third class when
    `blood_pool`, on the whole volume or a crop of `crop`^3 voxels around the wall's centre."""

    paths = shared_study_paths(patient)
    if paths is None:
        raise FileNotFoundError(f"real study patient{patient} not found (set SPECTFEWSHOT_SHARED_DATA)")
    volume = read_volume(paths[0])
    wall = read_segmentation(paths[1]).labels.array > 0
    class_map = np.where(wall, MYOCARDIUM, BACKGROUND).astype(np.int32)
    names = {BACKGROUND: "background", MYOCARDIUM: "LV_myocardium"}
    if blood_pool:
        class_map[enclosed_cavity(wall)] = BLOOD_POOL
        names[BLOOD_POOL] = "LV_blood_pool"
    name = f"patient{patient}"
    if crop is not None:
        volume, box = crop_around_wall(volume, wall, crop)
        class_map, wall = np.ascontiguousarray(class_map[box]), wall[box]
        name += f" {crop}^3 crop"
    return ClassificationCase(name, volume, class_map, names, quartile_slices(wall))


def enclosed_cavity(wall: np.ndarray) -> np.ndarray:
    """The cavity a wall mask [k, j, i] encloses, slice by slice: the parts of each axial slice's convex hull,
    less the wall, that reach at least CAVITY_DEPTH voxels inside the hull.

    The hull less the wall also holds one-voxel slivers along the wall's outer outline (wherever that outline is
    not convex); they lie outside the heart, so they are not cavity. A real cavity, even where a basal slice cuts
    the wall as an open C, has voxels deep inside the hull."""
    from scipy import ndimage
    from skimage.morphology import convex_hull_image

    cavity = np.zeros(wall.shape, dtype=bool)
    for k in np.flatnonzero(wall.any(axis=(1, 2))):
        if wall[k].sum() < 3:
            continue
        hull = convex_hull_image(wall[k])
        candidates, count = ndimage.label(hull & ~wall[k])
        if count == 0:
            continue
        depth = ndimage.distance_transform_edt(np.pad(hull, 1))[1:-1, 1:-1]
        deepest = ndimage.maximum(depth, candidates, index=np.arange(1, count + 1))
        keep = np.flatnonzero(np.asarray(deepest) >= CAVITY_DEPTH) + 1
        cavity[k] = np.isin(candidates, keep)
    return cavity


def real_cases(crop: int = CROP_SIZE) -> list[tuple[str, ClassificationCase]]:
    """(group, case) pairs of the available real studies: two classes on the whole volume, then three on crops."""
    available = [p for p in SHARED_STUDIES if shared_study_paths(p) is not None]
    cases = [(f"real patient{p}", shared_study_case(p)) for p in available]
    cases += [(f"real patient{p}, 3 classes, {crop}^3", shared_study_case(p, blood_pool=True, crop=crop))
              for p in available]
    return cases


CONDITION_CROPS = (24, 32, 48)
LOW_COUNTS = 8.0  # expected counts at the hottest voxels (99th percentile) of a low-count copy: a gated frame's


def low_count_copy(volume: Volume, counts_at_hottest: float = LOW_COUNTS, seed: int = 0) -> Volume:
    """A Poisson-resampled copy of a study scaled to `counts_at_hottest` expected counts at its 99th percentile,
    rescaled back: the same anatomy with the noise of a short (gated) acquisition."""
    array = np.asarray(volume.array, dtype=np.float64)
    scale = counts_at_hottest / max(float(np.percentile(array, 99)), 1e-12)
    noisy = np.random.default_rng(seed).poisson(np.clip(array, 0, None) * scale) / scale
    return volume.with_array(noisy.astype(np.float32))


def condition_cases(crops: Sequence[int] = CONDITION_CROPS) -> list[tuple[str, ClassificationCase]]:
    """(group, case) pairs rehearsing the unseen LV-crop studies' conditions: each real study's three-class crop at
    every size of `crops`, as it is and as a low-count copy."""
    cases = []
    for crop in crops:
        for p in (p for p in SHARED_STUDIES if shared_study_paths(p) is not None):
            case = shared_study_case(p, blood_pool=True, crop=crop)
            cases.append((f"real patient{p}, {crop}^3", case))
            noisy = ClassificationCase(f"{case.name}, low counts", low_count_copy(case.volume), case.class_map,
                                       case.class_names, case.slices)
            cases.append((f"real patient{p}, {crop}^3, low counts", noisy))
    return cases


# Crops that cut the heart, as a user who crops tightly gets (and as the unseen studies' LV crops are): a 32^3 crop
# moved by 13 voxels along each axis in turn (its face then runs 3 voxels from the wall's centre, through the
# cavity), and 20^3 crops around the centre
FACE_SHIFT = 13
TIGHT_CROP = 20


def crop_around_wall(volume: Volume, wall: np.ndarray, size: int, shift: Sequence[int] = (0, 0, 0)
                     ) -> tuple[Volume, tuple[slice, ...]]:
    """A size^3 crop of `volume` around the centre of `wall` [k, j, i] moved by `shift` voxels (clamped to the
    volume), with its origin where the crop starts, and the crop's box [k, j, i]."""
    from scipy import ndimage

    centre = np.round(ndimage.center_of_mass(wall)).astype(int) + np.asarray(shift)
    low = np.clip(centre - size // 2, 0, np.array(wall.shape) - size)
    box = tuple(slice(int(a), int(a) + size) for a in low)
    k0, j0, i0 = (int(a) for a in low)
    cropped = Volume(np.ascontiguousarray(volume.array[box]), volume.spacing, tuple(volume.index_to_lps((i0, j0, k0))),
                     volume.direction, volume.modality, volume.units)
    return cropped, box


def _cropped(case: ClassificationCase, wall: np.ndarray, size: int, shift: Sequence[int], name: str
             ) -> ClassificationCase:
    """A size^3 crop of a case around its wall's centre moved by `shift` voxels [k, j, i] (clamped to the volume)."""
    cropped, box = crop_around_wall(case.volume, wall, size, shift)
    return ClassificationCase(f"{case.name}, {name}", cropped, np.ascontiguousarray(case.class_map[box]),
                              case.class_names, quartile_slices(wall[box]))


def short_axis_case(patient: str) -> ClassificationCase:
    """A real study resampled so that its LV long axis (from its wall mask's landmarks) runs along k, at its own
    voxel size: axial slices are then short-axis slices, as in the unseen reoriented LV crops; three classes, the
    blood pool enclosed by the wall on each short-axis slice."""
    from scipy import ndimage

    from SPECTFewShotLib.cardiac_landmarks import lv_landmarks

    paths = shared_study_paths(patient)
    if paths is None:
        raise FileNotFoundError(f"real study patient{patient} not found (set SPECTFEWSHOT_SHARED_DATA)")
    volume = read_volume(paths[0])
    mask = read_segmentation(paths[1]).labels
    points = {p.label: np.asarray(p.position_lps) for p in lv_landmarks(mask)}
    to_index = np.linalg.inv(volume.index_to_lps_matrix)
    base, apex = (to_index[:3, :3] @ points[n] + to_index[:3, 3] for n in ("LV_base", "LV_apex"))
    spacing = np.asarray(volume.spacing)  # (i, j, k) mm
    axis = (apex - base) * spacing  # mm, in (i, j, k)
    axis /= np.linalg.norm(axis)
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    first = np.cross(axis, helper)
    first /= np.linalg.norm(first)
    second = np.cross(axis, first)
    rotation = np.stack([first, second, axis], axis=1)  # columns: new i, j, k directions in old (i, j, k) mm
    step = float(min(volume.spacing))
    size = np.array(volume.array.shape[::-1])  # (i, j, k)
    centre = (base + apex) / 2.0 * spacing
    # new voxel n (i, j, k) -> old mm: centre + rotation @ ((n - half) * step); old index = mm / spacing
    half = size / 2.0
    matrix = (rotation * step) / spacing[:, None]
    offset = centre / spacing - matrix @ half
    # ndimage works in [k, j, i] order: reverse both sides
    flip = np.eye(3)[::-1]
    m_kji, o_kji = flip @ matrix @ flip, flip @ offset
    shape = tuple(int(n) for n in size[::-1])
    image = ndimage.affine_transform(np.asarray(volume.array, dtype=np.float32), m_kji, o_kji, output_shape=shape,
                                     order=1, mode="constant", cval=0.0)
    wall = ndimage.affine_transform(np.asarray(mask.array > 0, dtype=np.float32), m_kji, o_kji,
                                    output_shape=shape, order=1, mode="constant", cval=0.0) >= 0.5
    class_map = np.where(wall, MYOCARDIUM, BACKGROUND).astype(np.int32)
    class_map[enclosed_cavity(wall)] = BLOOD_POOL
    names = {BACKGROUND: "background", MYOCARDIUM: "LV_myocardium", BLOOD_POOL: "LV_blood_pool"}
    resampled = Volume(image, (step, step, step), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1), volume.modality,
                       volume.units)
    return ClassificationCase(f"patient{patient} short axis", resampled, class_map, names, quartile_slices(wall))


def cut_heart_cases() -> list[tuple[str, ClassificationCase]]:
    """(group, case) pairs of crops whose cavity reaches the volume's faces, and of short-axis-reoriented 32^3
    crops: each real study's 32^3 crop moved by FACE_SHIFT voxels along k, j and i, its TIGHT_CROP^3 crop, and its
    short-axis resampling cropped to 32^3 (centred and moved along the long axis)."""
    cases = []
    for p in (p for p in SHARED_STUDIES if shared_study_paths(p) is not None):
        whole = shared_study_case(p, blood_pool=True)
        wall = whole.class_map == MYOCARDIUM
        for axis, name in enumerate(("k", "j", "i")):
            shift = [0, 0, 0]
            shift[axis] = FACE_SHIFT
            cases.append((f"real patient{p}, 32^3 moved along {name}",
                          _cropped(whole, wall, CROP_SIZE, shift, f"32^3 crop moved along {name}")))
        cases.append((f"real patient{p}, {TIGHT_CROP}^3", _cropped(whole, wall, TIGHT_CROP, (0, 0, 0),
                                                                   f"{TIGHT_CROP}^3 crop")))
        axial = short_axis_case(p)
        sa_wall = axial.class_map == MYOCARDIUM
        cases.append((f"real patient{p}, short axis 32^3", _cropped(axial, sa_wall, CROP_SIZE, (0, 0, 0),
                                                                    "32^3 crop")))
        cases.append((f"real patient{p}, short axis 32^3 moved along k",
                      _cropped(axial, sa_wall, CROP_SIZE, (FACE_SHIFT, 0, 0), "32^3 crop moved along k")))
    return cases
