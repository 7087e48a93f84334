"""Table nodes holding the measurements (volumes, counts, distances) of a classification or of landmarks."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import InputError
from ..measurements import Measurement
from .scene import _node_name

if TYPE_CHECKING:  # Slicer's classes, for readers and type checkers; never imported at run time
    from slicer import vtkMRMLScene, vtkMRMLTableNode

log = logging.getLogger(__name__)


def measurements_to_table(measurements: Sequence[Measurement], scene: vtkMRMLScene, name: str = "measurements",
                          node: Any = None) -> Any:
    """Write measurements into a table node (columns Measurement, Value, Unit), replacing its content."""
    from vtkmodules.vtkCommonCore import vtkDoubleArray, vtkStringArray

    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    names, values, units = vtkStringArray(), vtkDoubleArray(), vtkStringArray()
    names.SetName("Measurement")
    values.SetName("Value")
    units.SetName("Unit")
    for item in measurements:
        names.InsertNextValue(item.name)
        values.InsertNextValue(float(item.value))
        units.InsertNextValue(item.unit)
    was_modifying = node.StartModify()
    try:
        node.RemoveAllColumns()
        for column in (names, values, units):
            node.AddColumn(column)
    finally:
        node.EndModify(was_modifying)
    return node


def table_rows(table_node: vtkMRMLTableNode) -> list[tuple[str, float, str]]:
    """The (measurement, value, unit) rows of a table written by `measurements_to_table`."""
    table = table_node.GetTable()
    names, values, units = (table.GetColumnByName(column) for column in ("Measurement", "Value", "Unit"))
    if names is None or values is None or units is None:
        raise InputError(f"table '{_node_name(table_node, 'unnamed')}' is not a SPECTFewShot measurement table")
    return [(names.GetValue(n), float(values.GetValue(n)), units.GetValue(n)) for n in range(table.GetNumberOfRows())]
