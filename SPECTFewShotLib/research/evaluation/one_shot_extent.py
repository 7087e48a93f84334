"""Where the one-shot wall runs past the target's mask along its long axis, and the closed-ring cut's settings
(issue 35: the one-shot frame's long axis).

For each case (real pairs of --real both ways, phantoms each with the next as template): the study's wall classified
from the template's (template_segmentation.wall_from_probabilities without the closed-ring cut, the network's
probabilities computed once per case) against the target's mask, in `SLAB_MM` slabs along the mask's own long axis
from its apex: voxels of the mask, of the wall, of the wall outside the mask; sectors (of
template_segmentation.RING_SECTORS) each covers about the mask's axis; the median smoothed counts of each as a share
of the wall level. Then the LV frame (staged.find_lv_frame, as the localiser makes it) from that wall, from the wall
cut at the mask's own base (an oracle) and from the product's cut, and, with --sweep, the cut's settings
(RING_CLOSED, an allowance past the closed ring, CUT_MAX_TURN_DEG): the frame's axis against the mask's (degrees)
and its base and apex against the mask's (mm).

    python -m SPECTFewShotLib.research.evaluation.one_shot_extent --real DIR [--phantoms 8 --phantom-start 500]
"""

from __future__ import annotations

import argparse
import sys
from typing import Iterator, Sequence
from unittest import mock

import numpy as np

SLAB_MM = 5.0
SWEEP = ((8, 0.0, 10.0), (9, 0.0, 10.0), (10, 0.0, 10.0), (11, 0.0, 10.0), (8, 2.5, 10.0), (8, 5.0, 10.0),
         (8, 0.0, 180.0))  # (RING_CLOSED, allowance mm, CUT_MAX_TURN_DEG)


def points_of(volume, mask: np.ndarray) -> np.ndarray:
    """LPS centres of a mask's voxels."""
    k, j, i = np.nonzero(mask)
    return volume.index_to_lps(np.stack([i, j, k], axis=1).astype(float))


def slab_profile(volume, masks: dict, counts: np.ndarray, level: float, origin: np.ndarray, axis: np.ndarray
                 ) -> Iterator[str]:
    """Rows of voxels, sectors and median counts per `SLAB_MM` slab along `axis` from `origin`, per mask."""
    from SPECTFewShotLib.landmarks.template_segmentation import RING_SECTORS

    first = np.cross(axis, np.eye(3)[int(np.argmin(np.abs(axis)))])
    first /= np.linalg.norm(first)
    second = np.cross(axis, first)
    alongs = [(points_of(volume, m) - origin) @ axis for m in masks.values()]
    starts = np.arange(np.floor(min(a.min() for a in alongs) / SLAB_MM) * SLAB_MM,
                       max(a.max() for a in alongs) + SLAB_MM, SLAB_MM)
    yield "    slab from (mm)    " + " ".join(f"{s:5.0f}" for s in starts)
    for name, mask in masks.items():
        relative = points_of(volume, mask) - origin
        along = relative @ axis
        across = relative - along[:, None] * axis
        sector = np.floor((np.arctan2(across @ second, across @ first) + np.pi) / (2 * np.pi) * RING_SECTORS)
        k, j, i = np.nonzero(mask)
        share = counts[k, j, i] / level
        slabs = [(along >= s) & (along < s + SLAB_MM) for s in starts]
        yield f"    {name:<13} vox " + " ".join(f"{int(s.sum()):5d}" for s in slabs)
        yield f"    {name:<13} sec " + " ".join(f"{len(np.unique(sector[s])):5d}" for s in slabs)
        yield f"    {name:<13} cnt " + " ".join(f"{np.median(share[s]):5.2f}" if s.any() else "    -" for s in slabs)


def frame_errors(case: dict, wall: np.ndarray) -> tuple[float, float, float]:
    """The LV frame from `wall` against the mask's: axis (degrees), base and apex (mm)."""
    from SPECTFewShotLib.landmarks.long_axis import angle_between_deg
    from SPECTFewShotLib.landmarks.staged import find_lv_frame

    volume, truth = case["volume"], case["truth"]
    found = find_lv_frame(volume, volume.with_array(wall.astype(np.uint8)), counts=case["counts"]).geometry
    return (angle_between_deg(found.axis, truth.axis), float(np.linalg.norm(found.base - truth.base)),
            float(np.linalg.norm(found.apex - truth.apex)))


def cut(case: dict, closed: int, allowance_mm: float, max_turn_deg: float) -> np.ndarray:
    """The product's closed-ring cut of the case's wall with these settings."""
    from SPECTFewShotLib.landmarks import template_segmentation as segmentation

    wall = case["wall"]
    k, j, i = np.nonzero(wall)
    with mock.patch.object(segmentation, "RING_CLOSED", closed), \
            mock.patch.object(segmentation, "CUT_MAX_TURN_DEG", max_turn_deg):
        overhang = segmentation.basal_overhang(case["template_frame"])
        near = case["near"]
        inside = segmentation.within_closed_ring(points_of(case["volume"], wall), near.geometry.center,
                                                 near.geometry.axis, overhang + allowance_mm)
    kept = np.zeros_like(wall)
    kept[k[inside], j[inside], i[inside]] = True
    return kept


