"""Polar-map validation with a known answer: held-out phantoms with defects of set depth in named AHA segments.

Each held-out seed draws (from the seed alone) a defect plan: one segment, two neighbouring segments of a ring, or
one wall over two rings (basal + mid, or mid + apical), at a depth of 20, 30, 40 or 50 % (uptake lost), or, for
one phantom in six, no defect. The phantom's anatomy is the seed's own. Two ways to find the frame:
- "truth": the phantom's own LV_apex, LV_base and RV insertion points;
- "from mask": LV landmarks derived from the wall mask (cardiac_landmarks), septum by the anatomical convention.
The myocardium is the phantom's exact wall label. Per phantom the record keeps every segment's uptake, so any
threshold can be scored afterwards, the tilted-axis uptakes (5 and 10 degrees in 8 directions, truth frame) and the
defect's true and measured extent (% of polar-map rays).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from SPECTFewShotLib.cardiac_views.aha_segments import AHA_SEGMENTS
from SPECTFewShotLib.cardiac_views.frame import CardiacFrame, frame_from_landmarks
from SPECTFewShotLib.cardiac_views.polar_map import PolarMap, PolarMapSettings, compute_polar_map
from SPECTFewShotLib.volume import Volume

DEPTHS = (0.2, 0.3, 0.4, 0.5)
TILTS_DEG = (5.0, 10.0)
TILT_DIRECTIONS_DEG = tuple(range(0, 360, 45))
ROLLS_DEG = (10.0, 20.0)  # septum errors tried, both ways (the anatomical convention's error reaches 20 degrees)
NO_DEFECT_SHARE = 1 / 6
# Walls of the six-segment rings that continue into the apical ring: (basal/mid index -> apical segment).
_APICAL_OF_SIX = {0: 13, 1: 14, 2: 14, 3: 15, 4: 16, 5: 16}


@dataclass(frozen=True)
class DefectPlan:
    """The segments and depth of one phantom's defect (no segments: a normal phantom)."""

    segments: tuple[int, ...]
    depth: float
    pattern: str


def defect_plan(seed: int) -> DefectPlan:
    """The defect of held-out phantom `seed`, drawn from the seed alone (reproducible, independent of the anatomy)."""
    rng = np.random.default_rng([int(seed), 27])
    if rng.uniform() < NO_DEFECT_SHARE:
        return DefectPlan((), 0.0, "none")
    depth = float(rng.choice(DEPTHS))
    pattern = str(rng.choice(["one segment", "two in a ring", "one wall over two rings"]))
    if pattern == "one segment":
        return DefectPlan((int(rng.integers(1, 18)),), depth, pattern)
    if pattern == "two in a ring":
        ring = int(rng.integers(0, 3))
        if ring == 2:
            first = int(rng.integers(0, 4))
            return DefectPlan(tuple(sorted((13 + first, 13 + (first + 1) % 4))), depth, pattern)
        first = int(rng.integers(0, 6))
        base = 1 + 6 * ring
        return DefectPlan(tuple(sorted((base + first, base + (first + 1) % 6))), depth, pattern)
    wall = int(rng.integers(0, 6))
    if rng.uniform() < 0.5:
        return DefectPlan((1 + wall, 7 + wall), depth, pattern)
    return DefectPlan((7 + wall, _APICAL_OF_SIX[wall]), depth, pattern)


def segment_uptakes(polar_map: PolarMap) -> list[float]:
    """The 17 segment uptakes (% of the myocardial maximum), AHA order."""
    return [round(s.uptake_percent, 2) for s in polar_map.segments]


