"""`spectfewshot polar-map VOLUME --segmentation SEG --landmarks LM -o OUTDIR`: cardiac views and the polar map.

LM must hold LV_apex and LV_base (the long axis runs from the apex to the centre of the basal ring); the RV insertion
points (RV_insertion_anterior, RV_insertion_inferior), when present, fix the septum; without them the anterior
wall is taken to face the patient's head (the anatomical convention). SEG is the classified LV wall on VOLUME's
grid: the segment LV_myocardium, the only segment, or the one named by --label.

OUTDIR (created with any missing parents) receives short_axis.nii.gz, vertical_long_axis.nii.gz and
horizontal_long_axis.nii.gz (each in the display convention: SA apex to base, anterior up, septum left; VLA anterior
up, base left, apex right; HLA septum left, apex up; written axis-aligned, centred on the LV centre, so that a
viewer's axial view - Slicer's Red view - shows them as they are; they do not overlay the study), segments.csv
(segment,name,uptake_percent,reduced for the 17 AHA segments, % of the myocardial maximum, reduced 0 or 1),
polar_map.png and views.png (SA apical, mid and basal, mid VLA and HLA
slices, to check the axis at a glance). A segment is reduced under --threshold, or, with
--normals (normal limits of studies acquired and reconstructed like this one), more than --normal-sd SDs under its
normal mean.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..cardiac_views.polar_map import DEFAULT_THRESHOLD_PERCENT, STATISTICS

VIEW_FILES = {"short_axis": "short_axis.nii.gz", "vertical_long_axis": "vertical_long_axis.nii.gz",
              "horizontal_long_axis": "horizontal_long_axis.nii.gz"}
TABLE_FILE = "segments.csv"
FIGURE_FILE = "polar_map.png"
VIEWS_FIGURE_FILE = "views.png"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `polar-map` subcommand."""
    parser = subparsers.add_parser("polar-map", help="short-axis and long-axis views and the 17-segment polar map",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("volume", help="the SPECT volume (NIfTI, NRRD, MetaImage, DICOM file or folder)")
    parser.add_argument("--segmentation", required=True, help="the LV wall on the volume grid (.seg.nrrd, labelmap)")
    parser.add_argument("--landmarks", required=True, help="markups with LV_apex, LV_base (+ RV insertion points)")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for the views, table, figure")
    parser.add_argument("--label", help="the myocardium's segment name or label value (default: LV_myocardium)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD_PERCENT,
                        help="segments under this %% of the myocardial maximum are reduced (default: %(default)g)")
    parser.add_argument("--normals", metavar="LIMITS.csv",
                        help="normal limits (segment,mean_percent,sd_percent) of studies acquired like this one: "
                             "reduced = more than --normal-sd SD under the normal mean, instead of the threshold")
    parser.add_argument("--normal-sd", type=float, default=2.0, help="SDs under the normal mean (default: %(default)g)")
    parser.add_argument("--statistic", choices=STATISTICS, default="max",
                        help="count kept along each ray inside the wall (default: %(default)s)")
    parser.add_argument("--spacing", type=float, help="voxel size of the views in mm (default: the study's finest)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check every input, then write the views, the table and the figure."""
    from ..cardiac_views.analysis import analyze, check_same_grid, myocardium_mask
    from ..cardiac_views.frame import flagged_points_warning, orientation_warning
    from ..cardiac_views.normal_limits import read_normal_limits
    from ..cardiac_views.polar_figure import reduced_segments_text, render_views_figure, write_png, write_polar_figure
    from ..cardiac_views.polar_map import PolarMapSettings, segments_csv
    from ..cardiac_views.reorientation import display_aligned
    from ..errors import InputError
    from ..io.atomic import check_output_folder, make_output_folder, write_text_atomic
    from ..io.markups_io import read_landmarks
    from ..io.segmentation_io import read_segmentation
    from ..io.volume_io import read_volume, require_counts, write_volume

    limits = read_normal_limits(args.normals) if args.normals else None
    settings = PolarMapSettings(statistic=args.statistic, threshold_percent=args.threshold, normal_limits=limits,
                                normal_sd=args.normal_sd)
    outdir = check_output_folder(args.output)  # created, with missing parents, once the inputs are read
    outputs = [outdir / name for name in (*VIEW_FILES.values(), TABLE_FILE, FIGURE_FILE, VIEWS_FIGURE_FILE)]
    for source in (Path(args.volume), Path(args.segmentation), Path(args.landmarks)):
        if source.exists() and any(out.exists() and out.resolve() == source.resolve() for out in outputs):
            raise InputError(f"writing into {outdir} would overwrite the input {source.name}; choose another folder")
    volume = require_counts(read_volume(args.volume), Path(args.volume).name)
    segmentation = read_segmentation(args.segmentation)
    check_same_grid(volume, segmentation)
    wall = myocardium_mask(segmentation, args.label)
    landmarks = read_landmarks(args.landmarks)
    started = time.perf_counter()
    result = analyze(volume, wall, landmarks, settings, args.spacing)
    elapsed = time.perf_counter() - started
    make_output_folder(outdir)
    for name, view in result.views.items():
        write_volume(display_aligned(view, result.frame.center), outdir / VIEW_FILES[name])
    write_text_atomic(outdir / TABLE_FILE, segments_csv(result.polar_map))
    write_polar_figure(result.polar_map, outdir / FIGURE_FILE, Path(args.volume).name)
    write_png(render_views_figure(result.views, result.frame, result.polar_map.maximum, Path(args.volume).name),
              outdir / VIEWS_FIGURE_FILE)
    frame, polar = result.frame, result.polar_map
    for warning in (orientation_warning(frame), flagged_points_warning(landmarks, frame)):
        if warning:
            print(f"warning: {warning}")
    print(f"long axis {frame.length_mm:.1f} mm (apex to base); septum from the {frame.septum_source}; "
          f"cap {polar.cap_depth_mm:.1f} mm; {100 * polar.found.mean():.0f} % of rays met the wall")
    print(f"{'seg':>3}  {'name':<22}{'uptake':>8}")
    for segment in polar.segments:
        flag = "  reduced" if segment.reduced else ""
        print(f"{segment.number:>3}  {segment.name:<22}{segment.uptake_percent:7.1f}%{flag}")
    print(f"reduced segments ({settings.criterion()}): {reduced_segments_text(polar)}")
    print(f"wrote {outdir} ({', '.join(p.name for p in outputs)}) in {elapsed:.2f} s")
    return 0
