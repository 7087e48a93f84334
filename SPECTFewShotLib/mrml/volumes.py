"""Scalar volume nodes <-> the library's `Volume` (RAS in MRML, LPS in the library; parent transforms folded in)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from ..volume import Volume
from .scene import _LPS_TO_RAS, _geometry_from_matrix, _ijk_to_ras, _node_name, _to_vtk_matrix, _to_world_matrix

if TYPE_CHECKING:  # Slicer's classes, for readers and type checkers; never imported at run time
    from slicer import vtkMRMLScalarVolumeNode, vtkMRMLScene

log = logging.getLogger(__name__)


def volume_from_node(volume_node: vtkMRMLScalarVolumeNode, name: str | None = None) -> Volume:
    """A scalar volume node as a `Volume` (voxels copied; LPS world geometry, parent transform included)."""
    from vtkmodules.util import numpy_support

    label = name or f"volume '{_node_name(volume_node, 'unnamed')}'"
    if volume_node is None:
        raise InputError("select a volume")
    image = volume_node.GetImageData()
    if image is None or image.GetPointData() is None or image.GetPointData().GetScalars() is None:
        raise InputError(f"{label} holds no image data")
    scalars = image.GetPointData().GetScalars()
    if scalars.GetNumberOfComponents() != 1:
        raise InputError(f"{label} has {scalars.GetNumberOfComponents()} components per voxel; "
                         "SPECTFewShot needs a scalar volume")
    i, j, k = image.GetDimensions()
    if min(i, j, k) < 2:
        raise InputError(f"{label} is not a 3D volume (size {i} x {j} x {k})")
    array = numpy_support.vtk_to_numpy(scalars).reshape(k, j, i).copy()
    if not np.all(np.isfinite(array)):
        raise InputError(f"{label} has voxels that are not numbers (NaN or infinite)")
    extent = image.GetExtent()
    first_voxel = np.array([extent[0], extent[2], extent[4], 1.0])
    index_to_ras = _to_world_matrix(volume_node) @ _ijk_to_ras(volume_node)
    index_to_lps = _LPS_TO_RAS @ index_to_ras
    spacing, _, direction = _geometry_from_matrix(index_to_lps)
    origin = tuple((index_to_lps @ first_voxel)[:3])
    modality = volume_node.GetAttribute("DICOM.Modality") or ""
    return Volume(array, spacing, origin, direction, modality=modality,
                  source={"node": _node_name(volume_node, "")})


def _index_to_ras(volume: Volume) -> np.ndarray:
    return _LPS_TO_RAS @ volume.index_to_lps_matrix


def volume_to_node(volume: Volume, scene: vtkMRMLScene, name: str = "volume", node: Any = None) -> Any:
    """Write a `Volume` into a scalar volume node (a new one unless `node` is given); returns the node."""
    from vtkmodules.util import numpy_support
    from vtkmodules.vtkCommonDataModel import vtkImageData

    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    array = np.ascontiguousarray(volume.array)
    if array.dtype == np.float64 or array.dtype == np.bool_:
        array = array.astype(np.float32)
    image = vtkImageData()
    k, j, i = array.shape
    image.SetDimensions(i, j, k)
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(array.ravel(), deep=True))
    was_modifying = node.StartModify()
    node.SetAndObserveTransformNodeID(None)
    node.SetIJKToRASMatrix(_to_vtk_matrix(_index_to_ras(volume)))
    node.SetAndObserveImageData(image)
    if volume.modality:
        node.SetAttribute("DICOM.Modality", volume.modality)
    node.EndModify(was_modifying)
    if node.GetScene() is not None and node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node
