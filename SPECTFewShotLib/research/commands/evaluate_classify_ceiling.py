"""`spectfewshot evaluate classify-ceiling`: how close any iso-count boundary can come to each real study's wall
mask, next to the study classifier and GrowCut on the same paint (three quartile slices, full labels)."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

from SPECTFewShotLib.io.atomic import check_writable, write_text_atomic
from SPECTFewShotLib.research.commands import command_line, provenance_line

MARGIN = 0.02  # the margin over GrowCut that issue 24 asks for


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of `evaluate classify-ceiling`."""
    parser.add_argument("-o", "--output", metavar="FILE.md", help="also write the results as markdown")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Measure and print the table (and write it as markdown)."""
    from SPECTFewShotLib.classification.session import StudySession
    from SPECTFewShotLib.research.evaluation.cases import (
        MYOCARDIUM,
        SHARED_STUDIES,
        shared_study_case,
        shared_study_paths,
    )
    from SPECTFewShotLib.research.evaluation.classify_ceiling import BAND, oracle_ceiling
    from SPECTFewShotLib.research.evaluation.classify_evaluation import GROWCUT, STUDY, evaluate_case
    from SPECTFewShotLib.selftest.painting import unpainted_slices

    if args.output:
        check_writable(args.output)
    rows = ["| study | study classifier | GrowCut | GrowCut + 0.02 | oracle global threshold (sigma) | "
            "oracle threshold per slice (sigma) |", "|---|---|---|---|---|---|"]
    for patient in (p for p in SHARED_STUDIES if shared_study_paths(p) is not None):
        case = shared_study_case(patient)
        results = evaluate_case(case, "real", StudySession(), protocols=("slices",), methods=(STUDY, GROWCUT))
        dice = {r.method: r.dice["LV_myocardium"] for r in results}
        wall = case.class_map == MYOCARDIUM
        ceiling = oracle_ceiling(case.volume.array, wall, unpainted_slices(wall.shape, case.slices))
        rows.append(f"| patient{patient} | {dice[STUDY]:.3f} | {dice[GROWCUT]:.3f} | {dice[GROWCUT] + MARGIN:.3f} | "
                    f"{ceiling.global_dice:.3f} ({ceiling.global_sigma:g}) | "
                    f"{ceiling.per_slice_dice:.3f} ({ceiling.per_slice_sigma:g}) |")
    table = "\n".join(rows)
    print(table)
    if args.output:
        command = command_line()
        write_text_atomic(args.output, f"""{provenance_line(command)}

# Few-shot classification: how far the masks can be followed

Run on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.

Myocardium Dice on the unpainted slices of the two shared real studies (PhysioNet MPS; Calixto et al. 2025,
doi:10.13026/ce2z-dw74), painted on the three quartile slices with full labels. The oracles know the mask: they
threshold the counts (smoothed at sigma 0, 0.5 or 1 voxel, the best kept) only within {BAND} voxels of it, at the
threshold with the best Dice over the unpainted slices (global), or at the best threshold of each unpainted slice
(per slice). They bound what a boundary drawn at one count level can reach on these annotations
(`SPECTFewShotLib/research/evaluation/classify_ceiling.py`).

{table}
""")
        print(f"wrote {args.output}")
    return 0
