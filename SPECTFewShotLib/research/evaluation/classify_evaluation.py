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
    random_state: Optional[int] = None  # the learner's random state (the study classifier's rows; None elsewhere)


def evaluate_case(case: ClassificationCase, group: str, session, protocols: Sequence[str] = PROTOCOLS,
                  methods: Sequence[str] = METHODS, random_states: Optional[Sequence[int]] = None
                  ) -> list[CaseResult]:
    """Every method under every protocol on one case; the session computes the case's features once. With
    `random_states`, the study classifier's rows (STUDY_VARIANTS) run once per learner random state on the same
    paint, the other methods (which do not use the learner) once."""
    states = list(random_states) if random_states else [getattr(session, "random_state", None)]
    original_state = getattr(session, "random_state", None)
    try:
        return _evaluate_case(case, group, session, protocols, methods, states, bool(random_states))
    finally:
        if random_states:
            session.random_state = original_state


def _evaluate_case(case: ClassificationCase, group: str, session, protocols: Sequence[str],
                   methods: Sequence[str], states: list, set_state: bool) -> list[CaseResult]:
    """evaluate_case's loop over protocols, random states and methods."""
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
        for n, state in enumerate(states):
            if set_state:
                session.random_state = state
            for method in methods:
                learner = method in STUDY_VARIANTS
                if n and not learner:
                    continue  # only the learner's rows depend on its random state
                started = time.perf_counter()
                labels, probabilities = _run(method, case, painted, support, session)
                product = learner or method in PROTONET_VARIANTS
                seconds = time.perf_counter() - started + (feature_seconds if product else 0.0)
                scores = class_dice(labels, case.class_map, case.classes, where)
                named = {case.class_names[c]: scores[c] for c in case.classes}
                agreement = ece = None
                if probabilities is not None:
                    agreement, ece = probability_checks(probabilities, labels, case.class_map, case.classes, where)
                results.append(CaseResult(case.name, group, protocol, method, named, seconds, agreement, ece,
                                          state if learner else None))
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
                   progress: Optional[Callable[[str], None]] = None,
                   random_states: Optional[Sequence[int]] = None) -> list[CaseResult]:
    """evaluate_case over (group, case) pairs, reporting each case's name as it starts."""
    results = []
    for group, case in cases:
        if progress is not None:
            progress(case.name)
        results.extend(evaluate_case(case, group, session, protocols, methods, random_states))
    return results


