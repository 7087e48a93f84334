"""`spectfewshot evaluate localize`: the staged localiser's landmark error (mm) next to affine registration, same run.

With `--real DIR`: every real study of DIR (NAME_image.nii.gz with its LV-wall mask NAME_mask.nii.gz) is placed
from each other one (both ways), landmarks derived from the masks by their definitions (cardiac_landmarks), with
the long axis's angle to the mask's; this table comes first (`--held-out 0` leaves the phantoms out). The
"Staged+classify" columns (real pairs, and phantoms with one template) give the localiser the target's own
classification (`classify` painted on its true wall's quartile slices, full slices or strokes; not timed), as
`localize --segmentation` does.

Held-out phantom studies (seeds from 1,000,000, never used in training or for choosing settings), each with the
next held-out phantom as its one template (with `--templates N`: the next N, the geometric median of their
placements per landmark, for every method alike); then the bundled real study: a phantom template (training
seed) -> the real study (reference landmarks derived from its LV-wall mask), and the real study -> a copy of itself
translated by 12 mm and rotated by 10 degrees about an oblique axis (true landmarks moved exactly).
Registration: SimpleITK affine, Mattes mutual information, multi-resolution, of the same template.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of `evaluate localize`."""
    parser.add_argument("--real", metavar="DIR", help="real studies with LV-wall masks: place each from the others")
    parser.add_argument("--held-out", type=int, default=20,
                        help="held-out phantom studies, 0 for none (default: %(default)s)")
    parser.add_argument("--skip", type=int, default=0,
                        help="start after the first SKIP held-out seeds: a set no earlier evaluation has seen "
                             "(default: %(default)s)")
    parser.add_argument("--templates", type=int, default=1,
                        help="templates per held-out phantom, fused by the geometric median (default: %(default)s)")
    parser.add_argument("--template-seed", type=int, default=0,
                        help="training-range phantom used as the template of the real study (default: %(default)s)")
    parser.add_argument("--no-registration", action="store_true", help="leave out the registration baseline")
    parser.add_argument("--no-real", action="store_true", help="leave out the bundled real study")
    parser.add_argument("--json", metavar="FILE.json", help="also write every error and summary as JSON")
    parser.add_argument("--conventions", action="store_true",
                        help="instead: templates annotated in three conventions (research.evaluation."
                             "localize_conventions) on the real pairs of --real and --held-out phantoms: with and "
                             "without PRNet and the local alignment, frames from the counts, from the "
                             "classifications (target: classify on its wall's quartile slices; template: its "
                             "mask) and one-shot (target: its wall classified from the template's mask), "
                             "registration, confidence against error")
    parser.add_argument("--confidence", action="store_true",
                        help="instead: landmark confidence against error (research.evaluation.localize_confidence): "
                             "the error bound fitted on --fit-phantoms validation phantoms, checked on the real "
                             "pairs of --real and --held-out phantoms, frames from the counts and the "
                             "classification")
    parser.add_argument("--fit-phantoms", type=int, default=10,
                        help="with --confidence: validation-range phantoms the bound is refitted on "
                             "(default: %(default)s)")
    parser.add_argument("--output", metavar="FILE.txt", help="with --confidence: also write the report here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate the staged localiser next to the registration baseline (--conventions: also with and without PRNet);
    print the tables."""
    from SPECTFewShotLib.errors import InputError
    from SPECTFewShotLib.io.atomic import check_writable
    from SPECTFewShotLib.landmarks.staged import Localizer
    from SPECTFewShotLib.research.baselines.registration import register_landmarks
    from SPECTFewShotLib.research.evaluation.localize_cases import phantom_cases, real_cases
    from SPECTFewShotLib.research.evaluation.localize_eval import evaluate_cases, format_table
    from SPECTFewShotLib.research.seeds import HELD_OUT_SEED_START, held_out_seeds

    if args.json:
        check_writable(args.json)
    if args.templates < 1:
        raise InputError("--templates must be at least 1")
    if args.held_out and args.held_out < args.templates + 1:
        raise InputError(f"--held-out needs at least {args.templates + 1} studies (each uses {args.templates} other "
                         "ones as its templates)")
    if args.skip < 0:
        raise InputError("--skip must not be negative")
    if args.output and not args.confidence:  # the other reports are printed only: say so, not write nothing
        raise InputError("--output writes the --confidence report only; save the other tables with a redirect "
                         "(> FILE.txt) or --json")
    if args.template_seed >= HELD_OUT_SEED_START:
        raise InputError("--template-seed must be a training-range seed (below 1,000,000)")
    started = time.perf_counter()
    if args.confidence:
        _confidence(args, started)
        return 0
    if args.conventions:
        _conventions(args)
        print(f"evaluation took {time.perf_counter() - started:.0f} s")
        return 0
    localizer = Localizer()
    methods = {"Staged": localizer.localize}
    if not args.no_registration:
        methods["Registration"] = register_landmarks
    results = {}
    if args.real:
        results["real pairs"] = _real_pairs(args.real, methods)
    if not args.held_out:
        _write_json(args, localizer.model_id, [], results)
        print(f"evaluation took {time.perf_counter() - started:.0f} s")
        return 0
    seeds = held_out_seeds(args.held_out, args.skip)
    which = "the next as template" if args.templates == 1 else \
        f"the next {args.templates} as templates (geometric median)"
    print(f"{localizer.model_id}; held-out phantom seeds {seeds[0]}-{seeds[-1]}, each with {which}", flush=True)
    cases = phantom_cases(seeds, templates=args.templates)
    phantom_methods = with_classification(cases, methods) if args.templates == 1 else methods
    results["held-out phantoms"] = evaluate_cases(cases, phantom_methods,
                                                  several={"Staged": localizer.localize_from_templates})
    print("\n".join(format_table(f"Held-out phantoms ({len(cases)} cases), error in mm",
                                 results["held-out phantoms"])), flush=True)
    if not args.no_real:
        for case in real_cases(args.template_seed):
            results[case.name] = evaluate_cases([case], methods)
            print("\n".join(format_table(f"Bundled real study: {case.name}, error in mm", results[case.name])))
            confidences = {lm: round(v[0], 2) for lm, v in results[case.name]["Staged"].confidences.items()}
            print(f"Staged confidence: {confidences}")
    print(f"evaluation took {time.perf_counter() - started:.0f} s")
    _write_json(args, localizer.model_id, seeds, results)
    return 0


def _real_pairs(directory: str, methods: dict) -> dict:
    """The real-pair table (each study placed from each other one), with each method's long-axis angle error."""
    from SPECTFewShotLib.research.evaluation.localize_cases import real_pair_cases
    from SPECTFewShotLib.research.evaluation.localize_eval import evaluate_cases, format_table

    cases = real_pair_cases(directory)
    results = evaluate_cases(cases, with_classification(cases, methods))
    print("\n".join(format_table(f"Real pairs ({len(cases)} cases: {', '.join(c.name for c in cases)}), error in mm",
                                 results)), flush=True)
    for name in methods:
        errors = ", ".join(f"{c.name} {max(e.values()):.1f} mm, axis {a:.1f} deg"
                           for c, e, a in zip(cases, results[name].per_case, results[name].axis_deg))
        print(f"{name}: worst landmark and long-axis angle per case: {errors}")
    return results


def with_classification(cases, methods: dict) -> dict:
    """`methods` and, for cases whose target wall is known, the staged localiser with the LV frame from the
    product's classification of the target painted on that wall's quartile slices ("slices" and "strokes")."""
    from SPECTFewShotLib.research.evaluation.localize_cases import classified_wall

    cases = [case for case in cases if case.target_wall is not None]
    methods = dict(methods)
    for protocol in ("slices", "strokes"):
        walls = {id(case.target_volume): classified_wall(case.target_volume, case.target_wall, protocol)
                 for case in cases}
        methods[f"Staged+classify ({protocol})"] = _with_wall(walls)
    return methods


def _with_wall(walls: dict):
    """The staged localiser with the LV frame from the target's classified wall (looked up by the target volume)."""
    from SPECTFewShotLib.landmarks.staged import Localizer

    localizer = Localizer()
    return lambda target, template, landmarks: localizer.localize(target, template, landmarks,
                                                                  myocardium=walls[id(target)])


def _write_json(args: argparse.Namespace, model_id: str, seeds: list, results: dict) -> None:
    """Every error and summary as JSON when `--json` was given."""
    from SPECTFewShotLib.io.atomic import write_text_atomic

    if not args.json:
        return
    document = {"model": model_id, "held_out_seeds": seeds, "templates": args.templates,
                "template_seed": args.template_seed, "real": args.real,
                "results": {title: {name: {"summary": r.summary(), "per_case": r.per_case, "seconds": r.seconds,
                                           "confidences": r.confidences, "axis_deg": r.axis_deg}
                                    for name, r in methods_results.items()}
                            for title, methods_results in results.items()}}
    write_text_atomic(args.json, json.dumps(document, indent=1) + "\n")
    print(f"wrote {Path(args.json)}")


def _confidence(args: argparse.Namespace, started: float) -> None:
    """The confidence report: validation phantoms (the fit), held-out phantoms, real pairs (both ways)."""
    from SPECTFewShotLib.errors import InputError
    from SPECTFewShotLib.io.atomic import check_writable, write_text_atomic
    from SPECTFewShotLib.research.commands import provenance_line
    from SPECTFewShotLib.research.evaluation.localize_cases import classified_wall, phantom_cases, real_pair_cases
    from SPECTFewShotLib.research.evaluation.localize_confidence import collect, records_json, report
    from SPECTFewShotLib.research.seeds import held_out_seeds, validation_seeds

    if args.fit_phantoms < 2:
        raise InputError("--fit-phantoms needs at least 2 phantoms (each is the template of another)")
    for path in (args.output, args.json):
        if path:
            check_writable(path)
    walls: dict = {}

    def classified(case):
        if id(case.target_volume) not in walls:
            walls[id(case.target_volume)] = classified_wall(case.target_volume, case.target_wall, "slices")
        return walls[id(case.target_volume)]

    def progress(name: str) -> None:
        print(f"  placed {name} ({time.perf_counter() - started:.0f} s)", flush=True)

    groups = {}
    fit_cases = phantom_cases(validation_seeds(args.fit_phantoms))
    fit_name = f"validation phantoms ({len(fit_cases)} cases, seeds {validation_seeds(1)[0]}+)"
    groups[fit_name] = collect(fit_name, fit_cases, _next_walls(fit_cases), classified, progress)
    if args.held_out:
        cases = phantom_cases(held_out_seeds(args.held_out, args.skip))
        name = f"held-out phantoms ({len(cases)} cases)"
        groups[name] = collect(name, cases, _next_walls(cases), classified, progress)
    real_name = None
    if args.real:
        cases = real_pair_cases(args.real)
        by_target = {case.name.split(" -> ")[1]: case.target_wall for case in cases}
        real_name = f"real pairs ({len(cases)} cases: {', '.join(c.name for c in cases)})"
        groups[real_name] = collect(real_name, cases, [by_target[c.name.split(" -> ")[0]] for c in cases],
                                    classified, progress)
    text = "\n".join(report(groups, fit_name, real_name))
    print(text)
    print(f"evaluation took {time.perf_counter() - started:.0f} s")
    if args.output:
        write_text_atomic(args.output, f"{provenance_line()}\n\n{text}\n\nevaluation took "
                                       f"{time.perf_counter() - started:.0f} s\n")
        print(f"wrote {args.output}")
    if args.json:
        write_text_atomic(args.json, records_json(groups) + "\n")
        print(f"wrote {args.json}")


def _next_walls(cases) -> list:
    """Each phantom case's template wall: the next case's target wall (phantom_cases' pairing)."""
    return [cases[(n + 1) % len(cases)].target_wall for n in range(len(cases))]


def _conventions(args: argparse.Namespace) -> None:
    """The convention table: for each convention, real pairs (both ways) and held-out phantoms, four methods."""
    import numpy as np

    from SPECTFewShotLib.landmarks.fusion import LOW_CONFIDENCE
    from SPECTFewShotLib.landmarks.staged import Localizer, place_landmarks
    from SPECTFewShotLib.landmarks.template_segmentation import OneShotWall
    from SPECTFewShotLib.research.baselines.registration import register_landmarks
    from SPECTFewShotLib.research.evaluation.localize_cases import classified_wall, phantom_cases, real_pair_cases
    from SPECTFewShotLib.research.evaluation.localize_conventions import CONVENTIONS, with_convention
    from SPECTFewShotLib.research.evaluation.localize_eval import evaluate_cases, format_table
    from SPECTFewShotLib.research.seeds import held_out_seeds

    groups = {}
    if args.real:
        cases = real_pair_cases(args.real)
        walls = {case.name.split(" -> ")[1]: case.target_wall for case in cases}
        groups["real pairs"] = (cases, [walls[case.name.split(" -> ")[0]] for case in cases])
    if args.held_out:
        cases = phantom_cases(held_out_seeds(args.held_out, args.skip))
        groups["held-out phantoms"] = (cases, [cases[(n + 1) % len(cases)].target_wall for n in range(len(cases))])
    all_cases = [case for cases, _ in groups.values() for case in cases]
    classified = {id(case.target_volume): classified_wall(case.target_volume, case.target_wall, "slices")
                  for case in all_cases}
    masks = {id(case.template_volume): case.template_volume.with_array(wall.astype(np.uint8))
             for cases, template_walls in groups.values() for case, wall in zip(cases, template_walls)}
    localizer, without_prnet = Localizer(prnet=True), Localizer(prnet=False)
    localizer.refiner()  # loaded before the clock runs
    one_shot = Localizer(one_shot=True)
    one_shot._one_shot_wall = OneShotWall()
    one_shot._one_shot_wall.session()  # the embedding network, loaded before the clock runs
    for convention in CONVENTIONS:
        for title, (cases, template_walls) in groups.items():
            converted = with_convention(cases, template_walls, convention)
            methods = {
                "Carry+align+PRNet": localizer.localize,
                "Carry+align": without_prnet.localize,
                "Carry only": lambda target, template, landmarks: place_landmarks(target, template, landmarks,
                                                                                  align=False).landmarks,
                "One-shot": lambda target, template, landmarks: one_shot.place(
                    target, [(template, landmarks)], template_myocardia=[masks[id(template)]]).landmarks,
                "Classify+PRNet": lambda target, template, landmarks: localizer.place(
                    target, [(template, landmarks)], myocardium=classified[id(target)],
                    template_myocardia=[masks[id(template)]]).landmarks,
                "Classify": lambda target, template, landmarks: without_prnet.place(
                    target, [(template, landmarks)], myocardium=classified[id(target)],
                    template_myocardia=[masks[id(template)]]).landmarks,
            }
            if not args.no_registration:
                methods["Registration"] = register_landmarks
            results = evaluate_cases(converted, methods)
            print("\n".join(format_table(f"{title} ({len(converted)} cases), convention '{convention}', error in mm",
                                         results)))
            for name, result in results.items():
                if not result.confidences:
                    continue
                errors = np.array([e for label in result.errors for e in result.errors[label]])
                confidences = np.array([c for label in result.errors for c in result.confidences[label]])
                sure = confidences >= 0.8
                within = float(np.mean(errors[sure] <= 8.0)) if sure.any() else float("nan")
                far = errors > 15.0
                flagged = float(np.mean(confidences[far] < LOW_CONFIDENCE)) if far.any() else float("nan")
                print(f"  {name}: confidence >= 0.8 on {int(sure.sum())} of {len(errors)} points, {within:.0%} of "
                      f"them within 8 mm; {int(far.sum())} points off by > 15 mm, {flagged:.0%} of them flagged")
            print(flush=True)
