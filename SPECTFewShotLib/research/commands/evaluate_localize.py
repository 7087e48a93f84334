"""`spectfewshot evaluate localize`: PRNet landmark error (mm) next to affine registration, in the same run.

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
from dataclasses import replace
from pathlib import Path

from SPECTFewShotLib.device import DEVICE_CHOICES


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of `evaluate localize`."""
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--held-out", type=int, default=20, help="held-out phantom studies (default: %(default)s)")
    parser.add_argument("--skip", type=int, default=0,
                        help="start after the first SKIP held-out seeds: a set no earlier evaluation has seen "
                             "(default: %(default)s)")
    parser.add_argument("--templates", type=int, default=1,
                        help="templates per held-out phantom, fused by the geometric median (default: %(default)s)")
    parser.add_argument("--model", help="PRNet model id or weights file (default: the shipped default)")
    parser.add_argument("--template-seed", type=int, default=0,
                        help="training-range phantom used as the template of the real study (default: %(default)s)")
    parser.add_argument("--no-registration", action="store_true", help="leave out the registration baseline")
    parser.add_argument("--ablation", action="store_true",
                        help="also PRNet's search alone and with patch matching only (what each step adds)")
    parser.add_argument("--no-real", action="store_true", help="leave out the bundled real study")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="cpu", help="torch device (default: %(default)s)")
    parser.add_argument("--json", metavar="FILE.json", help="also write every error and summary as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate PRNet and the registration baseline; print the tables."""
    from SPECTFewShotLib.errors import InputError
    from SPECTFewShotLib.io.atomic import check_writable, write_text_atomic
    from SPECTFewShotLib.prnet.localize import Localizer, SearchSettings
    from SPECTFewShotLib.research.baselines.registration import register_landmarks
    from SPECTFewShotLib.research.evaluation.localize_cases import phantom_cases, real_cases
    from SPECTFewShotLib.research.evaluation.localize_eval import evaluate_cases, format_table
    from SPECTFewShotLib.research.seeds import HELD_OUT_SEED_START, held_out_seeds

    if args.json:
        check_writable(args.json)
    if args.templates < 1:
        raise InputError("--templates must be at least 1")
    if args.held_out < args.templates + 1:
        raise InputError(f"--held-out needs at least {args.templates + 1} studies (each uses {args.templates} other "
                         "ones as its templates)")
    if args.skip < 0:
        raise InputError("--skip must not be negative")
    if args.template_seed >= HELD_OUT_SEED_START:
        raise InputError("--template-seed must be a training-range seed (below 1,000,000)")
    started = time.perf_counter()
    localizer = Localizer(args.model, args.device)
    methods = {"PRNet": localizer.localize}
    if args.ablation:
        search = SearchSettings()
        methods["search only"] = Localizer(args.model, args.device, replace(
            search, match_patches=False, register_neighbourhood=False)).localize
        methods["+ matching"] = Localizer(args.model, args.device,
                                          replace(search, register_neighbourhood=False)).localize
    if not args.no_registration:
        methods["Registration"] = register_landmarks
    seeds = held_out_seeds(args.held_out, args.skip)
    which = "the next as template" if args.templates == 1 else \
        f"the next {args.templates} as templates (geometric median)"
    print(f"model {localizer.model_id}; held-out phantom seeds {seeds[0]}-{seeds[-1]}, each with {which}", flush=True)
    results = {}
    cases = phantom_cases(seeds, templates=args.templates)
    results["held-out phantoms"] = evaluate_cases(cases, methods, several={"PRNet": localizer.localize_from_templates})
    print("\n".join(format_table(f"Held-out phantoms ({len(cases)} cases), error in mm",
                                 results["held-out phantoms"])), flush=True)
    if not args.no_real:
        for case in real_cases(args.template_seed):
            results[case.name] = evaluate_cases([case], methods)
            print("\n".join(format_table(f"Bundled real study: {case.name}, error in mm", results[case.name])))
            confidences = {lm: round(v[0], 2) for lm, v in results[case.name]["PRNet"].confidences.items()}
            print(f"PRNet confidence: {confidences}")
    print(f"evaluation took {time.perf_counter() - started:.0f} s")
    if args.json:
        document = {"model": localizer.model_id, "held_out_seeds": seeds, "templates": args.templates,
                    "template_seed": args.template_seed,
                    "results": {title: {name: {"summary": r.summary(), "per_case": r.per_case, "seconds": r.seconds,
                                               "confidences": r.confidences} for name, r in methods_results.items()}
                                for title, methods_results in results.items()}}
        write_text_atomic(args.json, json.dumps(document, indent=1) + "\n")
        print(f"wrote {Path(args.json)}")
    return 0
