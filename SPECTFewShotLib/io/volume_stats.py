"""Summaries of a volume for people and for JSON: geometry and voxel statistics."""

from __future__ import annotations

import numpy as np

from ..volume import Volume


def describe(volume: Volume) -> dict:
    """Size, spacing, origin (LPS), direction (row-major), modality, units and min/max/mean/sum of the voxels."""
    values = volume.array.astype(np.float64)
    return {
        "size": list(volume.size),
        "spacing": list(volume.spacing),
        "origin_lps": list(volume.origin),
        "direction": list(volume.direction),
        "modality": volume.modality,
        "units": volume.units,
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "sum": float(values.sum()),
    }
