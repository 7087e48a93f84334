"""Solid shapes in patient millimetres (x = left, y = posterior, z = superior): containment tests and bounds."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

UNBOUNDED = 1e6  # mm; "no limit" along an axis


class Shape:
    """A solid: `contains(points[n, 3]) -> bool[n]` and an axis-aligned bounding box `bounds() -> (lo, hi)`."""

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Which points (n x 3, mm) lie inside."""
        raise NotImplementedError

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest corner of a box holding the shape."""
        raise NotImplementedError


@dataclass(frozen=True)
class Ellipsoid(Shape):
    """An ellipsoid with semi-axes `axes` along the columns of `rotation` (identity: x, y, z)."""

    center: np.ndarray
    axes: np.ndarray
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Which points lie inside the ellipsoid."""
        local = (points - self.center) @ self.rotation
        return np.einsum("ij,ij->i", local / self.axes, local / self.axes) <= 1.0

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact bounding box of the rotated ellipsoid."""
        half = np.sqrt(((self.rotation * self.axes[None, :]) ** 2).sum(axis=1))
        return self.center - half, self.center + half


@dataclass(frozen=True)
class EllipticCylinder(Shape):
    """A cylinder along z with a superelliptic cross-section |dx/a|^p + |dy/b|^p <= 1, between z_min and z_max."""

    center_xy: tuple[float, float]
    axes_xy: tuple[float, float]
    exponent: float = 2.0
    z_range: tuple[float, float] = (-UNBOUNDED, UNBOUNDED)

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Which points lie inside the cylinder."""
        dx = np.abs(points[:, 0] - self.center_xy[0]) / self.axes_xy[0]
        dy = np.abs(points[:, 1] - self.center_xy[1]) / self.axes_xy[1]
        inside = dx**self.exponent + dy**self.exponent <= 1.0
        return inside & (points[:, 2] >= self.z_range[0]) & (points[:, 2] <= self.z_range[1])

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounding box (z limited by z_range)."""
        c = np.array([self.center_xy[0], self.center_xy[1], 0.0])
        half = np.array([self.axes_xy[0], self.axes_xy[1], 0.0])
        lo, hi = c - half, c + half
        lo[2], hi[2] = self.z_range
        return lo, hi


@dataclass(frozen=True)
class HalfSpace(Shape):
    """Points p with (p - point) . normal >= 0."""

    point: np.ndarray
    normal: np.ndarray

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Which points lie on the normal's side of the plane."""
        return (points - self.point) @ self.normal >= 0.0

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Unbounded (a half-space limits nothing on its own)."""
        return np.full(3, -UNBOUNDED), np.full(3, UNBOUNDED)


@dataclass(frozen=True)
class Intersection(Shape):
    """Points inside every part."""

    parts: tuple[Shape, ...]

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Which points lie inside all parts."""
        inside = self.parts[0].contains(points)
        for part in self.parts[1:]:
            if not inside.any():
                break
            inside[inside] = part.contains(points[inside])
        return inside

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Intersection of the parts' boxes."""
        boxes = [part.bounds() for part in self.parts]
        return np.max([b[0] for b in boxes], axis=0), np.min([b[1] for b in boxes], axis=0)


@dataclass(frozen=True)
class Union(Shape):
    """Points inside any part."""

    parts: tuple[Shape, ...]

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Which points lie inside at least one part."""
        inside = np.zeros(len(points), dtype=bool)
        for part in self.parts:
            inside |= part.contains(points)
        return inside

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Union of the parts' boxes."""
        boxes = [part.bounds() for part in self.parts]
        return np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)


@dataclass(frozen=True)
class Difference(Shape):
    """Points inside `base` but not inside `removed`."""

    base: Shape
    removed: Shape

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Which points lie in base and outside removed."""
        inside = self.base.contains(points)
        if inside.any():
            inside[inside] = ~self.removed.contains(points[inside])
        return inside

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The base's box."""
        return self.base.bounds()


def rotation_about(axis: str, degrees: float) -> np.ndarray:
    """3x3 rotation matrix about the x, y or z axis."""
    t = np.deg2rad(degrees)
    c, s = np.cos(t), np.sin(t)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
