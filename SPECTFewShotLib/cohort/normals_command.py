"""`spectfewshot normals RESULTS/ --group normal -o limits.csv`: per-segment normal limits from a cohort.

Reads RESULTS/cohort.csv (written by `spectfewshot batch`) and, over the finished studies of --group (the site's
normal studies, acquired and reconstructed like the studies they will judge), writes the mean and SD of each of the
17 segment uptakes (% of the myocardial maximum; SD at least 1 point) and how many studies gave each segment:
segment,mean_percent,sd_percent,count, the format `polar-map --normals` and `batch --normals` read. With those
limits a segment is reduced when it lies more than --normal-sd SDs under its normal mean.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `normals` subcommand."""
    parser = subparsers.add_parser("normals", help="per-segment normal limits from a cohort's normal studies",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="a batch's results folder (or its cohort.csv)")
    parser.add_argument("--group", default="normal", help="the group of the normal studies (default: %(default)s)")
    parser.add_argument("-o", "--output", required=True, metavar="LIMITS.csv", help="normal-limits file to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the cohort table, build the limits of the group, write them."""
    from ..cardiac_views.normal_limits import write_normal_limits
    from ..errors import InputError
    from ..io.atomic import check_writable
    from .normals import limits_from_cohort
    from .table import COHORT_CSV, read_cohort_table

    output = check_writable(args.output)
    table = Path(args.results) / COHORT_CSV if Path(args.results).is_dir() else Path(args.results)
    if output.exists() and table.exists() and output.resolve() == table.resolve():
        raise InputError(f"output {output.name} would overwrite the cohort table; choose another name")
    rows = read_cohort_table(table)
    limits = limits_from_cohort(rows, args.group, table)
    write_normal_limits(limits, output)
    print(f"{limits.count} studies of the group '{args.group}'")
    print(f"{'seg':>3}  {'mean':>6}  {'SD':>5}  {'n':>4}")
    for number, (mean, sd, count) in enumerate(zip(limits.mean, limits.sd, limits.segment_counts), start=1):
        print(f"{number:>3}  {mean:6.1f}  {sd:5.1f}  {count:>4}")
    print(f"wrote {output}")
    return 0
