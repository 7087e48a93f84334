"""Landmark error in millimetres of PRNet and of the registration baseline on the same cases, in the same run."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from SPECTFewShotLib.io.markups_io import Landmark
from SPECTFewShotLib.research.evaluation.localize_cases import LandmarkCase
from SPECTFewShotLib.volume import Volume

# A method maps (target volume, template volume, template landmarks) to the placed landmarks.
LandmarkMethod = Callable[[Volume, Volume, Sequence[Landmark]], list[Landmark]]
# A several-template method maps (target volume, [(template volume, template landmarks), ...]) to the landmarks.
SeveralTemplatesMethod = Callable[[Volume, Sequence[tuple[Volume, Sequence[Landmark]]]], list[Landmark]]


@dataclass
class MethodResult:
    """Errors (mm) per landmark label over the cases, seconds per case, and confidences when given."""

    errors: dict[str, list[float]] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    confidences: dict[str, list[float]] = field(default_factory=dict)
    per_case: list[dict[str, float]] = field(default_factory=list)
    axis_deg: list[float] = field(default_factory=list)  # long-axis (LV_base -> LV_apex) angle error per case

    def add(self, placed: Sequence[Landmark], truth: dict[str, np.ndarray], seconds: float) -> None:
        """Record one case."""
        case = {}
        for landmark in placed:
            error = float(np.linalg.norm(np.asarray(landmark.position_lps) - truth[landmark.label]))
            self.errors.setdefault(landmark.label, []).append(error)
            case[landmark.label] = error
            if landmark.confidence is not None:
                self.confidences.setdefault(landmark.label, []).append(float(landmark.confidence))
        self.seconds.append(seconds)
        self.per_case.append(case)
        positions = {lm.label: np.asarray(lm.position_lps, dtype=float) for lm in placed}
        if all(label in positions and label in truth for label in ("LV_apex", "LV_base")):
            placed_axis, true_axis = positions["LV_apex"] - positions["LV_base"], truth["LV_apex"] - truth["LV_base"]
            cosine = placed_axis @ true_axis / max(np.linalg.norm(placed_axis) * np.linalg.norm(true_axis), 1e-12)
            self.axis_deg.append(float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))))

    def summary(self) -> dict[str, dict[str, float]]:
        """Mean, median and max error (mm) per label, plus 'all' over every landmark."""
        rows = {label: _stats(values) for label, values in self.errors.items()}
        every = [v for values in self.errors.values() for v in values]
        if every:
            rows["all"] = _stats(every)
        return rows


def _stats(values: Sequence[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "median": float(np.median(array)), "max": float(array.max()),
            "n": int(array.size)}


def evaluate_cases(cases: Sequence[LandmarkCase], methods: dict[str, LandmarkMethod],
                   progress: Optional[Callable[[int, int, str], None]] = None,
                   several: Optional[dict[str, SeveralTemplatesMethod]] = None) -> dict[str, MethodResult]:
    """Run every method on every case; errors against the cases' true landmarks. A case with several templates
    runs the method's entry in `several` when it has one (the product's own multi-template path), otherwise the
    method once per template, fused per landmark by the geometric median (landmarks.fusion), as that path does."""
    from SPECTFewShotLib.landmarks.fusion import fuse_landmarks

    several = several or {}
    results = {name: MethodResult() for name in methods}
    for number, case in enumerate(cases, start=1):
        truth, templates = case.truth(), case.templates()
        for name, method in methods.items():
            started = time.perf_counter()
            if len(templates) == 1:
                placed = method(case.target_volume, *templates[0])
            elif name in several:
                placed = several[name](case.target_volume, templates)
            else:
                placed = fuse_landmarks([method(case.target_volume, *template) for template in templates])
            results[name].add(placed, truth, time.perf_counter() - started)
        if progress is not None:
            progress(number, len(cases), case.name)
    return results


def format_table(title: str, results: dict[str, MethodResult]) -> list[str]:
    """Text table: per landmark, mean and max error (mm) of each method side by side."""
    names = list(results)
    labels = []
    for result in results.values():
        labels += [label for label in result.summary() if label not in labels]
    labels = [label for label in labels if label != "all"] + ["all"]
    widths = {name: max(16, len(name) + 7) for name in names}  # "<name> mean" and a two-space gap
    header = f"{'landmark':<24}" + "".join(f"{name + ' mean':>{widths[name]}}{name + ' max':>{widths[name]}}"
                                           for name in names)
    lines = [title, header]
    for label in labels:
        row = f"{label:<24}"
        for name in names:
            stats, w = results[name].summary().get(label), widths[name]
            row += f"{stats['mean']:>{w}.1f}{stats['max']:>{w}.1f}" if stats else f"{'-':>{w}}{'-':>{w}}"
        lines.append(row)
    axes = "  ".join(f"{name} mean {np.mean(results[name].axis_deg):.1f} max {np.max(results[name].axis_deg):.1f}"
                     for name in names if results[name].axis_deg)
    if axes:
        lines.append(f"long axis (base -> apex) angle error, degrees: {axes}")
    timing = "  ".join(f"{name} {np.median(results[name].seconds):.2f} s" for name in names if results[name].seconds)
    lines.append(f"median seconds per case: {timing}")
    return lines
