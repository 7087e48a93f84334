"""Landmark confidence against error (issue 35 item 4), for `spectfewshot evaluate localize --confidence`.

The staged localiser (the product's `Localizer.place`) places every case's template landmarks twice: LV frames from
the counts, and the target's frame from its classification (`classify` painted on its wall's quartile slices) with
the template's from its mask. Each point gives its error, the evidence its confidence came from
(`Placement.evidence`) and that confidence. Reported per frame source: of the points at confidence >= 0.8, how many
lie within 8 mm; of the points off by more than 15 mm, how many are flagged (< fusion.LOW_CONFIDENCE); of the points
within 8 mm, how many are flagged anyway (checks asked for nothing).

The error bound behind the confidence (landmarks.confidence.error_bound_mm) is a linear quantile regression (90th
percentile of the error) on the evidence; `fit_bound` fits it, monotone (a coefficient that comes out negative is
left out and the rest refitted). The shipped coefficients are fitted on validation-range phantoms; the report shows
them on held-out phantoms and the real pairs, the bound refitted on the real pairs and checked on phantoms, and the
previous rule (agreement of the carried and aligned positions, 1 / (1 + (d / 5 mm)^2), with frames from the counts;
the frames' own confidence with two segmentations) recomputed on the same placements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from SPECTFewShotLib.landmarks.confidence import BOUND_COEFFICIENTS, confidence_from_bound
from SPECTFewShotLib.landmarks.fusion import LOW_CONFIDENCE, agreement_confidence
from SPECTFewShotLib.research.evaluation.localize_cases import LandmarkCase

FRAME_SOURCES = ("counts", "classification")
EVIDENCE = ("spread_mm", "lever", "counts_frame")
QUANTILE = 0.9


@dataclass(frozen=True)
class PointRecord:
    """One placed point: where it comes from, its error (mm), its evidence row and its confidences."""

    group: str
    case: str
    frame: str  # "counts" or "classification": how the target's frame was asked for
    label: str
    error_mm: float
    evidence: np.ndarray  # (3,): EVIDENCE
    confidence: float  # the product's
    previous: float  # the previous rule's, recomputed


def collect(group: str, cases: Sequence[LandmarkCase], template_walls: Sequence[np.ndarray],
            classified: Callable[[LandmarkCase], object],
            progress: Optional[Callable[[str], None]] = None) -> list[PointRecord]:
    """Every case placed with frames from the counts and with the classification's (`classified(case)`: the
    target's classified wall as a mask volume), one record per point."""
    from SPECTFewShotLib.landmarks.staged import Localizer

    localizer = Localizer()
    records = []
    for case, template_wall in zip(cases, template_walls):
        truth = case.truth()
        mask = case.template_volume.with_array(np.asarray(template_wall, dtype=np.uint8))
        for frame in FRAME_SOURCES:
            if frame == "counts":
                placement = localizer.place(case.target_volume, case.templates()[:1])
            else:
                placement = localizer.place(case.target_volume, case.templates()[:1], myocardium=classified(case),
                                            template_myocardia=[mask])
            rows = placement.evidence.rows()
            both_walls = rows[:, EVIDENCE.index("counts_frame")] == 0
            for landmark, row, walls in zip(placement.landmarks, rows, both_walls):
                error = float(np.linalg.norm(np.asarray(landmark.position_lps) - truth[landmark.label]))
                previous = placement.frame.confidence if walls else float(agreement_confidence(row[0]))
                records.append(PointRecord(group, case.name, frame, landmark.label, error, row,
                                           float(landmark.confidence), float(previous)))
        if progress is not None:
            progress(case.name)
    return records


def fit_bound(records: Sequence[PointRecord]) -> dict[str, float]:
    """The 90th-percentile error bound (mm) as a linear function of the evidence, coefficients >= 0 (monotone: a
    negative one is left out, the most negative first, and the rest refitted); keys as `BOUND_COEFFICIENTS`."""
    from sklearn.linear_model import QuantileRegressor

    rows = np.array([r.evidence for r in records], dtype=float)
    errors = np.array([r.error_mm for r in records], dtype=float)
    kept = [n for n in range(rows.shape[1]) if np.ptp(rows[:, n]) > 0]
    while True:
        model = QuantileRegressor(quantile=QUANTILE, alpha=0.0, solver="highs").fit(rows[:, kept], errors)
        if not kept or model.coef_.min() >= 0:
            break
        kept.pop(int(np.argmin(model.coef_)))
    coefficients = {"intercept": float(model.intercept_), **{name: 0.0 for name in EVIDENCE}}
    for n, value in zip(kept, model.coef_):
        coefficients[EVIDENCE[n]] = float(value)
    return coefficients


