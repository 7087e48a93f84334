"""The cardiac frame: the LV long axis (apex -> centre of the basal ring) and the rotation about it.

All vectors are LPS. `axis` runs from the apex to the base; `anterior` and `septal` span the short-axis plane
with septal = anterior x axis, so that a short-axis angle phi (degrees) points along
cos(phi) * anterior + sin(phi) * septal: 0 anterior, 90 septal, 180 inferior, 270 lateral.

The rotation about the axis comes, in order of preference, from
- the RV insertion points (`RV_insertion_anterior` at 30 degrees, `RV_insertion_inferior` at 150 degrees, the
  boundaries of the septum in the AHA model): the circular mean of what each point says, so one point is enough;
- otherwise the anatomical convention: the anterior wall faces the patient's head, i.e. anterior is the patient's
  superior direction projected onto the short-axis plane (the plane of the clinical vertical long axis, which
  contains the long axis and the body's vertical); the septum then lies toward the patient's right-anterior. When
  the long axis is within 20 degrees of the body's vertical, the patient's anterior is projected instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..errors import InputError
from ..io.markups_io import Landmark
from .rotations import axis_rotation

INSERTION_ANGLES_DEG = {"RV_insertion_anterior": 30.0, "RV_insertion_inferior": 150.0}
MIN_AXIS_MM = 20.0
SEPTUM_FROM_INSERTIONS = "RV insertion points"
SEPTUM_FROM_ANATOMY = "anatomical convention (anterior = patient superior)"
# Where the LV apex points from the base in patients: left, anterior, inferior (LPS).
APEX_DIRECTION_LPS = np.array([1.0, -1.0, -1.0]) / np.sqrt(3.0)
_SUPERIOR = np.array([0.0, 0.0, 1.0])
_ANTERIOR = np.array([0.0, -1.0, 0.0])


@dataclass(frozen=True, eq=False)
class CardiacFrame:
    """Apex, base (LPS mm) and the unit axis / anterior / septal directions of one LV."""

    apex: np.ndarray
    base: np.ndarray
    anterior: np.ndarray
    septal: np.ndarray
    septum_source: str = SEPTUM_FROM_ANATOMY

    @property
    def axis(self) -> np.ndarray:
        """Unit vector from the apex toward the base."""
        d = self.base - self.apex
        return d / np.linalg.norm(d)

    @property
    def length_mm(self) -> float:
        """Distance from the apex to the base."""
        return float(np.linalg.norm(self.base - self.apex))

    @property
    def center(self) -> np.ndarray:
        """Midpoint of the axis."""
        return (self.apex + self.base) / 2.0

    def direction(self, angle_deg: np.ndarray | float) -> np.ndarray:
        """Unit short-axis directions (..., 3) at angles in degrees (0 anterior, 90 septal)."""
        phi = np.radians(np.asarray(angle_deg, dtype=float))[..., None]
        return np.cos(phi) * self.anterior + np.sin(phi) * self.septal

    def coordinates(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(depth from the apex along the axis in mm, distance from the axis in mm, angle in degrees) of points."""
        d = np.asarray(points, dtype=float) - self.apex
        depth = d @ self.axis
        a, s = d @ self.anterior, d @ self.septal
        return depth, np.hypot(a, s), np.degrees(np.arctan2(s, a)) % 360.0

    def tilted(self, degrees: float, toward_deg: float, pivot: Optional[np.ndarray] = None) -> CardiacFrame:
        """The frame with its axis (apex -> base) tilted by `degrees` toward the short-axis angle `toward_deg`,
        about `pivot` (default: the axis midpoint); apex, base and the in-plane directions turn with it."""
        pivot = self.center if pivot is None else np.asarray(pivot, dtype=float)
        rotation_axis = np.cross(self.axis, self.direction(toward_deg))
        rotation = axis_rotation(rotation_axis, degrees)
        return CardiacFrame(pivot + rotation @ (self.apex - pivot), pivot + rotation @ (self.base - pivot),
                            rotation @ self.anterior, rotation @ self.septal, self.septum_source)

    def rotated(self, degrees: float) -> CardiacFrame:
        """The frame turned by `degrees` about its own axis (anterior toward septal for positive angles)."""
        return CardiacFrame(self.apex, self.base, self.direction(degrees), self.direction(degrees + 90.0),
                            self.septum_source)