def simulator_version() -> str:
    """A digest of the phantom simulator's source files: cached studies of another version are not reused."""
    import hashlib

    import SPECTFewShotLib.research.phantom as phantom

    digest = hashlib.blake2b(digest_size=6)
    for path in sorted(Path(phantom.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def planned_study(seed: int, cache_dir: Optional[str] = None, corrected: bool = False,
                  normal: bool = False) -> tuple[DefectPlan, Any]:
    """Held-out phantom `seed` with its planned defect (read from `cache_dir` when simulated there before);
    `corrected`: reconstructed with attenuation, scatter and resolution corrections whatever the seed draws;
    `normal`: no defect at all (the normal-limits phantoms)."""
    import pickle

    from SPECTFewShotLib.research.phantom import PhantomConfig, generate_study
    from SPECTFewShotLib.research.phantom.heart import SegmentDefect

    plan = DefectPlan((), 0.0, "none") if normal else defect_plan(seed)
    name = f"polar_{seed}_{'corrected_' if corrected else ''}{'normal_' if normal else ''}{simulator_version()}.pkl"
    cached = Path(cache_dir) / name if cache_dir else None
    if cached is not None and cached.exists():
        return plan, pickle.loads(cached.read_bytes())
    corrections = {"attenuation_correction": True, "scatter_correction": True, "resolution_recovery": True}
    config = PhantomConfig(defect_probability=0.0, **(corrections if corrected else {}),
                           segment_defect=SegmentDefect(plan.segments, plan.depth) if plan.segments else None)
    study = generate_study(seed, config)
    if cached is not None:
        cached.write_bytes(pickle.dumps(study))
    return plan, study


def evaluate_phantom(seed: int, settings: Optional[PolarMapSettings] = None, cache_dir: Optional[str] = None,
                     corrected: bool = False) -> dict:
    """Simulate held-out phantom `seed` with its planned defect and measure its polar maps (a JSON-able record)."""
    from SPECTFewShotLib.cardiac_landmarks import lv_landmarks

    settings = settings or PolarMapSettings()
    plan, study = planned_study(seed, cache_dir, corrected)
    wall = study.labels.labels.array == study.label_values["LV_myocardium"]
    truth = frame_from_landmarks(study.landmarks)
    polar = compute_polar_map(study.image, wall, truth, settings)
    record = {
        "seed": int(seed), "simulator": simulator_version(), "segments": list(plan.segments), "depth": plan.depth,
        "pattern": plan.pattern, "corrected": corrected,
        "attenuation_correction": bool(study.metadata["protocol"]["attenuation_correction"]),
        "camera": study.metadata["protocol"]["camera"],
        "truth": segment_uptakes(polar),
        "true_extent": _extent(polar, plan.segments),
        "measured_extent": {str(t): round(float(np.mean(polar.percent < t)) * 100, 2) for t in (60, 65, 70, 75, 80)},
        "found_rays": round(float(polar.found.mean()), 4),
    }
    mask_volume = study.labels.labels.with_array(wall.astype(np.uint8))
    derived = frame_from_landmarks(lv_landmarks(mask_volume))
    record["from_mask"] = segment_uptakes(compute_polar_map(study.image, wall, derived, settings))
    record["from_mask_axis_error_deg"] = round(_angle(derived.axis, truth.axis), 2)
    record["from_mask_roll_error_deg"] = round(_roll_error(derived, truth), 2)
    record["tilted"] = {}
    for tilt in TILTS_DEG:
        record["tilted"][str(tilt)] = [segment_uptakes(compute_polar_map(study.image, wall,
                                                                         truth.tilted(tilt, direction), settings))
                                       for direction in TILT_DIRECTIONS_DEG]
    record["rolled"] = {str(roll): [segment_uptakes(compute_polar_map(study.image, wall, truth.rotated(sign * roll),
                                                                      settings)) for sign in (-1, 1)]
                        for roll in ROLLS_DEG}
    return record


def _extent(polar: PolarMap, segments: tuple[int, ...]) -> float:
    """% of polar-map rays inside the defect's segments."""
    return round(float(np.mean(np.isin(polar.segment_numbers, segments))) * 100, 2) if segments else 0.0


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1.0, 1.0))))


def _roll_error(frame: CardiacFrame, truth: CardiacFrame) -> float:
    """Angle between the two frames' anterior directions, both projected onto the true short-axis plane."""
    projected = frame.anterior - (frame.anterior @ truth.axis) * truth.axis
    return _angle(projected, truth.anterior)


def normal_record(seed: int, cache_dir: Optional[str] = None, corrected: bool = False) -> dict:
    """A defect-free phantom's 17 segment uptakes (truth frame) and its attenuation correction: one normal."""
    _, study = planned_study(seed, cache_dir, corrected, normal=True)
    wall = study.labels.labels.array == study.label_values["LV_myocardium"]
    polar = compute_polar_map(study.image, wall, frame_from_landmarks(study.landmarks))
    return {"seed": int(seed), "simulator": simulator_version(), "truth": segment_uptakes(polar),
            "attenuation_correction": bool(study.metadata["protocol"]["attenuation_correction"])}


