"""The per-study learner: a forest of extremely randomised trees fitted on the painted voxels at every paint change.

Extremely randomised trees (Geurts et al. 2006) on the study features and the distances to the paint: no feature
scaling, no learning rate, no iterations to choose; averaging many randomised splits gives smooth class
probabilities for the graph cut, and prediction is a few array lookups per tree. Every class carries the same
total weight, so a big painted background does not drown a thin myocardium stroke. A fixed random state: the same
paint gives the same answer (RANDOM_STATE unless the caller names another).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TREES = 30
MIN_SAMPLES_LEAF = 2
RANDOM_STATE = 0
PREDICT_BLOCK = 262_144  # voxels per prediction block: bounds memory on large volumes


@dataclass
class TreeEnsemble:
    """Extremely randomised trees on the painted voxels, with class-balanced weights."""

    workers: int = 2
    random_state: int = RANDOM_STATE  # the trees' random state (the evaluation varies it to show what is noise)

    def fit(self, features: np.ndarray, classes: np.ndarray) -> TreeEnsemble:
        """Fit on painted voxels: features [n, F] (float32), class indices [n] (0..C-1, every class present)."""
        from sklearn.ensemble import ExtraTreesClassifier

        self.n_classes = int(classes.max()) + 1
        self.trees = ExtraTreesClassifier(n_estimators=TREES, min_samples_leaf=MIN_SAMPLES_LEAF,
                                          n_jobs=self.workers, random_state=self.random_state)
        self.trees.fit(features, classes, sample_weight=class_balanced_weights(classes))
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities [n, C] (float32) of voxels' features [n, F], in blocks."""
        out = np.empty((features.shape[0], self.n_classes), dtype=np.float32)
        for start in range(0, features.shape[0], PREDICT_BLOCK):
            out[start:start + PREDICT_BLOCK] = self.trees.predict_proba(features[start:start + PREDICT_BLOCK])
        return out


def class_balanced_weights(classes: np.ndarray) -> np.ndarray:
    """Sample weights giving every class the same total weight (mean weight 1)."""
    counts = np.bincount(classes)
    present = counts > 0
    per_class = np.zeros(len(counts), dtype=np.float64)
    per_class[present] = len(classes) / (present.sum() * counts[present])
    return per_class[classes]
