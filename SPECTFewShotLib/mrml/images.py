"""Oriented images (vtkOrientedImageData: the Segment Editor's and the segmentations' voxels) as numpy arrays."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import InputError
from ..volume import Volume
from .scene import _LPS_TO_RAS, _from_vtk_matrix, _to_vtk_matrix, slicer_module

if TYPE_CHECKING:  # Slicer's classes, for readers and type checkers; never imported at run time
    from vtkSegmentationCore import vtkOrientedImageData


def image_to_world(image: vtkOrientedImageData) -> np.ndarray:
    """The image's index-to-world (RAS) matrix as a numpy array."""
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    matrix = vtkMatrix4x4()
    image.GetImageToWorldMatrix(matrix)
    return _from_vtk_matrix(matrix)


def image_array(image: vtkOrientedImageData) -> np.ndarray:
    """The voxels of a (oriented) image as a [k, j, i] array (a copy)."""
    from vtkmodules.util import numpy_support

    e = image.GetExtent()
    shape = (e[5] - e[4] + 1, e[3] - e[2] + 1, e[1] - e[0] + 1)
    if min(shape) < 1 or image.GetPointData().GetScalars() is None:
        return np.zeros((max(shape[0], 0), max(shape[1], 0), max(shape[2], 0)), dtype=np.uint8)
    return numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(shape).copy()


def oriented_image(array: np.ndarray, index_to_ras: np.ndarray, extent_start: Sequence[int] = (0, 0, 0)) -> Any:
    """A vtkOrientedImageData holding a [k, j, i] array with the given IJK-to-RAS geometry and extent start."""
    from vtkmodules.util import numpy_support

    image = slicer_module().vtkOrientedImageData()
    k, j, i = array.shape
    a, b, c = (int(v) for v in extent_start)
    image.SetExtent(a, a + i - 1, b, b + j - 1, c, c + k - 1)
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(np.ascontiguousarray(array).ravel(), deep=True))
    image.SetImageToWorldMatrix(_to_vtk_matrix(index_to_ras))
    return image


def oriented_image_like(array: np.ndarray, like: Any) -> Any:
    """A vtkOrientedImageData holding a [k, j, i] array with the extent and geometry of `like`."""
    return oriented_image(array, image_to_world(like), like.GetExtent()[::2])


def volume_from_image(image: vtkOrientedImageData) -> Volume:
    """An oriented image (the Segment Editor's aligned source volume) as a `Volume` in LPS."""
    array = image_array(image)
    index_to_lps = _LPS_TO_RAS @ image_to_world(image)
    linear = index_to_lps[:3, :3]
    spacing = np.linalg.norm(linear, axis=0)
    if array.ndim != 3 or min(array.shape) < 2 or np.any(spacing <= 0):
        raise InputError("the source volume is not a 3D volume")
    extent = image.GetExtent()
    origin = index_to_lps @ np.array([extent[0], extent[2], extent[4], 1.0])
    direction = (linear / spacing[None, :]).ravel()
    return Volume(array, tuple(spacing), tuple(origin[:3]), tuple(direction))


def padded_to(seeds: Any, reference: Any) -> np.ndarray:
    """The seed labels placed in the reference's extent (same lattice; seeds outside it are dropped)."""
    r = reference.GetExtent()
    out = np.zeros((r[5] - r[4] + 1, r[3] - r[2] + 1, r[1] - r[0] + 1), dtype=np.int32)
    if seeds is None:
        return out
    s = seeds.GetExtent()
    lo = [max(r[2 * a], s[2 * a]) for a in range(3)]
    hi = [min(r[2 * a + 1], s[2 * a + 1]) for a in range(3)]
    if any(low > high for low, high in zip(lo, hi)) or any(s[2 * a] > s[2 * a + 1] for a in range(3)):
        return out
    if not np.allclose(image_to_world(seeds), image_to_world(reference), atol=1e-4):
        raise InputError("the painted segments are not on the source volume's grid")
    values = image_array(seeds)
    source = tuple(slice(lo[a] - s[2 * a], hi[a] - s[2 * a] + 1) for a in (2, 1, 0))
    target = tuple(slice(lo[a] - r[2 * a], hi[a] - r[2 * a] + 1) for a in (2, 1, 0))
    out[target] = values[source]
    return out
