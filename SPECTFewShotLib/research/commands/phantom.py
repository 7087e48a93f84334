"""`spectfewshot phantom --seed N -o DIR`: one simulated SPECT study with its labels and landmarks.

Also `spectfewshot bench phantom` (time and memory of generating studies) and `spectfewshot evaluate realism`
(phantoms next to the real study: figure and table), registered in registry_dispatch.SUBCOMMANDS.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.research.commands import command_line
from SPECTFewShotLib.research.evaluation.cases import SHARED_DATA
from SPECTFewShotLib.research.phantom.config import CAMERA_CHOICES, PhantomConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `phantom` subcommand."""
    parser = subparsers.add_parser("phantom", help="simulate a cardiac SPECT study with exact labels and landmarks",
                                   description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, required=True, help="the study's seed (same seed: same files)")
    parser.add_argument("-o", "--output", required=True, help="folder for the files (created if missing)")
    parser.add_argument("--overwrite", action="store_true", help="replace the study files already in the folder")
    add_config_arguments(parser)
    parser.set_defaults(func=run)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that fix parts of the drawn protocol (default: drawn from the seed)."""
    parser.add_argument("--matrix", type=int, default=64, help="voxels in-plane (default: %(default)s)")
    parser.add_argument("--slices", type=int, help="voxels axially (default: as --matrix)")
    parser.add_argument("--voxel-mm", type=float, help="isotropic voxel size in mm (default: drawn, 4-6.8 mm)")
    parser.add_argument("--camera", choices=CAMERA_CHOICES, default="mixed",
                        help="parallel-hole (8-15 mm FWHM), CZT (5-7 mm) or a mix by seed (default: %(default)s)")
    parser.add_argument("--fwhm-mm", type=float, help="system resolution at the heart, mm FWHM (default: drawn)")
    parser.add_argument("--counts", type=float, help="detected counts of the acquisition (default: drawn, 2e6-1.2e7)")
    parser.add_argument("--views", type=int, help="views over 180 degrees (default: 60)")
    parser.add_argument("--iterations", type=int, help="OSEM iterations (default: drawn)")
    parser.add_argument("--subsets", type=int, help="OSEM subsets (default: 10)")
    parser.add_argument("--no-noise", action="store_true", help="noise-free projections (expected counts)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")


def config_from(args: argparse.Namespace) -> PhantomConfig:
    """The PhantomConfig the options describe (bad values: one-line InputError)."""
    return PhantomConfig(matrix=args.matrix, slices=args.slices, voxel_mm=args.voxel_mm, camera=args.camera,
                         system_fwhm_mm=args.fwhm_mm, counts=args.counts, views=args.views,
                         iterations=args.iterations, subsets=args.subsets, noise=not args.no_noise,
                         threads=args.threads)


def run(args: argparse.Namespace) -> int:
    """Simulate one study and write its files."""
    from SPECTFewShotLib.research.phantom import generate_study
    from SPECTFewShotLib.research.phantom.export import check_study_folder, write_study

    config = config_from(args)
    if args.seed < 0:
        raise InputError(f"the seed must be 0 or more, not {args.seed}")
    folder = check_study_folder(args.output, args.overwrite)
    start = time.perf_counter()
    study = generate_study(args.seed, config)
    seconds = time.perf_counter() - start
    paths = write_study(study, folder)
    protocol = study.metadata["protocol"]
    print(f"phantom seed {args.seed}: {protocol['camera']} camera, {protocol['system_fwhm_mm']:.1f} mm FWHM, "
          f"{protocol['counts'] / 1e6:.1f} M counts, {' x '.join(map(str, study.image.size))} voxels of "
          f"{study.image.spacing[0]:.2f} mm, {seconds:.1f} s")
    for path in paths.values():
        print(f"wrote {path}")
    return 0


# ------------------------------------------------------------------------------------------------ bench phantom


def register_bench(parser: argparse.ArgumentParser) -> None:
    """Arguments of `bench phantom`."""
    parser.description = "Median wall time and peak memory of generating phantom studies at default settings."
    parser.add_argument("--studies", type=int, default=10, help="studies per camera (default: %(default)s)")
    parser.add_argument("--start-seed", type=int, default=0, help="first seed (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    parser.add_argument("--matrix", type=int, default=64, help="voxels in-plane and axially (default: %(default)s)")
    parser.set_defaults(func=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    """Generate studies for each camera type and print the median time per stage and the peak memory."""
    from SPECTFewShotLib.research.phantom import generate_study

    if not 1 <= args.studies <= 1000:
        raise InputError(f"studies must be between 1 and 1000, not {args.studies}")
    generate_study(args.start_seed, PhantomConfig(matrix=32, views=6, iterations=1, subsets=1))  # warm-up
    baseline_rss = _peak_rss_mb()
    print(f"bench phantom: {args.studies} studies per camera, matrix {args.matrix}, {args.threads} threads, "
          f"seeds from {args.start_seed}")
    print(f"{'camera':<10}{'median s':>10}{'max s':>8}{'anatomy s':>11}{'projection s':>14}{'OSEM s':>9}"
          f"{'voxel mm':>10}{'peak MB':>9}")
    for camera in ("parallel", "czt"):
        config = PhantomConfig(matrix=args.matrix, camera=camera, threads=args.threads)
        times, stages, voxels = [], [], []
        for seed in range(args.start_seed, args.start_seed + args.studies):
            marks: list[tuple[float, str]] = []
            start = time.perf_counter()
            study = generate_study(seed, config, progress=lambda f, m, marks=marks: marks.append(
                (time.perf_counter(), m)))
            times.append(time.perf_counter() - start)
            stages.append(_stage_times(start, marks))
            voxels.append(study.image.spacing[0])
        print(f"{camera:<10}{statistics.median(times):>10.2f}{max(times):>8.2f}"
              f"{statistics.median(s[0] for s in stages):>11.2f}{statistics.median(s[1] for s in stages):>14.2f}"
              f"{statistics.median(s[2] for s in stages):>9.2f}{statistics.median(voxels):>10.2f}"
              f"{_peak_rss_mb():>9.0f}")
        sys.stdout.flush()
    print(f"peak resident memory of the process: {_peak_rss_mb():.0f} MB (after imports and warm-up: "
          f"{baseline_rss:.0f} MB); target: at most 15 s per study on 2 cores")
    return 0


def _stage_times(start: float, marks: list[tuple[float, str]]) -> tuple[float, float, float]:
    """Seconds spent drawing the anatomy, simulating the acquisition and reconstructing."""
    first = {}
    for when, message in marks:
        first.setdefault(message, when)
    acquisition = first.get("simulating the acquisition", start)
    reconstruction = first.get("reconstructing", acquisition)
    end = marks[-1][0] if marks else start
    return acquisition - start, reconstruction - acquisition, end - reconstruction


def _peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ------------------------------------------------------------------------------------------------ evaluate realism


def register_realism(parser: argparse.ArgumentParser) -> None:
    """Arguments of `evaluate realism`."""
    parser.description = ("Phantoms next to the real study: a figure (three planes, same window) and the realism "
                          "table (count ratios, noise, wall FWHM), written as DIR/realism.md and "
                          "DIR/figures/realism.png.")
    parser.add_argument("-o", "--output", required=True,
                        help="folder for realism.md and figures/ (e.g. docs/evaluation/realism)")
    parser.add_argument("--phantoms", type=int, default=20,
                        help="held-out phantoms in the table (default: %(default)s)")
    parser.set_defaults(func=run_realism)


def run_realism(args: argparse.Namespace) -> int:
    """Measure the real study and held-out phantoms; write the figure and the markdown table."""
    from SPECTFewShotLib.research.phantom.report import write_realism_report

    if not 3 <= args.phantoms <= 500:
        raise InputError(f"phantoms must be between 3 and 500, not {args.phantoms}")
    folder = _output_folder(args.output)
    (folder / "figures").mkdir(exist_ok=True)
    markdown, figure, table = write_realism_report(folder, args.phantoms, progress=_print_progress)
    print(table)
    print(f"wrote {markdown}")
    print(f"wrote {figure}")
    return 0


def _output_folder(path: str) -> Path:
    """The report's output folder, created if needed (a file of that name is refused)."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"output {folder} is a file; give a folder")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _print_progress(fraction: float, message: str) -> None:
    print(f"[{100 * fraction:5.1f} %] {message}", file=sys.stderr)