def summary_table(results: Sequence[CaseResult]) -> list[dict]:
    """One row per (group, protocol, method): mean, standard deviation and minimum over the cases of each case's
    Dice per class (its mean over the learner's random states where it ran with several), median time."""
    rows = []
    keys = list(dict.fromkeys((r.group, r.protocol, r.method) for r in results))
    for group, protocol, method in keys:
        chosen = [r for r in results if (r.group, r.protocol, r.method) == (group, protocol, method)]
        per_case: dict[str, list[CaseResult]] = {}
        for r in chosen:
            per_case.setdefault(r.case, []).append(r)
        classes = list(dict.fromkeys(name for r in chosen for name in r.dice))
        stats = {}
        for name in classes:
            values = np.array([np.mean([r.dice[name] for r in runs]) for runs in per_case.values()
                               if all(name in r.dice for r in runs)])
            stats[name] = (float(values.mean()), float(values.std()), float(values.min()), len(values))
        rows.append({"group": group, "protocol": protocol, "method": method, "cases": len(per_case),
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


SHARE_CLASSES = ("LV_myocardium", "LV_blood_pool")  # the classes whose share the summary reports
WORSE_BY = 0.01  # a setting whose share is below -WORSE_BY counts as made worse by the prior


@dataclass(frozen=True)
class SettingShare:
    """The prior's share on one setting (a case and a painting protocol): per class, the study classifier's Dice
    minus its without-ProtoNet ablation's, on the same paint and learner random state, per random state."""

    group: str
    case: str
    protocol: str
    per_state: dict  # random state -> {class name: Dice with ProtoNet - Dice without}

    @property
    def share(self) -> dict:
        """Per class: the mean over the random states of the difference."""
        classes = dict.fromkeys(name for diffs in self.per_state.values() for name in diffs)
        return {name: float(np.mean([d[name] for d in self.per_state.values() if name in d])) for name in classes}

    @property
    def study(self) -> str:
        """The study the setting comes from: 'patientNNN' named in its group, else the group itself."""
        return next((word.strip(",") for word in self.group.split() if word.startswith("patient")), self.group)

    @property
    def real(self) -> bool:
        """Whether the setting is one of the real studies' (not a phantom's)."""
        return self.group.startswith("real")


def prior_shares(results: Sequence[CaseResult]) -> list[SettingShare]:
    """Every setting where both the study classifier and its without-ProtoNet ablation ran, with the differences
    of their Dice (with minus without) per random state they share, in the order the settings ran."""
    runs: dict[tuple, dict[str, CaseResult]] = {}
    for r in results:
        if r.method in (STUDY, STUDY_WITHOUT_PROTONET):
            runs.setdefault((r.group, r.case, r.protocol, r.random_state), {})[r.method] = r
    settings: dict[tuple, dict] = {}
    for (group, case, protocol, state), pair in runs.items():
        if len(pair) < 2:
            continue
        with_prior, without = pair[STUDY].dice, pair[STUDY_WITHOUT_PROTONET].dice
        diffs = {name: float(with_prior[name] - without[name]) for name in SHARE_CLASSES
                 if name in with_prior and name in without}
        settings.setdefault((group, case, protocol), {})[state] = diffs
    return [SettingShare(group, case, protocol, per_state) for (group, case, protocol), per_state in settings.items()]


def share_summary(shares: Sequence[SettingShare]) -> list[dict]:
    """Rows of the prior's share: all real settings, each study (phantoms as their own), each protocol on the real
    settings. Per row and class: the mean over the settings of each setting's mean over the random states, the
    number of settings, the worst setting (lowest share) and how many are worse than -WORSE_BY."""
    real = [s for s in shares if s.real]
    selections = [("real settings, all", real)]
    selections += [(study, [s for s in shares if s.study == study]) for study in dict.fromkeys(s.study for s in shares)]
    selections += [(f"real settings, {protocol}", [s for s in real if s.protocol == protocol])
                   for protocol in dict.fromkeys(s.protocol for s in real)]
    rows = []
    for label, chosen in selections:
        if not chosen:
            continue
        per_class = {}
        for name in SHARE_CLASSES:
            values = [(s.share[name], s) for s in chosen if name in s.share]
            if not values:
                continue
            worst_value, worst = min(values, key=lambda pair: pair[0])
            per_class[name] = {"mean": float(np.mean([v for v, _ in values])), "settings": len(values),
                               "worst": worst_value, "worst_setting": f"{worst.case}, {worst.protocol}",
                               "worse": sum(v < -WORSE_BY for v, _ in values)}
        rows.append({"label": label, "settings": len(chosen), "classes": per_class})
    return rows


def per_state_shares(shares: Sequence[SettingShare]) -> dict:
    """Per random state: per class, the mean over the real settings (phantoms where there are none) of that
    state's difference."""
    chosen = [s for s in shares if s.real] or list(shares)
    states = dict.fromkeys(state for s in chosen for state in s.per_state)
    out = {}
    for state in states:
        out[state] = {name: float(np.mean(values)) for name in SHARE_CLASSES
                      if (values := [s.per_state[state][name] for s in chosen
                                     if state in s.per_state and name in s.per_state[state]])}
    return out


def share_markdown(results: Sequence[CaseResult]) -> str:
    """The prior's share as markdown: the summary table and the per-random-state means (empty without pairs)."""
    shares = prior_shares(results)
    if not shares:
        return ""
    states = list(dict.fromkeys(state for s in shares for state in s.per_state))
    names = {"LV_myocardium": "myocardium", "LV_blood_pool": "blood pool"}
    lines = [f"The study classifier minus its ablation without ProtoNet (`--without-protonet`), same paint, same "
             f"learner random state; Dice on the unpainted slices, myocardium / blood pool. Each setting (a case "
             f"and a painting) counts once: its mean over the learner's random states "
             f"({', '.join(str(s) for s in states)}); the rows give the mean over the settings, the worst setting "
             f"and the settings worse by more than {WORSE_BY} (share below -{WORSE_BY}).", "",
             "| settings | n | myocardium | blood pool | worst myocardium | worst blood pool | "
             f"worse by > {WORSE_BY} (myocardium / blood pool) |", "|---|---|---|---|---|---|---|"]
    for row in share_summary(shares):
        classes = row["classes"]
        counts = {c["settings"] for c in classes.values()}
        with_class = ", ".join(f"{c['settings']} with {names[k]}" for k, c in classes.items())
        n = str(row["settings"]) if counts <= {row["settings"]} else f"{row['settings']} ({with_class})"
        mean = [f"{classes[k]['mean']:+.4f}" if k in classes else "-" for k in SHARE_CLASSES]
        worst = [f"{classes[k]['worst']:+.3f} ({classes[k]['worst_setting']})" if k in classes else "-"
                 for k in SHARE_CLASSES]
        worse = " / ".join(f"{classes[k]['worse']} of {classes[k]['settings']}" if k in classes else "-"
                           for k in SHARE_CLASSES)
        lines.append(f"| {row['label']} | {n} | {mean[0]} | {mean[1]} | {worst[0]} | {worst[1]} | {worse} |")
    real = any(s.real for s in shares)
    lines += ["", f"Per random state, the mean over the {'real ' if real else ''}settings (myocardium / blood pool): "
              + "; ".join(f"{state}: " + " / ".join(f"{d[k]:+.4f}" if k in d else "-" for k in SHARE_CLASSES)
                          for state, d in per_state_shares(shares).items()) + "."]
    return "\n".join(lines)


def real_models_from(pairs: Sequence[str]) -> dict[str, str]:
    """--real-model PATIENT=MODEL pairs as {patient number: model}; one line of error for a malformed pair."""
    from SPECTFewShotLib.errors import InputError

    out = {}
    for pair in pairs:
        patient, _, model = pair.partition("=")
        if not patient or not model:
            raise InputError(f"--real-model takes PATIENT=MODEL (e.g. 001=model.pt), not '{pair}'")
        out[patient.removeprefix("patient")] = model
    return out