def frame_from_points(apex: Sequence[float], base: Sequence[float],
                      insertions: Optional[dict[str, Sequence[float]]] = None) -> CardiacFrame:
    """The cardiac frame of an apex and a base point (LPS mm), turned by the RV insertion points when given
    (`{"RV_insertion_anterior": point, "RV_insertion_inferior": point}`, either or both)."""
    apex, base = np.asarray(apex, dtype=float), np.asarray(base, dtype=float)
    if apex.shape != (3,) or base.shape != (3,) or not (np.all(np.isfinite(apex)) and np.all(np.isfinite(base))):
        raise InputError("the LV apex and base need three finite coordinates each")
    length = float(np.linalg.norm(base - apex))
    if length < MIN_AXIS_MM:
        raise InputError(f"the LV apex and base are {length:.1f} mm apart; a long axis needs at least "
                         f"{MIN_AXIS_MM:.0f} mm (check the landmarks)")
    axis = (base - apex) / length
    reference = _SUPERIOR if abs(axis @ _SUPERIOR) < np.cos(np.radians(20.0)) else _ANTERIOR
    anterior = _unit(reference - (reference @ axis) * axis)
    septal = np.cross(anterior, axis)
    frame = CardiacFrame(apex, base, anterior, septal, SEPTUM_FROM_ANATOMY)
    if not insertions:
        return frame
    offsets = []
    for name, point in insertions.items():
        if name not in INSERTION_ANGLES_DEG:
            raise InputError(f"unknown RV insertion landmark '{name}'")
        _, radius, angle = frame.coordinates(np.asarray(point, dtype=float)[None, :])
        if radius[0] < 1.0:
            raise InputError(f"{name} lies on the LV long axis; it cannot tell where the septum is")
        offsets.append(np.radians(angle[0] - INSERTION_ANGLES_DEG[name]))
    turn = float(np.degrees(np.arctan2(np.mean(np.sin(offsets)), np.mean(np.cos(offsets)))))
    if len(offsets) == 2 and np.cos(offsets[0] - offsets[1]) < 0.0:
        raise InputError("the two RV insertion points disagree by more than 90 degrees about where the septum is; "
                         "check which is anterior and which is inferior")
    turned = frame.rotated(turn)
    return CardiacFrame(apex, base, turned.anterior, turned.septal, SEPTUM_FROM_INSERTIONS)


def orientation_warning(frame: CardiacFrame) -> str | None:
    """A sentence when the apex lies right, posterior and superior of the base (apex and base probably swapped)."""
    if -frame.axis @ APEX_DIRECTION_LPS < -0.5:
        return ("the apex lies to the right of, behind and above the base, unlike any heart: are LV_apex and LV_base "
                "swapped?")
    return None


def flagged_points_warning(landmarks: Sequence[Landmark], frame: CardiacFrame) -> str | None:
    """One sentence naming the low-confidence points (landmarks.fusion) the long axis (LV_apex, LV_base) or the
    septum (the RV insertion points, when they set it) rests on, and, when the septum does, where it came from and
    what it would come from without them; None when it rests on none. The CLI and the module both print it."""
    from ..landmarks.fusion import is_low_confidence

    used = ["LV_apex", "LV_base"] + (list(INSERTION_ANGLES_DEG) if frame.septum_source == SEPTUM_FROM_INSERTIONS
                                     else [])
    flagged = [lm.label for lm in landmarks if lm.label in used and is_low_confidence(lm.confidence)]
    if not flagged:
        return None
    axis, septum = bool(set(flagged) & {"LV_apex", "LV_base"}), bool(set(flagged) & set(INSERTION_ANGLES_DEG))
    rests = "the long axis and the septum rest" if axis and septum else \
        "the long axis rests" if axis else "the septum rests"
    source = (f"; the septum comes from the {SEPTUM_FROM_INSERTIONS} (without them, from the "
              f"{SEPTUM_FROM_ANATOMY})") if septum else ""
    return (f"{rests} on points flagged for checking ({', '.join(flagged)}){source}: check them before reading the "
            "polar map")


def frame_from_landmarks(landmarks: Sequence[Landmark]) -> CardiacFrame:
    """The cardiac frame of landmarks: LV_apex and LV_base (required), RV insertion points (optional)."""
    by_name = {landmark.label: np.asarray(landmark.position_lps, dtype=float) for landmark in landmarks}
    missing = [name for name in ("LV_apex", "LV_base") if name not in by_name]
    if missing:
        raise InputError(f"the landmarks lack {' and '.join(missing)}; the long axis needs LV_apex and LV_base")
    insertions = {name: by_name[name] for name in INSERTION_ANGLES_DEG if name in by_name}
    return frame_from_points(by_name["LV_apex"], by_name["LV_base"], insertions or None)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)
