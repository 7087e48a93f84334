"""Candidate one-shot wall rules screened on the LV frame's long axis alone (issue 35: the one-shot frame's axis).

For each case (real pairs of --real both ways, phantoms each with the next as template) the network's class
probabilities against the template's prototypes are computed once (cached on disk under --cache, keyed by case),
then every rule of `RULES` makes the study's wall from them and staged.find_lv_frame its frame, as the localiser
does; printed per rule: the frame's axis against the target mask's frame (degrees, per case and mean), its base and
apex (mm), the line from its base to its apex against the mask's frame's (degrees), the wall's voxels and how many
lie in the mask. A screen only: the landmarks in the three conventions come from one_shot_variants, which takes the
rules chosen here. The rules (issue 35, helper L; figures in
docs/evaluation/landmarks/one_shot_frame_axis_steady.txt): the product's; cores of the wall by its probability or
counts, a narrower band around the counts' myocardium or their mid-wall points, an erosion, the counts' ridge; the
closed-ring cut's settings (sectors, slab, an allowance, iterated along the cut wall's own axis); a second round
(the product wall's sure voxels painted on its quartile axial slices, classified by the product's StudySession as
`classify` does); ring trims (voxels off their slab's ring radius about the counts' or the wall's own axis, either
side); voxels inside the counts' rays' first peaks. With --fits (issue 35, helper N) the frames composed from the
template's wall fitted to the product's one-shot wall (research.evaluation.one_shot_shape_fit; --oracle: to the
target's mask) instead. Probabilities are cached as float16.

    python -m SPECTFewShotLib.research.evaluation.one_shot_axis --real DIR [--phantoms 8 --phantom-start 500]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Callable, Iterator, Sequence

import numpy as np
from scipy import ndimage

from SPECTFewShotLib.volume import Volume

Rule = Callable[[np.ndarray, Volume, object, np.ndarray, float], np.ndarray]


def product_wall(probabilities: np.ndarray, volume: Volume, near, counts: np.ndarray, overhang_mm: float
                 ) -> np.ndarray:
    """The product's rule (template_segmentation.wall_from_probabilities with the template's overhang)."""
    from SPECTFewShotLib.landmarks.template_segmentation import wall_from_probabilities

    return wall_from_probabilities(probabilities, volume, near, counts, overhang_mm)


def band_wall(probabilities: np.ndarray, volume: Volume, near, counts: np.ndarray) -> np.ndarray:
    """The product's rule without the closed-ring cut."""
    from SPECTFewShotLib.landmarks.template_segmentation import wall_from_probabilities

    return wall_from_probabilities(probabilities, volume, near, counts)


def ring_cut(wall: np.ndarray, volume: Volume, near, overhang_mm: float, axis: np.ndarray | None = None
             ) -> np.ndarray:
    """The product's closed-ring cut of `wall` along `axis` (default: the counts' frame's) through the counts'
    centre."""
    from SPECTFewShotLib.landmarks.template_segmentation import within_closed_ring
    from SPECTFewShotLib.research.evaluation.one_shot_extent import points_of

    if not wall.any():
        return wall
    k, j, i = np.nonzero(wall)
    inside = within_closed_ring(points_of(volume, wall), near.geometry.center,
                                near.geometry.axis if axis is None else axis, overhang_mm)
    kept = np.zeros_like(wall)
    kept[k[inside], j[inside], i[inside]] = True
    return kept


def probability_core(quantile: float) -> Rule:
    """The product's wall, then only voxels whose wall probability reaches `quantile` of the wall's own."""
    from SPECTFewShotLib.landmarks.template_segmentation import WALL

    def rule(probabilities, volume, near, counts, overhang_mm):
        wall = band_wall(probabilities, volume, near, counts)
        if wall.any():
            wall &= probabilities[WALL] >= np.quantile(probabilities[WALL][wall], quantile)
        return ring_cut(wall, volume, near, overhang_mm)
    return rule


def counts_core(quantile: float) -> Rule:
    """The product's wall, then only voxels whose smoothed counts reach `quantile` of the wall's own."""
    def rule(probabilities, volume, near, counts, overhang_mm):
        wall = band_wall(probabilities, volume, near, counts)
        if wall.any():
            wall &= counts >= np.quantile(counts[wall], quantile)
        return ring_cut(wall, volume, near, overhang_mm)
    return rule