# ------------------------------------------------------------------------------------ evaluate realism-behaviour



def register_realism_behaviour(parser: argparse.ArgumentParser) -> None:
    """Arguments of `evaluate realism-behaviour`."""
    parser.description = ("Phantom realism judged by behaviour: GrowCut and the random forest painted as on real "
                          "studies (myocardium against everything else on three quartile slices), on held-out "
                          "phantoms and on the real studies, next to statistics measured identically on both; "
                          "written as DIR/realism_behaviour.md.")
    parser.add_argument("-o", "--output", required=True,
                        help="folder for realism_behaviour.md (e.g. docs/evaluation/realism)")
    parser.add_argument("--phantoms", type=int, default=12, help="held-out phantoms (default: %(default)s)")
    parser.add_argument("--skip", type=int, default=0, help="held-out seeds to skip first (default: %(default)s)")
    parser.add_argument("--profile", choices=("real-like", "default"), default="real-like",
                        help="phantom configuration (default: %(default)s: CZT, 70 x 70 x 50 like the real studies)")
    parser.add_argument("--real", default=str(SHARED_DATA), metavar="DIR",
                        help="folder of <name>_image.nii.gz + <name>_mask.nii.gz real studies (default: %(default)s)")
    parser.set_defaults(func=run_realism_behaviour)


def run_realism_behaviour(args: argparse.Namespace) -> int:
    """Measure the real studies and held-out phantoms; write the markdown report."""
    from SPECTFewShotLib.io.atomic import write_text_atomic
    from SPECTFewShotLib.research.evaluation import realism_behaviour as rb
    from SPECTFewShotLib.research.phantom.config import real_like_config
    from SPECTFewShotLib.research.seeds import held_out_seeds

    if not 1 <= args.phantoms <= 500:
        raise InputError(f"phantoms must be between 1 and 500, not {args.phantoms}")
    folder = _output_folder(args.output)
    real = []
    for name, image, mask in rb.real_studies(args.real):
        print(f"real study {name}", file=sys.stderr)
        volume, wall = rb.read_real_study(image, mask)
        real.append(rb.measure_study(name, "real", volume, wall))
    config = real_like_config() if args.profile == "real-like" else None
    seeds = held_out_seeds(args.phantoms, args.skip)
    phantoms = rb.measure_phantoms(seeds, config, progress=lambda m: print(m, file=sys.stderr))
    command = command_line() if sys.argv[1:3] == ["evaluate", "realism-behaviour"] \
        else "spectfewshot evaluate realism-behaviour"
    config_text = (f"held-out seeds {seeds[0]}-{seeds[-1]}, "
                   + ("phantom.config.real_like_config() (CZT, 70 x 70 x 50)" if config else "default config"))
    text = rb.markdown_report(real, phantoms, command, config_text)
    path = folder / "realism_behaviour.md"
    write_text_atomic(path, text)
    print(text)
    print(f"wrote {path}")
    return 0
