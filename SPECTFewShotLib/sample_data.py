"""The bundled study as a Sample Data source (category Nuclear Medicine), loaded by Slicer's own volume loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .models.registry import sha256_of
from .resources import RESOURCES_DIR, sample_study

SAMPLE_CATEGORY = "Nuclear Medicine"
SAMPLE_NAME = "SPECT MPS rest (PhysioNet patient001)"
SAMPLE_NODE_NAME = "MPS_patient001"


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


def register_sample_data() -> None:
    """Register the bundled study with Slicer's Sample Data module (call once Slicer has started)."""
    import SampleData

    SampleData.SampleDataLogic.registerCustomSampleDataSource(**sample_data_source())

