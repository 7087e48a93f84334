"""`spectfewshot bench classify`: the study classifier's time and peak memory on a 128^3 volume, next to GrowCut.

The input is a phantom study simulated at SIZE^3 voxels of 3.4 mm (a 435 mm field of view, as a 128 x 128
clinical acquisition), painted on its three quartile slices through the LV (myocardium, blood pool, liver where
present, background). Steps run in child processes limited to THREADS threads; medians of REPEATS runs. The whole
processes (classify with ONNX Runtime, with torch, without ProtoNet; GrowCut) and the imports run in turn within
each repeat, with their CPU seconds, and the machine's load average is printed: everything a comparison needs.
"""

from __future__ import annotations

import argparse
import os
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
        load = os.getloadavg()
        timings = run_benchmark(volume_path, support_path, other_path, work, args.repeats, args.threads,
                                args.model)
    by_step = {t.step: t for t in timings}
    grow = by_step["GrowCut process"]
    print()
    print("| step | median s | min s | max s | median CPU s | peak memory MB | target |")
    print("|---|---|---|---|---|---|---|")
    for t in timings:
        if t.step.startswith("import ") or t.step == "python start":
            continue
        target = f"<= {TARGETS[t.step]:g} s" if t.step in TARGETS else ""
        if t.step.startswith("classify") and "process" in t.step:
            target = f"<= GrowCut process ({grow.median:.2f} s)"
        cpu = f"{np.median(t.cpu_seconds):.3f}" if t.cpu_seconds else ""
        print(f"| {t.step} | {t.median:.3f} | {min(t.seconds):.3f} | {max(t.seconds):.3f} | {cpu} | "
              f"{t.max_rss_mb:.0f} | {target} |")
    start = by_step["python start"]
    print()
    print("| import (its own process) | median s | median CPU s | minus python start: s | CPU s |")
    print("|---|---|---|---|---|")
    for t in [start, *(t for t in timings if t.step.startswith("import "))]:
        print(f"| {t.step} | {t.median:.3f} | {np.median(t.cpu_seconds):.3f} | {t.median - start.median:.3f} | "
              f"{np.median(t.cpu_seconds) - np.median(start.cpu_seconds):.3f} |")
    print()
    for name in ("classify process", "classify process (torch)", "classify --without-protonet process"):
        whole = by_step[name]
        print(f"{name} / GrowCut process: {whole.median / grow.median:.2f}x "
              f"({'no slower' if whole.median <= grow.median else 'slower'} than GrowCut), CPU "
              f"{np.median(whole.cpu_seconds) / np.median(grow.cpu_seconds):.2f}x; peak memory "
              f"{whole.max_rss_mb:.0f} MB (target <= {MEMORY_TARGET_MB} MB)")
    without = by_step["classify --without-protonet process"].median
    print(f"ProtoNet's share of the classify process: {by_step['classify process'].median - without:.3f} s "
          f"(torch runtime: {by_step['classify process (torch)'].median - without:.3f} s)")
    print(f"load average at the start {load[0]:.2f}, at the end {os.getloadavg()[0]:.2f} "
          f"({os.cpu_count()} CPUs); times of the in-process steps: "
          f"{', '.join(f'{s} {np.median(by_step[s].seconds):.3f} s' for s in ('features', 'reclassify', 'GrowCut'))}")
    return 0