def paired_record(seed: int, cache_dir: Optional[str] = None, corrected: bool = False) -> Optional[dict]:
    """A defect phantom against its defect-free twin (the same seed: the same anatomy, protocol and camera; its own
    noise): the polar map's change in the defect segments (% of the twin's uptake) and, as the noise floor, the
    change in every other segment (points). None for a phantom without a defect."""
    plan, study = planned_study(seed, cache_dir, corrected)
    if not plan.segments:
        return None
    _, twin = planned_study(seed, cache_dir, corrected, normal=True)
    wall = study.labels.labels.array == study.label_values["LV_myocardium"]
    frame = frame_from_landmarks(study.landmarks)
    with_defect = np.array(segment_uptakes(compute_polar_map(study.image, wall, frame)))
    without = np.array(segment_uptakes(compute_polar_map(twin.image, wall, frame)))
    inside = np.isin(np.arange(1, 18), plan.segments)
    return {"seed": int(seed), "segments": list(plan.segments), "depth": plan.depth,
            "defect_change_percent": [round(float(v), 2) for v in
                                      100.0 * (with_defect[inside] - without[inside]) / without[inside]],
            "other_change_points": [round(float(v), 2) for v in with_defect[~inside] - without[~inside]]}


def paired_summary(records: list[dict]) -> list[dict]:
    """Per inserted depth: the measured change of the defect segments (mean, SD, % of the twin's uptake), the
    noise floor (RMS change of the other segments, points) and the segments' mean uptake change in points."""
    rows = []
    for depth in sorted({r["depth"] for r in records}):
        chosen = [r for r in records if r["depth"] == depth]
        change = np.concatenate([r["defect_change_percent"] for r in chosen])
        other = np.concatenate([r["other_change_points"] for r in chosen])
        rows.append({"depth": depth, "phantoms": len(chosen), "segments": int(change.size),
                     "measured_mean": float(change.mean()), "measured_sd": float(change.std()),
                     "noise_rms_points": float(np.sqrt(np.mean(other ** 2)))})
    return rows


# ----------------------------------------------------------------------------------------------- summaries


def reduced(uptakes: list[float], threshold: Union[float, np.ndarray]) -> np.ndarray:
    """Which of 17 uptakes are under the threshold (a number, or 17 per-segment lower limits)."""
    return np.asarray(uptakes, dtype=float) < np.asarray(threshold, dtype=float)


def _limit(threshold: Union[float, Callable], record: dict) -> Union[float, np.ndarray]:
    """The threshold for one record: a number, or a function of the record giving 17 lower limits."""
    return threshold(record) if callable(threshold) else threshold


def normal_limits_by_correction(normals: list[dict]) -> dict:
    """Normal limits from defect-free phantoms, one set per attenuation correction (on / off), as clinics keep
    separate normal files per protocol; a set with fewer than 3 normals falls back to all of them."""
    from SPECTFewShotLib.cardiac_views.normal_limits import limits_from_uptakes

    pooled = limits_from_uptakes([r["truth"] for r in normals], "all normal phantoms")
    out = {}
    for ac in (True, False):
        chosen = [r["truth"] for r in normals if r["attenuation_correction"] == ac]
        label = f"normal phantoms, attenuation correction {'on' if ac else 'off'}"
        out[ac] = limits_from_uptakes(chosen, label) if len(chosen) >= 3 else pooled
    return out


def limits_rule(limits_by_ac: dict, sd_factor: float) -> Callable[[dict], np.ndarray]:
    """A threshold function: the record's per-segment lower limits (normal mean - sd_factor SD of its protocol)."""
    return lambda record: limits_by_ac[record["attenuation_correction"]].lower_limits(sd_factor)


