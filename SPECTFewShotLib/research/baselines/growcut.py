"""Slicer's "Grow from seeds" (GrowCut, vtkImageGrowCutSegment from slicer-core): the baseline every
classification is compared with on the same paint."""

from __future__ import annotations

import numpy as np

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.mrml import image_data, slicer_module
from SPECTFewShotLib.volume import Volume


def grow_from_seeds(volume: Volume, seeds: np.ndarray, seed_locality: float = 0.0,
                    extent_growth: float | None = None) -> np.ndarray:
    """Slicer's "Grow from seeds" (vtkImageGrowCutSegment): seed labels [k, j, i] -> full labels.

    By default it grows over the whole volume (how the reference GrowCut numbers in METHODS were measured).
    With `extent_growth` (the Segment Editor effect uses 0.1) it works, like the effect, in the bounding box of
    the seeds grown by that fraction per side, and voxels outside stay 0. `seed_locality` is the effect's
    "Seed locality" (0 = none).
    """
    from vtkmodules.util import numpy_support
    from vtkmodules.util.vtkConstants import VTK_FLOAT, VTK_SHORT

    slicer = slicer_module()
    seeds = np.asarray(seeds)
    if seeds.shape != volume.array.shape:
        raise InputError("the seeds are not on the volume's grid")
    if len(np.unique(seeds[seeds != 0])) < 2:
        raise InputError("Grow from seeds needs at least two painted classes")
    box = (slice(None),) * 3
    if extent_growth is not None:
        where = np.nonzero(seeds)
        lo = np.array([w.min() for w in where])
        hi = np.array([w.max() for w in where])
        margin = np.ceil((hi - lo + 1) * extent_growth).astype(int)
        lo = np.maximum(lo - margin, 0)
        hi = np.minimum(hi + margin, np.array(seeds.shape) - 1)
        box = tuple(slice(a, b + 1) for a, b in zip(lo, hi))
    grow = slicer.vtkImageGrowCutSegment()
    grow.SetIntensityVolume(image_data(volume.array[box].astype(np.float32), VTK_FLOAT))
    grow.SetSeedLabelVolume(image_data(seeds[box].astype(np.int16), VTK_SHORT))
    grow.SetDistancePenalty(float(seed_locality))
    grow.Update()
    out = numpy_support.vtk_to_numpy(grow.GetOutput().GetPointData().GetScalars())
    labels = np.zeros(seeds.shape, dtype=np.int32)
    labels[box] = out.reshape(seeds[box].shape)
    return labels
