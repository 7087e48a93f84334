"""The product's classifier, its stages, GrowCut and the random forest on the same paint, scored on the unpainted
slices.

The product (StudySession, stages "full") and its ablation (the learner without the graph cut; the ProtoNet prior
alone) share one session per case, so the study features are computed once; the ProtoNet rows read the prior's
FewShotSession (session.prior), which also serves on its own (a FewShotSession passed as the session).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for
from SPECTFewShotLib.research.evaluation.cases import ClassificationCase
from SPECTFewShotLib.research.evaluation.metrics import class_dice
from SPECTFewShotLib.selftest.painting import PROTOCOLS, paint, unpainted_slices

log = logging.getLogger(__name__)

STUDY = "Study classifier"  # the product: ProtoNet prototypes, per-study learner, graph cut, connectivity step
STUDY_WITHOUT_PROTONET = "Without ProtoNet"  # the same learner and graph cut, no ProtoNet input (the ablation)
STUDY_LEARNER = "Learner without graph cut"
STUDY_VARIANTS = (STUDY, STUDY_WITHOUT_PROTONET, STUDY_LEARNER)
PROTONET = "ProtoNet prior"  # ProtoNet alone: prototypes, spatial prior from the painted slices, connectivity and
# blood-pool steps (StudySession's "prior" stage)
PROTONET_NO_PRIOR = "ProtoNet without spatial prior"
PROTONET_ALONE = "ProtoNet classifier alone"  # neither the spatial prior nor the connectivity step
PROTONET_VARIANTS = (PROTONET, PROTONET_NO_PRIOR, PROTONET_ALONE)
GROWCUT = "GrowCut"
RANDOM_FOREST = "Random forest"
METHODS = (STUDY, STUDY_WITHOUT_PROTONET, STUDY_LEARNER, PROTONET, GROWCUT, RANDOM_FOREST)
CALIBRATION_BINS = 15


@dataclass(frozen=True)
class CaseResult:
    """Dice per class name of one method on one case and painting protocol, with its run time."""

    case: str
    group: str
    protocol: str
    method: str
    dice: dict
    seconds: float
    agreement: Optional[float] = None  # share of voxels whose label is their most probable class
    calibration_error: Optional[float] = None  # expected calibration error on the unpainted slices


def evaluate_case(case: ClassificationCase, group: str, session, protocols: Sequence[str] = PROTOCOLS,
                  methods: Sequence[str] = METHODS) -> list[CaseResult]:
    """Every method under every protocol on one case; the session computes the case's features once."""
    results = []
    where_cache: dict = {}
    started = time.perf_counter()
    if any(m in STUDY_VARIANTS for m in methods):
        session.set_volume(case.volume)
    elif any(m in PROTONET_VARIANTS for m in methods):
        _prior(session).set_volume(case.volume)
    feature_seconds = time.perf_counter() - started
    for protocol in protocols:
        support = paint(case.class_map, case.slices, protocol)
        where = where_cache.setdefault("where", unpainted_slices(case.class_map.shape, case.slices))
        painted = Segmentation(case.volume.with_array(support), segments_for(case.classes, case.class_names))
        for method in methods:
            started = time.perf_counter()
            labels, probabilities = _run(method, case, painted, support, session)
            product = method in STUDY_VARIANTS or method in PROTONET_VARIANTS
            seconds = time.perf_counter() - started + (feature_seconds if product else 0.0)
            scores = class_dice(labels, case.class_map, case.classes, where)
            named = {case.class_names[c]: scores[c] for c in case.classes}
            agreement = ece = None
            if probabilities is not None:
                agreement, ece = probability_checks(probabilities, labels, case.class_map, case.classes, where)
            results.append(CaseResult(case.name, group, protocol, method, named, seconds, agreement, ece))
            log.info("%s %s %s %s", case.name, protocol, method,
                     " ".join(f"{k}={v:.3f}" for k, v in named.items()))
    return results


def _prior(session):
    """The ProtoNet session: a StudySession's prior, or the session itself."""
    return getattr(session, "prior", session)


