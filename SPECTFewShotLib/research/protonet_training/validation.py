"""Dense few-shot validation of an embedding network on phantom studies, with the evaluation's painting protocols."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from SPECTFewShotLib.protonet.embedding import DenseEmbedding
from SPECTFewShotLib.research.evaluation.cases import phantom_case
from SPECTFewShotLib.research.evaluation.classify_evaluation import PROTONET, PROTONET_VARIANTS, evaluate_case
from SPECTFewShotLib.research.protonet_training.phantom_cache import CachedStudy
from SPECTFewShotLib.selftest.painting import PROTOCOLS


@dataclass
class DenseScores:
    """Dice per (protocol, method, class name) over the validation studies."""

    dice: dict = field(default_factory=dict)

    def add(self, protocol: str, method: str, name: str, value: float) -> None:
        """Record one study's Dice."""
        self.dice.setdefault((protocol, method, name), []).append(value)

    def all_values(self, method: str = PROTONET) -> list[float]:
        """Every recorded Dice of one method."""
        return [v for (_, m, _), values in self.dice.items() if m == method for v in values]

    def lines(self) -> list[str]:
        """One line per (protocol, method, class): mean and minimum Dice."""
        return [f"validation {protocol:<8} {method:<31} {name:<14} Dice mean {np.mean(v):.3f} min {np.min(v):.3f} "
                f"(n={len(v)})" for (protocol, method, name), v in sorted(self.dice.items())]


def validate_dense(network: DenseEmbedding, studies: Sequence[CachedStudy],
                   protocols: Sequence[str] = PROTOCOLS) -> DenseScores:
    """ProtoNet (with and without the spatial prior and the connectivity step) on every study under every painting
    protocol."""
    from SPECTFewShotLib.classification.prior_session import FewShotSession

    session = FewShotSession(network=network, device="cpu")
    scores = DenseScores()
    for study in studies:
        case = phantom_case(f"seed {study.seed}", study.image, study.tissues, study.label_values)
        for result in evaluate_case(case, "validation", session, protocols, PROTONET_VARIANTS):
            for name, value in result.dice.items():
                scores.add(result.protocol, result.method, name, value)
    return scores


def real_prior_dice(network: DenseEmbedding, volume, wall: np.ndarray) -> float:
    """Myocardium Dice of the ProtoNet classifier alone (no spatial prior, no connectivity step, no per-study
    learning) on a real study, painted as in the evaluation: the wall against everything else on the rounded
    quartile slices of its axial extent, scored on the other slices."""
    from SPECTFewShotLib.classification.prior_session import FewShotSession
    from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for
    from SPECTFewShotLib.research.evaluation.metrics import dice
    from SPECTFewShotLib.selftest.painting import paint, quartile_slices, unpainted_slices

    session = FewShotSession(network=network, device="cpu", refine=False, spatial_prior=None)
    class_map = np.where(wall, 2, 1).astype(np.int32)
    slices = quartile_slices(wall)
    support = paint(class_map, slices, "slices")
    session.set_volume(volume)
    session.set_support(Segmentation(volume.with_array(support), segments_for([1, 2], {1: "background",
                                                                                      2: "LV_myocardium"})))
    labels = session.predict().labels.labels.array
    return dice(labels == 2, wall, unpainted_slices(wall.shape, slices))


# The settings of the product's use of the prior that real_prior_checks rehearses: (name, crop side or None for the
# whole volume, shift of the crop's centre [k, j, i] in voxels, cavity as a third class, low-count copy)
CHECK_SETTINGS = (
    ("whole volume, 2 classes", None, (0, 0, 0), False, False),
    ("24^3 crop, 3 classes", 24, (0, 0, 0), True, False),
    ("32^3 crop, 3 classes", 32, (0, 0, 0), True, False),
    ("48^3 crop, 3 classes", 48, (0, 0, 0), True, False),
    ("32^3 crop, 3 classes, low counts", 32, (0, 0, 0), True, True),
    ("32^3 crop moved along j, 3 classes", 32, (0, 13, 0), True, False),
)


@dataclass(frozen=True)
class RealCheck:
    """ProtoNet alone on one setting and painting protocol of a real study: Dice of the myocardium and (with three
    classes) of the blood pool on the unpainted slices."""

    setting: str
    protocol: str
    myocardium: float
    blood_pool: Optional[float]

    def line(self, study: str) -> str:
        """One report line."""
        pool = "" if self.blood_pool is None else f", blood pool {self.blood_pool:.3f}"
        return f"real study {study} (never seen): {self.setting:<36} {self.protocol:<8} myocardium " \
               f"{self.myocardium:.3f}{pool}"


def real_prior_checks(network, volume, wall: np.ndarray, protocols: Sequence[str] = PROTOCOLS,
                      settings: Sequence[tuple] = CHECK_SETTINGS) -> list[RealCheck]:
    """ProtoNet alone (no spatial prior, no connectivity step, no per-study learning) on a real study as the
    product uses the prior: the whole volume with two classes and crops around the wall with the cavity (derived
    as the evaluation derives it) as a third class, as they are, thinned to low counts and moved so that a face
    cuts the cavity; painted on the quartile slices by every protocol, Dice on the other slices."""
    from SPECTFewShotLib.classification.prior_session import FewShotSession
    from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for
    from SPECTFewShotLib.research.evaluation.cases import (
        BACKGROUND,
        BLOOD_POOL,
        MYOCARDIUM,
        crop_around_wall,
        enclosed_cavity,
        low_count_copy,
    )
    from SPECTFewShotLib.research.evaluation.metrics import dice
    from SPECTFewShotLib.selftest.painting import paint, quartile_slices, unpainted_slices

    wall = np.asarray(wall, dtype=bool)
    full_map = np.where(wall, MYOCARDIUM, BACKGROUND).astype(np.int32)
    full_map[enclosed_cavity(wall)] = BLOOD_POOL
    names = {BACKGROUND: "background", MYOCARDIUM: "LV_myocardium", BLOOD_POOL: "LV_blood_pool"}
    session = FewShotSession(network=network, device="cpu", refine=False, spatial_prior=None)
    checks = []
    for name, crop, shift, cavity, low in settings:
        image, class_map = volume, full_map
        if crop is not None:
            image, box = crop_around_wall(volume, wall, crop, shift)
            class_map = np.ascontiguousarray(full_map[box])
        if not cavity:
            class_map = np.where(class_map == BLOOD_POOL, BACKGROUND, class_map)
        if low:
            image = low_count_copy(image)
        slices = quartile_slices(class_map == MYOCARDIUM)
        scored = unpainted_slices(class_map.shape, slices)
        values = sorted(int(v) for v in np.unique(class_map))
        session.set_volume(image)
        for protocol in protocols:
            support = paint(class_map, slices, protocol)
            session.set_support(Segmentation(image.with_array(support), segments_for(values, {
                v: names[v] for v in values})))
            labels = session.predict().labels.labels.array
            pool = dice(labels == BLOOD_POOL, class_map == BLOOD_POOL, scored) if cavity else None
            checks.append(RealCheck(name, protocol, dice(labels == MYOCARDIUM, class_map == MYOCARDIUM, scored),
                                    pool))
    return checks


def check_means(checks: Sequence[RealCheck]) -> tuple[float, float]:
    """Mean myocardium Dice over every check and mean blood-pool Dice over the three-class ones (nan if none)."""
    pools = [c.blood_pool for c in checks if c.blood_pool is not None]
    return float(np.mean([c.myocardium for c in checks])), float(np.mean(pools)) if pools else float("nan")
