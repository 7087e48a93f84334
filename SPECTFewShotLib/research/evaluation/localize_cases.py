"""Landmark evaluation cases: a template (volume + landmarks) and a target whose true landmarks are known.

- Held-out phantoms: each target phantom gets the next held-out phantom as its template (never the same one).
- The bundled real study: a phantom template (simulated for a CZT camera, like the study) -> the real study
  (reference landmarks derived from its LV-wall mask, `cardiac_landmarks`), and the real study -> a translated
  and rotated copy of itself (true landmarks moved exactly by the same rigid motion).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from SPECTFewShotLib.cardiac_views.rotations import axis_rotation
from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.io.markups_io import Landmark
from SPECTFewShotLib.vocabulary import LV_LANDMARK_NAMES
from SPECTFewShotLib.volume import Volume

# The rigid motion of the real study's copy: 12 mm translation, 10 degrees about an oblique axis.
COPY_TRANSLATION_MM = (7.0, -6.0, 7.8)  # length 12.0 mm
COPY_ROTATION_AXIS = (1.0, 1.0, 1.0)
COPY_ROTATION_DEGREES = 10.0
# The bundled study comes from a CZT camera; its phantom template is simulated for the same kind of camera, as a
# clinic would take its template from its own camera (chosen on that principle, not on the study's errors).
REAL_STUDY_CAMERA = "czt"


@dataclass(frozen=True, eq=False)
class LandmarkCase:
    """One localisation problem with its answer."""

    name: str
    template_volume: Volume
    template_landmarks: list[Landmark]
    target_volume: Volume
    target_landmarks: list[Landmark]  # the truth, same labels
    more_templates: tuple[tuple[Volume, list[Landmark]], ...] = ()  # further templates, fused with the first
    target_wall: Optional[np.ndarray] = None  # the target's true LV wall [k, j, i], to paint a classification from

    def templates(self) -> list[tuple[Volume, list[Landmark]]]:
        """Every template of the case: the first one, then `more_templates`."""
        return [(self.template_volume, self.template_landmarks), *self.more_templates]

    def truth(self) -> dict[str, np.ndarray]:
        """True target positions by label."""
        return {lm.label: np.asarray(lm.position_lps, dtype=float) for lm in self.target_landmarks}


def common_landmarks(template: Sequence[Landmark], target: Sequence[Landmark],
                     names: Optional[Sequence[str]] = None) -> tuple[list[Landmark], list[Landmark]]:
    """The template's and target's landmarks with labels in both (and in `names` when given), same order."""
    by_label = {lm.label: lm for lm in target}
    kept = [lm for lm in template if lm.label in by_label and (names is None or lm.label in names)]
    return kept, [by_label[lm.label] for lm in kept]


def phantom_cases(seeds: Sequence[int], names: Optional[Sequence[str]] = None,
                  progress: Optional[Callable[[int, int], None]] = None, templates: int = 1) -> list[LandmarkCase]:
    """Each phantom of `seeds` as target, with the next one (cyclically) as its template, or the next `templates`
    ones as its templates."""
    if not 1 <= templates < len(seeds):
        raise InputError(f"{templates} templates per case need at least {templates + 1} phantoms")
    from SPECTFewShotLib.research.phantom import generate_study

    studies = []
    for number, seed in enumerate(seeds, start=1):
        study = generate_study(seed)
        wall = study.labels.labels.array == study.label_values["LV_myocardium"]
        studies.append((seed, study.image, [lm for lm in study.landmarks], wall))
        if progress is not None:
            progress(number, len(seeds))
    cases = []
    for index, (seed, image, landmarks, wall) in enumerate(studies):
        template_seed, template_image, template_landmarks, _ = studies[(index + 1) % len(studies)]
        kept, truth = common_landmarks(template_landmarks, landmarks, names)
        more = []
        for offset in range(2, templates + 1):
            _, other_image, other_landmarks, _ = studies[(index + offset) % len(studies)]
            more.append((other_image, common_landmarks(other_landmarks, truth)[0]))
        source = f"{template_seed}" if templates == 1 else f"{template_seed} and the next {templates - 1}"
        cases.append(LandmarkCase(f"phantom {source} -> {seed}", template_image, kept, image, truth, tuple(more),
                                  wall))
    return cases


def moved_copy(volume: Volume, landmarks: Sequence[Landmark], translation_mm: Sequence[float] = COPY_TRANSLATION_MM,
               axis: Sequence[float] = COPY_ROTATION_AXIS, degrees: float = COPY_ROTATION_DEGREES
               ) -> tuple[Volume, list[Landmark]]:
    """The volume with its anatomy rotated about the field-of-view centre and translated (same grid), and the
    landmarks moved exactly the same way: x -> R (x − c) + c + t."""
    import SimpleITK as sitk

    rotation = axis_rotation(axis, degrees)
    centre = volume.index_to_lps((np.asarray(volume.size, dtype=float) - 1) / 2)
    translation = np.asarray(translation_mm, dtype=float)
    motion = sitk.AffineTransform(3)
    motion.SetCenter(tuple(centre))
    motion.SetMatrix(tuple(rotation.ravel()))
    motion.SetTranslation(tuple(translation))
    image = volume.with_array(np.asarray(volume.array, dtype=np.float32)).to_sitk()
    # Resample pulls values: output(x) = input(T(x)), so T is the inverse motion.
    moved = sitk.Resample(image, image, motion.GetInverse(), sitk.sitkBSpline, 0.0, sitk.sitkFloat32)
    array = np.clip(sitk.GetArrayFromImage(moved), 0, None).astype(np.float32)
    moved_landmarks = [Landmark(lm.label, tuple(float(v) for v in motion.TransformPoint(
        tuple(map(float, lm.position_lps))))) for lm in landmarks]
    return volume.with_array(array), moved_landmarks


def real_study_landmarks() -> tuple[Volume, list[Landmark]]:
    """The bundled real study and its reference landmarks derived from the LV-wall mask."""
    from SPECTFewShotLib.cardiac_landmarks import lv_landmarks
    from SPECTFewShotLib.io.volume_io import read_volume
    from SPECTFewShotLib.resources import sample_study

    image_path, mask_path = sample_study()
    return read_volume(image_path), lv_landmarks(read_volume(mask_path))


def real_cases(template_seed: int) -> list[LandmarkCase]:
    """Phantom `template_seed` -> the real study, and the real study -> its translated and rotated copy."""
    from SPECTFewShotLib.research.phantom import PhantomConfig, generate_study

    real, reference = real_study_landmarks()
    phantom = generate_study(template_seed, PhantomConfig(camera=REAL_STUDY_CAMERA))
    kept, truth = common_landmarks(phantom.landmarks, reference, LV_LANDMARK_NAMES)
    copy, copy_truth = moved_copy(real, reference)
    return [LandmarkCase(f"phantom {template_seed} -> real study", phantom.image, kept, real, truth),
            LandmarkCase("real study -> moved copy", real, reference, copy, copy_truth)]


def real_pair_cases(directory: str) -> list[LandmarkCase]:
    """Every ordered pair of the real studies in `directory` (NAME_image.nii.gz with NAME_mask.nii.gz, an LV-wall
    mask): one study with its mask-derived landmarks as the template, the other as the target (both ways)."""
    from pathlib import Path

    from SPECTFewShotLib.cardiac_landmarks import lv_landmarks
    from SPECTFewShotLib.io.volume_io import read_volume

    studies = []
    for image in sorted(Path(directory).glob("*_image.nii*")):
        mask = image.with_name(image.name.replace("_image", "_mask"))
        if mask.exists():
            wall = read_volume(mask)
            studies.append((image.name.split("_image")[0], read_volume(image), lv_landmarks(wall), wall.array > 0))
    if len(studies) < 2:
        raise InputError(f"{directory}: at least two studies with NAME_image.nii.gz and NAME_mask.nii.gz are needed")
    return [LandmarkCase(f"{a} -> {b}", volume_a, landmarks_a, volume_b, landmarks_b, target_wall=wall_b)
            for a, volume_a, landmarks_a, _ in studies for b, volume_b, landmarks_b, wall_b in studies if a != b]


def classified_wall(volume: Volume, wall: np.ndarray, protocol: str) -> Volume:
    """The product's classification of a study painted from its wall mask (the mask's quartile slices,
    `protocol`), its myocardium as a mask volume: what `localize --segmentation` reads after `classify`."""
    from SPECTFewShotLib.classification.session import StudySession
    from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for
    from SPECTFewShotLib.selftest.painting import paint, quartile_slices

    class_map = np.where(wall, 2, 1).astype(np.int32)
    support = Segmentation(volume.with_array(paint(class_map, quartile_slices(wall), protocol)),
                           segments_for([1, 2], {1: "background", 2: "LV_myocardium"}))
    session = StudySession()
    session.set_volume(volume)
    session.set_support(support)
    labels = session.predict().labels.labels.array
    return volume.with_array((labels == 2).astype(np.uint8))
