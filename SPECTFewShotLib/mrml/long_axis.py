"""The LV long axis as a line markup node (base centre to apex), its length and angles in the description."""

from __future__ import annotations

from typing import Any

from ..landmarks.long_axis import AXIS_NAME, LongAxis


def long_axis_to_node(axis: LongAxis, scene: Any, name: str = AXIS_NAME, node: Any = None) -> Any:
    """Write the long axis into a line markup node (a new one unless `node` is given): two control points,
    LV_base then LV_apex (RAS world positions), the length and angles in the node's description."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLMarkupsLineNode", name)
    if node.GetDisplayNode() is None and node.GetScene() is not None:
        node.CreateDefaultDisplayNodes()
    was_modifying = node.StartModify()
    try:
        node.SetAndObserveTransformNodeID(None)
        node.RemoveAllControlPoints()
        for label, (x, y, z) in (("LV_base", axis.base_lps), ("LV_apex", axis.apex_lps)):
            node.AddControlPoint(-float(x), -float(y), float(z), label)
    finally:
        node.EndModify(was_modifying)
    node.SetDescription(axis.description())  # after the modification: the line's measurement update rewrites it
    return node
