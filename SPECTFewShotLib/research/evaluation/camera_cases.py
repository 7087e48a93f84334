"""The real studies as other cameras would store them: other voxel sizes, an axis stored reversed, counts in another
scale (`spectfewshot evaluate classify --cameras`).

The product is judged on studies from another camera. Each variant keeps the anatomy where it is in the patient
(LPS mm): a resampled copy covers the same field of view at another voxel size (counts by linear interpolation,
the wall mask by linear interpolation of its indicator at 0.5, the blood pool again the cavity that wall encloses);
a reversed axis is the same voxels stored in the other order, origin and direction following; a count scale
multiplies every count. The painted slices are the rounded quartiles of the variant's own wall (painting.
quartile_slices), as a clinician would paint that grid.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from SPECTFewShotLib.research.evaluation.cases import (
    BLOOD_POOL,
    MYOCARDIUM,
    SHARED_STUDIES,
    ClassificationCase,
    enclosed_cavity,
    shared_study_case,
    shared_study_paths,
)
from SPECTFewShotLib.selftest.painting import quartile_slices
from SPECTFewShotLib.volume import Volume

# variant name -> what it does: ("spacing", (i, j, k) mm), ("reverse", array axis), ("scale", factor)
CAMERA_VARIANTS: dict[str, tuple[str, object]] = {
    "as stored": ("scale", 1.0),
    "3 mm voxels": ("spacing", (3.0, 3.0, 3.0)),
    "6 mm voxels": ("spacing", (6.0, 6.0, 6.0)),
    "4 x 4 x 6 mm voxels": ("spacing", (4.0, 4.0, 6.0)),
    "i axis stored reversed": ("reverse", 2),
    "k axis stored reversed": ("reverse", 0),
    "counts x 0.001": ("scale", 0.001),
}


def resampled(volume: Volume, spacing: Sequence[float]) -> Volume:
    """`volume` on a grid of `spacing` (i, j, k mm) over the same field of view, origin and direction (linear
    interpolation), as float32."""
    import SimpleITK as sitk

    size = [max(1, round(n * s / t)) for n, s, t in zip(volume.array.shape[::-1], volume.spacing, spacing)]
    image = sitk.Cast(volume.to_sitk(), sitk.sitkFloat32)
    out = sitk.Resample(image, size, sitk.Transform(), sitk.sitkLinear, volume.origin,
                        tuple(float(s) for s in spacing), volume.direction, 0.0, sitk.sitkFloat32)
    return Volume.from_sitk(out, volume.modality, volume.units)


def camera_variant(case: ClassificationCase, variant: str) -> ClassificationCase:
    """`case` as the camera convention `variant` (a key of CAMERA_VARIANTS) would store it."""
    kind, value = CAMERA_VARIANTS[variant]
    volume, class_map = case.volume, case.class_map
    if kind == "scale":
        volume = volume.with_array((np.asarray(volume.array, dtype=np.float64) * float(value)).astype(np.float32))
    elif kind == "reverse":
        volume = volume.with_axis_reversed(int(value))
        class_map = np.ascontiguousarray(np.flip(class_map, axis=int(value)))
    else:
        wall_indicator = case.volume.with_array((class_map == MYOCARDIUM).astype(np.float32))
        volume = resampled(volume, value)
        wall = resampled(wall_indicator, value).array >= 0.5
        background = min(case.class_names)
        class_map = np.where(wall, MYOCARDIUM, background).astype(np.int32)
        if BLOOD_POOL in case.class_names:
            class_map[enclosed_cavity(wall)] = BLOOD_POOL
    return ClassificationCase(f"{case.name}, {variant}", volume, class_map, case.class_names,
                              quartile_slices(class_map == MYOCARDIUM))


def camera_cases(patients: Sequence[str] = SHARED_STUDIES, variants: Optional[Sequence[str]] = None
                 ) -> list[tuple[str, ClassificationCase]]:
    """(group, case) for every shared real study found (whole volume, the blood pool as a third class) under every
    camera variant (default: all of CAMERA_VARIANTS)."""
    cases = []
    for patient in patients:
        if shared_study_paths(patient) is None:
            continue
        study = shared_study_case(patient, blood_pool=True)
        for variant in variants or CAMERA_VARIANTS:
            cases.append((f"real patient{patient}, {variant}", camera_variant(study, variant)))
    return cases
