"""`spectfewshot evaluate classify`: the product's classifier and its ablation next to GrowCut and the random
forest, on the same paint.

The real studies (patient001 and patient003: myocardium against background on the whole volume; then with the LV
blood pool as a third class on 32^3 crops around the LV, a rehearsal of the unseen LV-crop studies) and held-out
phantom studies (seeds from 1,000,000, never used in training or for choosing settings); two painting protocols on
the rounded quartile slices of the LV myocardium's axial extent (full labels, and one-voxel medial-axis strokes);
per-class Dice on the unpainted slices. Methods: the study classifier (learner and graph cut), the learner without
the graph cut, the ProtoNet prior alone, GrowCut, the random forest. Then the prior's share (the study classifier
minus its without-ProtoNet ablation per setting, over the learner's random states of `--seeds`), and the 2025
paper's protocol: 3-way K-shot episodic patch classification (blood pool, myocardium, liver) on the held-out phantoms.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from pathlib import Path

from SPECTFewShotLib.io.atomic import check_writable, write_text_atomic
from SPECTFewShotLib.research.commands import command_line, provenance_line
from SPECTFewShotLib.research.provenance import portable_argument
from SPECTFewShotLib.vocabulary import PAINTING_CLASSES


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of `evaluate classify`."""
    parser.add_argument("--held-out", type=int, default=12,
                        help="held-out phantom studies (default: %(default)s; 0 = none)")
    parser.add_argument("--model", help="ProtoNet model id or weights file (default: the shipped one)")
    parser.add_argument("--real-model", action="append", default=[], metavar="PATIENT=MODEL",
                        help="the ProtoNet model a real study is classified with, e.g. 001=loso-001.pt (a model "
                             "trained without it; repeatable; default: --model)")
    parser.add_argument("--patch-episodes", type=int, default=500,
                        help="episodes of the paper's patch protocol per K (default: %(default)s; 0 = skip)")
    parser.add_argument("--no-real", action="store_true", help="leave out the real studies")
    parser.add_argument("--conditions", action="store_true",
                        help="instead: the unseen studies' conditions rehearsed on the real studies (three-class "
                             "crops of 24^3, 32^3 and 48^3, each also as a low-count copy; crops whose cavity "
                             "reaches the faces; short-axis-reoriented crops), the study classifier and its "
                             "ablation next to GrowCut and the random forest")
    parser.add_argument("--cameras", action="store_true",
                        help="instead: the real studies as other cameras would store them (3 mm, 6 mm and "
                             "4 x 4 x 6 mm voxels over the same field of view, an axis stored reversed, counts "
                             "x 0.001; whole volumes, the blood pool as a third class), the study classifier and "
                             "its ablation next to GrowCut")
    parser.add_argument("--seeds", metavar="S,S,...",
                        help="the learner's random states, e.g. 0,1,2: the study classifier and its ablations run "
                             "once per state on the same paint (the other methods once), tables give each case's "
                             "mean over them, and the prior's share is reported per state (default: the product's "
                             "fixed state, 0); not the held-out phantoms' seeds")
    parser.add_argument("--cache", metavar="DIR", help="phantom cache folder (default: ~/.cache/spectfewshot)")
    parser.add_argument("-o", "--output", metavar="FILE.md", help="also write the results as markdown")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the tables (and write them as markdown)."""
    from SPECTFewShotLib.classification.session import StudySession
    from SPECTFewShotLib.research.evaluation.cases import (
        CROP_SIZE,
        condition_cases,
        cut_heart_cases,
        phantom_case,
        real_cases,
    )
    from SPECTFewShotLib.research.evaluation.classify_evaluation import (
        GROWCUT,
        METHODS,
        PROTONET,
        RANDOM_FOREST,
        STUDY,
        STUDY_WITHOUT_PROTONET,
        evaluate_cases,
        markdown_table,
        share_markdown,
        summary_table,
    )
    from SPECTFewShotLib.research.protonet_training.patch_protocol import run_patch_protocol
    from SPECTFewShotLib.research.protonet_training.phantom_cache import load_study
    from SPECTFewShotLib.research.seeds import held_out_seeds

    random_states = parse_random_states(args.seeds)
    if args.output:
        check_writable(args.output)
    started = time.perf_counter()
    from SPECTFewShotLib.research.evaluation.classify_evaluation import real_models_from

    real_models = real_models_from(args.real_model)
    session = StudySession(args.model, "cpu")
    entry = session.model_entry
    seeds = held_out_seeds(0 if args.conditions or args.cameras else max(args.held_out, 0))
    cache = Path(args.cache) / "phantoms" if args.cache else None
    studies = [load_study(seed, None, cache) for seed in seeds]
    if studies:
        print(f"model {entry.id if entry else '?'}; {len(studies)} held-out phantom studies (seeds {seeds[0]}-"
              f"{seeds[-1]}) ready in {time.perf_counter() - started:.0f} s", flush=True)
    if args.conditions:
        cases = condition_cases() + cut_heart_cases()
        methods = (STUDY, STUDY_WITHOUT_PROTONET, PROTONET, GROWCUT, RANDOM_FOREST)
    elif args.cameras:
        from SPECTFewShotLib.research.evaluation.camera_cases import camera_cases

        cases, methods = camera_cases(), (STUDY, STUDY_WITHOUT_PROTONET, GROWCUT)
    else:
        cases, methods = ([] if args.no_real else real_cases(CROP_SIZE)), METHODS
    cases += [("held-out phantoms", phantom_case(f"phantom seed {s.seed}", s.image, s.tissues, s.label_values))
              for s in studies]
    results = []
    session.random_state = random_states[0]
    sessions = {None: session}
    for group, case in cases:
        model = next((m for patient, m in real_models.items() if f"patient{patient}" in group), None)
        if model not in sessions:
            sessions[model] = StudySession(model, "cpu", random_state=random_states[0])
        results += evaluate_cases([(group, case)], sessions[model], methods=methods,
                                  progress=lambda name: print(f"  {name}", flush=True),
                                  random_states=random_states if len(random_states) > 1 else None)
    table = markdown_table(summary_table(results), PAINTING_CLASSES)
    calibration = _calibration_table(results)
    share = share_markdown(results)
    print()
    print(table)
    print()
    print(calibration)
    if share:
        print()
        print("The prior's share:")
        print(share)
    patch_lines = []
    if args.patch_episodes > 0 and studies and not args.conditions:
        from SPECTFewShotLib.protonet.model_store import load_embedding

        network, _ = load_embedding(args.model, "cpu")  # the patch protocol runs the torch network itself
        for result in run_patch_protocol(network, studies, episodes=args.patch_episodes):
            classes = ", ".join(f"{name} {value:.1%}" for name, value in result.per_class.items())
            patch_lines.append(f"- {result.setting}: 3-way {result.shots}-shot, {result.queries_per_class} queries "
                               f"per class, {result.episodes} episodes: accuracy **{result.accuracy:.2%}** ({classes})")
        print()
        print("Paper's protocol (3-way K-shot patch classification on the held-out phantoms; paper: 93.33 %):")
        print("\n".join(patch_lines))
    elapsed = time.perf_counter() - started
    print(f"\nevaluation took {elapsed / 60:.1f} min")
    if args.output:
        write_text_atomic(args.output, _markdown(args, entry, seeds, table, patch_lines, results, elapsed,
                                                 calibration, real_models, share))
        print(f"wrote {args.output}")
    return 0


def parse_random_states(text: str | None) -> list[int]:
    """--seeds as a list of distinct random states (the learner's fixed one when not given); one line of error for
    anything else."""
    from SPECTFewShotLib.classification.learner import RANDOM_STATE
    from SPECTFewShotLib.errors import InputError

    if text is None:
        return [RANDOM_STATE]
    parts = [part.strip() for part in text.split(",")]
    states = [int(part) for part in parts if part.isascii() and part.isdigit()]
    if len(states) != len(parts) or len(set(states)) != len(states) or max(states, default=0) >= 2 ** 32:
        raise InputError(f"--seeds takes distinct whole numbers from 0 to 2^32-1 separated by commas (e.g. 0,1,2), "
                         f"not '{text}'")
    return states


def _calibration_table(results) -> str:
    """The product's probabilities per group and painting: labels that are their voxel's most probable class, and
    the expected calibration error on the unpainted slices (mean over the cases, and the learner's random states)."""
    import numpy as np

    rows = ["| data | painting | labels most probable | calibration error (unpainted slices) |", "|---|---|---|---|"]
    keys = list(dict.fromkeys((r.group, r.protocol) for r in results if r.agreement is not None))
    for group, protocol in keys:
        chosen = [r for r in results if (r.group, r.protocol) == (group, protocol) and r.agreement is not None]
        cases = len({r.case for r in chosen})
        rows.append(f"| {group} (n={cases}) | {protocol} | {np.mean([r.agreement for r in chosen]):.2%} | "
                    f"{np.mean([r.calibration_error for r in chosen]):.3f} |")
    return "\n".join(rows)


def _conditions(args) -> str:
    """What `--conditions` or `--cameras` changes, for the report."""
    if args.cameras:
        return (" (with --cameras: the whole volumes with the blood pool as a third class instead, each as stored "
                "and as another camera would store it: resampled to 3 mm, 6 mm and 4 x 4 x 6 mm voxels over the "
                "same field of view (the wall mask resampled and its cavity found again), the i or the k axis "
                "stored reversed (every voxel at the same place in the patient), counts x 0.001; each painted on "
                "its own grid's quartile slices; research/evaluation/camera_cases.py)")
    if not args.conditions:
        return ""
    return (" (with --conditions: crops of 24^3, 32^3 and 48^3 instead, each also as a low-count copy, Poisson "
            "counts scaled to 8 expected at the hottest voxels, like a gated frame's; 32^3 crops moved by 13 voxels "
            "along k, j and i, whose face cuts the cavity where the volume allows, and 20^3 crops; each study "
            "resampled with its LV long axis along k (short-axis slices) and cropped to 32^3, centred and moved "
            "along the axis)")


def _markdown(args, entry, seeds, table, patch_lines, results, elapsed, calibration, real_models, share) -> str:
    """The full report as markdown, with the command and the per-case Dice."""
    command = command_line()
    states = len({r.random_state for r in results if r.random_state is not None}) > 1
    state_header = " random state |" if states else ""
    per_case = ["| case | painting | method |" + state_header + " " + " | ".join(PAINTING_CLASSES) + " | s |",
                "|" + "---|" * (len(PAINTING_CLASSES) + 4 + states)]
    for r in results:
        cells = [f"{r.dice[name]:.3f}" if name in r.dice else "" for name in PAINTING_CLASSES]
        state = (f" {r.random_state if r.random_state is not None else ''} |") if states else ""
        per_case.append(f"| {r.case} | {r.protocol} | {r.method} |{state} " + " | ".join(cells)
                        + f" | {r.seconds:.2f} |")
    random_states = sorted({r.random_state for r in results if r.random_state is not None})
    state_words = (f" The learner's random states {', '.join(map(str, random_states))}: the study classifier's rows "
                   f"ran once per state, the tables give each case's mean over them." if states else "")
    patch = "\n".join(patch_lines) if patch_lines else "(not run)"
    model = f"{entry.id} (sha256 {entry.sha256[:16]}...)" if entry else "?"
    real = "".join(f"; patient{p} classified with {portable_argument(m)}" for p, m in real_models.items())
    phantoms = (f"Held-out phantom seeds {seeds[0]}-{seeds[-1]} (never used in training or for choosing settings)."
                if seeds else "No phantoms.")
    return f"""{provenance_line(command)}

# Few-shot classification: evaluation

Run on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC ({elapsed / 60:.0f} min).
Prior model: {model}{real}. {phantoms}

Painting: the rounded quartile slices of the LV myocardium's axial extent; "slices" = full labels on those
slices, "strokes" = one-voxel medial-axis strokes of every class on the same slices
(SPECTFewShotLib/selftest/painting.py).
Dice on the unpainted slices over the whole volume (or crop). Real studies: patient001 and patient003 (PhysioNet
MPS; Calixto et al. 2025, doi:10.13026/ce2z-dw74), myocardium against background on the whole volume, and with
the LV blood pool (the cavity the wall encloses, slice by slice) on 32^3 crops around the
LV{_conditions(args)}. Rows over several cases: mean ± standard deviation (minimum, number of cases where the
class was painted). Times: the study classifier and its stages include the study features (ProtoNet the prior's
network pass), computed once per case; GrowCut and the random forest are in-process calls.{state_words}

{table}

"Study classifier" is the product's default (ProtoNet prototypes, the per-study learner, the graph cut);
"Without ProtoNet" the same with no ProtoNet input (`classify --without-protonet`); "ProtoNet prior" ProtoNet
alone (`--stages prior`).

## The prior's share

{share or "(the study classifier and its ablation did not both run)"}

## The written probabilities

{calibration}

## The paper's protocol

{patch}

## Every case

{chr(10).join(per_case)}
"""
