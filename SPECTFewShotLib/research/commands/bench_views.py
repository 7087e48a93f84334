"""`spectfewshot bench views`: seconds for the reorientation and the polar map of a 128^3 study, and for the Slicer
scene to follow a moved axis line.

The study is the bundled real one (patient001) resampled onto a 128^3 grid of isotropic voxels covering its field
of view (finer voxels than the original: more work, not less), its LV-wall mask with it (nearest neighbour), and
the LV landmarks derived from the mask. Timed: frame + SA/VLA/HLA volumes + polar map (what `polar-map` computes),
then the figure alone; then, in a headless slicer-core scene, moving one end of the axis line by 4 mm until the
three view nodes, the polar-map image and the segment table are updated. Medians of RUNS runs. scipy's resampling
is single-threaded; torch is not used.
"""

from __future__ import annotations

import argparse
import statistics
import time

TARGET_SECONDS = 1.0
TARGET_UPDATE_SECONDS = 2.0


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of `bench views`."""
    parser.add_argument("--runs", type=int, default=7, help="runs (default: %(default)s, at least 5)")
    parser.add_argument("--size", type=int, default=128, help="voxels per side of the study (default: %(default)s)")
    parser.add_argument("--no-scene", action="store_true", help="leave out the Slicer scene update")
    parser.set_defaults(func=run)


def _study(size: int):
    """The bundled study and its wall mask resampled onto a size^3 isotropic grid over the same field of view."""
    import numpy as np
    import SimpleITK as sitk

    from SPECTFewShotLib.io.segmentation_io import read_segmentation
    from SPECTFewShotLib.io.volume_io import read_volume
    from SPECTFewShotLib.resources import sample_study
    from SPECTFewShotLib.volume import Volume

    image_path, mask_path = sample_study()
    image, mask = read_volume(image_path), read_segmentation(mask_path).labels
    extent = max(np.asarray(image.size) * np.asarray(image.spacing))
    spacing = extent / size
    reference = sitk.Image([size] * 3, sitk.sitkFloat32)
    reference.SetSpacing([spacing] * 3)
    centre = image.index_to_lps((np.asarray(image.size) - 1) / 2.0)
    direction = image.direction_matrix
    reference.SetDirection(image.direction)
    reference.SetOrigin(tuple(centre - direction @ np.full(3, (size - 1) * spacing / 2.0)))
    resampled = sitk.Resample(image.to_sitk(), reference, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    labels = sitk.Resample(mask.with_array(mask.array.astype(np.uint8)).to_sitk(), reference, sitk.Transform(),
                           sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return Volume.from_sitk(resampled, "NM", "counts"), Volume.from_sitk(labels)


def run(args: argparse.Namespace) -> int:
    """Time the library path, then the scene update; print medians."""
    import tempfile
    from pathlib import Path

    from SPECTFewShotLib.cardiac_landmarks import lv_landmarks
    from SPECTFewShotLib.cardiac_views.analysis import analyze
    from SPECTFewShotLib.cardiac_views.polar_figure import render_polar_figure, write_png
    from SPECTFewShotLib.errors import InputError

    if args.runs < 5:
        raise InputError("--runs must be at least 5 (medians of at least 5 runs)")
    if not 32 <= args.size <= 256:
        raise InputError("--size must be between 32 and 256")
    volume, mask = _study(args.size)
    wall = mask.array > 0
    landmarks = lv_landmarks(mask)
    analyze(volume, wall, landmarks)  # warm-up (imports, first allocations)
    times, figure_times = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        result = analyze(volume, wall, landmarks)
        times.append(time.perf_counter() - started)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            write_png(render_polar_figure(result.polar_map), Path(folder) / "polar_map.png")
        figure_times.append(time.perf_counter() - started)
    shape = " x ".join(map(str, volume.size))
    median = statistics.median(times)
    print(f"bench views: bundled study resampled to {shape} voxels of {volume.spacing[0]:.2f} mm, {args.runs} runs")
    print(f"frame + SA/VLA/HLA ({' x '.join(map(str, result.views.short_axis.size))} voxels) + polar map: "
          f"median {median:.3f} s (min {min(times):.3f}, max {max(times):.3f}) "
          f"{'meets' if median <= TARGET_SECONDS else 'misses'} the {TARGET_SECONDS:g} s target")
    print(f"figure (render + PNG): median {statistics.median(figure_times):.3f} s")
    if not args.no_scene:
        _bench_scene(volume, mask, landmarks, args.runs)
    return 0


def _bench_scene(volume, mask, landmarks, runs: int) -> None:
    """Move one end of the axis line in a headless scene; time until the views and the polar map follow."""
    import numpy as np

    from SPECTFewShotLib import mrml
    from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for
    from SPECTFewShotLib.mrml.cardiac_view_nodes import CardiacViewsLogic

    scene = mrml.new_scene()
    volume_node = mrml.volume_to_node(volume, scene, "study")
    segmentation = Segmentation(mask.with_array((mask.array > 0).astype(np.int32) * 7),
                                segments_for([7], {7: "LV_myocardium"}))
    segmentation_node = mrml.segmentation_to_node(segmentation, scene, "wall")
    landmarks_node = mrml.landmarks_to_node(landmarks, scene, "landmarks")
    logic = CardiacViewsLogic(scene)
    logic.setup(volume_node, segmentation_node, landmarks_node)
    logic.observe_axis_line()
    line = logic.nodes.axis_line
    times = []
    for run in range(runs):
        position = [0.0, 0.0, 0.0]
        line.GetNthControlPointPositionWorld(1, position)
        position[0] += 4.0 if run % 2 == 0 else -4.0
        started = time.perf_counter()
        line.SetNthControlPointPositionWorld(1, position)
        logic.flush()
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    print(f"Slicer scene (slicer-core, headless): axis line moved -> 3 view volumes, polar-map image and segment "
          f"table updated: median {median:.3f} s (max {max(times):.3f}) "
          f"{'meets' if median <= TARGET_UPDATE_SECONDS else 'misses'} the {TARGET_UPDATE_SECONDS:g} s target")
