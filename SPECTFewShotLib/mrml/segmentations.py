"""Segmentation nodes <-> the library's `Segmentation` on a volume's grid, and the painting a clinician edits."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence

import numpy as np

from ..errors import InputError
from ..io.segmentation_io import Segmentation, SegmentInfo, default_color
from ..vocabulary import tissue_terminology
from .images import oriented_image, padded_to
from .scene import _ijk_to_ras, _node_name, _to_vtk_matrix, slicer_module
from .volumes import _index_to_ras, volume_from_node

if TYPE_CHECKING:  # Slicer's classes, for readers and type checkers; never imported at run time
    from slicer import vtkMRMLScalarVolumeNode, vtkMRMLScene, vtkMRMLSegmentationNode

log = logging.getLogger(__name__)


def segment_infos(segmentation_node: vtkMRMLSegmentationNode) -> list[tuple[str, SegmentInfo]]:
    """(segment ID, SegmentInfo) of every segment, in the node's order; label values 1, 2, ... by that order."""
    segmentation = segmentation_node.GetSegmentation()
    infos = []
    for index in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(index)
        segment = segmentation.GetSegment(segment_id)
        color = tuple(float(c) for c in segment.GetColor())
        infos.append((segment_id, SegmentInfo(index + 1, segment.GetName() or segment_id, color,
                                              segment.GetTerminology() or "")))
    return infos


def segmentation_from_node(segmentation_node: vtkMRMLSegmentationNode, reference_volume_node: vtkMRMLScalarVolumeNode,
                           name: str | None = None) -> Segmentation:
    """The segments of a segmentation node as labels on the reference volume's grid (Slicer's export path).

    `vtkSlicerSegmentationsModuleLogic.GenerateMergedLabelmapInReferenceGeometry` resamples (nearest neighbour)
    through the transform between the two nodes; nothing is added to the scene and the input is not modified.
    Label values follow the segment order (1, 2, ...); only segments with voxels on the grid are listed.
    """
    from vtkmodules.vtkCommonCore import vtkIntArray, vtkStringArray

    from .volumes import volume_from_node

    slicer = slicer_module()
    if segmentation_node is None:
        raise InputError("select a segmentation")
    label = name or f"segmentation '{segmentation_node.GetName() or 'unnamed'}'"
    if reference_volume_node is None or reference_volume_node.GetImageData() is None:
        raise InputError("select a volume that holds image data")
    infos = segment_infos(segmentation_node)
    if not infos:
        raise InputError(f"{label} has no segments")
    ids, values = vtkStringArray(), vtkIntArray()
    for segment_id, info in infos:
        ids.InsertNextValue(segment_id)
        values.InsertNextValue(info.label)
    merged = slicer.vtkOrientedImageData()
    with _binary_labelmap_source(segmentation_node, label) as source:
        slicer.vtkSlicerSegmentationsModuleLogic.GenerateMergedLabelmapInReferenceGeometry(
            source, reference_volume_node, ids, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY, merged, values)
    grid = volume_from_node(reference_volume_node)
    reference = slicer.vtkOrientedImageData()  # the volume's lattice in its own (untransformed) coordinates
    reference.SetExtent(reference_volume_node.GetImageData().GetExtent())
    reference.SetImageToWorldMatrix(_to_vtk_matrix(_ijk_to_ras(reference_volume_node)))
    array = padded_to(merged, reference)
    if array.shape != grid.array.shape:
        raise InputError(f"{label} could not be resampled onto the volume's grid")
    painted = set(np.unique(array).tolist()) - {0}
    return Segmentation(grid.with_array(array), tuple(info for _, info in infos if info.label in painted))


@contextlib.contextmanager
def _binary_labelmap_source(segmentation_node: vtkMRMLSegmentationNode, label: str) -> Iterator[Any]:
    """The node itself when it holds binary labelmaps; otherwise a converted copy under the same transform, in the
    scene only while it is used (the input node stays untouched)."""
    slicer = slicer_module()
    labelmap = slicer.vtkSegmentationConverter.GetSegmentationBinaryLabelmapRepresentationName()
    if segmentation_node.GetSegmentation().ContainsRepresentation(labelmap):
        yield segmentation_node
        return
    scene = segmentation_node.GetScene()
    copy = slicer.vtkMRMLSegmentationNode()
    copy.GetSegmentation().DeepCopy(segmentation_node.GetSegmentation())
    if not copy.GetSegmentation().CreateRepresentation(labelmap):
        raise InputError(f"{label} cannot be converted to a labelmap")
    if scene is None:
        yield copy
        return
    copy.SetHideFromEditors(True)
    copy.SetSaveWithScene(False)
    scene.AddNode(copy)
    try:
        copy.SetAndObserveTransformNodeID(segmentation_node.GetTransformNodeID())
        yield copy
    finally:
        scene.RemoveNode(copy)


def _segment_id(name: str, taken: set[str]) -> str:
    base = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in name) or "segment"
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}_{number}", number + 1
    return candidate


def segmentation_to_node(segmentation: Segmentation, scene: vtkMRMLScene, name: str = "segmentation", node: Any = None,
                         reference_volume_node: Optional[vtkMRMLScalarVolumeNode] = None) -> Any:
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
            if info.terminology_entry():
                segmentation_object.GetSegment(segment_id).SetTerminology(info.terminology_entry())
            mask = oriented_image((labels == info.label).astype(np.uint8), index_to_ras)
            if not slicer.vtkSlicerSegmentationsModuleLogic.SetBinaryLabelmapToSegment(
                    mask, node, segment_id, slicer.vtkSlicerSegmentationsModuleLogic.MODE_REPLACE):
                raise InputError(f"could not write segment '{info.name}'")
    finally:
        node.EndModify(was_modifying)
    return node


def create_painting(scene: vtkMRMLScene, volume_node: vtkMRMLScalarVolumeNode, class_names: Sequence[str],
                    name: str = "") -> Any:
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
        terminology = tissue_terminology(class_name)
        if terminology:
            node.GetSegmentation().GetSegment(segment_id).SetTerminology(terminology)
    return node


def paint_segment(segmentation_node: vtkMRMLSegmentationNode, segment_name: str, mask: np.ndarray,
                  reference_volume_node: vtkMRMLScalarVolumeNode,
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
    image = oriented_image((current | mask.astype(bool)).astype(np.uint8), _index_to_ras(grid))
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
