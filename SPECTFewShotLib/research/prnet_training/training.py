"""Self-supervised training of one PRNet scale on unlabelled studies: L = L_dis + w · L_rec, reproducible by seed."""

from __future__ import annotations

import logging
import math
import time
from typing import Optional, Sequence

import numpy as np
import torch

from SPECTFewShotLib.landmarks.prnet.config import ScaleConfig
from SPECTFewShotLib.landmarks.prnet.network import PRNet, network_input
from SPECTFewShotLib.research.prnet_training.config import TrainingConfig
from SPECTFewShotLib.research.prnet_training.losses import distance_loss, predicted_offset_mm, reconstruction_loss
from SPECTFewShotLib.research.prnet_training.masking import mask_patches
from SPECTFewShotLib.research.prnet_training.pairs import TrainingStudy, group_pairs, sample_group
from SPECTFewShotLib.runtime.progress import CancelToken, ProgressCallback, report
from SPECTFewShotLib.volume import Volume

log = logging.getLogger(__name__)


def prepare_studies(volumes: Sequence[Volume], scale: ScaleConfig, training: TrainingConfig) -> list[TrainingStudy]:
    """Normalise, smooth (at each blur level) and collect the foreground of each training volume for this scale."""
    return [TrainingStudy.from_volume(v, scale.spacing_mm, training.blur_levels_mm) for v in volumes]


def train_scale(volumes: Sequence[Volume], scale: ScaleConfig, training: TrainingConfig,
                progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None,
                log_every: int = 100) -> tuple[PRNet, list[dict]]:
    """Train one scale from scratch; returns the network (eval mode) and the loss history."""
    if not volumes:
        raise ValueError("training needs at least one volume")
    torch.manual_seed(training.seed)
    rng = np.random.default_rng(training.seed)
    generator = torch.Generator().manual_seed(training.seed)
    studies = prepare_studies(volumes, scale, training)
    model = PRNet(scale)
    optimiser = torch.optim.Adam(model.parameters(), lr=training.learning_rate)
    def cosine(step: int) -> float:
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(step, training.steps) / training.steps))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, cosine)
    range_mm = torch.as_tensor(scale.range_mm, dtype=torch.float32)
    groups = min(training.groups_per_batch, len(studies))
    history: list[dict] = []
    sums = {"dis": 0.0, "rec": 0.0, "err_mm": 0.0, "err_l_mm": 0.0, "err_p_mm": 0.0, "err_s_mm": 0.0}
    started = time.time()
    model.train()
    for step in range(1, training.steps + 1):
        chosen = rng.choice(len(studies), size=groups, replace=False)
        batch = [sample_group(studies[i], training.patches_per_group, scale, training, rng) for i in chosen]
        patches = torch.cat([g.patches for g in batch])
        positions = torch.cat([g.positions_mm for g in batch])
        a, b = group_pairs([len(g.positions_mm) for g in batch])
        offset = positions[a] - positions[b]
        reachable = (offset.abs() < 0.95 * range_mm).all(dim=1)  # R ⊙ tanh cannot reach further
        a, b, offset = a[reachable], b[reachable], offset[reachable]
        masked, _ = mask_patches(patches, training.mask_fraction, training.mask_block_fraction, generator)
        out = model(network_input(masked, scale))
        position = model.embed(network_input(patches, scale)) if training.position_from_unmasked else out.position
        l_dis = distance_loss(position[a], position[b], offset, range_mm)
        l_rec = reconstruction_loss(out.reconstruction, network_input(patches, scale))
        loss = l_dis + training.reconstruction_weight * l_rec
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        with torch.no_grad():
            miss = predicted_offset_mm(position[a], position[b], range_mm) - offset
            per_axis = miss.abs().mean(dim=0)
        sums["dis"] += float(l_dis.detach())
        sums["rec"] += float(l_rec.detach())
        sums["err_mm"] += float(miss.norm(dim=1).mean())
        for axis, name in enumerate(("err_l_mm", "err_p_mm", "err_s_mm")):
            sums[name] += float(per_axis[axis])
        if step % log_every == 0 or step == training.steps:
            count = log_every if step % log_every == 0 else step % log_every
            entry = {"step": step, "seconds": round(time.time() - started, 1),
                     **{k: round(v / count, 5) for k, v in sums.items()}}
            history.append(entry)
            log.info("step %d: L_dis %.4f L_rec %.5f offset error %.1f mm", step, entry["dis"], entry["rec"],
                     entry["err_mm"])
            sums = dict.fromkeys(sums, 0.0)
        report(progress, step / training.steps, f"training {scale.variant} step {step}/{training.steps}", cancel)
    model.eval()
    return model, history
