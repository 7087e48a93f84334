"""The 2025 paper's protocol: 3-way K-shot episodic classification of 2D SPECT patches (blood pool, myocardium,
liver), which it reports at 93.33 % validation accuracy.

A patch is an axial patch of PATCH_MM x PATCH_MM around a centre voxel (with the neighbouring slices as the 3
channels), cut out of a phantom study and embedded on its own; its embedding is the mean over the central 3 x 3
pixels. Its class is its centre's tissue; centres are drawn among voxels whose 3 x 3 in-plane neighbourhood is
all of that tissue, so that the label of a patch is unambiguous. An episode draws K support and Q query patches
per class (a query never equals a support patch), either all from one study (as a clinician paints one patient)
or from all studies together, builds one prototype per class from the support and classifies each query by its
nearest prototype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy import ndimage

from SPECTFewShotLib.protonet.embedding import DenseEmbedding, trunk_scale_for
from SPECTFewShotLib.protonet.features import axial_slabs
from SPECTFewShotLib.protonet.normalization import normalize_counts
from SPECTFewShotLib.protonet.prototypes import build_prototypes, class_probabilities
from SPECTFewShotLib.research.protonet_training.phantom_cache import CachedStudy

PATCH_CLASSES = ("LV_blood_pool", "LV_myocardium", "liver")
PATCH_MM = 128.0  # chosen on validation phantoms (seeds 900000-900007) among 64, 96, 128 and 192 mm
PATCHES_PER_STUDY = 40  # per class and study
BATCH = 64
SETTINGS = ("within a study", "across studies")


@dataclass(frozen=True)
class PatchProtocolResult:
    """Accuracy over all query patches of all episodes, for one setting and number of shots, and per class."""

    setting: str
    shots: int
    episodes: int
    queries_per_class: int
    accuracy: float
    per_class: dict


def _core(mask: np.ndarray) -> np.ndarray:
    """Voxels whose 3 x 3 in-plane neighbourhood lies inside the mask."""
    return ndimage.binary_erosion(mask, structure=np.ones((1, 3, 3), dtype=bool))


def _embed_patches(network: DenseEmbedding, normalized: np.ndarray, spacing_mm: float,
                   centres: np.ndarray) -> torch.Tensor:
    """Embeddings [n, D] of the patches around centres [n, 3] (k, j, i) of one volume."""
    half = max(4, round(PATCH_MM / spacing_mm / 2))
    padded = np.pad(normalized, ((0, 0), (half, half), (half, half)), mode="edge")
    out = []
    with torch.inference_mode():
        for start in range(0, len(centres), BATCH):
            chunk = centres[start:start + BATCH]
            slabs = np.stack([axial_slabs(padded, k, k + 1)[0, :, j:j + 2 * half, i:i + 2 * half]
                              for k, j, i in chunk])
            embedded = network(torch.from_numpy(np.ascontiguousarray(slabs)),
                               trunk_scale=trunk_scale_for(spacing_mm))
            out.append(embedded[:, :, half - 1:half + 2, half - 1:half + 2].mean(dim=(2, 3)))
    return torch.cat(out)


def patch_pool(network: DenseEmbedding, studies: Sequence[CachedStudy], rng: np.random.Generator,
               per_study: int = PATCHES_PER_STUDY) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Embeddings [n, D], class indices [n] and study indices [n] of up to `per_study` patches per class and study."""
    network.eval()
    embeddings, classes, owners = [], [], []
    for index, study in enumerate(studies):
        normalized = normalize_counts(study.image.array)
        spacing = float(np.sqrt(study.image.spacing[0] * study.image.spacing[1]))
        for c, tissue in enumerate(PATCH_CLASSES):
            core = np.argwhere(_core(study.tissues == study.label_values[tissue]))
            if len(core) == 0:
                continue
            centres = core[np.sort(rng.choice(len(core), size=min(per_study, len(core)), replace=False))]
            embeddings.append(_embed_patches(network, normalized, spacing, centres))
            classes.append(np.full(len(centres), c))
            owners.append(np.full(len(centres), index))
    return torch.cat(embeddings), np.concatenate(classes), np.concatenate(owners)


def run_patch_protocol(network: DenseEmbedding, studies: Sequence[CachedStudy], shots: Sequence[int] = (1, 5),
                       queries: int = 15, episodes: int = 500, seed: int = 0) -> list[PatchProtocolResult]:
    """Accuracy of 3-way K-shot episodes for every K in `shots`, with support and query patches drawn from one
    study per episode ("within a study", as a clinician paints one patient) and from all studies together."""
    rng = np.random.default_rng(seed)
    pool, classes, owners = patch_pool(network, studies, rng)
    metric, temperature = network.config.metric, network.temperature
    if metric == "cosine":
        pool = torch.nn.functional.normalize(pool, dim=1)
    pool = pool.detach().numpy()
    results = []
    for setting in SETTINGS:
        for k in shots:
            groups = _episode_groups(classes, owners, setting, k + queries)
            if not groups:
                continue
            correct = np.zeros(len(PATCH_CLASSES))
            total = np.zeros(len(PATCH_CLASSES))
            for _ in range(episodes):
                members_of = groups[int(rng.integers(len(groups)))]
                support, query = [], []
                for members in members_of:
                    drawn = rng.choice(members, size=k + queries, replace=False)
                    support.append(drawn[:k])
                    query.append(drawn[k:])
                support_index, query_index = np.concatenate(support), np.concatenate(query)
                prototypes = build_prototypes(pool[support_index], classes[support_index],
                                              len(PATCH_CLASSES), max_per_class=1)  # one per class, as the paper
                predicted = class_probabilities(pool[query_index], prototypes, temperature, metric).argmax(0)
                truth = classes[query_index]
                np.add.at(correct, truth, predicted == truth)
                np.add.at(total, truth, 1)
            per_class = {name: float(correct[c] / total[c]) for c, name in enumerate(PATCH_CLASSES)}
            results.append(PatchProtocolResult(setting, k, episodes, queries, float(correct.sum() / total.sum()),
                                               per_class))
    return results


def _episode_groups(classes: np.ndarray, owners: np.ndarray, setting: str, needed: int) -> list[list[np.ndarray]]:
    """Candidate pools an episode draws from: per class, the patch indices of one study (or of all studies);
    only pools with at least `needed` patches of every class."""
    if setting == "across studies":
        pools = [[np.nonzero(classes == c)[0] for c in range(len(PATCH_CLASSES))]]
    else:
        pools = [[np.nonzero((classes == c) & (owners == o))[0] for c in range(len(PATCH_CLASSES))]
                 for o in np.unique(owners)]
    return [p for p in pools if all(len(m) >= needed for m in p)]
