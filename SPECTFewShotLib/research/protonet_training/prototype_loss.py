"""Prototypes with gradients, for training: the product's prototype members (protonet/prototypes.py, numpy) averaged
in torch, and the log-probabilities of the episode loss.

Which painted voxels make up each prototype is the product's own computation (prototype_members, on the detached
embeddings); only the averaging and the distances run in torch, so that gradients reach the embedding network.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch.nn import functional as F

from SPECTFewShotLib.protonet.prototypes import (
    MAX_PROTOTYPES_PER_CLASS,
    VOXELS_PER_PROTOTYPE,
    Prototypes,
    prototype_members,
)


def differentiable_prototypes(painted: torch.Tensor, classes: torch.Tensor, n_classes: int,
                              boundary: Optional[torch.Tensor] = None, max_per_class: int = MAX_PROTOTYPES_PER_CLASS,
                              voxels_per_prototype: int = VOXELS_PER_PROTOTYPE) -> Prototypes:
    """Prototypes (vectors a torch tensor [P, D] with gradients) from painted embeddings [n, D] with their class
    indices [n]; the same prototypes as protonet.prototypes.build_prototypes."""
    members = prototype_members(painted.detach().cpu().float().numpy(), classes.cpu().numpy(), n_classes,
                                None if boundary is None else boundary.cpu().numpy(), max_per_class,
                                voxels_per_prototype)
    index = torch.from_numpy(members.prototype).to(painted.device)
    rows = painted[torch.from_numpy(members.rows).to(painted.device)]
    sums = torch.zeros(members.count, painted.shape[1], dtype=painted.dtype, device=painted.device)
    sums = sums.index_add(0, index, rows)
    counts = torch.bincount(index, minlength=members.count).to(painted.dtype)
    return Prototypes(sums / counts[:, None], members.class_of, n_classes)


def prototype_logits(features: torch.Tensor, prototypes: Prototypes, temperature: float | torch.Tensor,
                     metric: str = "euclidean") -> torch.Tensor:
    """Logits [N, P]: -squared distance (or cosine similarity) / temperature (differentiable)."""
    vectors = prototypes.vectors
    if metric == "cosine":
        scores = F.normalize(features, dim=1) @ F.normalize(vectors, dim=1).T
    else:
        scores = -((features * features).sum(1, keepdim=True) - 2 * features @ vectors.T
                   + (vectors * vectors).sum(1)[None, :])
    return scores / temperature


def class_log_probabilities(logits: torch.Tensor, prototypes: Prototypes) -> torch.Tensor:
    """Log class probabilities [N, C] from prototype logits [N, P] (log-sum-exp over each class's prototypes)."""
    class_of = torch.from_numpy(prototypes.class_of).to(logits.device)
    per_class = [torch.logsumexp(logits[:, class_of == c], dim=1) for c in range(prototypes.n_classes)]
    return torch.log_softmax(torch.stack(per_class, dim=1), dim=1)
