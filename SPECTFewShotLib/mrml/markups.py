"""Point-list markups nodes <-> the library's landmarks (labels, positions, confidences in the descriptions)."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from ..errors import InputError
from ..io.markups_io import Landmark
from .scene import _node_name, slicer_module

if TYPE_CHECKING:  # Slicer's classes, for readers and type checkers; never imported at run time
    from slicer import vtkMRMLMarkupsFiducialNode, vtkMRMLScene

log = logging.getLogger(__name__)


def landmarks_from_node(markups_node: vtkMRMLMarkupsFiducialNode, name: str | None = None) -> list[Landmark]:
    """The placed control points of a markups node as LPS landmarks (world positions; confidences if stored)."""
    label = name or f"landmarks '{_node_name(markups_node, 'unnamed')}'"
    if markups_node is None:
        raise InputError("select the template landmarks (a point list)")
    count = markups_node.GetNumberOfControlPoints()
    if count == 0:
        raise InputError(f"{label} holds no points: place the landmarks (e.g. LV_apex, LV_base, LV_center) first")
    confidences = _confidence_values(markups_node, count)
    landmarks = []
    for index in range(count):
        point_label = markups_node.GetNthControlPointLabel(index) or f"F-{index + 1}"
        if markups_node.GetNthControlPointPositionStatus(index) != markups_node.PositionDefined:
            raise InputError(f"{label}: point '{point_label}' is not placed")
        ras = [0.0, 0.0, 0.0]
        markups_node.GetNthControlPointPositionWorld(index, ras)
        landmarks.append(Landmark(point_label, (-ras[0], -ras[1], ras[2]),
                                  confidences[index] if confidences else None,
                                  markups_node.GetNthControlPointDescription(index) or ""))
    labels = [landmark.label for landmark in landmarks]
    duplicates = sorted({item for item in labels if labels.count(item) > 1})
    if duplicates:
        raise InputError(f"{label}: several points are named {', '.join(duplicates)}; give each landmark its "
                         "own name")
    return landmarks


def _confidence_values(markups_node: vtkMRMLMarkupsFiducialNode, count: int) -> list[float] | None:
    for index in range(markups_node.GetNumberOfMeasurements()):
        measurement = markups_node.GetNthMeasurement(index)
        if measurement is not None and measurement.GetName() == "confidence":
            values = measurement.GetControlPointValues()
            if values is not None and values.GetNumberOfTuples() == count:
                return [float(values.GetValue(n)) for n in range(count)]
    return None


def landmarks_to_node(landmarks: Sequence[Landmark], scene: vtkMRMLScene, name: str = "landmarks",
                      node: Any = None) -> Any:
    """Write LPS landmarks into a point list node (a new one unless `node` is given), confidences included."""
    from vtkmodules.vtkCommonCore import vtkDoubleArray

    slicer = slicer_module()
    with rewritten_markups(scene, node, "vtkMRMLMarkupsFiducialNode", name) as node:
        for index in reversed(range(node.GetNumberOfMeasurements())):
            measurement = node.GetNthMeasurement(index)
            if measurement is not None and measurement.GetName() == "confidence":
                node.RemoveNthMeasurement(index)
        for landmark in landmarks:
            x, y, z = (float(v) for v in landmark.position_lps)
            index = node.AddControlPoint(-x, -y, z, landmark.label)
            description = landmark.description
            if landmark.confidence is not None and not description:
                description = f"confidence {landmark.confidence:.2f}"
            node.SetNthControlPointDescription(index, description)
        if landmarks and all(landmark.confidence is not None for landmark in landmarks):
            values = vtkDoubleArray()
            for landmark in landmarks:
                values.InsertNextValue(float(landmark.confidence))
            measurement = slicer.vtkMRMLStaticMeasurement()
            measurement.SetName("confidence")
            measurement.SetControlPointValues(values)
            node.AddMeasurement(measurement)
    return node


@contextlib.contextmanager
def rewritten_markups(scene: vtkMRMLScene, node: Any, class_name: str, name: str) -> Iterator[Any]:
    """A markups node to write anew (a new one of `class_name` unless `node` is given): display nodes made, parent
    transform and control points removed, modification events held until the block ends."""
    if node is None:
        node = scene.AddNewNodeByClass(class_name, name)
    if node.GetDisplayNode() is None and node.GetScene() is not None:
        node.CreateDefaultDisplayNodes()
    was_modifying = node.StartModify()
    try:
        node.SetAndObserveTransformNodeID(None)
        node.RemoveAllControlPoints()
        yield node
    finally:
        node.EndModify(was_modifying)