def per_segment_table(records: list[dict], key: str, threshold: Union[float, Callable], min_depth: float = 0.0
                      ) -> list[dict]:
    """Per segment: defects and normals seen, sensitivity and specificity at `threshold` (defects of at least
    `min_depth`; normals are every segment outside a defect)."""
    rows = []
    for index, seg in enumerate(AHA_SEGMENTS):
        tp = fn = tn = fp = 0
        for record in records:
            flagged = reduced(record[key], _limit(threshold, record))[index]
            if seg.number in record["segments"]:
                if record["depth"] < min_depth:
                    continue
                tp, fn = tp + flagged, fn + (not flagged)
            else:
                fp, tn = fp + flagged, tn + (not flagged)
        rows.append({"segment": seg.number, "name": seg.name, "defects": tp + fn, "sensitivity": _ratio(tp, tp + fn),
                     "normals": tn + fp, "specificity": _ratio(tn, tn + fp)})
    return rows


def study_scores(records: list[dict], key: str, threshold: Union[float, Callable], min_depth: float = 0.0) -> dict:
    """Over phantoms: share of defect phantoms whose every defect segment is found, share with at least one found,
    share of normal segments falsely reduced, and the same split by depth."""
    def scores(chosen: list[dict]) -> dict:
        """The shares over the chosen records."""
        all_found = any_found = phantoms = 0
        false = normals = 0
        for record in chosen:
            flags = reduced(record[key], _limit(threshold, record))
            inside = np.isin(np.arange(1, 18), record["segments"])
            if record["segments"]:
                phantoms += 1
                all_found += bool(flags[inside].all())
                any_found += bool(flags[inside].any())
            false += int(flags[~inside].sum())
            normals += int((~inside).sum())
        return {"defect_phantoms": phantoms, "all_segments_found": _ratio(all_found, phantoms),
                "any_segment_found": _ratio(any_found, phantoms), "false_reduced": _ratio(false, normals),
                "normal_segments": normals}

    out = {"all": scores([r for r in records if not r["segments"] or r["depth"] >= min_depth])}
    for depth in DEPTHS:
        out[f"depth {depth:g}"] = scores([r for r in records if r["segments"] and r["depth"] == depth])
    for ac in (True, False):
        chosen = [r for r in records if r["attenuation_correction"] == ac and
                  (not r["segments"] or r["depth"] >= min_depth)]
        out[f"attenuation correction {'on' if ac else 'off'}"] = scores(chosen)
    return out


def tilt_changes(records: list[dict], threshold: float, key: str = "tilted") -> dict:
    """Per tilt (or, with key "rolled", per septum error): mean and maximum number of segments (of 17) whose
    reduced flag changes, over phantoms and directions, and the mean absolute uptake change (percentage points)."""
    out = {}
    angles = ROLLS_DEG if key == "rolled" else TILTS_DEG
    for tilt in angles:
        changes, deltas = [], []
        for record in records:
            if key not in record:
                continue
            base = np.asarray(record["truth"], dtype=float)
            for uptakes in record[key][str(tilt)]:
                moved = np.asarray(uptakes, dtype=float)
                changes.append(int(((base < threshold) != (moved < threshold)).sum()))
                deltas.append(float(np.nanmean(np.abs(moved - base))))
        out[f"{tilt:g}"] = {"mean_changed": float(np.mean(changes)), "max_changed": int(np.max(changes)),
                            "unchanged_share": float(np.mean(np.asarray(changes) == 0)),
                            "mean_abs_delta": float(np.mean(deltas)), "cases": len(changes)}
    return out


def extent_errors(records: list[dict], threshold: float) -> dict:
    """Measured minus true defect extent (% of the polar map), mean, mean absolute, by depth."""
    out = {}
    for depth in DEPTHS:
        chosen = [r for r in records if r["segments"] and r["depth"] == depth]
        if not chosen:
            continue
        errors = [r["measured_extent"][str(int(threshold))] - r["true_extent"] for r in chosen]
        out[f"{depth:g}"] = {"phantoms": len(chosen), "mean_true": float(np.mean([r["true_extent"] for r in chosen])),
                             "bias": float(np.mean(errors)), "mean_abs": float(np.mean(np.abs(errors)))}
    return out


def _ratio(a: int, b: int) -> float:
    return float(a) / b if b else float("nan")


# ----------------------------------------------------------------------------------------------- real studies


