"""`spectfewshot batch MANIFEST.csv -o RESULTS/`: a cohort of studies, each through classify, localize and polar-map.

MANIFEST is a CSV with one row per study: id and volume, then paint (a painted support to classify from) and/or
segmentation (an LV wall already drawn; with paint too it is the reference of the myocardium Dice), optional
template and template_landmarks (else --template for all, else LV_center, LV_apex and LV_base by their
definitions) and group (normal, abnormal, rest, stress, ...). Relative paths are relative to the manifest.
Duplicate ids, missing columns or missing files are refused before anything runs, in one line naming the rows.

Each study is one Dask task (`dask[distributed]`): on a local cluster of one worker process per core (--workers,
--threads-per-worker), or on an existing cluster (--scheduler ADDRESS; its workers read the inputs and write the
outputs on shared storage). RESULTS/<id>/ receives what the single-study commands write (classes.seg.nrrd,
landmarks.mrk.json, long_axis.mrk.json, the three views, segments.csv, polar_map.png, views.png), what they print
(log.txt) and study.json (the row and a content hash of the inputs, the settings and the models' weights).
RESULTS/cohort.csv has one row per study: status, the one-line error if it failed, class volumes (mL), the Dice
against a drawn segmentation, LV length, landmark confidences, the 17 segment uptakes and reduced flags, seconds
(and cohort.parquet when pyarrow is installed); cohort_polar_map.png shows the mean and SD of each segment per
group.

A failed study is recorded and the others go on; the exit status is 3 when any study failed. A rerun keeps the
studies whose inputs, settings and weights have not changed (their outputs still there), runs new and changed
ones, and with --retry-failed also the failed ones. A worker process that dies mid-study is replaced and the study
runs again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cardiac_views.polar_map import STATISTICS
from ..runtime.device import DEVICE_CHOICES

EXIT_STUDIES_FAILED = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `batch` subcommand."""
    parser = subparsers.add_parser("batch", help="a cohort of studies on Dask: per-study outputs, cohort table, "
                                                 "cohort polar map", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", help="CSV: id,volume[,paint][,segmentation][,template,template_landmarks]"
                                         "[,group]")
    parser.add_argument("-o", "--output", required=True, metavar="RESULTS", help="results folder (created)")
    parser.add_argument("--template", metavar="TEMPLATE_VOLUME", help="template for the rows without their own")
    parser.add_argument("--template-landmarks", metavar="TEMPLATE.mrk.json", help="the template's landmarks")
    parser.add_argument("--workers", type=int, help="local cluster: worker processes (default: one per core)")
    parser.add_argument("--threads-per-worker", type=int, default=1, help="local cluster (default: %(default)s)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="an existing Dask scheduler (e.g. tcp://host:8786) instead of a local cluster")
    parser.add_argument("--no-dashboard", action="store_true", help="local cluster: do not serve Dask's dashboard")
    parser.add_argument("--retry-failed", action="store_true", help="run the failed studies again")
    parser.add_argument("--threshold", type=float, help="polar-map --threshold (default: the command's)")
    parser.add_argument("--normals", metavar="LIMITS.csv", help="polar-map --normals: normal limits (see normals)")
    parser.add_argument("--normal-sd", type=float, help="polar-map --normal-sd (default: the command's)")
    parser.add_argument("--statistic", choices=STATISTICS, help="polar-map --statistic (default: the command's)")
    parser.add_argument("--model", help="classify --model (default: the shipped one)")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="classify --device "
                                                                                 "(default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the manifest and the settings, run the studies, write the cohort outputs, report."""
    from ..cardiac_views.normal_limits import read_normal_limits
    from ..cardiac_views.polar_map import PolarMapSettings
    from .batch import results_folder, run_batch
    from .manifest import read_manifest
    from .runner import ClusterOptions
    from .study import StudySettings

    options = ClusterOptions(args.scheduler, args.workers, args.threads_per_worker, not args.no_dashboard)
    normals = str(Path(args.normals).resolve()) if args.normals else None
    limits = read_normal_limits(normals) if normals else None
    PolarMapSettings(threshold_percent=70.0 if args.threshold is None else args.threshold, normal_limits=limits,
                     normal_sd=2.0 if args.normal_sd is None else args.normal_sd)  # refuses bad values now
    studies = read_manifest(args.manifest, args.template, args.template_landmarks)
    inputs = [args.manifest, *(p for study in studies for p in study.input_paths())]
    results = results_folder(args.output, inputs + ([normals] if normals else []))
    settings = StudySettings(args.threshold, normals, args.normal_sd, args.statistic, args.model, args.device)
    print(f"{_studies(len(studies))} in {Path(args.manifest).name}; results in {results}")
    sys.stdout.flush()
    result = run_batch(studies, results.resolve(), settings, options, args.retry_failed, sys.stderr,
                       f"cohort {Path(args.manifest).stem}")
    failed = result.failed
    print(f"{_studies(len(result.rows))}: {len(result.rows) - len(failed)} ok, {len(failed)} failed "
          f"({result.ran} run now, {result.kept} kept from before)")
    for row in failed:
        print(f"  failed {row['id']}: {row.get('error', '')}")
    for path in result.written:
        print(f"wrote {path}")
    return EXIT_STUDIES_FAILED if failed else 0


def _studies(count: int) -> str:
    return f"{count} {'study' if count == 1 else 'studies'}"
