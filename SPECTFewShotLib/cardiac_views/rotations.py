"""3 x 3 rotation matrices: about an axis, and the best fit between two point sets."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def axis_rotation(axis: Sequence[float] | np.ndarray, degrees: float) -> np.ndarray:
    """The rotation by `degrees` about `axis` (right-handed; Rodrigues' formula)."""
    u = np.asarray(axis, dtype=float)
    u = u / np.linalg.norm(u)
    cross = np.array([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]])
    angle = np.radians(degrees)
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * (cross @ cross)


def best_rotation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The rotation R (3 x 3, no reflection) that best maps the centred `source` points onto the centred `target`
    points, R @ (s - mean) ~ t - mean, in the least-squares sense (Kabsch)."""
    source = np.asarray(source, dtype=float) - np.mean(source, axis=0)
    target = np.asarray(target, dtype=float) - np.mean(target, axis=0)
    u, _, vt = np.linalg.svd(target.T @ source)
    flip = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    return u @ flip @ vt
