"""The hand-written resampling of a segmentation onto a volume's grid (reference geometry into the segmentation's
coordinates, merged labelmap there, back through the inverse transform): the reference the Slicer export path
(`segmentation_from_node`) is proved equal to."""

from __future__ import annotations

from typing import Any

import numpy as np

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.io.segmentation_io import Segmentation
from SPECTFewShotLib.mrml.images import image_array
from SPECTFewShotLib.mrml.scene import _BINARY_LABELMAP, _ijk_to_ras, _node_name, _to_vtk_matrix, slicer_module
from SPECTFewShotLib.mrml.segmentations import segment_infos
from SPECTFewShotLib.mrml.volumes import volume_from_node


def hand_written_segmentation_on_grid(segmentation_node: Any, reference_volume_node: Any,
                           name: str | None = None) -> Segmentation:
    """The segments of a segmentation node as labels on the reference volume's grid (resampled if needed).

    Does what Slicer's "export to labelmap with a reference volume" does (reference geometry brought into the
    segmentation's coordinate system, merged labelmap generated there with nearest-neighbour resampling, brought
    back through the transform between the nodes) without adding nodes to the scene or touching the input node.
    Label values follow the segment order (1, 2, ...); only segments with painted voxels on the grid are listed.
    """
    from vtkmodules.vtkCommonCore import vtkIntArray, vtkStringArray
    from vtkmodules.vtkCommonTransforms import vtkGeneralTransform

    slicer = slicer_module()
    label = name or f"segmentation '{_node_name(segmentation_node, 'unnamed')}'"
    if segmentation_node is None:
        raise InputError("select a segmentation")
    if reference_volume_node is None or reference_volume_node.GetImageData() is None:
        raise InputError("select a volume that holds image data")
    infos = segment_infos(segmentation_node)
    if not infos:
        raise InputError(f"{label} has no segments")
    image = reference_volume_node.GetImageData()
    reference = slicer.vtkOrientedImageData()
    reference.SetExtent(image.GetExtent())
    reference.SetImageToWorldMatrix(_to_vtk_matrix(_ijk_to_ras(reference_volume_node)))

    source = _binary_labelmap_source(segmentation_node)
    reference_in_segmentation = reference
    to_segmentation = None
    if reference_volume_node.GetParentTransformNode() is not segmentation_node.GetParentTransformNode():
        to_segmentation = vtkGeneralTransform()
        slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(
            reference_volume_node.GetParentTransformNode(), segmentation_node.GetParentTransformNode(),
            to_segmentation)
        reference_in_segmentation = slicer.vtkOrientedImageData()
        reference_in_segmentation.DeepCopy(reference)
        slicer.vtkOrientedImageDataResample.TransformOrientedImage(reference_in_segmentation, to_segmentation, True)

    ids = vtkStringArray()
    values = vtkIntArray()
    for segment_id, info in infos:
        ids.InsertNextValue(segment_id)
        values.InsertNextValue(info.label)
    merged = slicer.vtkOrientedImageData()
    if not source.GenerateMergedLabelmapForAllSegments(merged, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY,
                                                       reference_in_segmentation, ids, values):
        raise InputError(f"{label} could not be resampled onto the volume's grid")
    if to_segmentation is not None:
        back = slicer.vtkOrientedImageData()
        inverse = to_segmentation.GetInverse()
        inverse.Update()
        slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(
            merged, reference, back, False, False, inverse)
        merged = back
    array = image_array(merged).astype(np.int32)
    grid = volume_from_node(reference_volume_node)
    if array.shape != grid.array.shape:
        raise InputError(f"{label} could not be resampled onto the volume's grid")
    painted = set(np.unique(array).tolist()) - {0}
    segments = tuple(info for _, info in infos if info.label in painted)
    return Segmentation(grid.with_array(array), segments)


def _binary_labelmap_source(segmentation_node: Any) -> Any:
    """The node itself when it holds binary labelmaps; otherwise a converted copy (the input stays untouched)."""
    slicer = slicer_module()
    segmentation = segmentation_node.GetSegmentation()
    if segmentation.ContainsRepresentation(_BINARY_LABELMAP):
        return segmentation_node
    copy = slicer.vtkMRMLSegmentationNode()
    copy.GetSegmentation().DeepCopy(segmentation)
    if not copy.GetSegmentation().CreateRepresentation(_BINARY_LABELMAP):
        raise InputError(f"segmentation '{_node_name(segmentation_node, 'unnamed')}' cannot be converted to a "
                         "labelmap")
    return copy


