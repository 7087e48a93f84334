"""The bundled studies as Sample Data sources (category Nuclear Medicine), loaded by Slicer's own volume loading: the
study of the demo (patient001) and the template study with its landmarks (patient003)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..models.registry import sha256_of
from ..resources import RESOURCES_DIR, sample_study, template_study

SAMPLE_CATEGORY = "Nuclear Medicine"
SAMPLE_NAME = "SPECT MPS rest (PhysioNet patient001)"
SAMPLE_NODE_NAME = "MPS_patient001"
TEMPLATE_NAME = "SPECT MPS rest, template with LV landmarks (PhysioNet patient003)"
TEMPLATE_NODE_NAMES = ("MPS_patient003", "MPS_patient003_landmarks")


def sample_data_source() -> dict[str, Any]:
    """The keyword arguments of `SampleData.SampleDataLogic.registerCustomSampleDataSource` for the bundled study.

    The URI is the bundled file itself (file://), so Sample Data copies it into its cache, checks its SHA-256 and
    loads it as a volume file: the node gets Slicer's storage and display nodes like any loaded volume.
    """
    image, _ = sample_study()
    return {
        "category": SAMPLE_CATEGORY,
        "sampleName": SAMPLE_NAME,
        "uris": [Path(image).resolve().as_uri()],
        "fileNames": [Path(image).name],
        "nodeNames": [SAMPLE_NODE_NAME],
        "thumbnailFileName": str(RESOURCES_DIR / "Icons" / "SPECTFewShot.png"),
        "checksums": [f"SHA256:{sha256_of(image)}"],
    }


def template_data_source() -> dict[str, Any]:
    """The keyword arguments of `registerCustomSampleDataSource` for the template study and its landmarks (a volume
    and a markups file, loaded together): the template `localize` and the module's Localize take."""
    image, landmarks = template_study()
    files = [Path(image), Path(landmarks)]
    return {
        "category": SAMPLE_CATEGORY,
        "sampleName": TEMPLATE_NAME,
        "uris": [path.resolve().as_uri() for path in files],
        "fileNames": [path.name for path in files],
        "nodeNames": list(TEMPLATE_NODE_NAMES),
        "loadFileType": ["VolumeFile", "MarkupsFile"],
        "thumbnailFileName": str(RESOURCES_DIR / "Icons" / "SPECTFewShot.png"),
        "checksums": [f"SHA256:{sha256_of(path)}" for path in files],
    }


def register_sample_data() -> None:
    """Register the bundled studies with Slicer's Sample Data module (call once Slicer has started)."""
    import SampleData

    SampleData.SampleDataLogic.registerCustomSampleDataSource(**sample_data_source())
    SampleData.SampleDataLogic.registerCustomSampleDataSource(**template_data_source())