def mid_band(distance_mm: float) -> Rule:
    """The product's wall, then only voxels within `distance_mm` of the counts' rays' mid-wall points."""
    from SPECTFewShotLib.landmarks.lv_frame import mid_wall_points
    from SPECTFewShotLib.landmarks.template_segmentation import near_points

    def rule(probabilities, volume, near, counts, overhang_mm):
        wall = band_wall(probabilities, volume, near, counts)
        points, _ = mid_wall_points(volume, counts, near.geometry.center)
        wall = near_points(volume, wall, points, distance_mm)
        return ring_cut(wall, volume, near, overhang_mm)
    return rule


def eroded(connectivity: int) -> Rule:
    """The product's wall eroded once (a wall a voxel thicker than the mask; one-voxel arcs vanish), then cut."""
    def rule(probabilities, volume, near, counts, overhang_mm):
        wall = band_wall(probabilities, volume, near, counts)
        wall = ndimage.binary_erosion(wall, structure=ndimage.generate_binary_structure(3, connectivity))
        return ring_cut(wall, volume, near, overhang_mm)
    return rule


def counts_peak_core(probabilities, volume, near, counts, overhang_mm):
    """The product's wall, then only voxels at least as hot as a face neighbour within the wall's outward direction
    (the wall's ridge of counts: its mid-wall surface)."""
    wall = band_wall(probabilities, volume, near, counts)
    hottest = ndimage.maximum_filter(np.where(wall, counts, -np.inf), size=3)
    wall &= counts >= 0.9 * hottest
    return ring_cut(wall, volume, near, overhang_mm)


def iterated_cut(probabilities, volume, near, counts, overhang_mm):
    """The product's wall, then the closed-ring cut again along the cut wall's own revolution axis."""
    from SPECTFewShotLib.cardiac_landmarks import revolution_axis
    from SPECTFewShotLib.research.evaluation.one_shot_extent import points_of

    whole = band_wall(probabilities, volume, near, counts)
    first = ring_cut(whole, volume, near, overhang_mm)
    if not first.any():
        return first
    axis = revolution_axis(points_of(volume, first))
    if axis @ near.geometry.axis < 0:
        axis = -axis
    return ring_cut(whole, volume, near, overhang_mm, axis)


def narrow_band(distance_mm: float) -> Rule:
    """The product's rule with the band around the counts' myocardium `distance_mm` instead of WALL_BAND_MM."""
    from unittest import mock

    def rule(probabilities, volume, near, counts, overhang_mm):
        with mock.patch("SPECTFewShotLib.landmarks.template_segmentation.WALL_BAND_MM", distance_mm):
            return product_wall(probabilities, volume, near, counts, overhang_mm)
    return rule


def ring_trimmed(points: np.ndarray, origin: np.ndarray, axis: np.ndarray, tolerance_mm: float,
                 slab_mm: float = 5.0, side: str = "both") -> np.ndarray:
    """Which `points` (n, 3) lie within `tolerance_mm` of their slab's ring: per `slab_mm` slab along `axis`, the
    distance across the axis from the slab's median point against the slab's median such distance."""
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    relative = np.asarray(points, dtype=float) - origin
    along = relative @ axis
    across = relative - along[:, None] * axis
    slab = np.floor(along / slab_mm).astype(int)
    keep = np.ones(len(points), dtype=bool)
    for s in np.unique(slab):
        inside = slab == s
        if inside.sum() < 8:
            continue
        radius = np.linalg.norm(across[inside] - np.median(across[inside], axis=0), axis=1)
        offset = radius - np.median(radius)
        offset = np.abs(offset) if side == "both" else (offset if side == "outer" else -offset)
        keep[inside] = offset <= tolerance_mm
    return keep


