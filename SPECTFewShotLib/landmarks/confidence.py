"""How far to trust each placed landmark, from evidence about that point rather than about the study as a whole.

The evidence, gathered where the landmarks are placed (staged.place_landmarks):
- `spread_mm`: how far the farthest independent estimate of the same point lies from where it was placed: the
  position carried through the LV frames, the one after the local alignment of the counts (frames from the counts),
  the one before PRNet's search. Estimates that agree do not prove a point right, estimates that disagree show it
  may be wrong. (Frames from walls are not second-guessed by the frames found in the counts: on the real studies
  those lie 16-35 mm from the walls' and flagged right points; docs/decisions.md "Landmark confidence".)
- `lever`: how far the template's point lies from its LV's long axis, in LV radii (0 for the LV centre, apex and
  base; about 1 for the RV insertion points). The LV frame pins the axis; a point away from it also rests on the
  roll about the axis and on anatomy the frame does not describe (how far the RV wraps the septum), which no
  estimate above checks.
- `counts_frame`: 1 when a frame comes from the counts (the frame itself is then an estimate), 0 when both come
  from segmentations.
- `uncovered`: for a frame from a one-shot wall (template_segmentation), the share of the myocardium found in the
  counts that the wall leaves out (0 otherwise): where the template's prototypes matched only part of the study's
  LV, the frame rests on that part, and every point of it may be off more than its estimates show. It adds
  `UNCOVERED_MM` per unit share to the bound (chosen on training-range phantoms, research/evaluation/
  one_shot_variants.py; docs/decisions.md "Landmark confidence").

`error_bound_mm` turns them into the error (mm) that 90 % of points with that evidence stay under, a linear
quantile regression fitted on phantoms (`BOUND_COEFFICIENTS`; research/evaluation/localize_confidence.py fits and
checks it, docs/decisions.md "Landmark confidence (issue 35)" says why). `confidence_from_bound` maps that bound to
the confidence shown: at least 0.8 when it is within `WITHIN_MM`, below `fusion.LOW_CONFIDENCE` ("check this
landmark") when it exceeds `FAR_MM`, linear in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .fusion import LOW_CONFIDENCE

WITHIN_MM = 8.0  # a bound within this: confidence 0.8 or more
FAR_MM = 15.0  # a bound beyond this: flagged for checking
ZERO_MM = 30.0  # a bound this far or farther: confidence 0
SURE = 0.8
# The 90th percentile of the error (mm) given the evidence: intercept + sum of coefficient * evidence, fitted on the
# 100 points of 10 validation phantoms (seeds 900000-900009, frames from the counts and from the classification;
# `spectfewshot evaluate localize --confidence`, docs/evaluation/landmarks/localize_confidence.txt).
BOUND_COEFFICIENTS = {"intercept": -0.26, "spread_mm": 0.90, "lever": 11.75, "counts_frame": 0.83}
# mm added to the bound per unit share of the counts' myocardium a one-shot wall leaves out (`uncovered`): the 90th
# percentile of the error above the bound of `BOUND_COEFFICIENTS`, fitted on the one-shot LV points of training-range
# phantoms (seeds 500-507 and 900000-900009, three conventions; 10.2, rounded)
UNCOVERED_MM = 10.0


@dataclass(frozen=True)
class PointEvidence:
    """The evidence about each placed point (arrays of length n): see the module docstring."""

    spread_mm: np.ndarray
    lever: np.ndarray
    counts_frame: np.ndarray
    uncovered: Optional[np.ndarray] = None  # one-shot frames only; None: 0 for every point

    def rows(self) -> np.ndarray:
        """The evidence as an (n, 3) array, columns in the order of `BOUND_COEFFICIENTS` after the intercept."""
        return np.column_stack([self.spread_mm, self.lever, self.counts_frame]).astype(float)


def spread(positions: np.ndarray, estimates: Sequence[np.ndarray]) -> np.ndarray:
    """How far (mm) the farthest of the other estimates (each (n, 3)) of each point lies from its position (0
    without estimates)."""
    positions = np.asarray(positions, dtype=float).reshape(-1, 3)
    distances = [np.linalg.norm(np.asarray(e, dtype=float).reshape(-1, 3) - positions, axis=1) for e in estimates]
    return np.max(distances, axis=0) if distances else np.zeros(len(positions))


def gather_evidence(positions: np.ndarray, estimates: Sequence[np.ndarray], template_across: np.ndarray,
                    counts_frame: bool, uncovered: float = 0.0) -> PointEvidence:
    """The evidence about the placed `positions` (n, 3): the other `estimates` of them, the template points'
    across-axis frame coordinates (n, 2, in LV radii: carry.to_frame's first two columns), whether a frame came
    from the counts, and the share of the counts' myocardium a one-shot wall leaves out (0 for other frames)."""
    across = np.asarray(template_across, dtype=float).reshape(len(positions), -1)
    return PointEvidence(spread(positions, estimates), np.linalg.norm(across, axis=1),
                         np.full(len(positions), 1.0 if counts_frame else 0.0),
                         np.full(len(positions), float(np.clip(uncovered, 0.0, 1.0))))


def error_bound_mm(evidence: PointEvidence) -> np.ndarray:
    """The error (mm) 90 % of points with this evidence stay under, by the fitted `BOUND_COEFFICIENTS`, plus
    `UNCOVERED_MM` per unit `uncovered` share (one-shot frames)."""
    c = BOUND_COEFFICIENTS
    weights = np.array([c["spread_mm"], c["lever"], c["counts_frame"]])
    bound = c["intercept"] + evidence.rows() @ weights
    return bound if evidence.uncovered is None else bound + UNCOVERED_MM * np.asarray(evidence.uncovered, float)


def confidence_from_bound(bound_mm: float | np.ndarray) -> np.ndarray:
    """The confidence (0..1) of a point whose error bound is `bound_mm`: 1 at 0 mm, `SURE` at `WITHIN_MM`,
    `fusion.LOW_CONFIDENCE` at `FAR_MM`, 0 from `ZERO_MM`, linear in between (decreasing)."""
    return np.interp(np.asarray(bound_mm, dtype=float), [0.0, WITHIN_MM, FAR_MM, ZERO_MM],
                     [1.0, SURE, LOW_CONFIDENCE, 0.0])


def point_confidence(evidence: PointEvidence) -> np.ndarray:
    """The confidence of each point from its evidence (`error_bound_mm`, then `confidence_from_bound`)."""
    return confidence_from_bound(error_bound_mm(evidence))
