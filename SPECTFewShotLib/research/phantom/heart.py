"""The heart: LV myocardium (a thick cup open at the valve plane), LV and RV blood pools, RV wall, in a heart frame.

Heart frame: u along the LV long axis from the centre of the valve plane (u = 0) toward the apex; the short-axis
plane is spanned by `e_ant` (toward the anterior wall) and `e_sep` (toward the septum / RV). The short-axis angle
phi is 0 at the anterior wall, 90 degrees at the septum, 180 at the inferior wall and 270 at the lateral wall.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from SPECTFewShotLib.research.phantom.shapes import Shape


@dataclass(frozen=True)
class PerfusionDefect:
    """Reduced uptake in a sector of the myocardium: centre angle, half-width, apical range, severity."""

    territory: str
    center_deg: float
    half_width_deg: float
    u_from: float  # fraction of the LV length (0 = base, 1 = apex) where the defect starts
    u_to: float
    severity: float  # fraction of uptake lost at the centre (0..1)


@dataclass(frozen=True)
class SegmentDefect:
    """Uptake reduced by `depth` (fraction, 0..1) over whole AHA segments (1-17), with sharp edges: the known answer
    of the polar-map validation. Segments follow the AHA model in the heart frame: the cap (17) beyond the cavity's
    apical end, basal / mid / apical thirds of the cavity's length, angles from the anterior wall toward the septum
    (the RV, whose insertion points bound the septum at 30 and 150 degrees)."""

    segments: tuple[int, ...]
    depth: float


@dataclass(frozen=True)
class HeartGeometry:
    """Every shape parameter of the heart, in patient millimetres."""

    base_center: np.ndarray
    axis: np.ndarray  # unit vector, base -> apex
    e_ant: np.ndarray
    e_sep: np.ndarray
    r_endo: float  # LV cavity radius at the base
    l_endo: float  # LV cavity length, base to endocardial apex
    wall: float  # lateral wall thickness
    apex_wall: float  # wall thickness at the apex
    rv_u: float  # RV centre along the axis
    rv_offset: float  # RV centre distance from the LV axis toward the septum
    rv_axes: tuple[float, float, float]  # RV semi-axes along (axis, e_sep, e_ant)
    rv_wall: float
    atrium_length: float  # blood beyond the valve plane (left atrium / outflow)
    heterogeneity: tuple[float, float]  # amplitude and angle (deg) of the normal regional uptake variation
    defect: Optional[PerfusionDefect] = None
    segment_defect: Optional[SegmentDefect] = None

    @property
    def r_epi(self) -> float:
        """Epicardial radius at the base."""
        return self.r_endo + self.wall

    @property
    def l_epi(self) -> float:
        """Epicardial length, base to apex."""
        return self.l_endo + self.apex_wall

    def frame(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Heart-frame coordinates (u, anterior, septal) of patient points (n x 3)."""
        d = points - self.base_center
        return d @ self.axis, d @ self.e_ant, d @ self.e_sep

    def to_patient(self, u: float, ant: float, sep: float) -> np.ndarray:
        """Patient millimetres of a heart-frame point."""
        return self.base_center + u * self.axis + ant * self.e_ant + sep * self.e_sep

    def bounds(self, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """A box holding the LV, the RV and the atrial blood."""
        corners = []
        for u in (-self.atrium_length, self.l_epi):
            for a in (-1, 1):
                for s in (-1, 1):
                    corners.append(self.to_patient(u, a * self.r_epi, s * self.r_epi))
        rv_extent = self.rv_offset + self.rv_axes[1]
        for u in (self.rv_u - self.rv_axes[0], self.rv_u + self.rv_axes[0]):
            for a in (-1, 1):
                corners.append(self.to_patient(u, a * self.rv_axes[2], rv_extent))
        corners = np.array(corners)
        return corners.min(axis=0) - margin, corners.max(axis=0) + margin

    def myocardial_uptake(self, points: np.ndarray) -> np.ndarray:
        """Relative uptake (1 = normal) of myocardial points: regional variation times the defect, if any."""
        u, ant, sep = self.frame(points)
        phi = np.degrees(np.arctan2(sep, ant)) % 360.0
        amplitude, angle = self.heterogeneity
        uptake = 1.0 + amplitude * np.cos(np.radians(phi - angle))
        if self.defect is not None:
            d = self.defect
            distance = np.abs((phi - d.center_deg + 180.0) % 360.0 - 180.0)
            angular = _smooth_step((d.half_width_deg + 12.0 - distance) / 24.0)
            fraction = u / self.l_epi
            axial = _smooth_step((fraction - d.u_from) / 0.12 + 0.5) * _smooth_step((d.u_to - fraction) / 0.12 + 0.5)
            uptake = uptake * (1.0 - d.severity * angular * axial)
        if self.segment_defect is not None:
            inside = np.isin(self.aha_segments(points), self.segment_defect.segments)
            uptake = np.where(inside, uptake * (1.0 - self.segment_defect.depth), uptake)
        return uptake

    def aha_segments(self, points: np.ndarray) -> np.ndarray:
        """AHA segment (1-17) of patient points, taken as myocardial points (heart frame, exact)."""
        from SPECTFewShotLib.cardiac_views.aha_segments import segments_of_heart_point

        u, ant, sep = self.frame(points)
        return segments_of_heart_point(u, self.l_endo, np.degrees(np.arctan2(sep, ant)) % 360.0)


def _smooth_step(x: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, a smooth (cubic) ramp in between."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


class HalfEllipsoidCup(Shape):
    """The part u >= 0 of an ellipsoid of revolution about the LV axis (radius r at u = 0, length l)."""

    def __init__(self, heart: HeartGeometry, radius: float, length: float) -> None:
        self.heart, self.radius, self.length = heart, radius, length

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Which points lie in the half-ellipsoid."""
        u, ant, sep = self.heart.frame(points)
        rho2 = ant**2 + sep**2
        return (u >= 0.0) & (rho2 / self.radius**2 + u**2 / self.length**2 <= 1.0)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Box of the LV (epicardium)."""
        return self.heart.bounds()


class Myocardium(Shape):
    """LV myocardium: inside the epicardial cup, outside the endocardial one; open at the valve plane."""

    def __init__(self, heart: HeartGeometry) -> None:
        self.epi = HalfEllipsoidCup(heart, heart.r_epi, heart.l_epi)
        self.endo = HalfEllipsoidCup(heart, heart.r_endo, heart.l_endo)
        self.heart = heart

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Which points lie in the LV wall."""
        return self.epi.contains(points) & ~self.endo.contains(points)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Box of the LV."""
        return self.heart.bounds()


class AtrialBlood(Shape):
    """Blood just beyond the valve plane (left atrium and outflow): a short cylinder on the LV axis."""

    def __init__(self, heart: HeartGeometry) -> None:
        self.heart = heart

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Which points lie in the cylinder."""
        u, ant, sep = self.heart.frame(points)
        return (u < 0.0) & (u >= -self.heart.atrium_length) & (ant**2 + sep**2 <= (0.95 * self.heart.r_epi) ** 2)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Box of the heart."""
        return self.heart.bounds()


class RightVentricle(Shape):
    """RV: an ellipsoid beside the septum minus the LV; `inner=True` gives its cavity (wall thickness removed)."""

    def __init__(self, heart: HeartGeometry, inner: bool) -> None:
        self.heart = heart
        shrink = heart.rv_wall if inner else 0.0
        self.axes = np.array(heart.rv_axes) - shrink
        self.lv = HalfEllipsoidCup(heart, heart.r_epi, heart.l_epi)

    def ellipsoid_contains(self, points: np.ndarray) -> np.ndarray:
        """Which points lie in the RV ellipsoid (LV not removed)."""
        u, ant, sep = self.heart.frame(points)
        du, ds, da = u - self.heart.rv_u, sep - self.heart.rv_offset, ant
        return (du / self.axes[0]) ** 2 + (ds / self.axes[1]) ** 2 + (da / self.axes[2]) ** 2 <= 1.0

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Which points lie in the RV region and outside the LV."""
        return self.ellipsoid_contains(points) & ~self.lv.contains(points)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Box of the heart."""
        return self.heart.bounds()


def epicardial_samples(heart: HeartGeometry, count: int = 400) -> np.ndarray:
    """Points on the LV epicardium (patient mm), for placing neighbouring organs."""
    rng = np.random.default_rng(0)
    t = rng.uniform(0.0, np.pi / 2, count)  # polar angle from the base plane to the apex
    phi = rng.uniform(0.0, 2 * np.pi, count)
    u = heart.l_epi * np.sin(t)
    rho = heart.r_epi * np.cos(t)
    return (heart.base_center + u[:, None] * heart.axis + (rho * np.cos(phi))[:, None] * heart.e_ant
            + (rho * np.sin(phi))[:, None] * heart.e_sep)


def rv_insertion_points(heart: HeartGeometry) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """Anterior and inferior RV insertion points: where the RV wall meets the LV epicardium at mid-ventricle."""
    rv = RightVentricle(heart, inner=False)
    for fraction in (0.45, 0.35, 0.55, 0.25):
        u = fraction * heart.l_endo
        radius = heart.r_epi * np.sqrt(max(0.0, 1.0 - (u / heart.l_epi) ** 2))
        phi = np.radians(np.arange(0.0, 360.0, 0.5))
        ring = np.stack([np.full_like(phi, u), (radius + 1.0) * np.cos(phi), (radius + 1.0) * np.sin(phi)], axis=1)
        points = heart.base_center + ring @ np.stack([heart.axis, heart.e_ant, heart.e_sep])
        touching = rv.ellipsoid_contains(points)
        if not touching.any() or touching.all():
            continue
        degrees = np.degrees(phi[touching])
        # the arc is centred on the septum (90 degrees): its ends toward 0 and toward 180 are the insertions
        anterior, inferior = degrees.min(), degrees.max()
        return (_ring_point(heart, u, radius, anterior), _ring_point(heart, u, radius, inferior))
    return None


def _ring_point(heart: HeartGeometry, u: float, radius: float, degrees: float) -> np.ndarray:
    t = np.radians(degrees)
    return heart.to_patient(u, radius * np.cos(t), radius * np.sin(t))
