"""The LV long axis as a line markup node (base centre to apex), its length and angles in the description."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..landmarks.long_axis import AXIS_NAME, LongAxis
from .markups import rewritten_markups

if TYPE_CHECKING:  # Slicer's classes, for readers and type checkers; never imported at run time
    from slicer import vtkMRMLScene


def long_axis_to_node(axis: LongAxis, scene: vtkMRMLScene, name: str = AXIS_NAME, node: Any = None) -> Any:
    """Write the long axis into a line markup node (a new one unless `node` is given): two control points,
    LV_base then LV_apex (RAS world positions), the length and angles in the node's description."""
    with rewritten_markups(scene, node, "vtkMRMLMarkupsLineNode", name) as node:
        for label, (x, y, z) in (("LV_base", axis.base_lps), ("LV_apex", axis.apex_lps)):
            node.AddControlPoint(-float(x), -float(y), float(z), label)
    node.SetDescription(axis.description())  # after the modification: the line's measurement update rewrites it
    return node
