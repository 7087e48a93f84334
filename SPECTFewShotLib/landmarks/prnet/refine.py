"""The PRNet stage of the localiser: each carried landmark moved to where the new study looks most like the
template at that landmark, on axial slices (the shipped 2.5D fine network: 7 neighbouring axial slices as
channels of a 2D network).

The template's patch at each landmark is embedded once (the fine network's decoder features at the patch centre);
in the new study, patches on a `GRID_MM` grid within `SEARCH_MM` of the carried position are embedded, and the
point moves to the one whose features are most similar (cosine). The LV frame and the local alignment play the
coarse stage of METHODS section 3 (they bring the point within the fine range). How far a point may move was
decided by measured error (docs/decisions.md, "Landmarks"): on 2 real pairs and 8 phantoms the search within 4 mm
lowered the mean error (real 17.2 -> 16.1 mm, phantoms 11.0 -> 10.5 mm), 8 mm did not, and the network's own
regressed offsets (R ⊙ tanh(p_template − p)) moved points 10-35 mm, mostly to worse places. The similarity where a
point ends is returned, but it does not track the error (0.95-1.0 everywhere around the heart): the localiser's
confidence comes from elsewhere. The stage is off by default (`localize --prnet` adds it): the 2.5D features are
those of axial slices, not of the anatomy turned with the study, and so flat that a template localised in a copy
of itself rotated by 30 degrees moved by up to 4.7 mm (0.8 mm mean without the stage, 2.7 mm with it).
Weights: the registry's default PRNet (SHA-256 checked, loaded with
`weights_only=True`, `models.registry.load_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ...volume import Volume

SEARCH_MM = 4.0
GRID_MM = 2.0


@dataclass(frozen=True)
class Refinement:
    """Refined LPS points (n, 3), how far each moved (mm), and the feature similarity where each ends (0..1)."""

    points: np.ndarray
    moved_mm: np.ndarray
    similarity: np.ndarray


def search_offsets(radius_mm: float = SEARCH_MM, step_mm: float = GRID_MM) -> np.ndarray:
    """The offsets (m, 3) of a `step_mm` grid within `radius_mm` of a point, the point itself first."""
    axis = np.arange(-radius_mm, radius_mm + 1e-6, step_mm)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    grid = grid[np.linalg.norm(grid, axis=1) <= radius_mm + 1e-6]
    return grid[np.argsort(np.linalg.norm(grid, axis=1), kind="stable")]


class PRNetRefiner:
    """The fine PRNet of a registered model (default: the registry's default), loaded once."""

    def __init__(self, model: Optional[str] = None) -> None:
        from .model_io import load_pair

        models, entry = load_pair(model)
        self.network = models["fine"]
        self.model_id = entry.id

    def refine(self, template: Volume, template_points: np.ndarray, target: Volume, start_points: np.ndarray,
               search_mm: float = SEARCH_MM) -> Refinement:
        """The start points (the carried landmarks, LPS (n, 3)) moved, within `search_mm`, to where the target's
        features are most similar to the template's at `template_points` (see the module docstring)."""
        import torch

        from .network import network_input
        from .patches import prepare_volume, sample_patches

        scale = self.network.config
        start = np.asarray(start_points, dtype=float).reshape(-1, 3)
        offsets = search_offsets(search_mm)

        def features(volume: Volume, points: np.ndarray) -> np.ndarray:
            patches = sample_patches(prepare_volume(volume, scale.spacing_mm), points, scale.patch_shape,
                                     scale.patch_spacing)
            with torch.no_grad():
                return self.network(network_input(patches, scale)).features.numpy().astype(float)

        wanted = features(template, np.asarray(template_points, dtype=float).reshape(-1, 3))
        candidates = (start[:, None, :] + offsets[None, :, :]).reshape(-1, 3)
        found = features(target, candidates).reshape(len(start), len(offsets), -1)
        norms = np.linalg.norm(found, axis=2) * np.linalg.norm(wanted, axis=1)[:, None]
        similarity = np.clip(np.einsum("naf,nf->na", found, wanted) / np.maximum(norms, 1e-12), 0.0, 1.0)
        best = np.argmax(similarity, axis=1)  # ties: the nearest (offsets run outwards from the point itself)
        points = start + offsets[best]
        return Refinement(points, np.linalg.norm(offsets[best], axis=1), similarity[np.arange(len(start)), best])
