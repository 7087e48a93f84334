"""The LV long axis as a product output: the line from the base centre to the apex, with its angles.

Angles in the patient's own coordinates: `azimuth_deg`, the axis's direction in the axial plane measured from the
patient's left towards anterior; `elevation_deg`, its tilt out of the axial plane, positive when the apex lies
inferior to the base. A normal heart points left, anterior and inferior: azimuth and elevation both positive.
The line is written as a Slicer line markup (`.mrk.json`), for the short-axis views to stand on.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.atomic import write_text_atomic
from ..io.markups_io import MARKUPS_SCHEMA

AXIS_NAME = "LV long axis"


@dataclass(frozen=True)
class LongAxis:
    """The LV long axis from the base centre to the apex (LPS mm), with how far it is to be trusted."""

    base_lps: tuple[float, float, float]
    apex_lps: tuple[float, float, float]
    confidence: float | None = None

    @property
    def direction(self) -> np.ndarray:
        """Unit vector from the base to the apex (LPS)."""
        vector = np.subtract(self.apex_lps, self.base_lps)
        length = np.linalg.norm(vector)
        if length == 0:
            raise InputError("the LV base and apex coincide: no long axis")
        return vector / length

    @property
    def length_mm(self) -> float:
        """Distance from the base centre to the apex."""
        return float(np.linalg.norm(np.subtract(self.apex_lps, self.base_lps)))

    @property
    def azimuth_deg(self) -> float:
        """Direction in the axial plane, degrees from the patient's left towards anterior."""
        x, y, _ = self.direction
        return float(np.degrees(np.arctan2(-y, x)))

    @property
    def elevation_deg(self) -> float:
        """Tilt out of the axial plane, degrees, positive when the apex is inferior to the base."""
        return float(np.degrees(np.arcsin(np.clip(-self.direction[2], -1.0, 1.0))))

    def description(self) -> str:
        """One line for a clinician: length, angles and confidence."""
        text = (f"base centre to apex, {self.length_mm:.0f} mm; azimuth {self.azimuth_deg:.0f} deg (from left "
                f"towards anterior), elevation {self.elevation_deg:.0f} deg (apex inferior positive)")
        if self.confidence is not None:
            text += f"; confidence {self.confidence:.2f}"
        return text


def angle_between_deg(first: np.ndarray, second: np.ndarray) -> float:
    """Angle in degrees between two directions (0..180)."""
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    cosine = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


def write_long_axis(axis: LongAxis, path: str | os.PathLike, coordinate_system: str = "LPS") -> Path:
    """Write the axis as a Slicer line markup (two control points, base then apex) atomically; returns the path."""
    if coordinate_system not in ("LPS", "RAS"):
        raise InputError(f"unknown coordinate system {coordinate_system!r}: use LPS or RAS")
    flip = np.array([-1.0, -1.0, 1.0]) if coordinate_system == "RAS" else np.ones(3)
    points = []
    for index, (label, position) in enumerate((("LV_base", axis.base_lps), ("LV_apex", axis.apex_lps))):
        points.append({"id": str(index + 1), "label": label, "description": "", "associatedNodeID": "",
                       "position": [float(v) for v in np.asarray(position) * flip],
                       "orientation": [-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0],
                       "selected": True, "locked": False, "visibility": True, "positionStatus": "defined"})
    document = {"@schema": MARKUPS_SCHEMA, "markups": [{
        "type": "Line", "coordinateSystem": coordinate_system, "coordinateUnits": "mm", "locked": False,
        "fixedNumberOfControlPoints": True, "labelFormat": "%N-%d", "lastUsedControlPointNumber": 2,
        "name": AXIS_NAME, "description": axis.description(), "controlPoints": points,
        "measurements": [{"name": "length", "enabled": True, "value": axis.length_mm, "units": "mm"},
                         {"name": "azimuth", "enabled": True, "value": axis.azimuth_deg, "units": "deg"},
                         {"name": "elevation", "enabled": True, "value": axis.elevation_deg, "units": "deg"}]}]}
    target = Path(path)
    write_text_atomic(target, json.dumps(document, indent=2) + "\n")
    return target