def ring_rule(tolerance_mm: float, rounds: int = 1, before_cut: bool = False, side: str = "both",
              own_axis: bool = False, max_turn_deg: float = 180.0, basal_only: bool = False) -> Rule:
    """The product's wall, then only voxels within `tolerance_mm` of their slab's ring about the counts' axis
    (`ring_trimmed`); with `rounds` > 1 again about the kept voxels' revolution axis; `before_cut`: trimmed before
    the closed-ring cut."""
    from SPECTFewShotLib.cardiac_landmarks import revolution_axis
    from SPECTFewShotLib.research.evaluation.one_shot_extent import points_of

    def rule(probabilities, volume, near, counts, overhang_mm):
        wall = (band_wall(probabilities, volume, near, counts) if before_cut
                else product_wall(probabilities, volume, near, counts, overhang_mm))
        if wall.sum() < 50:
            return wall
        k, j, i = np.nonzero(wall)
        points = points_of(volume, wall)
        keep = np.ones(len(points), dtype=bool)
        first = revolution_axis(points)
        axis = first if own_axis else near.geometry.axis
        for _ in range(rounds):
            keep = ring_trimmed(points, near.geometry.center, axis, tolerance_mm, side=side)
            if basal_only:  # the apical half (its cap is no ring) is kept whole
                along = (points - near.geometry.center) @ (axis if axis @ near.geometry.axis > 0 else -axis)
                keep |= along <= np.median(along)
            axis = revolution_axis(points[keep])
        turn = np.degrees(np.arccos(min(1.0, abs(float(revolution_axis(points[keep]) @ first)))))
        TURNS.append(turn)
        if turn > max_turn_deg:
            keep[:] = True
        kept = np.zeros_like(wall)
        kept[k[keep], j[keep], i[keep]] = True
        return ring_cut(kept, volume, near, overhang_mm) if before_cut else kept
    return rule


def inside_rays(tolerance_mm: float, neighbours: int = 3) -> Rule:
    """The product's wall, then only voxels no more than `tolerance_mm` nearer the counts' LV centre than where the
    counts' rays in their direction first meet the wall (lv_frame.mid_wall_points, median of the `neighbours`
    nearest rays' radii): a wall curled into the cavity (at the base, on one side) is left out."""
    from scipy.spatial import cKDTree

    from SPECTFewShotLib.landmarks.lv_frame import mid_wall_points
    from SPECTFewShotLib.research.evaluation.one_shot_extent import points_of

    def rule(probabilities, volume, near, counts, overhang_mm):
        wall = product_wall(probabilities, volume, near, counts, overhang_mm)
        if wall.sum() < 50:
            return wall
        centre = near.geometry.center
        peaks, _ = mid_wall_points(volume, counts, centre)
        radii = np.linalg.norm(peaks - centre, axis=1)
        points = points_of(volume, wall) - centre
        distance = np.linalg.norm(points, axis=1)
        nearest = cKDTree((peaks - centre) / radii[:, None]).query(points / np.maximum(distance, 1e-6)[:, None],
                                                                  k=neighbours)[1]
        keep = distance >= np.median(radii[nearest].reshape(len(points), -1), axis=1) - tolerance_mm
        k, j, i = np.nonzero(wall)
        kept = np.zeros_like(wall)
        kept[k[keep], j[keep], i[keep]] = True
        return kept
    return rule


def cut_setting(closed: int, slab_mm: float = 5.0, allowance_mm: float = 0.0) -> Rule:
    """The product's rule with the closed ring's sectors `closed` (of 12), its slabs `slab_mm` thick and the
    template's overhang plus `allowance_mm`."""
    from unittest import mock

    def rule(probabilities, volume, near, counts, overhang_mm):
        with mock.patch("SPECTFewShotLib.landmarks.template_segmentation.RING_CLOSED", closed), \
                mock.patch("SPECTFewShotLib.landmarks.template_segmentation.RING_SLAB_MM", slab_mm):
            return product_wall(probabilities, volume, near, counts, overhang_mm + allowance_mm)
    return rule


TURNS: list = []  # the ring rules' turns of the revolution axis, per call (for the screen's printout)
_SESSION: list = []


def classified(volume: Volume, support: np.ndarray) -> np.ndarray:
    """The product's per-study classification (classification.session.StudySession, as `classify` runs it) of
    `volume` painted with `support` [k, j, i] (1 background, 2 LV myocardium, 0 unpainted): its myocardium."""
    from SPECTFewShotLib.classification.session import StudySession
    from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for

    if not _SESSION:
        _SESSION.append(StudySession())
    session = _SESSION[0]
    session.set_volume(volume)
    session.set_support(Segmentation(volume.with_array(support.astype(np.int32)),
                                     segments_for([1, 2], {1: "background", 2: "LV_myocardium"})))
    return session.predict().labels.labels.array == 2


