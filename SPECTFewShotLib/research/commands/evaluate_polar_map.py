"""`spectfewshot evaluate polar-map`: does the polar map put known defects in their AHA segments?

Held-out phantoms (seeds from 1,000,000) each carry a defect of set depth (20-50 % uptake lost) in named segments,
or none (research/evaluation/polar_map_eval.py says how they are drawn). Reported at the reduced-uptake threshold
(default 70 % of the myocardial maximum): sensitivity and specificity per segment, the share of phantoms whose
defect segments are all found, the false reduced segments, the defect extent error, the same over other
thresholds, and how many segments change when the axis tilts by 5 and 10 degrees. With --real-dir, every
NAME_image.nii.gz there with its NAME_mask.nii.gz: the polar map from the mask and from the product's
segmentation (`spectfewshot classify` painted on the mask's quartile slices), segment by segment.
--paired: each defect phantom against its defect-free twin, how deep each inserted depth reads in the map.
--json keeps every phantom's record; rerunning with the same file reuses the records it holds.
--markdown-dir writes one Markdown table per file, each naming the command that produced it (names end in
_corrected for a --corrected run).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

THRESHOLDS = (60.0, 65.0, 70.0, 75.0, 80.0)


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of `evaluate polar-map`."""
    parser.add_argument("--held-out", type=int, default=60, help="held-out phantoms (default: %(default)s)")
    parser.add_argument("--skip", type=int, default=0, help="start after the first SKIP held-out seeds")
    parser.add_argument("--workers", type=int, default=1, help="phantoms simulated in parallel processes")
    parser.add_argument("--threshold", type=float, default=70.0, help="reduced below this %% (default: %(default)g)")
    parser.add_argument("--real-dir", help="folder of real studies NAME_image.nii.gz + NAME_mask.nii.gz")
    parser.add_argument("--no-classify", action="store_true", help="real studies: the mask's polar map only")
    parser.add_argument("--normals-from", type=int, default=0, metavar="N",
                        help="also score against normal limits (mean - k SD per segment) built from N defect-free "
                             "validation-range phantoms, one set per attenuation correction")
    parser.add_argument("--corrected", action="store_true",
                        help="reconstruct every phantom with attenuation, scatter and resolution corrections")
    parser.add_argument("--paired", action="store_true",
                        help="also simulate each defect phantom's defect-free twin (same anatomy and protocol) and "
                             "report how deep each inserted depth reads in the polar map, against the noise floor")
    parser.add_argument("--json", metavar="FILE.json", help="write (and reuse) every record as JSON")
    parser.add_argument("--cache", metavar="DIR", help="keep simulated phantoms here (reused while the simulator's "
                                                       "source is unchanged)")
    parser.add_argument("--markdown-dir", metavar="DIR", help="write the tables as Markdown files into DIR")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate; print the tables; optionally write JSON and Markdown."""
    from SPECTFewShotLib.errors import InputError
    from SPECTFewShotLib.io.atomic import write_text_atomic
    from SPECTFewShotLib.research.commands import command_line, provenance_line
    from SPECTFewShotLib.research.seeds import held_out_seeds

    if args.held_out < 0 or args.skip < 0 or args.workers < 1:
        raise InputError("--held-out and --skip must not be negative, --workers at least 1")
    if args.markdown_dir and not Path(args.markdown_dir).is_dir():
        raise InputError(f"{args.markdown_dir} is not a folder")
    command = command_line() if sys.argv[1:3] == ["evaluate", "polar-map"] else "spectfewshot evaluate polar-map"
    stored = json.loads(Path(args.json).read_text()) if args.json and Path(args.json).exists() else {}
    records = {r["seed"]: r for r in stored.get("phantoms", [])}
    seeds = [s for s in held_out_seeds(args.held_out, args.skip) if s not in records]
    records.update({r["seed"]: r for r in _simulate(seeds, args.workers, args.json, records, stored, args.cache,
                                                            args.corrected)})
    phantoms = [records[s] for s in held_out_seeds(args.held_out, args.skip)]
    real = stored.get("real", []) if args.real_dir is None else _real(args)
    if args.json:
        write_text_atomic(args.json, json.dumps({"phantoms": list(records.values()), "real": real}, indent=1))
    tables = _tables(phantoms, real, args.threshold)
    if args.normals_from and phantoms:
        tables.update(_normal_limit_tables(phantoms, args, tables))
    if args.paired and phantoms:
        tables["polar_map_paired"] = _paired_table(phantoms, args)
    for name, text in tables.items():
        print(text)
        if args.markdown_dir:
            suffix = "_corrected" if args.corrected and name != "polar_map_real" else ""
            write_text_atomic(Path(args.markdown_dir) / f"{name}{suffix}.md",
                              f"{provenance_line(command)}\n\n{text}\n")
    return 0


def _simulate(seeds: list[int], workers: int, json_path, records: dict, stored: dict, cache,
              corrected: bool = False) -> list[dict]:
    from functools import partial

    from SPECTFewShotLib.io.atomic import write_text_atomic
    from SPECTFewShotLib.research.evaluation.polar_map_eval import evaluate_phantom

    if cache and not Path(cache).is_dir():
        Path(cache).mkdir(parents=True)
    evaluate = partial(evaluate_phantom, cache_dir=cache, corrected=corrected)
    done = []
    if workers == 1:
        results = map(evaluate, seeds)
    else:
        import multiprocessing

        pool = multiprocessing.get_context("spawn").Pool(workers)
        results = pool.imap_unordered(evaluate, seeds)
    for record in results:
        done.append(record)
        print(f"phantom {record['seed']}: defect {record['segments'] or 'none'} depth {record['depth']:g}, "
              f"{len(done)}/{len(seeds)}", flush=True)
        if json_path:
            merged = {**records, **{r["seed"]: r for r in done}}
            write_text_atomic(json_path, json.dumps({"phantoms": list(merged.values()),
                                                     "real": stored.get("real", [])}, indent=1))
    if workers > 1:
        pool.close()
        pool.join()
    return done


def _paired_table(phantoms: list[dict], args: argparse.Namespace) -> str:
    """How deep each inserted defect depth reads in the polar map: each defect phantom against its twin."""
    from functools import partial

    from SPECTFewShotLib.research.evaluation.polar_map_eval import paired_record, paired_summary

    seeds = [r["seed"] for r in phantoms if r["segments"]]
    evaluate = partial(paired_record, cache_dir=args.cache, corrected=args.corrected)
    if args.workers > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            records = [r for r in pool.imap_unordered(evaluate, seeds) if r is not None]
    else:
        records = [r for r in map(evaluate, seeds) if r is not None]
    lines = [f"### Inserted against measured defect depth: {len(records)} defect phantoms, each against its "
             "defect-free twin (same seed: same anatomy, protocol and camera, its own noise; truth frame)", "",
             "| inserted depth | phantoms | defect segments | measured change of the defect segments (% of the "
             "twin's uptake) | noise floor: RMS change of the other segments (points) |", "|---|---|---|---|---|"]
    for row in paired_summary(records):
        lines.append(f"| {row['depth']:.0%} | {row['phantoms']} | {row['segments']} | {row['measured_mean']:.1f} "
                     f"± {row['measured_sd']:.1f} | {row['noise_rms_points']:.1f} |")
    return "\n".join(lines)


def _normal_limit_tables(phantoms: list[dict], args: argparse.Namespace, tables: dict) -> dict[str, str]:
    """Normal limits from defect-free validation-range phantoms; the held-out phantoms scored against them."""
    from dataclasses import replace
    from functools import partial

    from SPECTFewShotLib.cardiac_views.normal_limits import write_normal_limits
    from SPECTFewShotLib.research.commands import provenance_line
    from SPECTFewShotLib.research.evaluation.polar_map_eval import (
        DEPTHS,
        limits_rule,
        normal_limits_by_correction,
        normal_record,
        study_scores,
    )
    from SPECTFewShotLib.research.seeds import validation_seeds

    seeds = validation_seeds(args.normals_from)
    evaluate = partial(normal_record, cache_dir=args.cache, corrected=args.corrected)
    if args.workers > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            normals = list(pool.imap_unordered(evaluate, seeds))
    else:
        normals = [evaluate(seed) for seed in seeds]
    limits = normal_limits_by_correction(normals)
    counts = {ac: sum(r["attenuation_correction"] == ac for r in normals) for ac in (True, False)}
    suffix = "_corrected" if args.corrected else ""
    if args.markdown_dir:
        for ac, name in ((True, "on"), (False, "off")):
            if counts[ac] >= 3:
                described = replace(limits[ac], description=f"{provenance_line()}\n{limits[ac].description or ''}")
                write_normal_limits(described, Path(args.markdown_dir) / f"polar_map_normals_ac_{name}{suffix}.csv")
    lines = [f"### Normal limits from {len(normals)} defect-free validation phantoms {seeds[0]}-{seeds[-1]} "
             f"(attenuation correction on {counts[True]}, off {counts[False]}); held-out phantoms scored against "
             "the limits of their own protocol (truth frame)", "",
             "| rule | defect phantoms | all defect segments found | at least one found | false reduced segments |",
             "|---|---|---|---|---|"]
    for k in (1.5, 2.0, 2.5):
        scores = study_scores(phantoms, "truth", limits_rule(limits, k))
        for group in ("all", *(f"depth {d:g}" for d in DEPTHS), "attenuation correction on",
                      "attenuation correction off"):
            s = scores[group]
            if s["defect_phantoms"] or group == "all":
                lines.append(f"| mean - {k:g} SD: {group} | {s['defect_phantoms']} | {_pct(s['all_segments_found'])} "
                             f"| {_pct(s['any_segment_found'])} | {_pct(s['false_reduced'])} |")
    lines.append("")
    for ac, name in ((True, "on"), (False, "off")):
        if counts[ac] >= 3:
            lines.append(f"Attenuation correction {name}: normal means (% of maximum, segments 1-17) "
                         + " ".join(f"{v:.0f}" for v in limits[ac].mean) + "; SDs "
                         + " ".join(f"{v:.0f}" for v in limits[ac].sd) + ".")
    return {"polar_map_normal_limits": "\n".join(lines)}


def _real(args: argparse.Namespace) -> list[dict]:
    import tempfile

    from SPECTFewShotLib.errors import InputError
    from SPECTFewShotLib.research.evaluation.polar_map_eval import real_study_record

    folder = Path(args.real_dir)
    images = sorted(folder.glob("*_image.nii.gz"))
    if not images:
        raise InputError(f"{folder} holds no NAME_image.nii.gz studies")
    records = []
    with tempfile.TemporaryDirectory() as workdir:
        for image in images:
            mask = image.with_name(image.name.replace("_image", "_mask"))
            if mask.exists():
                records.append(real_study_record(image, mask, workdir, classify=not args.no_classify))
    return records


def _tables(phantoms: list[dict], real: list[dict], threshold: float) -> dict[str, str]:
    from SPECTFewShotLib.cardiac_views.aha_segments import AHA_SEGMENTS
    from SPECTFewShotLib.research.evaluation.polar_map_eval import (
        extent_errors,
        per_segment_table,
        real_tilt_changes,
        study_scores,
        tilt_changes,
    )

    tables = {}
    if phantoms:
        n = len(phantoms)
        seeds = f"held-out phantoms {min(r['seed'] for r in phantoms)}-{max(r['seed'] for r in phantoms)} ({n})"
        if any(r.get("corrected") for r in phantoms):
            seeds += ", reconstructed with attenuation, scatter and resolution corrections"
        lines = [f"### Polar map on {seeds}: per segment, reduced = under {threshold:g} % (exact wall label)", "",
                 "| segment | name | defects (truth frame) | sensitivity | specificity | sensitivity (frame from "
                 "mask) | specificity (frame from mask) |", "|---|---|---|---|---|---|---|"]
        truth = per_segment_table(phantoms, "truth", threshold)
        mask = per_segment_table(phantoms, "from_mask", threshold)
        for a, b in zip(truth, mask):
            lines.append(f"| {a['segment']} | {a['name']} | {a['defects']} | {_pct(a['sensitivity'])} | "
                         f"{_pct(a['specificity'])} | {_pct(b['sensitivity'])} | {_pct(b['specificity'])} |")
        tables["polar_map_segments"] = "\n".join(lines)
        lines = [f"### Polar map on {seeds}: per phantom, reduced = under {threshold:g} %", "",
                 "| frame | phantoms | defect phantoms | all defect segments found | at least one found | "
                 "false reduced segments |", "|---|---|---|---|---|---|"]
        for key, label in (("truth", "truth (apex, base, RV insertions)"),
                           ("from_mask", "from the wall mask, septum by convention")):
            for group, s in study_scores(phantoms, key, threshold).items():
                count = len(phantoms) if group == "all" else "-"
                lines.append(f"| {label}: {group} | {count} | {s['defect_phantoms']} | {_pct(s['all_segments_found'])}"
                             f" | {_pct(s['any_segment_found'])} | {_pct(s['false_reduced'])} |")
        axis = [r["from_mask_axis_error_deg"] for r in phantoms]
        roll = [r["from_mask_roll_error_deg"] for r in phantoms]
        lines += ["", f"Frame from the mask vs truth: axis error median {_median(axis):.1f} deg (max {max(axis):.1f}),"
                      f" septum (roll) error median {_median(roll):.1f} deg (max {max(roll):.1f})."]
        tables["polar_map_phantoms"] = "\n".join(lines)
        lines = [f"### Threshold sweep on {seeds} (truth frame)", "",
                 "| threshold | all defect segments found | at least one found | false reduced segments | "
                 "segment sensitivity | segment specificity |", "|---|---|---|---|---|---|"]
        for t in THRESHOLDS:
            s = study_scores(phantoms, "truth", t)["all"]
            rows = per_segment_table(phantoms, "truth", t)
            tp = sum(r["sensitivity"] * r["defects"] for r in rows if r["defects"])
            defects = sum(r["defects"] for r in rows)
            tn = sum(r["specificity"] * r["normals"] for r in rows if r["normals"])
            normals = sum(r["normals"] for r in rows)
            lines.append(f"| {t:g} % | {_pct(s['all_segments_found'])} | {_pct(s['any_segment_found'])} | "
                         f"{_pct(s['false_reduced'])} | {_pct(tp / defects)} | {_pct(tn / normals)} |")
        tables["polar_map_thresholds"] = "\n".join(lines)
        lines = [f"### Defect extent on {seeds}: measured (rays under {threshold:g} %) minus true (rays in the defect"
                 " segments), % of the polar map", "", "| depth | phantoms | mean true extent | bias | mean |error| |",
                 "|---|---|---|---|---|"]
        for depth, e in extent_errors(phantoms, threshold).items():
            lines.append(f"| {float(depth) * 100:.0f} % | {e['phantoms']} | {e['mean_true']:.1f} | {e['bias']:+.1f} |"
                         f" {e['mean_abs']:.1f} |")
        tables["polar_map_extent"] = "\n".join(lines)
        lines = [f"### Axis tilt on {seeds}: segments (of 17) whose reduced flag changes, 8 directions each (and with "
                 "the septum turned about the axis, both ways)", "",
                 "| tilt | cases | mean changed | max changed | unchanged cases | mean abs uptake change (points) |",
                 "|---|---|---|---|---|---|"]
        for tilt, s in tilt_changes(phantoms, threshold).items():
            lines.append(f"| {tilt} deg | {s['cases']} | {s['mean_changed']:.2f} | {s['max_changed']} | "
                         f"{_pct(s['unchanged_share'])} | {s['mean_abs_delta']:.2f} |")
        if all("rolled" in r for r in phantoms):
            for roll, s in tilt_changes(phantoms, threshold, "rolled").items():
                lines.append(f"| septum turned {roll} deg (either way, no tilt) | {s['cases']} | "
                             f"{s['mean_changed']:.2f} | {s['max_changed']} | {_pct(s['unchanged_share'])} | "
                             f"{s['mean_abs_delta']:.2f} |")
        for record in real:
            for tilt, s in real_tilt_changes(record, threshold).items():
                lines.append(f"| {float(tilt):g} deg, real {record['study']} (mask) | 8 | {s['mean_changed']:.2f} | "
                             f"{s['max_changed']} | - | {s['mean_abs_delta']:.2f} |")
        tables["polar_map_tilt"] = "\n".join(lines)
    compared = [r for r in real if "product" in r]
    if compared:
        header = "| segment | name | " + " | ".join(f"{r['study']} mask | {r['study']} product | difference"
                                                   for r in compared) + " |"
        lines = ["### Real studies: segment uptake (% of maximum) from the mask and from the product's segmentation",
                 "", header, "|---|---|" + "---|---|---|" * len(compared)]
        for index, seg in enumerate(AHA_SEGMENTS):
            cells = []
            for r in compared:
                m, p = r["mask"][index], r["product"][index]
                cells.append(f"{m:.1f} | {p:.1f} | {p - m:+.1f}")
            lines.append(f"| {seg.number} | {seg.name} | " + " | ".join(cells) + " |")
        lines.append("")
        for r in compared:
            diff = [abs(p - m) for m, p in zip(r["mask"], r["product"])]
            flags = sum((m < threshold) != (p < threshold) for m, p in zip(r["mask"], r["product"]))
            lines.append(f"{r['study']}: {sum(d <= 5.0 for d in diff)}/17 segments within 5 points, mean |difference| "
                         f"{sum(diff) / 17:.1f}, max {max(diff):.1f}; reduced flags differ in {flags} segments; wall "
                         f"Dice product vs mask {r['product_dice']:.3f}; rays meeting the wall: mask "
                         f"{100 * r['found_rays_mask']:.0f} %, product {100 * r['found_rays_product']:.0f} %.")
        tables["polar_map_real"] = "\n".join(lines)
    return tables


def _pct(value: float) -> str:
    return "-" if value != value else f"{100 * value:.0f} %"


def _median(values: list[float]) -> float:
    import statistics

    return statistics.median(values) if values else float("nan")
