"""The PRNet stage of the localiser: each carried landmark moved to where the new study looks most like the
template at that landmark, read in each study's LV frame (the shipped 2.5D fine network: 7 neighbouring slices as
channels of a 2D network).

The template's patches are short-axis slices of its LV (`FramePair.rotations`: slice normal the long axis towards
the apex, in-plane axes from the anterior direction, `carry.frame_axes`); the new study's are the same patches turned
by the rotation of the map that placed the points (`turn`: the LV frames' map aligned on the counts, `map_turn`), so
a template localised in a rotated copy of itself reads the same features at the same anatomical points. The
template's features at each landmark are computed once; in the new study, patches on a `GRID_MM` grid within
`SEARCH_MM` of the carried position (the grid laid in the new study's patch axes) are compared, and the point moves
to the most similar (cosine). What is compared is the last decoder map over the patch's central `MAP_WINDOW`
pixels, each channel less its mean (`match` "map"; "centre": the decoder features at the patch centre). Points
placed with two frames from walls stay (`on_walls`). The LV frame and the local alignment play the coarse stage of
METHODS section 3. The similarity where a point ends is returned; it is no confidence. The stage is opt-in
(`localize --prnet`); why, the search radius and the measured error: docs/prnet.md, "PRNet". Weights: the
registry's default PRNet (SHA-256 checked, loaded with `weights_only=True`, `models.registry.load_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np

from SPECTFewShotLib.volume import Volume

if TYPE_CHECKING:
    from SPECTFewShotLib.landmarks.lv_frame import LVFrame

SEARCH_MM = 4.0
GRID_MM = 2.0
ORIENTATIONS = ("lv", "axial")
MATCHES = ("centre", "map")
MAP_WINDOW = 16  # pixels of the last decoder map compared (at the fine 2.5 mm: 40 mm across)


@dataclass(frozen=True)
class Refinement:
    """Refined LPS points (n, 3), how far each moved (mm), and the feature similarity where each ends and where it
    started (0..1)."""

    points: np.ndarray
    moved_mm: np.ndarray
    similarity: np.ndarray
    similarity_at_start: np.ndarray


@dataclass(frozen=True)
class FramePair:
    """The template's and the new study's LV frames and the carry's roll of the new one about its axis (degrees)."""

    template: LVFrame
    target: LVFrame
    roll_deg: float = 0.0

    def rotations(self) -> tuple[np.ndarray, np.ndarray]:
        """Each study's patch axes as the columns of a rotation (LPS): across, across, long axis towards the apex."""
        from SPECTFewShotLib.landmarks.carry import frame_axes

        return frame_axes(self.template), frame_axes(self.target, self.roll_deg)

    @property
    def from_walls(self) -> bool:
        """Whether neither frame comes from the counts (both are walls a user painted, classified or gave)."""
        return "counts" not in (self.template.source, self.target.source)


