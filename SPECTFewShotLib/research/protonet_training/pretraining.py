"""Episodic meta-training of the embedding network on phantom studies and superpixel pseudo-classes.

Every step draws one phantom episode (and, with probability `superpixel_fraction`, one self-supervised superpixel
episode), embeds all their slabs in one batch, builds prototypes from the painted voxels exactly as the session
does, and minimises the class-balanced negative log-likelihood of the query voxels plus a soft Dice loss (the
Dice term counts a false-positive voxel far from the heart as much as a missed one, which the balanced
likelihood, dominated by the many easy background voxels, does not). Everything random comes from
one seed: the same seed, studies and thread count give the same weights.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import torch

from SPECTFewShotLib.protonet.embedding import DenseEmbedding, EmbeddingConfig, trunk_scale_for
from SPECTFewShotLib.protonet.normalization import normalize_counts
from SPECTFewShotLib.protonet.support import paint_boundaries
from SPECTFewShotLib.research.protonet_training.episodes import Episode, phantom_episode, superpixel_episode
from SPECTFewShotLib.research.protonet_training.phantom_cache import CachedStudy
from SPECTFewShotLib.research.protonet_training.prototype_loss import (
    class_log_probabilities,
    differentiable_prototypes,
    prototype_logits,
)
from SPECTFewShotLib.runtime.progress import CancelToken, ProgressCallback, report

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainingConfig:
    """Settings of one pre-training run (stored in the weights file and the model card)."""

    iterations: int = 4000
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 200
    superpixel_fraction: float = 0.3
    query_slices: int = 7
    recalibration_studies: int = 32
    real_fraction: float = 0.0  # share of steps drawn from the augmented real studies (when there are any)
    seed: int = 0
    embedding: dict = field(default_factory=lambda: EmbeddingConfig().to_dict())

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain values."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class TrainingData:
    """Normalised phantom volumes with their tissue labels, ready for episodes."""

    normalized: list[np.ndarray]
    tissues: list[np.ndarray]
    label_values: list[dict[str, int]]
    seeds: list[int]
    trunk_scales: list[float]
    real: list[bool] = field(default_factory=list)  # per study: an augmented real study (else a phantom)

    @classmethod
    def from_studies(cls, studies: Sequence[CachedStudy], real: Sequence[CachedStudy] = ()) -> TrainingData:
        """Normalise every study's counts once (phantoms, then augmented real studies)."""
        everything = [*studies, *real]
        scales = [trunk_scale_for(float(np.sqrt(s.image.spacing[0] * s.image.spacing[1]))) for s in everything]
        return cls([normalize_counts(s.image.array) for s in everything], [s.tissues for s in everything],
                   [s.label_values for s in everything], [s.seed for s in everything], scales,
                   [False] * len(studies) + [True] * len(real))


def episode_loss(embeddings: torch.Tensor, episode: Episode, temperature: torch.Tensor, metric: str
                 ) -> torch.Tensor:
    """Class-balanced negative log-likelihood plus (1 - mean soft Dice) of an episode's query voxels
    (embeddings [n, D, H, W])."""
    flat = embeddings.permute(0, 2, 3, 1).reshape(-1, embeddings.shape[1])
    support = torch.from_numpy(episode.support.reshape(-1))
    query = torch.from_numpy(episode.query.reshape(-1))
    painted = support >= 0
    boundary = torch.from_numpy(paint_boundaries(episode.support).reshape(-1))[painted]
    prototypes = differentiable_prototypes(flat[painted], support[painted], episode.n_classes, boundary)
    scored = query >= 0
    targets = query[scored]
    log_probabilities = class_log_probabilities(prototype_logits(flat[scored], prototypes, temperature, metric),
                                                prototypes)
    picked = log_probabilities.gather(1, targets[:, None])[:, 0]
    present = torch.unique(targets)
    likelihood = torch.stack([-picked[targets == c].mean() for c in present]).mean()
    probabilities = log_probabilities.exp()
    one_hot = torch.nn.functional.one_hot(targets, episode.n_classes).to(probabilities.dtype)
    overlap = (probabilities * one_hot).sum(0)
    soft_dice = 2 * overlap / (probabilities.sum(0) + one_hot.sum(0) + 1.0)
    return likelihood + (1.0 - soft_dice[present].mean())


