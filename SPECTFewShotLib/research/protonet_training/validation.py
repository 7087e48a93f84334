"""Dense few-shot validation of an embedding network on phantom studies, with the evaluation's painting protocols."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

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