def map_turn(point_map: Callable[[np.ndarray], np.ndarray], centre: np.ndarray,
             then: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> np.ndarray:
    """The linear part (3x3) at `centre` of a map of LPS points (n, 3) -> (n, 3), followed by `then` when given (the
    alignment's correction of a frame map), by unit differences: with `nearest_rotation`, how the map turns the
    template's directions."""
    def placed(points: np.ndarray) -> np.ndarray:
        mapped = point_map(points)
        return mapped if then is None else then(mapped)

    centre = np.asarray(centre, dtype=float).reshape(3)
    origin = placed(centre[None, :])[0]
    return np.stack([placed((centre + step)[None, :])[0] - origin for step in np.eye(3)], axis=1)


def search_offsets(radius_mm: float = SEARCH_MM, step_mm: float = GRID_MM) -> np.ndarray:
    """The offsets (m, 3) of a `step_mm` grid within `radius_mm` of a point, the point itself first."""
    axis = np.arange(-radius_mm, radius_mm + 1e-6, step_mm)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    grid = grid[np.linalg.norm(grid, axis=1) <= radius_mm + 1e-6]
    return grid[np.argsort(np.linalg.norm(grid, axis=1), kind="stable")]


def nearest_rotation(matrix: np.ndarray) -> np.ndarray:
    """The rotation nearest a 3x3 linear map (the polar decomposition's orthogonal factor, determinant +1)."""
    u, _, vt = np.linalg.svd(np.asarray(matrix, dtype=float))
    if np.linalg.det(u @ vt) < 0:
        u[:, -1] = -u[:, -1]
    return u @ vt


class PRNetRefiner:
    """The fine PRNet of a registered model (default: the registry's default), loaded once. `orientation`: the
    template's patches in its LV frame ("lv", default) or LPS-aligned ("axial"); the new study's are turned by the
    placement's rotation either way (`refine`). `match`: compare the decoder features at the patch centre
    ("centre") or the last decoder map over the central `MAP_WINDOW` pixels ("map"). Points placed with two
    frames from walls (`FramePair.from_walls`) stay where they are unless `on_walls`: those frames are the walls a
    user painted or classified, and the counts cannot say where a user's wall ends (measured: the search made every
    such placement worse, docs/prnet.md)."""

    def __init__(self, model: Optional[str] = None, orientation: str = "lv", match: str = "map",
                 on_walls: bool = False) -> None:
        from .model_io import load_pair

        if orientation not in ORIENTATIONS:
            raise ValueError(f"orientation must be one of {ORIENTATIONS}, not {orientation!r}")
        if match not in MATCHES:
            raise ValueError(f"match must be one of {MATCHES}, not {match!r}")
        models, entry = load_pair(model)
        self.network = models["fine"]
        self.model_id = entry.id
        self.orientation = orientation
        self.match = match
        self.on_walls = on_walls

    def features(self, volume: Volume, points: np.ndarray, rotation: Optional[np.ndarray] = None) -> np.ndarray:
        """The features (n, F) compared (`match`) of the patches centred at LPS `points`, their axes the columns of
        `rotation` (LPS-aligned without one)."""
        import torch

        from .network import network_input
        from .patches import prepare_volume, sample_patches

        scale = self.network.config
        points = np.asarray(points, dtype=float).reshape(-1, 3)
        rotations = None if rotation is None else \
            torch.as_tensor(np.asarray(rotation, dtype=np.float32)).expand(len(points), 3, 3)
        patches = network_input(sample_patches(prepare_volume(volume, scale.spacing_mm), points, scale.patch_shape,
                                               scale.patch_spacing, rotations=rotations), scale)
        with torch.no_grad():
            if self.match == "centre":
                return self.network(patches).features.numpy().astype(float)
            decoded = self.network.decoded(patches)
        middle = decoded.shape[-1] // 2
        window = decoded[..., middle - MAP_WINDOW // 2:middle + MAP_WINDOW // 2,
                         middle - MAP_WINDOW // 2:middle + MAP_WINDOW // 2]
        window = window - window.mean(dim=(-2, -1), keepdim=True)  # each channel's pattern, not its level
        return window.flatten(1).numpy().astype(float)

    def refine(self, template: Volume, template_points: np.ndarray, target: Volume, start_points: np.ndarray, *,
               frames: FramePair, turn: Optional[np.ndarray] = None, search_mm: float = SEARCH_MM) -> Refinement:
        """The start points (the carried landmarks, LPS (n, 3)) moved, within `search_mm`, to where the target's
        features are most similar to the template's at `template_points` (see the module docstring). `frames`: the
        two LV frames the points were carried between; the new study's patches are the template's turned by `turn`
        (3x3, template directions to the new study's: the rotation of the map that placed the points), by default
        the turn between the two frames. Orientation "axial", match "centre" and `turn` np.eye(3) search on axial
        slices in both studies."""
        start = np.asarray(start_points, dtype=float).reshape(-1, 3)
        if frames.from_walls and not self.on_walls:  # the user's walls: nothing to correct
            return Refinement(start, np.zeros(len(start)), np.ones(len(start)), np.ones(len(start)))
        if turn is None:
            template_frame, target_frame = frames.rotations()
            turn = target_frame @ template_frame.T
        template_axes = frames.rotations()[0] if self.orientation == "lv" else np.eye(3)
        turn = nearest_rotation(turn)
        target_axes = turn @ template_axes
        offsets = search_offsets(search_mm)
        moves = offsets @ target_axes.T  # the grid laid in the target's patch axes
        wanted = self.features(template, np.asarray(template_points, dtype=float).reshape(-1, 3), template_axes)
        candidates = (start[:, None, :] + moves[None, :, :]).reshape(-1, 3)
        found = self.features(target, candidates, target_axes).reshape(len(start), len(offsets), -1)
        norms = np.linalg.norm(found, axis=2) * np.linalg.norm(wanted, axis=1)[:, None]
        similarity = np.clip(np.einsum("naf,nf->na", found, wanted) / np.maximum(norms, 1e-12), 0.0, 1.0)
        best = np.argmax(similarity, axis=1)  # ties: the nearest (offsets run outwards from the point itself)
        points = start + moves[best]
        return Refinement(points, np.linalg.norm(moves[best], axis=1), similarity[np.arange(len(start)), best],
                          similarity[:, 0])