def second_round(sure_wall: float, sure_background: float, keep: str = "raw") -> Rule:
    """The product's wall's voxels with wall probability >= `sure_wall` painted as myocardium and every voxel with
    wall probability < `sure_background` as background, on the product wall's quartile axial slices (as the exam
    paints), the rest unpainted; the study classified from that paint; `keep` "raw": its myocardium as it is,
    "band": within the product's region, count floor and band, "cut": also the closed-ring cut."""
    from SPECTFewShotLib.errors import InputError
    from SPECTFewShotLib.landmarks.template_segmentation import WALL
    from SPECTFewShotLib.selftest.painting import paint_slices, quartile_slices

    def rule(probabilities, volume, near, counts, overhang_mm):
        wall = product_wall(probabilities, volume, near, counts, overhang_mm)
        if not wall.any():
            return wall
        support = np.zeros(wall.shape, dtype=np.int32)
        support[probabilities[WALL] < sure_background] = 1
        support[wall & (probabilities[WALL] >= sure_wall)] = 2
        painted = paint_slices(support, quartile_slices(wall))
        if not (painted == 2).any() or not (painted == 1).any():
            return wall
        try:
            mask = classified(volume, painted)
        except InputError:
            return wall
        if keep == "raw":
            return mask
        mask &= band_wall(np.stack([1.0 - mask, mask, np.zeros_like(mask, dtype=float)]).astype(np.float32),
                          volume, near, counts)
        return mask if keep == "band" else ring_cut(mask, volume, near, overhang_mm)
    return rule


RULES: dict[str, Rule] = {
    "product": product_wall,
    "prob q25": probability_core(0.25), "prob q50": probability_core(0.5),
    "counts q25": counts_core(0.25), "counts q50": counts_core(0.5),
    "mid 4mm": mid_band(4.0), "mid 6mm": mid_band(6.0),
    "erode 6": eroded(1), "erode 18": eroded(2),
    "ridge": counts_peak_core, "iterated cut": iterated_cut,
    "band 0mm": narrow_band(0.0), "band 2mm": narrow_band(2.0), "band 4mm": narrow_band(4.0),
    "band 6mm": narrow_band(6.0),
    "paint all": second_round(0.5, 0.5), "paint sure": second_round(0.9, 0.1),
    "paint sure95": second_round(0.95, 0.05), "paint sure band": second_round(0.9, 0.1, "band"),
    "paint sure cut": second_round(0.9, 0.1, "cut"),
    "ring 4": ring_rule(4.0), "ring 6": ring_rule(6.0), "ring 8": ring_rule(8.0), "ring 6x2": ring_rule(6.0, 2),
    "ring 6 first": ring_rule(6.0, before_cut=True), "ring 10": ring_rule(10.0), "ring 12": ring_rule(12.0),
    "ring 8 outer": ring_rule(8.0, side="outer"), "ring 8 inner": ring_rule(8.0, side="inner"),
    "ring 6 outer": ring_rule(6.0, side="outer"), "ring 6 inner": ring_rule(6.0, side="inner"),
    "own 6 inner": ring_rule(6.0, side="inner", own_axis=True),
    "own 8 inner": ring_rule(8.0, side="inner", own_axis=True),
    "own 4 inner": ring_rule(4.0, side="inner", own_axis=True), "own 8": ring_rule(8.0, own_axis=True),
    "own 6 basal": ring_rule(6.0, side="inner", own_axis=True, basal_only=True),
    "own 8 basal": ring_rule(8.0, side="inner", own_axis=True, basal_only=True),
    "rays 2": inside_rays(2.0), "rays 4": inside_rays(4.0), "rays 6": inside_rays(6.0), "rays 8": inside_rays(8.0),
    "rays 4 k1": inside_rays(4.0, 1), "rays 4 k7": inside_rays(4.0, 7),
    "closed 10": cut_setting(10), "closed 11": cut_setting(11), "closed 12": cut_setting(12),
    "closed 10 slab 4": cut_setting(10, 4.0), "closed 8 slab 8": cut_setting(8, 8.0),
    "closed 10 slab 8": cut_setting(10, 8.0),
    "allow -2.5": cut_setting(8, 5.0, -2.5), "allow -5": cut_setting(8, 5.0, -5.0),
    "allow -7.5": cut_setting(8, 5.0, -7.5), "allow -10": cut_setting(8, 5.0, -10.0)}