def confidences_with(coefficients: dict[str, float], records: Sequence[PointRecord]) -> np.ndarray:
    """The confidences the records' evidence gets with these error-bound coefficients."""
    rows = np.array([r.evidence for r in records], dtype=float)
    bound = coefficients["intercept"] + rows @ np.array([coefficients[name] for name in EVIDENCE])
    return confidence_from_bound(bound)


def summary_line(name: str, records: Sequence[PointRecord], confidences: np.ndarray) -> str:
    """Of the points >= 0.8, % within 8 mm; of those off by > 15 mm, % flagged; of those within 8 mm, % flagged."""
    errors = np.array([r.error_mm for r in records], dtype=float)
    confidences = np.asarray(confidences, dtype=float)
    sure, far, near = confidences >= 0.8, errors > 15.0, errors <= 8.0
    flagged = confidences < LOW_CONFIDENCE

    def percent(mask: np.ndarray, of: np.ndarray) -> str:
        return f"{100 * np.mean(mask[of]):.0f}%" if of.any() else "-"

    return (f"{name}: {len(errors)} points; confidence >= 0.8: {int(sure.sum())}, {percent(near, sure)} within 8 mm; "
            f"off by > 15 mm: {int(far.sum())}, {percent(flagged, far)} flagged; within 8 mm: {int(near.sum())}, "
            f"{percent(flagged, near)} flagged")


def report(groups: dict[str, list[PointRecord]], fit_group: str, real_group: Optional[str]) -> list[str]:
    """The tables: the product's confidence, the previous rule, the bound refitted on each side, per frame source."""
    lines = ["Shipped error bound (landmarks.confidence.BOUND_COEFFICIENTS): " + _coefficients(BOUND_COEFFICIENTS)]
    refits = {f"refitted on {fit_group}": fit_bound(groups[fit_group])}
    if real_group and groups.get(real_group):
        refits[f"refitted on {real_group}"] = fit_bound(groups[real_group])
        refits["refitted on both"] = fit_bound(groups[fit_group] + groups[real_group])
    for name, coefficients in refits.items():
        lines.append(f"Bound {name}: {_coefficients(coefficients)}")
    for group, records in groups.items():
        lines += ["", f"{group}:"]
        for frame in FRAME_SOURCES:
            chosen = [r for r in records if r.frame == frame]
            if not chosen:
                continue
            lines.append(f" frame from the {frame}; error mean {np.mean([r.error_mm for r in chosen]):.1f} mm, "
                         f"max {np.max([r.error_mm for r in chosen]):.1f} mm")
            lines.append("  " + summary_line("product", chosen, np.array([r.confidence for r in chosen])))
            lines.append("  " + summary_line("previous rule", chosen, np.array([r.previous for r in chosen])))
            for name, coefficients in refits.items():
                lines.append("  " + summary_line(f"bound {name}", chosen, confidences_with(coefficients, chosen)))
        lines.append(" per landmark (product): " + _per_label(records))
    return lines


def records_json(groups: dict[str, list[PointRecord]]) -> str:
    """Every record as JSON (group -> list of dicts), to refit or look again without placing anew."""
    import json

    return json.dumps({group: [{"case": r.case, "frame": r.frame, "label": r.label, "error_mm": r.error_mm,
                                **dict(zip(EVIDENCE, map(float, r.evidence))), "confidence": r.confidence,
                                "previous": r.previous} for r in records] for group, records in groups.items()},
                      indent=1)


def _coefficients(coefficients: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in coefficients.items())


def _per_label(records: Sequence[PointRecord]) -> str:
    """Per landmark: mean error, mean confidence, how many flagged."""
    parts = []
    for label in dict.fromkeys(r.label for r in records):
        chosen = [r for r in records if r.label == label]
        flagged = sum(r.confidence < LOW_CONFIDENCE for r in chosen)
        parts.append(f"{label} {np.mean([r.error_mm for r in chosen]):.1f} mm, confidence "
                     f"{np.mean([r.confidence for r in chosen]):.2f}, {flagged}/{len(chosen)} flagged")
    return "; ".join(parts)
