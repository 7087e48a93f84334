"""Landmarks as Slicer markups files (`.mrk.json`): read LPS or RAS by `coordinateSystem`, write it explicitly."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import InputError
from .atomic import check_writable, full_suffix, write_text_atomic

MARKUPS_SCHEMA = (
    "https://raw.githubusercontent.com/slicer/slicer/main/Modules/Loadable/Markups/Resources/Schema/"
    "markups-schema-v1.0.3.json#"
)


@dataclass(frozen=True)
class Landmark:
    """A named point in LPS millimetres, with an optional confidence in [0, 1]."""

    label: str
    position_lps: tuple[float, float, float]
    confidence: float | None = None
    description: str = ""


def read_landmarks(path: str | os.PathLike) -> list[Landmark]:
    """Read the control points of a Slicer markups file as LPS landmarks (RAS files are converted)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found")
    try:
        document = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise InputError(f"{p.name} is not a valid markups file (not JSON)") from None
    except OSError as error:
        raise InputError(f"{p.name} cannot be read ({error.strerror or error})") from None
    markups = document.get("markups") if isinstance(document, dict) else None
    if not isinstance(markups, list) or not markups:
        raise InputError(f"{p.name} is not a valid markups file (no 'markups' list)")
    landmarks: list[Landmark] = []
    for markup in markups:
        if not isinstance(markup, dict):
            raise InputError(f"{p.name} is not a valid markups file (a markup is not an object)")
        system = str(markup.get("coordinateSystem", "LPS")).upper()
        if system not in ("LPS", "RAS"):
            raise InputError(f"{p.name}: unknown coordinateSystem '{system}' (expected LPS or RAS)")
        values = _confidence_values(markup)
        points = markup.get("controlPoints") or []
        if not isinstance(points, list):
            raise InputError(f"{p.name} is not a valid markups file ('controlPoints' is not a list)")
        for index, point in enumerate(points):
            landmarks.append(_landmark(point, system, values, index, p.name))
    if not landmarks:
        raise InputError(f"{p.name} holds no control points")
    return landmarks


def _landmark(point: dict, system: str, confidences: list | None, index: int, name: str) -> Landmark:
    if not isinstance(point, dict):
        raise InputError(f"{name}: control point {index + 1} is not an object")
    if point.get("positionStatus", "defined") != "defined":
        raise InputError(f"{name}: control point '{point.get('label', index + 1)}' has no position (not placed)")
    try:
        x, y, z = (float(v) for v in point["position"])
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{name}: control point {index + 1} has no valid position") from None
    if not all(math.isfinite(v) for v in (x, y, z)):
        raise InputError(f"{name}: control point {index + 1} has a position that is not a number")
    if system == "RAS":
        x, y = -x, -y
    label = str(point.get("label") or f"F-{index + 1}")
    confidence = None
    if isinstance(confidences, list) and index < len(confidences):
        try:
            confidence = float(confidences[index])
        except (TypeError, ValueError):
            raise InputError(f"{name}: the confidence of control point {index + 1} is not a number") from None
    return Landmark(label, (x, y, z), confidence, str(point.get("description", "")))


def _confidence_values(markup: dict) -> list | None:
    measurements = markup.get("measurements") or []
    for measurement in measurements if isinstance(measurements, list) else []:
        if isinstance(measurement, dict) and measurement.get("name") == "confidence":
            return measurement.get("controlPointValues")
    return None


def check_markups_output(path: str | os.PathLike) -> Path:
    """Refuse early an output path that is not `.mrk.json` or whose folder is missing."""
    if full_suffix(path) != ".mrk.json":
        raise InputError(f"{Path(path).name}: write landmarks as a Slicer markups file ending in .mrk.json")
    return check_writable(path)


def write_landmarks(landmarks: Sequence[Landmark], path: str | os.PathLike, coordinate_system: str = "LPS") -> Path:
    """Write landmarks as a Slicer markups fiducial file, atomically, with its coordinate system stated."""
    check_markups_output(path)
    system = coordinate_system.upper()
    if system not in ("LPS", "RAS"):
        raise InputError(f"coordinate system must be LPS or RAS, not {coordinate_system}")
    points = []
    for number, landmark in enumerate(landmarks, start=1):
        x, y, z = landmark.position_lps
        if system == "RAS":
            x, y = -x, -y
        description = landmark.description
        if landmark.confidence is not None and not description:
            description = f"confidence {landmark.confidence:.2f}"
        points.append({
            "id": str(number),
            "label": landmark.label,
            "description": description,
            "associatedNodeID": "",
            "position": [round(x, 4), round(y, 4), round(z, 4)],
            "orientation": [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0],
            "selected": True,
            "locked": False,
            "visibility": True,
            "positionStatus": "defined",
        })
    markup = {
        "type": "Fiducial",
        "coordinateSystem": system,
        "coordinateUnits": "mm",
        "locked": False,
        "fixedNumberOfControlPoints": False,
        "labelFormat": "%N-%d",
        "lastUsedControlPointNumber": len(points),
        "controlPoints": points,
        "measurements": [],
    }
    if landmarks and all(landmark.confidence is not None for landmark in landmarks):
        markup["measurements"].append({
            "name": "confidence",
            "enabled": True,
            "units": "",
            "printFormat": "%-#4.4g%s",
            "controlPointValues": [round(float(landmark.confidence), 4) for landmark in landmarks],
        })
    document = {"@schema": MARKUPS_SCHEMA, "markups": [markup]}
    write_text_atomic(path, json.dumps(document, indent=2, allow_nan=False) + "\n")
    return Path(path)