def prepared(groups: dict, cache: str) -> Iterator[tuple[str, dict]]:
    """Per case: the study, its counts and counts' frame, the network's probabilities, the template's overhang,
    the target mask's frame."""
    from SPECTFewShotLib.landmarks.heart_search import smoothed_counts
    from SPECTFewShotLib.landmarks.lv_frame import frame_from_segmentation
    from SPECTFewShotLib.landmarks.staged import find_lv_frame
    from SPECTFewShotLib.landmarks.template_segmentation import basal_overhang
    from SPECTFewShotLib.research.evaluation.one_shot_variants import Probabilities

    network = None
    os.makedirs(cache, exist_ok=True)
    for title, (cases, template_walls) in groups.items():
        for case, template_wall in zip(cases, template_walls):
            template_mask = case.template_volume.with_array(template_wall.astype(np.uint8))
            path = os.path.join(cache, case.name.replace(" -> ", "_to_").replace(" ", "_") + ".npy")
            if os.path.exists(path):
                probabilities = np.load(path).astype(np.float32)
            else:
                network = network or Probabilities()
                probabilities = network(case.template_volume, template_mask, case.target_volume)
                np.save(path, probabilities.astype(np.float16))
                probabilities = probabilities.astype(np.float16).astype(np.float32)
            volume = case.target_volume
            counts = smoothed_counts(volume)
            template_frame = frame_from_segmentation(template_mask)
            yield title, {"name": case.name, "volume": volume, "counts": counts,
                          "near": find_lv_frame(volume, counts=counts), "probabilities": probabilities,
                          "overhang": basal_overhang(template_frame), "template": template_frame,
                          "template_volume": case.template_volume,
                          "truth": frame_from_segmentation(volume.with_array(case.target_wall.astype(np.uint8)))
                          .geometry, "mask": case.target_wall}


def frame_errors(case: dict, wall: np.ndarray) -> tuple[float, float, float, float]:
    """The LV frame (staged.find_lv_frame, as the localiser takes it) from `wall` against the mask's: axis (degrees),
    base and apex (mm), and the line from its base to its apex against the mask's (degrees: what the exam's "long
    axis" measures in our convention, where the placed LV_apex and LV_base are the frame's)."""
    from SPECTFewShotLib.landmarks.long_axis import angle_between_deg
    from SPECTFewShotLib.landmarks.staged import find_lv_frame

    volume, truth = case["volume"], case["truth"]
    found = find_lv_frame(volume, volume.with_array(wall.astype(np.uint8)), counts=case["counts"]).geometry
    return (angle_between_deg(found.axis, truth.axis), float(np.linalg.norm(found.base - truth.base)),
            float(np.linalg.norm(found.apex - truth.apex)),
            angle_between_deg(found.apex - found.base, truth.apex - truth.base))


def rows(groups: dict, names: Sequence[str], cache: str) -> Iterator[str]:
    """Per case and rule: the frame's errors and the wall's size; per group and rule: the means."""
    results: dict[tuple[str, str], list] = {}
    for title, case in prepared(groups, cache):
        yield f"  {title} {case['name']}: mask {int(case['mask'].sum())} voxels"
        for name in names:
            started = time.perf_counter()
            wall = RULES[name](case["probabilities"], case["volume"], case["near"], case["counts"], case["overhang"])
            seconds = time.perf_counter() - started
            turn = f"  turn {TURNS[-1]:.1f}" if TURNS else ""
            TURNS.clear()
            errors = frame_errors(case, wall)
            results.setdefault((title, name), []).append(errors)
            inside = int((wall & case["mask"]).sum())
            yield (f"    {name:<14} axis {errors[0]:5.1f} deg  line {errors[3]:5.1f} deg  base {errors[1]:5.1f}  apex "
                   f"{errors[2]:5.1f} mm  wall "
                   f"{int(wall.sum()):5d} voxels ({inside:5d} in the mask)  {seconds:.2f} s{turn}")
    for (title, name), errors in results.items():
        errors = np.array(errors)
        yield (f"{title:<18} {name:<14} axis mean {errors[:, 0].mean():5.2f} max {errors[:, 0].max():5.1f} deg  base "
               f"{errors[:, 1].mean():4.1f}  apex {errors[:, 2].mean():4.1f} mm  ("
               + " ".join(f"{a:.1f}" for a in errors[:, 0]) + f")  line mean {errors[:, 3].mean():5.2f} ("
               + " ".join(f"{a:.1f}" for a in errors[:, 3]) + ")")


