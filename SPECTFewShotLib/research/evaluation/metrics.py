"""Overlap measures."""

from __future__ import annotations

from typing import Optional

import numpy as np


def dice(predicted: np.ndarray, truth: np.ndarray, where: Optional[np.ndarray] = None) -> float:
    """Dice coefficient of two boolean masks (within `where`); 1.0 when both are empty."""
    if where is not None:
        predicted, truth = predicted[where], truth[where]
    total = int(predicted.sum()) + int(truth.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(predicted, truth).sum()) / total


def class_dice(labels: np.ndarray, class_map: np.ndarray, classes: list[int],
               where: Optional[np.ndarray] = None) -> dict[int, float]:
    """Dice of every class value between a label map and the reference class map (within `where`)."""
    return {c: dice(labels == c, class_map == c, where) for c in classes}
