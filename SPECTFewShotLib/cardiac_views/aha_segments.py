"""The AHA 17-segment model of the LV (Cerqueira et al., Circulation 2002;105:539), defined once.

Angles are short-axis angles in degrees measured from the anterior wall toward the septum: 0 anterior, 90 septal,
180 inferior, 270 lateral (on the polar map: anterior at 12 o'clock, septum at 9, inferior at 6, lateral at 3).
The basal (1-6) and mid (7-12) rings have six 60-degree segments centred on 0, 60, ... 300 degrees: anterior,
anteroseptal, inferoseptal, inferior, inferolateral, anterolateral; the RV insertion points fall on the boundaries
anterior/anteroseptal (30 degrees) and inferoseptal/inferior (150 degrees). The apical ring (13-16) has four
90-degree segments centred on 0, 90, 180, 270: anterior, septal, inferior, lateral. 17 is the apical cap.

Along the axis: the cap is the myocardium beyond the apical end of the cavity; the rest, from the cavity's apical
end to the base, is cut into apical, mid and basal thirds. On the polar map the cap is the central disc and the
three rings follow outward to the base at the rim (`RING_RADII`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

RINGS = ("apex", "apical", "mid", "basal")
# Polar-map radius (0 = apex, 1 = base) where each ring starts and ends: cap disc, then three equal rings.
RING_RADII = {"apex": (0.0, 0.2), "apical": (0.2, 0.2 + 0.8 / 3), "mid": (0.2 + 0.8 / 3, 0.2 + 1.6 / 3),
              "basal": (0.2 + 1.6 / 3, 1.0)}
SIX_WALLS = ("anterior", "anteroseptal", "inferoseptal", "inferior", "inferolateral", "anterolateral")
SIX_ABBREVIATIONS = ("ANT", "ASEP", "ISEP", "INF", "ILAT", "ALAT")
FOUR_WALLS = ("anterior", "septal", "inferior", "lateral")
FOUR_ABBREVIATIONS = ("ANT", "SEP", "INF", "LAT")


@dataclass(frozen=True)
class AHASegment:
    """One of the 17 segments: number, name, ring, wall, abbreviation and angular range (degrees)."""

    number: int
    name: str
    ring: str
    wall: str
    abbreviation: str
    center_deg: float
    width_deg: float

    def contains_angle(self, angle_deg: np.ndarray | float) -> np.ndarray:
        """Whether short-axis angles (degrees, 0 anterior, 90 septal) fall in this segment's sector."""
        if self.ring == "apex":
            return np.ones(np.shape(angle_deg), dtype=bool)
        offset = (np.asarray(angle_deg, dtype=float) - self.center_deg + 180.0) % 360.0 - 180.0
        return (offset >= -self.width_deg / 2) & (offset < self.width_deg / 2)


def _build() -> tuple[AHASegment, ...]:
    segments = []
    for ring, first in (("basal", 1), ("mid", 7)):
        for n, (wall, abbreviation) in enumerate(zip(SIX_WALLS, SIX_ABBREVIATIONS)):
            segments.append(AHASegment(first + n, f"{ring} {wall}", ring, wall, abbreviation, 60.0 * n, 60.0))
    for n, (wall, abbreviation) in enumerate(zip(FOUR_WALLS, FOUR_ABBREVIATIONS)):
        segments.append(AHASegment(13 + n, f"apical {wall}", "apical", wall, abbreviation, 90.0 * n, 90.0))
    segments.append(AHASegment(17, "apex", "apex", "apex", "APEX", 0.0, 360.0))
    return tuple(segments)


AHA_SEGMENTS: tuple[AHASegment, ...] = _build()
SEGMENT_BY_NUMBER = {segment.number: segment for segment in AHA_SEGMENTS}


def segment(number: int) -> AHASegment:
    """The segment with this number (1-17)."""
    if number not in SEGMENT_BY_NUMBER:
        raise InputError(f"AHA segment {number} does not exist; segments are numbered 1 to 17")
    return SEGMENT_BY_NUMBER[number]


def ring_of_radius(radius: np.ndarray) -> np.ndarray:
    """Ring index (0 cap, 1 apical, 2 mid, 3 basal) of polar-map radii in [0, 1]."""
    edges = [RING_RADII[ring][1] for ring in RINGS[:-1]]
    return np.digitize(np.asarray(radius, dtype=float), edges)


def segment_numbers(ring_index: np.ndarray, angle_deg: np.ndarray) -> np.ndarray:
    """AHA segment numbers (1-17) for ring indices (0 cap .. 3 basal) and short-axis angles (degrees)."""
    ring_index = np.asarray(ring_index)
    angle = np.asarray(angle_deg, dtype=float) % 360.0
    six = np.floor(((angle + 30.0) % 360.0) / 60.0).astype(int)  # 0 anterior .. 5 anterolateral
    four = np.floor(((angle + 45.0) % 360.0) / 90.0).astype(int)  # 0 anterior .. 3 lateral
    ring_index, six, four = np.broadcast_arrays(ring_index, six, four)
    out = np.full(ring_index.shape, 17, dtype=int)
    out = np.where(ring_index == 3, 1 + six, out)
    out = np.where(ring_index == 2, 7 + six, out)
    return np.where(ring_index == 1, 13 + four, out)


def segment_at(radius: np.ndarray, angle_deg: np.ndarray) -> np.ndarray:
    """AHA segment numbers at polar-map radii (0 apex .. 1 base) and angles (degrees, 0 anterior, 90 septal)."""
    return segment_numbers(ring_of_radius(radius), angle_deg)


def segments_of_heart_point(depth_from_base: np.ndarray, cavity_length: np.ndarray | float,
                            angle_deg: np.ndarray) -> np.ndarray:
    """AHA segments of myocardial points given their depth from the base along the axis (mm), the cavity's
    length (base to the cavity's apical end, mm) and their short-axis angle: beyond the cavity is the cap (17),
    the rest is cut into basal, mid and apical thirds."""
    fraction = np.asarray(depth_from_base, dtype=float) / np.asarray(cavity_length, dtype=float)
    ring = np.where(fraction >= 1.0, 0, np.where(fraction >= 2.0 / 3.0, 1, np.where(fraction >= 1.0 / 3.0, 2, 3)))
    return segment_numbers(ring, angle_deg)
