"""`spectfewshot bench classify`: the study classifier's time and peak memory on a 128^3 volume, next to GrowCut.

The input is a phantom study simulated at SIZE^3 voxels of 3.4 mm (a 435 mm field of view, as a 128 x 128
clinical acquisition), painted on its three quartile slices through the LV (myocardium, blood pool, liver where
present, background). Steps run in child processes limited to THREADS threads; medians of REPEATS runs.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

TARGETS = {"features": 3.0, "reclassify": 1.0, "reclassify learner": 0.15}
MEMORY_TARGET_MB = 2048


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of `bench classify`."""
    parser.add_argument("--size", type=int, default=128, help="voxels per axis (default: %(default)s)")
    parser.add_argument("--voxel-mm", type=float, default=3.4, help="voxel size (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per step (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads per step (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="phantom seed (default: %(default)s)")
    parser.add_argument("--model", help="ProtoNet model id or weights file (default: the shipped one)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Simulate the input, paint it, measure, print the table."""
    import numpy as np

    from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for, write_segmentation
    from SPECTFewShotLib.io.volume_io import write_volume
    from SPECTFewShotLib.research.evaluation.cases import phantom_case
    from SPECTFewShotLib.research.evaluation.classify_bench import run_benchmark
    from SPECTFewShotLib.research.phantom import PhantomConfig
    from SPECTFewShotLib.research.protonet_training.phantom_cache import load_study
    from SPECTFewShotLib.selftest.painting import paint_slices, paint_strokes

    study = load_study(args.seed, PhantomConfig(matrix=args.size, voxel_mm=args.voxel_mm))
    case = phantom_case(f"phantom seed {args.seed}", study.image, study.tissues, study.label_values)
    segments = segments_for(case.classes, case.class_names)
    with tempfile.TemporaryDirectory(prefix="spectfewshot-bench-") as tmp:
        work = Path(tmp)
        volume_path = write_volume(case.volume, work / "volume.nrrd")
        support_path = write_segmentation(Segmentation(case.volume.with_array(paint_slices(case.class_map,
                                                                                           case.slices)), segments),
                                          work / "support.seg.nrrd")
        other_path = write_segmentation(Segmentation(case.volume.with_array(paint_strokes(case.class_map,
                                                                                          case.slices)), segments),
                                        work / "strokes.seg.nrrd")
        print(f"input: {' x '.join(str(s) for s in case.volume.size)} voxels of {args.voxel_mm:g} mm "
              f"(phantom seed {args.seed}), {len(case.classes)} painted classes on slices {case.slices}; "
              f"{args.threads} threads, {args.repeats} runs per step", flush=True)
        timings = run_benchmark(volume_path, support_path, other_path, work, args.repeats, args.threads,
                                args.model)
    by_step = {t.step: t for t in timings}
    print()
    print("| step | median s | min s | max s | peak memory MB | target |")
    print("|---|---|---|---|---|---|")
    for t in timings:
        target = f"<= {TARGETS[t.step]:g} s" if t.step in TARGETS else ""
        if t.step == "classify process":
            target = f"< GrowCut process ({by_step['GrowCut process'].median:.2f} s)"
        print(f"| {t.step} | {t.median:.3f} | {min(t.seconds):.3f} | {max(t.seconds):.3f} | {t.max_rss_mb:.0f} | "
              f"{target} |")
    whole, grow = by_step["classify process"].median, by_step["GrowCut process"].median
    print()
    print(f"classify process / GrowCut process: {whole / grow:.2f}x "
          f"({'faster' if whole < grow else 'slower'} than GrowCut); "
          f"peak memory of the classify process {by_step['classify process'].max_rss_mb:.0f} MB "
          f"(target <= {MEMORY_TARGET_MB} MB); times of the in-process steps: "
          f"{', '.join(f'{s} {np.median(by_step[s].seconds):.3f} s' for s in ('features', 'reclassify', 'GrowCut'))}")
    return 0