FITS = {"fit keep 0.8": (0.8, False), "fit keep 0.7": (0.7, False), "fit both 0.8": (0.8, True),
        "fit both 0.7": (0.7, True)}  # research.evaluation.one_shot_shape_fit settings: keep, both


def fit_rows(groups: dict, names: Sequence[str], cache: str, oracle: bool = False) -> Iterator[str]:
    """Per case and fit setting (`FITS`): the template's wall fitted to the product's one-shot wall (with `oracle`,
    to the target's mask), frames composed from the fit against the mask's: "whole" (the template's frame mapped),
    "fit apex" (the wall's own centre and base, the fit's axis and mapped apex), "found apex" (the apex found on the
    wall along the fit's axis); per group: the means. Axis and line (base to apex) in degrees."""
    from SPECTFewShotLib.landmarks.long_axis import angle_between_deg
    from SPECTFewShotLib.landmarks.staged import find_lv_frame
    from SPECTFewShotLib.research.evaluation import one_shot_shape_fit as shape

    results: dict[tuple[str, str], list] = {}
    for title, case in prepared(groups, cache):
        volume, truth = case["volume"], case["truth"]
        wall = case["mask"] if oracle else product_wall(case["probabilities"], volume, case["near"], case["counts"],
                                                        case["overhang"])
        frame = find_lv_frame(volume, volume.with_array(wall.astype(np.uint8)), counts=case["counts"])

        def errors(geometry, truth=truth) -> list:
            return [angle_between_deg(geometry.axis, truth.axis),
                    angle_between_deg(geometry.apex - geometry.base, truth.apex - truth.base),
                    float(np.linalg.norm(geometry.base - truth.base)),
                    float(np.linalg.norm(geometry.apex - truth.apex))]
        found = {"product": errors(frame.geometry)}
        cells = [f"product line {found['product'][1]:.1f}"]
        for name in names:
            keep, both = FITS[name]
            started = time.perf_counter()
            fit = shape.study_fit(case["template"], case["template_volume"], frame, volume, case["counts"],
                                  shape.FitSetting(keep=keep, both=both))
            seconds = time.perf_counter() - started
            spacing = min(volume.spacing)
            for compose, made in (("whole", shape.fitted_frame(case["template"], frame, fit)),
                                  ("fit apex", shape.with_fitted_axis(frame, case["template"], fit, spacing, "fit")),
                                  ("found apex", shape.with_fitted_axis(frame, case["template"], fit, spacing,
                                                                        "found"))):
                found[f"{name} {compose}"] = errors(made.geometry)
            cells.append(f"{name}: axis {found[name + ' whole'][0]:.1f} line whole {found[name + ' whole'][1]:.1f} "
                         f"fit apex {found[name + ' fit apex'][1]:.1f} ({seconds:.2f} s, scale {fit.scale:.2f}, "
                         f"stretch {fit.stretch:.2f})")
        yield f"  {title} {case['name']}: " + " | ".join(cells)
        for key, value in found.items():
            results.setdefault((title, key), []).append(value)
    for (title, key), values in results.items():
        values = np.array(values)
        yield (f"{title:<18} {key:<24} axis {values[:, 0].mean():5.2f} max {values[:, 0].max():5.1f}  line "
               f"{values[:, 1].mean():5.2f} max {values[:, 1].max():5.1f}  base {values[:, 2].mean():4.1f}  apex "
               f"{values[:, 3].mean():4.1f} mm  (" + " ".join(f"{a:.1f}" for a in values[:, 1]) + ")")


def main(argv: Sequence[str] | None = None) -> None:
    """Print the rules' frames per case and group."""
    from SPECTFewShotLib.research.evaluation.one_shot_variants import add_case_arguments, groups_from

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_case_arguments(parser)
    parser.add_argument("--rules", nargs="*", default=list(RULES), choices=list(RULES))
    parser.add_argument("--cache", default="/tmp/one_shot_axis_cache", help="probabilities cache folder")
    parser.add_argument("--fits", nargs="*", choices=list(FITS),
                        help="instead of the rules: frames from the template's wall fitted to the study's")
    parser.add_argument("--oracle", action="store_true", help="with --fits: fitted to the target's mask")
    args = parser.parse_args(argv)
    lines = (fit_rows(groups_from(args), args.fits, args.cache, args.oracle) if args.fits is not None
             else rows(groups_from(args), args.rules, args.cache))
    for line in lines:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