def draw_episodes(data: TrainingData, rng: np.random.Generator, config: PretrainingConfig
                  ) -> tuple[list[Episode], float]:
    """The episodes of one training step (all from one study) and the study's trunk scale."""
    index = _draw_study(data, rng, config.real_fraction)
    episodes = [phantom_episode(data.normalized[index], data.tissues[index], data.label_values[index], rng,
                                config.query_slices)]
    if rng.random() < config.superpixel_fraction:
        episodes.append(superpixel_episode(data.normalized[index], rng))
    return [e for e in episodes if e.n_classes >= 2 and (e.query >= 0).any()], data.trunk_scales[index]


def _draw_study(data: TrainingData, rng: np.random.Generator, real_fraction: float) -> int:
    """A study index: a real copy with probability `real_fraction` (when there are real copies), else a phantom;
    without real copies the draw is the plain one of phantom-only training."""
    real = [i for i, flag in enumerate(data.real) if flag]
    if not real or real_fraction <= 0:
        return int(rng.integers(len(data.seeds)))
    phantoms = [i for i, flag in enumerate(data.real) if not flag]
    pool = real if (not phantoms or rng.random() < real_fraction) else phantoms
    return int(pool[int(rng.integers(len(pool)))])


def learning_rate_at(step: int, config: PretrainingConfig) -> float:
    """Linear warm-up, then cosine decay to 2 % of the peak."""
    if step < config.warmup:
        return config.learning_rate * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.iterations - config.warmup)
    return config.learning_rate * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def pretrain(data: TrainingData, config: PretrainingConfig, network: Optional[DenseEmbedding] = None,
             progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None
             ) -> tuple[DenseEmbedding, list[dict[str, float]]]:
    """Train the embedding network episodically; returns it (in eval mode) and the loss history."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    network = network or DenseEmbedding(EmbeddingConfig.from_dict(config.embedding))
    network.train()
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    history: list[dict[str, float]] = []
    window: list[float] = []
    started = time.perf_counter()
    for step in range(config.iterations):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, config)
        episodes, trunk_scale = draw_episodes(data, rng, config)
        if not episodes:
            continue
        slabs = torch.from_numpy(np.concatenate([e.slabs for e in episodes]))
        embedded = network(slabs, trunk_scale=trunk_scale)
        losses, start = [], 0
        for episode in episodes:
            stop = start + episode.slabs.shape[0]
            losses.append(episode_loss(embedded[start:stop], episode, network.log_temperature.exp(),
                                       network.config.metric))
            start = stop
        loss = torch.stack(losses).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        window.append(float(losses[0].detach()))
        if (step + 1) % 50 == 0 or step + 1 == config.iterations:
            entry = {"step": step + 1, "loss": float(np.mean(window)), "seconds": time.perf_counter() - started,
                     "temperature": network.temperature}
            history.append(entry)
            window = []
            log.info("step %d loss %.4f (%.0f s)", entry["step"], entry["loss"], entry["seconds"])
            report(progress, (step + 1) / config.iterations,
                   f"step {step + 1}/{config.iterations}: loss {entry['loss']:.4f}", cancel)
    recalibrate_batch_norm(network, data, config.recalibration_studies)
    return network.eval(), history


def recalibrate_batch_norm(network: DenseEmbedding, data: TrainingData, studies: int) -> None:
    """Re-estimate the batch-norm statistics as the session will use them: whole volumes, every slice, in
    batches of consecutive slices, without augmentation (training saw augmented episode batches)."""
    from SPECTFewShotLib.protonet.features import SLICES_PER_BATCH, axial_slabs

    norms = [m for m in network.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over every batch
    network.train()
    with torch.no_grad():
        for index in range(min(studies, len(data.seeds))):
            volume = data.normalized[index]
            for start in range(0, volume.shape[0], SLICES_PER_BATCH):
                slabs = axial_slabs(volume, start, min(volume.shape[0], start + SLICES_PER_BATCH))
                network(torch.from_numpy(np.ascontiguousarray(slabs)), trunk_scale=data.trunk_scales[index])
    for norm in norms:
        norm.momentum = 0.1
    network.eval()
