"""`spectfewshot bench live-update`: what a stroke costs in the Slicer module, on a slicer-core scene.

The bundled real study (or, with --size N, the same study resampled to N^3 voxels) is painted by the protocol
(three quartile slices, full labels), classified once through SceneLogic (the study classifier, StudySession;
features computed), then painted with STROKES more strokes (half of the myocardial ring on one unpainted slice
each), each followed by the module's live update: read the painting from its node, predict from the cached
features (all stages), write the output node. After each update the same paint is classified again by the
preview stage, the learner without the graph cut and the ProtoNet prior alone (the quicker answers). Next to it,
in the same run and on the same paintings, Slicer's "Grow from seeds" (GrowCut over the whole volume), the
interactive tool a user would otherwise use. Times are medians over the strokes; beside the update's wall time its
CPU seconds (all the process's threads) and the load average, since the cores may be shared.
"""

from __future__ import annotations

import argparse
import statistics
import time


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of `bench live-update`."""
    parser.add_argument("--strokes", type=int, default=5,
                        help="strokes after the first classify (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch (default: %(default)s)")
    parser.add_argument("--model", help="ProtoNet model id or weights file (default: the shipped one)")
    parser.add_argument("--device", default="cpu", help="auto, cpu or cuda (default: %(default)s)")
    parser.add_argument("--size", type=int, default=0,
                        help="resample the study to SIZE^3 voxels (default: its own 70 x 70 x 50)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Paint, classify, stroke and update; print the medians next to GrowCut's."""
    import numpy as np
    import torch

    from SPECTFewShotLib.errors import InputError
    from SPECTFewShotLib.io.segmentation_io import Segmentation, read_segmentation, segments_for
    from SPECTFewShotLib.io.volume_io import read_volume, require_counts
    from SPECTFewShotLib.mrml import (
        new_scene,
        paint_segment,
        segmentation_from_node,
        segmentation_to_node,
        volume_to_node,
    )
    from SPECTFewShotLib.mrml.scene_logic import scene_logic_for
    from SPECTFewShotLib.research.baselines.growcut import grow_from_seeds
    from SPECTFewShotLib.resources import sample_study
    from SPECTFewShotLib.selftest.painting import paint_slices, quartile_slices

    if args.strokes < 1:
        raise InputError("--strokes must be at least 1")
    torch.set_num_threads(args.threads)
    image_path, mask_path = sample_study()
    volume = require_counts(read_volume(image_path), image_path.name)
    wall = read_segmentation(mask_path).labels.array > 0
    if args.size:
        volume, wall = _resampled(volume, wall, args.size)
    slices = [int(k) for k in quartile_slices(wall)]
    support = Segmentation(volume.with_array(paint_slices(np.where(wall, 1, 2).astype(np.int32), slices)),
                           segments_for([1, 2], {1: "LV_myocardium", 2: "background"}))
    scene = new_scene()
    volume_node = volume_to_node(volume, scene, "study")
    painting = segmentation_to_node(support, scene, "painting", reference_volume_node=volume_node)
    logic = scene_logic_for(scene)  # the module's and the effect's own session on the scene
    logic.configure(args.model, args.device)

    start = time.perf_counter()
    output = logic.classify(volume_node, painting)
    first = time.perf_counter() - start
    first_timings = dict(logic.timings)
    wall_slices = [k for k in np.nonzero(wall.any(axis=(1, 2)))[0] if k not in slices]
    stroke_slices = [int(wall_slices[n * len(wall_slices) // args.strokes]) for n in range(args.strokes)]
    updates, cpu, steps, growcut, learner, prior, preview = [], [], [], [], [], [], []
    load_start = _load_average()
    for k in stroke_slices:
        stroke = np.zeros(wall.shape, dtype=bool)
        rows = np.nonzero(wall[k].any(axis=1))[0]
        half = int(np.median(rows)) + 1
        stroke[k, :half] = wall[k, :half]
        paint_segment(painting, "LV_myocardium", stroke, volume_node)
        start, start_cpu = time.perf_counter(), time.process_time()
        logic.classify(volume_node, painting, output)
        updates.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        steps.append(dict(logic.timings))
        session = logic.study_session()
        start = time.perf_counter()
        session.predict("preview")
        preview.append(time.perf_counter() - start)
        start = time.perf_counter()
        session.predict("learner")
        learner.append(time.perf_counter() - start)
        start = time.perf_counter()
        session.predict("prior")
        prior.append(time.perf_counter() - start)
        seeds = segmentation_from_node(painting, volume_node).labels.array
        start = time.perf_counter()
        grow_from_seeds(volume, seeds)
        growcut.append(time.perf_counter() - start)
    if logic.feature_computations != 1:
        raise InputError("the features were computed again during the updates")

    def median(key: str) -> float:
        return statistics.median(step.get(key, 0.0) for step in steps)

    print(f"input: the bundled study ({' x '.join(str(s) for s in volume.size)} voxels), painted slices {slices}, "
          f"strokes on slices {stroke_slices}; {args.threads} torch threads (the torch runtime's), device "
          f"{args.device}, the network run by {logic.study_session().prior.runtime}")
    print(f"first classify (features + prototypes + output): {first:.2f} s "
          f"(features {first_timings.get('features_s', 0.0):.2f} s)")
    print(f"live update after a stroke, median of {len(updates)}: {statistics.median(updates):.3f} s "
          f"(read painting {median('read_s'):.3f} s, predict {median('predict_s'):.3f} s, "
          f"write output {median('write_s'):.3f} s); min {min(updates):.3f} s, max {max(updates):.3f} s; "
          f"CPU {statistics.median(cpu):.3f} s (all threads)")
    print(f"  preview (learner on a sample of the paint, coarse grid), median: {statistics.median(preview):.3f} s; "
          f"learner without graph cut, median: {statistics.median(learner):.3f} s; ProtoNet prior alone "
          f"(first use includes its network pass), median: {statistics.median(prior):.3f} s")
    print(f"GrowCut (Grow from seeds, whole volume) on the same paintings, median: {statistics.median(growcut):.3f} s")
    print(f"load average at the start {load_start}, at the end {_load_average()}")
    return 0


def _load_average() -> str:
    """The 1-minute load average, or "unknown" where the system does not say (the cores may be shared)."""
    import os

    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        return "unknown"


def _resampled(volume, wall, size: int):
    """The volume (linear) and the wall mask (nearest) resampled to size^3 voxels over the same field of view."""
    from SPECTFewShotLib.research.evaluation.classify_identity import resampled

    return resampled(volume, wall, size)
