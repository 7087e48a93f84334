"""Segmentation nodes <-> the library's `Segmentation` on a volume's grid, and the painting a clinician edits."""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..io.segmentation_io import Segmentation, SegmentInfo, default_color
from .scene import _BINARY_LABELMAP, _ijk_to_ras, _node_name, _to_vtk_matrix, slicer_module
from .volumes import _index_to_ras, volume_from_node

log = logging.getLogger(__name__)


def _oriented_image(array: np.ndarray, index_to_ras: np.ndarray, extent_start: Sequence[int] = (0, 0, 0)):
    """A vtkOrientedImageData holding a [k, j, i] array with the given IJK-to-RAS geometry."""
    from vtkmodules.util import numpy_support

    slicer = slicer_module()
    image = slicer.vtkOrientedImageData()
    k, j, i = array.shape
    a, b, c = (int(v) for v in extent_start)
    image.SetExtent(a, a + i - 1, b, b + j - 1, c, c + k - 1)
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(np.ascontiguousarray(array).ravel(), deep=True))
    image.SetImageToWorldMatrix(_to_vtk_matrix(index_to_ras))
    return image


def _oriented_array(image: Any) -> np.ndarray:
    from vtkmodules.util import numpy_support

    e = image.GetExtent()
    shape = (e[5] - e[4] + 1, e[3] - e[2] + 1, e[1] - e[0] + 1)
    return numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(shape).copy()


def segment_infos(segmentation_node: Any) -> list[tuple[str, SegmentInfo]]:
    """(segment ID, SegmentInfo) of every segment, in the node's order; label values 1, 2, ... by that order."""
    segmentation = segmentation_node.GetSegmentation()
    infos = []
    for index in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(index)
        segment = segmentation.GetSegment(segment_id)
        color = tuple(float(c) for c in segment.GetColor())
        infos.append((segment_id, SegmentInfo(index + 1, segment.GetName() or segment_id, color)))
    return infos


def segmentation_from_node(segmentation_node: Any, reference_volume_node: Any,
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
    array = _oriented_array(merged).astype(np.int32)
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


def _segment_id(name: str, taken: set[str]) -> str:
    base = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in name) or "segment"
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}_{number}", number + 1
    return candidate


def segmentation_to_node(segmentation: Segmentation, scene: Any, name: str = "segmentation", node: Any = None,
                         reference_volume_node: Any = None) -> Any:
    """Write labels with their names and colors into a segmentation node (a new one unless `node` is given).

    An existing node keeps the segments whose names reappear (updated in place, so their display settings
    survive a live update); its other segments are removed. Segment IDs are the sanitized names.
    """
    slicer = slicer_module()
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    if node.GetDisplayNode() is None and node.GetScene() is not None:
        node.CreateDefaultDisplayNodes()
    node.SetAndObserveTransformNodeID(None)
    segmentation_object = node.GetSegmentation()
    was_modifying = node.StartModify()
    try:
        node.SetSourceRepresentationToBinaryLabelmap()
        if reference_volume_node is not None and reference_volume_node.GetParentTransformNode() is None:
            node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume_node)
        existing = {segmentation_object.GetSegment(segmentation_object.GetNthSegmentID(n)).GetName():
                    segmentation_object.GetNthSegmentID(n) for n in range(segmentation_object.GetNumberOfSegments())}
        wanted = {info.name for info in segmentation.segments}
        for segment_name, segment_id in existing.items():
            if segment_name not in wanted:
                segmentation_object.RemoveSegment(segment_id)
        index_to_ras = _index_to_ras(segmentation.labels)
        labels = segmentation.labels.array
        taken = {segmentation_object.GetNthSegmentID(n) for n in range(segmentation_object.GetNumberOfSegments())}
        for info in segmentation.segments:
            segment_id = existing.get(info.name)
            if segment_id is None:
                segment_id = _segment_id(info.name, taken)
                taken.add(segment_id)
                segmentation_object.AddEmptySegment(segment_id, info.name, list(info.color))
            else:
                segmentation_object.GetSegment(segment_id).SetColor(*info.color)
            mask = _oriented_image((labels == info.label).astype(np.uint8), index_to_ras)
            if not slicer.vtkSlicerSegmentationsModuleLogic.SetBinaryLabelmapToSegment(
                    mask, node, segment_id, slicer.vtkSlicerSegmentationsModuleLogic.MODE_REPLACE):
                raise InputError(f"could not write segment '{info.name}'")
    finally:
        node.EndModify(was_modifying)
    return node


def create_painting(scene: Any, volume_node: Any, class_names: Sequence[str], name: str = "") -> Any:
    """A new segmentation node to paint on the volume, with one empty segment per class (project colors)."""
    slicer_module()
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode",
                                   name or f"{_node_name(volume_node, 'volume')} painting")
    node.CreateDefaultDisplayNodes()
    node.SetSourceRepresentationToBinaryLabelmap()
    if volume_node is not None:
        node.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
    taken: set[str] = set()
    for number, class_name in enumerate(class_names, start=1):
        segment_id = _segment_id(class_name, taken)
        taken.add(segment_id)
        node.GetSegmentation().AddEmptySegment(segment_id, class_name, list(default_color(class_name, number)))
    return node


def paint_segment(segmentation_node: Any, segment_name: str, mask: np.ndarray, reference_volume_node: Any,
                  color: Sequence[float] | None = None) -> str:
    """Add voxels ([k, j, i] mask on the reference volume's grid) to a segment, as a paint stroke would.

    Like the Segment Editor's default, painted voxels leave the other segments. Returns the segment ID.
    """
    slicer = slicer_module()
    segmentation_object = segmentation_node.GetSegmentation()
    grid = volume_from_node(reference_volume_node)
    if mask.shape != grid.array.shape:
        raise InputError("the stroke is not on the volume's grid")
    segment_id = segmentation_object.GetSegmentIdBySegmentName(segment_name)
    current = np.zeros(mask.shape, dtype=bool)
    if segment_id:
        painted = segmentation_from_node(segmentation_node, reference_volume_node)
        value = next(info.label for sid, info in segment_infos(segmentation_node) if sid == segment_id)
        current = painted.labels.array == value
    else:
        taken = {segmentation_object.GetNthSegmentID(n) for n in range(segmentation_object.GetNumberOfSegments())}
        segment_id = _segment_id(segment_name, taken)
        segmentation_object.AddEmptySegment(segment_id, segment_name, list(color) if color else [0.5, 0.5, 0.5])
    image = _oriented_image((current | mask.astype(bool)).astype(np.uint8), _index_to_ras(grid))
    if not slicer.vtkSlicerSegmentationsModuleLogic.SetBinaryLabelmapToSegment(
            image, segmentation_node, segment_id, slicer.vtkSlicerSegmentationsModuleLogic.MODE_REPLACE):
        raise InputError(f"could not paint into segment '{segment_name}'")
    return segment_id


def painting_events() -> list[int]:
    """The events a segmentation node sends when its painted content changes (strokes, segments added/removed)."""
    segmentation = slicer_module().vtkSegmentation
    source_modified = getattr(segmentation, "SourceRepresentationModified", None)
    if source_modified is None:  # Slicer before 5.4
        source_modified = segmentation.MasterRepresentationModified
    return [source_modified, segmentation.SegmentAdded, segmentation.SegmentRemoved, segmentation.SegmentModified]