def prepared(groups: dict) -> dict[str, list[dict]]:
    """Per group, per case: the study, its counts' frame, the uncut one-shot wall, the template's and mask's frames."""
    from SPECTFewShotLib.landmarks.heart_search import smoothed_counts
    from SPECTFewShotLib.landmarks.lv_frame import frame_from_segmentation
    from SPECTFewShotLib.landmarks.staged import find_lv_frame
    from SPECTFewShotLib.landmarks.template_segmentation import wall_from_probabilities
    from SPECTFewShotLib.research.evaluation.one_shot_variants import Probabilities

    probabilities = Probabilities()
    out = {}
    for title, (cases, template_walls) in groups.items():
        out[title] = []
        for case, template_wall in zip(cases, template_walls):
            template_mask = case.template_volume.with_array(template_wall.astype(np.uint8))
            volume = case.target_volume
            counts = smoothed_counts(volume)
            near = find_lv_frame(volume, counts=counts)
            wall = wall_from_probabilities(probabilities(case.template_volume, template_mask, volume), volume, near,
                                           counts)
            truth = frame_from_segmentation(volume.with_array(case.target_wall.astype(np.uint8))).geometry
            out[title].append({"name": case.name, "volume": volume, "counts": counts, "near": near, "wall": wall,
                               "mask": case.target_wall, "truth": truth,
                               "template_frame": frame_from_segmentation(template_mask)})
    return out


def rows(groups: dict, sweep: bool, profile: bool) -> Iterator[str]:
    """The profile and frames per case, then the sweep per group."""
    from SPECTFewShotLib.landmarks.lv_frame import mid_wall_points
    from SPECTFewShotLib.landmarks.template_segmentation import CUT_MAX_TURN_DEG, RING_CLOSED, basal_overhang

    for title, cases in prepared(groups).items():
        yield f"== {title}"
        for case in cases:
            truth, wall, mask = case["truth"], case["wall"], case["mask"]
            yield (f"  {case['name']}: template's overhang past its closed ring "
                   f"{basal_overhang(case['template_frame']):.1f} mm; wall {int(wall.sum())} voxels, mask "
                   f"{int(mask.sum())}, both {int((wall & mask).sum())}")
            if profile:
                _, level = mid_wall_points(case["volume"], case["counts"], case["near"].geometry.center)
                yield from slab_profile(case["volume"], {"mask": mask, "wall": wall, "wall-not-mask": wall & ~mask},
                                        case["counts"], level, truth.apex, truth.axis)
            along = (points_of(case["volume"], wall) - truth.apex) @ truth.axis
            end = ((points_of(case["volume"], mask) - truth.apex) @ truth.axis).max()
            oracle = wall.copy()
            k, j, i = np.nonzero(wall)
            oracle[k, j, i] = along <= end
            product = cut(case, RING_CLOSED, 0.0, CUT_MAX_TURN_DEG)
            for name, candidate in (("no cut", wall), ("cut at the mask's base", oracle), ("product's cut", product)):
                axis, base, apex = frame_errors(case, candidate)
                yield (f"    frame from the wall, {name:<22} axis {axis:5.1f} deg  base {base:5.1f} mm  apex "
                       f"{apex:5.1f} mm  ({int(wall.sum() - candidate.sum())} voxels cut)")
        if sweep:
            for closed, allowance, turn in ((None, 0.0, 0.0), *SWEEP):
                errors = np.array([frame_errors(c, c["wall"] if closed is None else cut(c, closed, allowance, turn))
                                   for c in cases])
                name = "no cut" if closed is None else f"closed {closed} allow {allowance:.1f} turn {turn:.0f}"
                yield (f"  sweep {name:<30} axis {errors[:, 0].mean():5.2f} deg ("
                       + " ".join(f"{a:.1f}" for a in errors[:, 0])
                       + f")  base {errors[:, 1].mean():4.1f}  apex {errors[:, 2].mean():4.1f} mm")


def main(argv: Sequence[str] | None = None) -> None:
    """Print the profiles, frames and sweep."""
    from SPECTFewShotLib.research.evaluation.one_shot_variants import add_case_arguments, groups_from

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_case_arguments(parser)
    parser.add_argument("--sweep", action="store_true", help="also the cut's settings, per group")
    parser.add_argument("--no-profile", action="store_true", help="leave out the slab profiles")
    args = parser.parse_args(argv)
    for line in rows(groups_from(args), args.sweep, not args.no_profile):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