def probability_checks(probabilities: np.ndarray, labels: np.ndarray, class_map: np.ndarray,
                       classes: Sequence[int], where: np.ndarray) -> tuple[float, float]:
    """(share of voxels whose label is their most probable class, expected calibration error of the labels'
    probabilities on `where` against the reference, in CALIBRATION_BINS equal-width bins)."""
    index = np.searchsorted(np.asarray(classes), labels)
    agreement = float((probabilities.argmax(0) == index).mean())
    confidence = np.take_along_axis(probabilities, index[None], axis=0)[0][where]
    correct = (labels == class_map)[where]
    bins = np.minimum((confidence * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    error = 0.0
    for b in np.unique(bins):
        chosen = bins == b
        error += chosen.mean() * abs(float(correct[chosen].mean()) - float(confidence[chosen].mean()))
    return agreement, float(error)


def _run(method: str, case: ClassificationCase, painted: Segmentation, support: np.ndarray, session
         ) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """The method's labels on the case, and its probabilities where it has them."""
    if method in STUDY_VARIANTS:
        session.set_support(painted)
        stages = "learner" if method == STUDY_LEARNER else "full"
        result = session.predict(stages, use_protonet=method != STUDY_WITHOUT_PROTONET)
        return result.labels.labels.array, result.probabilities if method == STUDY else None
    if method == PROTONET and hasattr(session, "prior"):
        session.set_support(painted)
        return session.predict("prior").labels.labels.array, None
    if method in PROTONET_VARIANTS:
        from SPECTFewShotLib.protonet.spatial_prior import SpatialPrior

        prior = _prior(session)
        if prior is not session:
            session.set_support(painted)
            session.prepare_prior()
        prior.refine = method != PROTONET_ALONE
        prior.spatial_prior = SpatialPrior() if method == PROTONET else None
        prior.set_support(painted)
        return prior.predict().labels.labels.array, None
    if method == GROWCUT:
        from SPECTFewShotLib.research.baselines.growcut import grow_from_seeds

        return grow_from_seeds(case.volume, support), None
    if method == RANDOM_FOREST:
        from SPECTFewShotLib.research.baselines.random_forest import random_forest_segment

        return random_forest_segment(case.volume.array, support), None
    raise ValueError(f"unknown method {method}")


def evaluate_cases(cases: Iterable[tuple[str, ClassificationCase]], session,
                   protocols: Sequence[str] = PROTOCOLS, methods: Sequence[str] = METHODS,
                   progress: Optional[Callable[[str], None]] = None) -> list[CaseResult]:
    """evaluate_case over (group, case) pairs, reporting each case's name as it starts."""
    results = []
    for group, case in cases:
        if progress is not None:
            progress(case.name)
        results.extend(evaluate_case(case, group, session, protocols, methods))
    return results


def summary_table(results: Sequence[CaseResult]) -> list[dict]:
    """One row per (group, protocol, method): mean, standard deviation and minimum Dice per class, median time."""
    rows = []
    keys = list(dict.fromkeys((r.group, r.protocol, r.method) for r in results))
    for group, protocol, method in keys:
        chosen = [r for r in results if (r.group, r.protocol, r.method) == (group, protocol, method)]
        classes = list(dict.fromkeys(name for r in chosen for name in r.dice))
        stats = {}
        for name in classes:
            values = np.array([r.dice[name] for r in chosen if name in r.dice])
            stats[name] = (float(values.mean()), float(values.std()), float(values.min()), len(values))
        rows.append({"group": group, "protocol": protocol, "method": method, "cases": len(chosen),
                     "dice": stats, "seconds": float(np.median([r.seconds for r in chosen]))})
    return rows


def markdown_table(rows: Sequence[dict], class_order: Sequence[str]) -> str:
    """The summary as a markdown table: mean Dice (and, over several cases, sd and minimum) per class."""
    header = ["data", "painting", "method", *class_order, "median s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [f"{row['group']} (n={row['cases']})", row["protocol"], row["method"]]
        for name in class_order:
            if name not in row["dice"]:
                cells.append("")
                continue
            mean, sd, low, count = row["dice"][name]
            cells.append(f"{mean:.3f}" if row["cases"] == 1 else f"{mean:.3f} ± {sd:.3f} (min {low:.3f}, n={count})")
        cells.append(f"{row['seconds']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