def real_study_record(image_path: Union[str, Path], mask_path: Union[str, Path], workdir: Union[str, Path],
                      classify: bool = True, settings: Optional[PolarMapSettings] = None) -> dict:
    """One real study: frame from its wall mask's landmarks; polar map from the mask and (with `classify`) from the
    product's segmentation (`spectfewshot classify` painted on the mask's quartile slices, full labels); the mask's
    polar map with the axis tilted 5 and 10 degrees in 8 directions."""
    from SPECTFewShotLib.cardiac_landmarks import lv_landmarks
    from SPECTFewShotLib.io.segmentation_io import read_segmentation
    from SPECTFewShotLib.io.volume_io import read_volume

    settings = settings or PolarMapSettings()
    volume = read_volume(image_path)
    mask = read_segmentation(mask_path).labels
    wall = mask.array > 0
    landmarks = lv_landmarks(mask.with_array(wall.astype(np.uint8)))
    frame = frame_from_landmarks(landmarks)
    polar = compute_polar_map(volume, wall, frame, settings)
    record = {"study": Path(image_path).name.replace("_image.nii.gz", ""), "mask": segment_uptakes(polar),
              "axis_length_mm": round(frame.length_mm, 1), "found_rays_mask": round(float(polar.found.mean()), 4),
              "landmarks": {lm.label: [round(v, 2) for v in lm.position_lps] for lm in landmarks}}
    record["tilted"] = {str(t): [segment_uptakes(compute_polar_map(volume, wall, frame.tilted(t, d), settings))
                                 for d in TILT_DIRECTIONS_DEG] for t in TILTS_DEG}
    if classify:
        product = product_segmentation(volume, wall, Path(workdir), record["study"])
        product_polar = compute_polar_map(volume, product, frame, settings)
        record["product"] = segment_uptakes(product_polar)
        record["found_rays_product"] = round(float(product_polar.found.mean()), 4)
        inter = np.logical_and(product, wall).sum()
        record["product_dice"] = round(float(2 * inter / (product.sum() + wall.sum())), 4)
    return record


def product_segmentation(volume: Volume, wall: np.ndarray, workdir: Path, name: str) -> np.ndarray:
    """The LV wall as `spectfewshot classify` finds it from the painting protocol (the mask's quartile axial
    slices painted with full labels: LV_myocardium and background)."""
    from SPECTFewShotLib.cardiac_views.analysis import myocardium_mask
    from SPECTFewShotLib.cli import main
    from SPECTFewShotLib.errors import InputError
    from SPECTFewShotLib.io.segmentation_io import Segmentation, read_segmentation, segments_for, write_segmentation
    from SPECTFewShotLib.io.volume_io import write_volume
    from SPECTFewShotLib.selftest.painting import paint_slices, quartile_slices
    from SPECTFewShotLib.vocabulary import TISSUE_BY_NAME

    myocardium, background = TISSUE_BY_NAME["LV_myocardium"].label, TISSUE_BY_NAME["background"].label
    class_map = np.where(wall, myocardium, background).astype(np.int32)
    support = paint_slices(class_map, quartile_slices(wall))
    image_path = workdir / f"{name}_image.nii.gz"
    support_path, output_path = workdir / f"{name}_support.seg.nrrd", workdir / f"{name}_classified.seg.nrrd"
    write_volume(volume, image_path)
    write_segmentation(Segmentation(volume.with_array(support), segments_for(
        [myocardium, background], {myocardium: "LV_myocardium", background: "background"})), support_path)
    status = main(["classify", str(image_path), "--support", str(support_path), "-o", str(output_path),
                   "--device", "cpu"])
    if status != 0:
        raise InputError(f"spectfewshot classify failed on {name} (exit {status})")
    return myocardium_mask(read_segmentation(output_path))


def real_tilt_changes(record: dict, threshold: float) -> dict:
    """Per tilt: mean and maximum number of segments whose reduced flag changes on one real study (mask)."""
    base = np.asarray(record["mask"], dtype=float)
    out = {}
    for tilt, maps in record["tilted"].items():
        changes = [int(((base < threshold) != (np.asarray(m, dtype=float) < threshold)).sum()) for m in maps]
        deltas = [float(np.nanmean(np.abs(np.asarray(m, dtype=float) - base))) for m in maps]
        out[tilt] = {"mean_changed": float(np.mean(changes)), "max_changed": int(np.max(changes)),
                     "mean_abs_delta": float(np.mean(deltas))}
    return out
