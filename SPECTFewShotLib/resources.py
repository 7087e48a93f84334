"""Where the shipped resources (sample data, weights, UI) live, in the source tree and inside Slicer."""

from __future__ import annotations

from pathlib import Path

# Source tree: <repo>/SPECTFewShotLib and <repo>/Resources. Slicer install: qt-scripted-modules/SPECTFewShotLib
# and qt-scripted-modules/Resources. Both are "the package's parent folder / Resources".
RESOURCES_DIR = Path(__file__).resolve().parent.parent / "Resources"
SAMPLE_DIR = RESOURCES_DIR / "SampleData" / "physionet-mps"


def sample_study() -> tuple[Path, Path]:
    """Paths of the bundled real rest perfusion study and its LV-wall mask."""
    return SAMPLE_DIR / "patient001_image.nii.gz", SAMPLE_DIR / "patient001_mask.nii.gz"


def template_study() -> tuple[Path, Path]:
    """Paths of the bundled template study (PhysioNet MPS patient003) and its LV landmarks (LV_center, LV_apex,
    LV_base derived from its LV-wall mask by `cardiac_landmarks.lv_landmarks`, LPS), for `localize --template`."""
    return SAMPLE_DIR / "patient003_image.nii.gz", SAMPLE_DIR / "patient003_landmarks.mrk.json"
