"""The answer of a classification: labels on the volume's grid and class probabilities (no torch needed)."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..io.segmentation_io import Segmentation


class ClassificationResult:
    """Labels on the volume's grid (painted values, the support's names and colors) and class probabilities.

    `probabilities` is float32 [C, k, j, i], C in the order of `class_labels`. When the features live on a coarser
    grid (large volumes) it is interpolated to the voxels on first access, so that a live update that only shows
    the labels does not pay for it.
    """

    def __init__(self, labels: Segmentation, class_labels: list[int], class_names: list[str],
                 probabilities: Optional[np.ndarray] = None,
                 make_probabilities: Optional[Callable[[], np.ndarray]] = None) -> None:
        if probabilities is None and make_probabilities is None:
            raise ValueError("a classification result needs probabilities or a way to compute them")
        self.labels = labels
        self.class_labels = list(class_labels)
        self.class_names = list(class_names)
        self._probabilities = probabilities
        self._make_probabilities = make_probabilities

    @property
    def probabilities(self) -> np.ndarray:
        """Class probabilities [C, k, j, i] (float32) on the volume's grid."""
        if self._probabilities is None:
            assert self._make_probabilities is not None
            self._probabilities = self._make_probabilities()
            self._make_probabilities = None
        return self._probabilities
