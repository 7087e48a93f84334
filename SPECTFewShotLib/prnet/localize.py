"""One-shot landmark localisation: a template volume with named landmarks -> the same landmarks in a new volume.

Coarse-to-fine search with the two PRNet scales (METHODS section 3). The template embedding p_t is computed
from the template volume at each template landmark. In the new volume the coarse model embeds patches at a few
random starts near the count-weighted centre; each start s moves to s + R_c ⊙ tanh(p_t − p(s)) and the moves
are averaged. Then the scales refine that point: patches at eleven offsets δ around the current estimate (nine
in-plane positions on its axial slice and one on each neighbouring slice) are compared with template patches at
the same offsets around the landmark; the per-offset moves (per-slice results for 2.5D) are averaged into one 3D
move. Local steps then finish (refinement.py): patch matching by normalised cross-correlation, an affine
registration of the landmarks' neighbourhood (the LV's own landmarks' when the template has them,
`registration_anchors`) started from there, and the matching again with the template's patches resampled through
that registration (the LV centre keeping the registration's position and the LV apex moving along the long axis
only: matching_freedom.py); the registration and that matching run both ways (template onto volume, volume onto
template) and the two are averaged (where they disagree, both run again from starts also tilted about the LV's
axis, kept when the two ways then agree better; the apex then ends on the placed base-centre line), or, from three
fused templates on, run the inverse way alone. Where the two ways still disagree, the local steps start again
from the best places of the template's LV box over the whole volume (global_search.py), kept only when the two
ways then agree within a few millimetres: PRNet's start can land in a liver hotter than the heart. Confidence is
how far the two ways agree (`fusion.agreement_confidence` of their distance; several templates: how far their
placements agree, `fusion.fuse_landmarks`); where one template ran one way only, the cosine similarity, clipped
to [0, 1], of the fine decoder's features at the template landmark and at the found point (centred on the
template's mean feature).
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from ..device import resolve_device
from ..errors import InputError
from ..io.markups_io import Landmark
from ..io.volume_io import require_counts
from ..progress import CancelToken, ProgressCallback, report
from ..threads import one_thread
from ..vocabulary import LV_LANDMARK_NAMES
from ..volume import Volume
from .fusion import agreement_confidence, fuse_landmarks, is_low_confidence, landmark_description
from .global_search import GlobalSearchSettings, candidate_translations
from .matching_freedom import apex_on_axis, keep_moves, move_projections
from .model_io import load_pair
from .network import PRNet, network_input
from .patches import PreparedVolume, normalised_counts, prepare_volume, sample_patches
from .refinement import (
    FUSED_TEMPLATES,
    RegistrationSettings,
    match_patches,
    match_warped_patches,
    register_neighbourhood,
)

log = logging.getLogger(__name__)
CONFIDENCE_REFERENCE_POINTS = 24


@dataclass(frozen=True)
class SearchSettings:
    """How the coarse-to-fine search moves: starts, iterations, offsets and the stopping tolerance."""

    coarse_starts: int = 8
    start_radius_mm: float = 30.0
    coarse_iterations: int = 0
    fine_iterations: int = 1
    offset_fraction: float = 0.25  # of R: spacing of the offsets δ compared around template and estimate
    tolerance_mm: float = 0.5
    match_patches: bool = True  # refinement.match_patches after the PRNet moves
    register_neighbourhood: bool = True  # then refinement.register_neighbourhood
    both_ways: bool = True  # register (and match) both ways, template onto volume and volume onto template
    anchor_labels: tuple[str, ...] = LV_LANDMARK_NAMES  # `registration_anchors`; () = every landmark's neighbourhood
    lv_shape_moves: bool = True  # matching_freedom: LV centre keeps the registration, LV apex moves along the axis
    # and ends on the placed base-centre line
    tilted_retry_degrees: float = 15.0  # two ways disagreeing (low confidence): registered again, starts also tilted
    global_candidates: int = 2  # two ways still disagreeing: the local steps again from global_search's candidates
    candidate_distance_mm: float = 24.0  # (those this far from every start tried: nearer, the matching finds them),
    candidate_agreement_mm: float = 5.0  # kept where the two ways then end this close on every anchor
    seed: int = 0


class Localizer:
    """Places a template's landmarks in new volumes with a trained PRNet pair (coarse and fine)."""

    def __init__(self, model: Optional[str] = None, device: str = "auto",
                 settings: Optional[SearchSettings] = None, models: Optional[dict[str, PRNet]] = None) -> None:
        self.device = resolve_device(device)
        if models is None:
            models, entry = load_pair(model)
            self.model_id = entry.id
        else:
            self.model_id = "in-memory"
        self.models = {name: m.to(self.device).eval() for name, m in models.items()}
        self.settings = settings or SearchSettings()

    def localize(self, volume: Volume, template_volume: Volume, template_landmarks: Sequence[Landmark],
                 progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None
                 ) -> list[Landmark]:
        """The template's landmarks placed in `volume` (LPS mm), same labels, confidence in [0, 1] per point."""
        check_template(template_volume, template_landmarks)
        require_counts(volume, "the volume")
        return self._place(volume, template_volume, template_landmarks, progress, cancel)

    def _place(self, volume: Volume, template_volume: Volume, template_landmarks: Sequence[Landmark],
               progress: Optional[ProgressCallback], cancel: Optional[CancelToken], fused_templates: int = 1,
               feature_confidence: bool = True) -> list[Landmark]:
        """`localize` on checked inputs, as one of `fused_templates` placements to be fused. Without
        `feature_confidence`, a placement with one way only leaves its confidences None (the fusion replaces
        them by the templates' agreement)."""
        report(progress, 0.0, "preparing volumes", cancel)
        targets = np.array([lm.position_lps for lm in template_landmarks], dtype=float)
        template_counts, volume_counts = normalised_counts(template_volume), normalised_counts(volume)
        prepared = {}
        for name, model in self.models.items():
            spacing = model.config.spacing_mm
            prepared[name] = (prepare_volume(template_volume, spacing, template_counts),
                              prepare_volume(volume, spacing, volume_counts))
        report(progress, 0.2, "coarse search", cancel)
        estimate = self._coarse_start(prepared["coarse"], targets)
        labels = [lm.label for lm in template_landmarks]
        anchors = registration_anchors(labels, self.settings.anchor_labels)
        steps = [("coarse", self.settings.coarse_iterations), ("fine", self.settings.fine_iterations)]
        for number, (name, iterations) in enumerate(steps):
            for _ in range(iterations):
                moved = self._refine(name, prepared[name], targets, estimate)
                shift = np.linalg.norm(moved - estimate, axis=1).max()
                estimate = moved
                if shift < self.settings.tolerance_mm:
                    break
            report(progress, 0.4 + 0.2 * number, f"{name} refinement done", cancel)
        counts = (volume_counts, template_counts)
        finish = partial(self._finish, volume, template_volume, targets=targets, fused_templates=fused_templates,
                         counts=counts, anchors=anchors, labels=labels)
        start = estimate
        estimate, spread = finish(start)
        report(progress, 0.9, "neighbourhood registered", cancel)
        if spread is not None and self.settings.global_candidates > 0 and ways_disagree(spread, anchors):
            estimate, spread = self._candidates_tried(finish, volume, template_volume, counts, targets, anchors,
                                                      start, (estimate, spread))
        if spread is not None:
            confidence = [float(c) for c in agreement_confidence(spread)]
        elif feature_confidence:
            confidence = [float(c) for c in self._confidence(prepared["fine"], targets, estimate)]
        else:
            confidence = [None] * len(targets)
        report(progress, 1.0, "landmarks placed", cancel)
        return [Landmark(lm.label, tuple(float(v) for v in position), c, landmark_description(c))
                for lm, position, c in zip(template_landmarks, estimate, confidence)]

    def localize_from_templates(self, volume: Volume, templates: Sequence[tuple[Volume, Sequence[Landmark]]],
                                progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None
                                ) -> list[Landmark]:
        """The landmarks of several annotated templates placed in `volume`, each template on its own, then combined
        per label by the geometric median of the placements (fusion.py). One template gives `localize`'s answer;
        from three on, each placement's registrations start once (`RegistrationSettings.for_placement`).

        Several templates are placed at once, each in its own Python thread running torch single-threaded: the
        operating system shares the cores among them, so three templates on two cores take 1.5 times the time of
        two, not twice (as one thread per core would: the third template waited alone on one core); and the
        landmarks are the same whatever the number of cores, since every placement runs single-threaded.
        """
        if not templates:
            raise InputError("give at least one template")
        for template_volume, template_landmarks in templates:
            check_template(template_volume, template_landmarks)
        require_counts(volume, "the volume")
        if len(templates) == 1:
            return self._place(volume, *templates[0], progress, cancel)
        count = len(templates)
        workers = count if self.device.type == "cpu" else 1
        # A label only one template holds keeps that placement's own confidence; the fusion gives the others theirs
        held = Counter(label for _, landmarks in templates for label in {lm.label for lm in landmarks})
        own = min(held.values()) == 1
        report(progress, 0.0, f"placing the landmarks of {count} templates", cancel)
        placements = []
        with one_thread(), ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(self._place, volume, template_volume, template_landmarks, None, cancel, count, own)
                       for template_volume, template_landmarks in templates]
            try:
                for number, future in enumerate(futures, start=1):
                    placements.append(future.result())
                    report(progress, number / count, f"template {number} of {count} placed", cancel)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        report(progress, 1.0, f"landmarks placed: median of {count} templates", cancel)
        return fuse_landmarks(placements)

    def _carry(self, volume: Volume, template_volume: Volume, estimate: np.ndarray, targets: np.ndarray,
               fused_templates: int, counts: tuple[np.ndarray, np.ndarray], anchors: Optional[np.ndarray] = None,
               labels: Sequence[str] = (), tilted_retry: bool = True) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """The neighbourhood registration (its metric around the `anchors`) and the warped matching from
        `estimate`, each landmark keeping the part of the matching's move that `matching_freedom` allows its label
        (with `settings.lv_shape_moves`). With `settings.both_ways` once each way (the template onto the volume,
        the volume onto the template: two threads) and averaged per landmark, a landmark registered only one way
        taking that way's position; when the two ways disagree on an anchor (its confidence below
        `LOW_CONFIDENCE`), both run again with every start also tilted by `settings.tilted_retry_degrees`
        (`refinement.start_rotations`; the untilted starts compete again), and the second try is kept when its two
        ways agree better (their largest distance over the anchors is smaller): a tilted fit that correlates
        better but pulls the ways apart went astray. From `FUSED_TEMPLATES` fused templates on, only the volume
        onto the template (the fusion outvotes a placement gone astray, and three placements both ways would cost
        twice the time).
        Returns the positions and, when both ways ran, the distance between the two ways' positions per landmark
        (a way that did not register a landmark gives the position it fell back on; where neither did, inf), else
        None."""

        def carry(inverse: bool, tilt_degrees: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
            registration = replace(RegistrationSettings(seed=self.settings.seed).for_placement(
                fused_templates, inverse, self.settings.both_ways), tilt_degrees=tilt_degrees)
            placed, linear = register_neighbourhood(volume, template_volume, estimate, targets, registration,
                                                    counts, inverse=inverse, anchors=anchors)
            registered = np.array([matrix is not None for matrix in linear])
            projections = move_projections(labels, placed) if self.settings.lv_shape_moves else \
                [np.eye(3)] * len(placed)
            matching = [matrix if projection.any() else None for matrix, projection in zip(linear, projections)]
            matched = match_warped_patches(volume, template_volume, placed, targets, matching, counts=counts)
            return keep_moves(placed, matched, projections), registered

        def both_ways(tilt_degrees: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
            with ThreadPoolExecutor(max_workers=2) as pool:
                (forward, forward_registered), (backward, backward_registered) = pool.map(
                    carry, (False, True), (tilt_degrees, tilt_degrees))
            both = forward_registered & backward_registered
            only_backward = backward_registered & ~forward_registered
            placed = np.where(both[:, None], (forward + backward) / 2,
                              np.where(only_backward[:, None], backward, forward))
            # where neither way registered, both fell back on the same matching: no agreement to measure
            unregistered = ~(forward_registered | backward_registered)
            return placed, np.where(unregistered, np.inf, np.linalg.norm(forward - backward, axis=1))

        if not self.settings.both_ways:
            return carry(False)[0], None
        if fused_templates >= FUSED_TEMPLATES:
            return carry(True)[0], None
        placed, spread = both_ways()
        tilt = self.settings.tilted_retry_degrees if tilted_retry else 0.0
        if tilt > 0 and ways_disagree(spread, anchors):
            retried, retried_spread = both_ways(tilt)
            if anchor_disagreement(retried_spread, anchors) < anchor_disagreement(spread, anchors):
                log.info("the two ways disagreed: the tilted starts brought them closer")
                return retried, retried_spread
            log.info("the two ways disagreed: the tilted starts did not bring them closer, the first try stays")
        return placed, spread

    def _embed(self, name: str, prepared: PreparedVolume, centres: np.ndarray) -> torch.Tensor:
        model = self.models[name]
        config = model.config
        patches = sample_patches(prepared, centres, config.patch_shape, config.patch_spacing)
        with torch.no_grad():
            return model.embed(network_input(patches, config).to(self.device)).cpu().double()

    def _coarse_start(self, pair: tuple[PreparedVolume, PreparedVolume], targets: np.ndarray) -> np.ndarray:
        template, target = pair
        rng = np.random.default_rng(self.settings.seed)
        starts = target.centre_of_mass_lps + rng.uniform(-1, 1, (self.settings.coarse_starts, 3)) * \
            self.settings.start_radius_mm
        range_mm = torch.as_tensor(self.models["coarse"].config.range_mm, dtype=torch.float64)
        p_template = self._embed("coarse", template, targets)  # [L, 3]
        p_starts = self._embed("coarse", target, starts)  # [S, 3]
        moves = range_mm * torch.tanh(p_template[:, None, :] - p_starts[None, :, :])  # [L, S, 3]
        return (torch.as_tensor(starts)[None] + moves).mean(dim=1).numpy()

    def _finish(self, volume: Volume, template_volume: Volume, start: np.ndarray, targets: np.ndarray,
                fused_templates: int, counts: tuple[np.ndarray, np.ndarray], anchors: np.ndarray,
                labels: Sequence[str], tilted_retry: bool = True) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """The local steps from PRNet's (or another) start: the patch matching, then the neighbourhood
        registration and warped matching (`_carry`, with its tilted second try unless `tilted_retry` is off), the
        apex on the placed axis where both ways ran. Returns the positions and the two ways' distances (None unless
        both ran)."""
        estimate, spread = start, None
        if self.settings.match_patches:
            estimate = match_patches(volume, template_volume, estimate, targets, counts=counts)
        if self.settings.register_neighbourhood:
            estimate, spread = self._carry(volume, template_volume, estimate, targets, fused_templates, counts,
                                           anchors, labels, tilted_retry)
            if self.settings.lv_shape_moves and spread is not None:  # both ways ran (see apex_on_axis)
                estimate = apex_on_axis(labels, estimate, targets)
        return estimate, spread

    def _candidates_tried(self, finish: Callable[..., tuple[np.ndarray, Optional[np.ndarray]]], volume: Volume,
                          template_volume: Volume, counts: tuple[np.ndarray, np.ndarray], targets: np.ndarray,
                          anchors: np.ndarray,
                          start: np.ndarray, placed: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """`placed` (positions, the two ways' distances), or the local steps started again from a global_search
        candidate (the template's landmarks shifted to one of the best-correlated places of its anchors' box) that
        lies `candidate_distance_mm` from every start tried (untilted: the question is whether the heart is
        there, and the tilted try would cost four times as much), when its two ways then end within
        `candidate_agreement_mm` of each other on every anchor (of several, the closest). PRNet follows the counts:
        where the liver is hotter than the heart its start, and so the first try, can land in the liver, beyond the
        local steps' reach. Agreeing better than the first try is not enough: on the validation phantoms the 48
        candidate tries that ended 74 mm or more off with both ways registered had their two ways 8.7 mm or more
        apart (25 more registered neither way: no agreement to measure).
        """
        search = GlobalSearchSettings(candidates=self.settings.global_candidates)
        volume_counts, template_counts = counts
        found = candidate_translations(prepare_volume(volume, search.spacing_mm, volume_counts),
                                       prepare_volume(template_volume, search.spacing_mm, template_counts),
                                       targets[anchors], search)
        tried = [np.median(start[anchors] - targets[anchors], axis=0)]
        for candidate in found:
            if min(np.linalg.norm(candidate.translation - t) for t in tried) <= self.settings.candidate_distance_mm:
                continue
            tried.append(candidate.translation)
            estimate, spread = finish(targets + candidate.translation, tilted_retry=False)
            if anchor_disagreement(spread, anchors) <= min(self.settings.candidate_agreement_mm,
                                                           anchor_disagreement(placed[1], anchors)):
                log.info("the two ways disagreed: a start at a global candidate (correlation %.2f) brought them "
                         "closer", candidate.score)
                placed = (estimate, spread)
        return placed

    def _offsets(self, name: str) -> np.ndarray:
        """The offsets δ (mm) compared around template landmark and estimate: a 3 x 3 grid in the axial plane and
        one step up and down (11 offsets; the full 3 x 3 x 3 grid measured no better on validation phantoms
        900000-900063 and costs 2.5 times as much). For the 2.5D variant the three S levels are neighbouring
        axial slabs: the per-slice moves are combined into one 3D move by averaging.
        """
        config = self.models[name].config
        step = self.settings.offset_fraction * np.asarray(config.range_mm)
        if config.variant == "2.5d":
            step[2] = max(step[2], config.slice_spacing_mm)
        grid = np.stack(np.meshgrid(*[(-1.0, 0.0, 1.0)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
        in_plane_or_axial = (grid[:, 2] == 0) | ((grid[:, 0] == 0) & (grid[:, 1] == 0))
        return grid[in_plane_or_axial] * step

    def _refine(self, name: str, pair: tuple[PreparedVolume, PreparedVolume], targets: np.ndarray,
                estimate: np.ndarray) -> np.ndarray:
        """One move of every estimate: the mean over the offsets of R ⊙ tanh(p_t(δ) − p(δ)), each move kept
        within the pair radius the model was trained on (further it would extrapolate)."""
        template, target = pair
        config = self.models[name].config
        offsets = self._offsets(name)  # [O, 3]
        range_mm = torch.as_tensor(config.range_mm, dtype=torch.float64)
        p_template = self._embed(name, template, (targets[:, None] + offsets[None]).reshape(-1, 3))
        p_here = self._embed(name, target, (estimate[:, None] + offsets[None]).reshape(-1, 3))
        moves = (range_mm * torch.tanh(p_template - p_here)).reshape(len(targets), len(offsets), 3)
        limit = torch.as_tensor(config.pair_radius_mm, dtype=torch.float64)
        moves = torch.maximum(torch.minimum(moves, limit), -limit)
        return estimate + moves.mean(dim=1).numpy()

    def _confidence(self, pair: tuple[PreparedVolume, PreparedVolume], targets: np.ndarray,
                    found: np.ndarray) -> np.ndarray:
        """Cosine similarity of the fine decoder's features at the template landmark and the found point, both
        centred on the template's mean feature over body points (so that a match means a similar structure,
        not merely similar counts), clipped to [0, 1]."""
        template, target = pair
        model = self.models["fine"]
        config = model.config
        rng = np.random.default_rng(self.settings.seed)
        body = template.foreground_lps()
        reference = body[rng.choice(len(body), size=min(CONFIDENCE_REFERENCE_POINTS, len(body)), replace=False)]
        n = len(targets)
        patches = torch.cat([sample_patches(template, targets, config.patch_shape, config.patch_spacing),
                             sample_patches(target, found, config.patch_shape, config.patch_spacing),
                             sample_patches(template, reference, config.patch_shape, config.patch_spacing)])
        with torch.no_grad():
            features = model(network_input(patches, config).to(self.device)).features.cpu()
        mean = features[2 * n:].mean(dim=0, keepdim=True)
        cosine = torch.nn.functional.cosine_similarity(features[:n] - mean, features[n:2 * n] - mean, dim=1)
        return cosine.clamp(0.0, 1.0).numpy()


def anchor_disagreement(spread: np.ndarray, anchors: Optional[np.ndarray] = None) -> float:
    """The largest distance (mm) between the two ways' positions over the anchors (every landmark without them)."""
    return float(np.max(spread if anchors is None else spread[np.asarray(anchors, dtype=bool)]))


def ways_disagree(spread: np.ndarray, anchors: Optional[np.ndarray] = None) -> bool:
    """Whether the two ways disagree on an anchor: its agreement confidence is low (`fusion.is_low_confidence`)."""
    return is_low_confidence(float(agreement_confidence(anchor_disagreement(spread, anchors))))


def registration_anchors(labels: Sequence[str], anchor_labels: Sequence[str] = LV_LANDMARK_NAMES) -> np.ndarray:
    """Which landmarks' neighbourhood the registration's metric looks at: those named in `anchor_labels` (any
    case) when the template has two or more of them, else every landmark.

    The LV's centre, apex and base span the LV, the shape an affine map carries best from one heart to another.
    Points beside it (the RV insertions, say) draw in the RV and its surroundings, which vary on their own: they
    still ride along with the LV's registration and their own warped matching. On the validation phantoms
    (templates holding the LV's three and the two RV insertions) the LV centre / apex / base went from 4.59 /
    6.83 / 5.57 to 3.73 / 5.82 / 4.34 mm with the 30 mm radius (docs/prnet.md, "Stop 15").
    """
    wanted = {name.lower() for name in anchor_labels}
    anchored = np.array([label.lower() in wanted for label in labels], dtype=bool)
    return anchored if anchored.sum() >= 2 else np.ones(len(labels), dtype=bool)


def check_template(template_volume: Volume, template_landmarks: Sequence[Landmark]) -> None:
    """Refuse a template without landmarks, without counts, or with a landmark outside its volume."""
    if not template_landmarks:
        raise InputError("the template has no landmarks")
    require_counts(template_volume, "the template volume")
    for landmark in template_landmarks:
        if not template_volume.contains_lps(landmark.position_lps):
            x, y, z = landmark.position_lps
            raise InputError(f"template landmark '{landmark.label}' at ({x:.1f}, {y:.1f}, {z:.1f}) mm LPS lies "
                             "outside the template volume")
