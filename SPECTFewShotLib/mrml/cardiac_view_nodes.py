"""Cardiac views in the scene: the LV axis as a line markup the user can move, the SA / VLA / HLA volumes, the
polar-map figure as an RGB volume and the 17 segments in a table; the views follow when the line moves.

The axis line is the localiser's LV long-axis line markup: two control points, LV_base then LV_apex (world
RAS). The RV insertion points, when the landmarks have them, keep fixing the septum after the line moves (they
are projected onto the new short-axis plane). `CardiacViewsLogic` reads the study and the wall once; a moved line
costs one frame, one resampling and one polar map (well under a second on a clinical study). Slice views can be
turned to show the three views in their display convention (`orient_slice_node`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import numpy as np

from ..cardiac_views.analysis import CardiacAnalysis, analyze, myocardium_mask
from ..cardiac_views.frame import INSERTION_ANGLES_DEG, CardiacFrame, frame_from_landmarks, frame_from_points
from ..cardiac_views.polar_figure import render_polar_figure
from ..cardiac_views.polar_map import CSV_COLUMNS, PolarMap, PolarMapSettings
from ..cardiac_views.reorientation import VIEW_TITLES, VIEWS, CardiacViews, slice_to_ras
from ..errors import InputError
from ..io.markups_io import Landmark
from ..landmarks.long_axis import AXIS_NAME, LongAxis
from .long_axis_line import long_axis_to_node
from .markups import landmarks_from_node
from .scene import _node_name, _to_vtk_matrix
from .segmentations import segmentation_from_node
from .volumes import volume_from_node, volume_to_node

if TYPE_CHECKING:  # Slicer's classes, for readers and type checkers; never imported at run time
    from slicer import (
        vtkMRMLLayoutNode,
        vtkMRMLMarkupsFiducialNode,
        vtkMRMLMarkupsLineNode,
        vtkMRMLScalarVolumeNode,
        vtkMRMLScene,
        vtkMRMLSegmentationNode,
        vtkMRMLSliceNode,
        vtkMRMLTableNode,
    )

    from .scene_logic import SceneLogic

log = logging.getLogger(__name__)

SLICE_VIEW_OF = {"short_axis": "Red", "vertical_long_axis": "Yellow", "horizontal_long_axis": "Green"}
POLAR_MAP_VIEW = "PolarMap"
CARDIAC_LAYOUT_ID = 2701  # a free custom layout id (Slicer's own layouts stay below 1000)
_VIEW = ('<item><view class="vtkMRMLSliceNode" singletontag="{tag}"><property name="orientation" action="default">'
         'Axial</property><property name="viewlabel" action="default">{label}</property><property name="viewcolor" '
         'action="default">{colour}</property></view></item>')
CARDIAC_LAYOUT_XML = (
    '<layout type="vertical" split="true"><item><layout type="horizontal">'
    + _VIEW.format(tag="Red", label="SA", colour="#F34A33")
    + _VIEW.format(tag="Yellow", label="VLA", colour="#EDD54C")
    + _VIEW.format(tag="Green", label="HLA", colour="#6EB04B")
    + '</layout></item><item><layout type="horizontal">'
    + _VIEW.format(tag=POLAR_MAP_VIEW, label="P", colour="#8C8C8C")
    + '<item><view class="vtkMRMLTableViewNode" singletontag="TableView1"><property name="viewlabel" '
      'action="default">T</property></view></item></layout></item></layout>')
_LPS_TO_RAS = np.array([-1.0, -1.0, 1.0])


@dataclass
class CardiacViewNodes:
    """The nodes the cardiac views live in (created on first use, then updated in place)."""

    axis_line: Any = None
    short_axis: Any = None
    vertical_long_axis: Any = None
    horizontal_long_axis: Any = None
    polar_map_image: Any = None
    segment_table: Any = None


def axis_line_to_node(frame: CardiacFrame, scene: vtkMRMLScene, node: Any = None, name: str = AXIS_NAME) -> Any:
    """Write the frame's axis into the LV long-axis line markup (points LV_base then LV_apex, as the localiser
    writes it)."""
    return long_axis_to_node(LongAxis(tuple(frame.base), tuple(frame.apex)), scene, name, node)


def frame_from_line(line_node: vtkMRMLMarkupsLineNode, insertions: Optional[dict[str,
                    Sequence[float]]] = None) -> CardiacFrame:
    """The cardiac frame of the LV long-axis line (points labelled LV_base and LV_apex; unlabelled, the line runs
    from the base to the apex as the localiser writes it; world positions)."""
    if line_node is None or line_node.GetNumberOfControlPoints() < 2:
        raise InputError("place the LV long axis: a line from the centre of the base to the apex")
    labels = [line_node.GetNthControlPointLabel(index) for index in range(2)]
    order = [labels.index("LV_base"), labels.index("LV_apex")] if {"LV_base", "LV_apex"} == set(labels) else [0, 1]
    points = []
    for index in order:
        ras = [0.0, 0.0, 0.0]
        line_node.GetNthControlPointPositionWorld(index, ras)
        points.append(np.asarray(ras) * _LPS_TO_RAS)
    base, apex = points
    return frame_from_points(apex, base, insertions)


def views_to_nodes(views: CardiacViews, scene: vtkMRMLScene, nodes: CardiacViewNodes, prefix: str = "") -> None:
    """Write the SA, VLA and HLA volumes into the nodes' volume nodes (new ones the first time)."""
    for name, volume in views.items():
        node = volume_to_node(volume, scene, f"{prefix}{VIEW_TITLES[name]}", getattr(nodes, name))
        setattr(nodes, name, node)


def polar_map_to_image_node(polar_map: PolarMap, scene: vtkMRMLScene, node: Any = None, name: str = "polar map",
                            title: str = "") -> Any:
    """The polar-map figure as an RGB vector volume (one slice, 1 mm pixels, upright in an axial slice view)."""
    from vtkmodules.util import numpy_support
    from vtkmodules.vtkCommonDataModel import vtkImageData

    rgb = render_polar_figure(polar_map, title)
    height, width = rgb.shape[:2]
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", name)
    image = vtkImageData()
    image.SetDimensions(width, height, 1)
    scalars = numpy_support.numpy_to_vtk(np.ascontiguousarray(rgb).reshape(-1, 3), deep=True)
    scalars.SetName("RGB")
    image.GetPointData().SetScalars(scalars)
    # i -> patient left (screen right), j -> posterior (screen down) in an axial view of RAS
    matrix = np.diag([-1.0, -1.0, 1.0, 1.0])
    was_modifying = node.StartModify()
    node.SetIJKToRASMatrix(_to_vtk_matrix(matrix))
    node.SetAndObserveImageData(image)
    node.EndModify(was_modifying)
    if node.GetScene() is not None and node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node


def segments_to_table(polar_map: PolarMap, scene: vtkMRMLScene, node: Any = None, name: str = "AHA segments") -> Any:
    """The 17 segments in a table node with the CSV's columns: segment, name, uptake_percent, reduced (0/1)."""
    from vtkmodules.vtkCommonCore import vtkDoubleArray, vtkIntArray, vtkStringArray

    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    number, names, uptake, reduced = vtkIntArray(), vtkStringArray(), vtkDoubleArray(), vtkIntArray()
    for array, column in zip((number, names, uptake, reduced), CSV_COLUMNS):
        array.SetName(column)
    for segment in polar_map.segments:
        number.InsertNextValue(segment.number)
        names.InsertNextValue(segment.name)
        uptake.InsertNextValue(round(float(segment.uptake_percent), 1))
        reduced.InsertNextValue(int(segment.reduced))
    was_modifying = node.StartModify()
    try:
        node.RemoveAllColumns()
        for array in (number, names, uptake, reduced):
            node.AddColumn(array)
    finally:
        node.EndModify(was_modifying)
    return node


def segment_table_rows(table_node: vtkMRMLTableNode) -> list[tuple[int, str, float, int]]:
    """The (segment, name, uptake_percent, reduced) rows of a table written by `segments_to_table`."""
    table = table_node.GetTable()
    columns = [table.GetColumnByName(column) for column in CSV_COLUMNS]
    if any(column is None for column in columns):
        raise InputError(f"table '{_node_name(table_node, 'unnamed')}' is not an AHA segment table")
    return [(int(columns[0].GetValue(n)), columns[1].GetValue(n), float(columns[2].GetValue(n)),
             int(columns[3].GetValue(n))) for n in range(table.GetNumberOfRows())]


def orient_slice_node(slice_node: vtkMRMLSliceNode, frame: CardiacFrame, view: str) -> None:
    """Turn a slice node so it shows `view` (short_axis, vertical_long_axis, horizontal_long_axis) through the
    axis midpoint in the display convention."""
    if view not in VIEWS:
        raise InputError(f"unknown view '{view}'; choose one of {', '.join(VIEWS)}")
    matrix = slice_to_ras(frame, view)
    slice_to_ras_node = slice_node.GetSliceToRAS()
    for row in range(4):
        for column in range(4):
            slice_to_ras_node.SetElement(row, column, float(matrix[row, column]))
    slice_node.UpdateMatrices()


def orient_slice_views(scene: vtkMRMLScene, frame: CardiacFrame) -> list[str]:
    """Turn the Red, Yellow and Green slice views to SA, VLA and HLA (those the scene has); returns their names."""
    turned = []
    for view, layout_name in SLICE_VIEW_OF.items():
        for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceNode")):
            node = scene.GetNthNodeByClass(index, "vtkMRMLSliceNode")
            if node.GetLayoutName() == layout_name:
                orient_slice_node(node, frame, view)
                turned.append(layout_name)
    return turned


def add_cardiac_layout(layout_node: vtkMRMLLayoutNode) -> int:
    """Register the cardiac layout (SA, VLA, HLA on top; polar map and segment table below) with a layout node;
    returns its id for `layout_node.SetViewArrangement`."""
    if not layout_node.IsLayoutDescription(CARDIAC_LAYOUT_ID):
        layout_node.AddLayoutDescription(CARDIAC_LAYOUT_ID, CARDIAC_LAYOUT_XML)
    return CARDIAC_LAYOUT_ID


def show_views(scene: vtkMRMLScene, nodes: CardiacViewNodes, frame: CardiacFrame, fit: bool = True) -> list[str]:
    """Put SA, VLA and HLA in the Red, Yellow and Green slice views (turned to their planes) and the polar-map
    figure in the PolarMap view (fitted to it unless `fit` is False: a moved axis keeps the user's zoom), for the
    views the scene has; returns the layout names it set."""
    volumes = {"Red": nodes.short_axis, "Yellow": nodes.vertical_long_axis, "Green": nodes.horizontal_long_axis,
               POLAR_MAP_VIEW: nodes.polar_map_image}
    shown = []
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode")):
        composite = scene.GetNthNodeByClass(index, "vtkMRMLSliceCompositeNode")
        node = volumes.get(composite.GetLayoutName())
        if node is not None:
            composite.SetBackgroundVolumeID(node.GetID())
            composite.SetForegroundVolumeID(None)
            shown.append(composite.GetLayoutName())
    orient_slice_views(scene, frame)
    if fit:
        fit_polar_map_view(scene, nodes)
    return shown


def fit_slice_to_node(slice_node: vtkMRMLSliceNode, node: Any, margin: float = 1.05) -> None:
    """Centre a slice view on a node's RAS bounds and set its field of view so that the whole node shows (the
    view's aspect kept), as Slicer's `vtkMRMLSliceLogic::FitSliceToVolume` does for the volume it shows."""
    bounds = [0.0] * 6
    node.GetRASBounds(bounds)
    if bounds[0] > bounds[1]:
        return
    size = np.array([bounds[1] - bounds[0], bounds[3] - bounds[2], bounds[5] - bounds[4]])
    centre = np.array([bounds[0] + bounds[1], bounds[2] + bounds[3], bounds[4] + bounds[5]]) / 2.0
    slice_to_ras = slice_node.GetSliceToRAS()
    axes = np.array([[slice_to_ras.GetElement(row, column) for column in range(3)] for row in range(3)])
    extent = np.abs(axes.T) @ size  # the node's extent along the view's x, y and normal
    width, height = (max(1, value) for value in slice_node.GetDimensions()[:2])
    fov_x = max(extent[0], extent[1] * width / height) * margin
    fov_y = fov_x * height / width
    slice_node.SetFieldOfView(float(fov_x), float(fov_y), float(slice_node.GetFieldOfView()[2]))
    for row in range(3):
        slice_to_ras.SetElement(row, 3, float(centre[row]))
    slice_node.UpdateMatrices()


def fit_polar_map_view(scene: vtkMRMLScene, nodes: CardiacViewNodes) -> bool:
    """Fit the PolarMap slice view (when the scene has one) to the polar-map image; returns whether it did."""
    if nodes.polar_map_image is None:
        return False
    fitted = False
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceNode")):
        slice_node = scene.GetNthNodeByClass(index, "vtkMRMLSliceNode")
        if slice_node.GetLayoutName() == POLAR_MAP_VIEW:
            fit_slice_to_node(slice_node, nodes.polar_map_image)
            fitted = True
    return fitted


# While the axis line is dragged the views update at most this often, and once more when it is released.
DRAG_UPDATE_INTERVAL_S = 0.25


class CardiacViewsLogic:
    """Builds and updates the cardiac views of one study in a scene; the views follow the axis line.

    `setup` runs `prepare` (read the nodes: main thread), `compute` (no MRML: any thread) and `write` (the nodes:
    main thread); the Slicer module runs `compute` on its job runner. A second setup reuses the nodes of the first
    that are still in the scene. While the user drags the line the views update at most every
    `drag_interval_s` and once more on release; a line moved by a script updates them at once.
    """

    def __init__(self, scene: vtkMRMLScene, settings: Optional[PolarMapSettings] = None,
                 drag_interval_s: float = DRAG_UPDATE_INTERVAL_S) -> None:
        self.scene = scene
        self.settings = settings or PolarMapSettings()
        self.drag_interval_s = drag_interval_s
        self.nodes = CardiacViewNodes()
        self.result: Optional[CardiacAnalysis] = None
        self.updates = 0  # how many times the views were recomputed
        self._volume = None
        self._wall = None
        self._insertions: dict[str, np.ndarray] = {}
        self._observer: Optional[tuple[Any, list[int]]] = None
        self._after_update: Optional[Callable[[CardiacAnalysis], None]] = None
        self._title = ""
        self._own_axis_line = False
        self._dragging = False
        self._pending = False
        self._last_update = -np.inf

    def setup(self, volume_node: vtkMRMLScalarVolumeNode, segmentation_node: vtkMRMLSegmentationNode,
              landmarks_node: Optional[vtkMRMLMarkupsFiducialNode] = None,
              axis_line_node: Optional[vtkMRMLMarkupsLineNode] = None, label: Optional[str] = None) -> CardiacViewNodes:
        """Read the study, its LV wall (segment LV_myocardium or `label`) and the axis (an existing line, else
        the landmarks' LV_apex -> LV_base); compute and write every output node."""
        self.write(self.compute(self.prepare(volume_node, segmentation_node, landmarks_node, axis_line_node, label)))
        return self.nodes

    def prepare(self, volume_node: vtkMRMLScalarVolumeNode, segmentation_node: vtkMRMLSegmentationNode,
                landmarks_node: Optional[vtkMRMLMarkupsFiducialNode] = None,
                axis_line_node: Optional[vtkMRMLMarkupsLineNode] = None, label: Optional[str] = None) -> CardiacFrame:
        """Read the study, its wall and the axis (main thread); returns the cardiac frame to compute."""
        for field in ("axis_line", "short_axis", "vertical_long_axis", "horizontal_long_axis", "polar_map_image",
                      "segment_table"):
            node = getattr(self.nodes, field)
            if node is not None and node.GetScene() is not self.scene:  # deleted since: write a new one
                setattr(self.nodes, field, None)
        self._volume = volume_from_node(volume_node)
        segmentation = segmentation_from_node(segmentation_node, volume_node)
        self._wall = myocardium_mask(segmentation, label)
        landmarks: list[Landmark] = landmarks_from_node(landmarks_node) if landmarks_node is not None else []
        self._insertions = {lm.label: np.asarray(lm.position_lps) for lm in landmarks
                            if lm.label in INSERTION_ANGLES_DEG}
        self._title = _node_name(volume_node, "")
        if axis_line_node is not None:
            self.nodes.axis_line, self._own_axis_line = axis_line_node, False
            return frame_from_line(axis_line_node, self._insertions or None)
        frame = frame_from_landmarks(landmarks)
        own = self.nodes.axis_line if self._own_axis_line else None
        self.nodes.axis_line, self._own_axis_line = axis_line_to_node(frame, self.scene, own), True
        return frame

    def compute(self, frame: CardiacFrame) -> CardiacAnalysis:
        """The views, the polar map and its segments for a frame (no MRML access: any thread)."""
        if self._volume is None:
            raise InputError("set up the cardiac views first (volume, LV wall and landmarks)")
        return analyze(self._volume, self._wall, [], self.settings, frame=frame)

    def write(self, result: CardiacAnalysis) -> CardiacAnalysis:
        """Write a computed analysis into the output nodes (new ones the first time; main thread)."""
        self.result = result
        views_to_nodes(result.views, self.scene, self.nodes)
        self.nodes.polar_map_image = polar_map_to_image_node(result.polar_map, self.scene,
                                                             self.nodes.polar_map_image, title=self._title)
        self.nodes.segment_table = segments_to_table(result.polar_map, self.scene, self.nodes.segment_table)
        self.updates += 1
        return result

    def update(self) -> CardiacAnalysis:
        """Recompute everything from the axis line as it is now."""
        if self._volume is None:
            raise InputError("set up the cardiac views first (volume, LV wall and landmarks)")
        self._last_update, self._pending = time.perf_counter(), False
        return self.write(self.compute(frame_from_line(self.nodes.axis_line, self._insertions or None)))

    def observe_axis_line(self, after_update: Optional[Callable[[CardiacAnalysis], None]] = None) -> None:
        """Update the views whenever a point of the axis line is moved (at a bounded rate while it is dragged, and
        on release); `after_update(result)` then runs (e.g. to turn the slice views to the new frame)."""
        self.stop_observing()
        self._after_update = after_update
        self._dragging = self._pending = False
        line = self.nodes.axis_line
        tags = [line.AddObserver(line.PointModifiedEvent, self._on_line_moved),
                line.AddObserver(line.PointStartInteractionEvent, self._on_drag_start),
                line.AddObserver(line.PointEndInteractionEvent, self._on_drag_end)]
        self._observer = (line, tags)

    def stop_observing(self) -> None:
        """Stop following the axis line."""
        if self._observer is not None:
            line, tags = self._observer
            for tag in tags:
                line.RemoveObserver(tag)
            self._observer = None

    def flush(self) -> None:
        """Bring the views up to date with the line if a drag left an update pending."""
        if self._pending:
            self._refresh()

    def _on_drag_start(self, caller: Any, event: Any) -> None:
        self._dragging = True

    def _on_drag_end(self, caller: Any, event: Any) -> None:
        self._dragging = False
        self.flush()

    def _on_line_moved(self, caller: Any, event: Any) -> None:
        if self._dragging and time.perf_counter() - self._last_update < self.drag_interval_s:
            self._pending = True  # the next move after the interval, or the release, shows it
            return
        self._refresh()

    def _refresh(self) -> None:
        line = self.nodes.axis_line
        if line is None or line.GetNumberOfControlPoints() < 2:
            return
        try:
            result = self.update()
        except InputError as error:  # a line dragged to nonsense: keep the last views, say why
            log.warning("cardiac views not updated: %s", error)
            return
        if self._after_update is not None:
            self._after_update(result)


def views_logic_for(scene_logic: SceneLogic, reduced_threshold: float = 70.0) -> CardiacViewsLogic:
    """The scene's one CardiacViewsLogic (every Show views reuses its nodes), no longer following the axis, with
    the reduced-uptake threshold (%) set."""
    views = scene_logic.cardiac_views
    if views is None or views.scene is not scene_logic.scene:
        views = scene_logic.cardiac_views = CardiacViewsLogic(scene_logic.scene)
    views.stop_observing()
    views.settings = PolarMapSettings(threshold_percent=float(reduced_threshold))
    return views


def present_in_application(slicer: Any, views: CardiacViewsLogic, first: bool = True) -> None:
    """Show computed views in the application's cardiac layout: SA, VLA, HLA turned to their planes, the polar map
    fitted to its view (Slicer's FitSliceToAll, as for any volume shown), the segment table selected. After a
    moved axis (`first` False) only the slice views follow. Headless (no layout manager) it does nothing."""
    layout_manager = slicer.app.layoutManager()
    if layout_manager is None or views.result is None:
        return
    if not first:
        show_views(views.scene, views.nodes, views.result.frame, fit=False)
        return
    layout_node = layout_manager.layoutLogic().GetLayoutNode()
    layout_node.SetViewArrangement(add_cardiac_layout(layout_node))
    show_views(views.scene, views.nodes, views.result.frame)
    polar_view = layout_manager.sliceWidget(POLAR_MAP_VIEW)
    if polar_view is not None:
        polar_view.sliceLogic().FitSliceToAll()
    selection = slicer.app.applicationLogic().GetSelectionNode()
    selection.SetActiveTableID(views.nodes.segment_table.GetID())
    slicer.app.applicationLogic().PropagateTableSelection()


def show_cardiac_views(scene_logic: SceneLogic, volume_node: vtkMRMLScalarVolumeNode,
                       segmentation_node: vtkMRMLSegmentationNode,
                       landmarks_node: Optional[vtkMRMLMarkupsFiducialNode] = None,
                       axis_line_node: Optional[vtkMRMLMarkupsLineNode] = None, reduced_threshold: float = 70.0,
                       present: Optional[Callable[[CardiacViewsLogic, bool], None]] = None) -> CardiacAnalysis:
    """Compute and write the cardiac views now (the scripting API; the module panel computes them on its job
    runner), `present` them, and follow the axis line; returns the analysis."""
    views = views_logic_for(scene_logic, reduced_threshold)
    views.setup(volume_node, segmentation_node, landmarks_node, axis_line_node=axis_line_node)
    if present is not None:
        present(views, True)
    views.observe_axis_line(None if present is None else (lambda _: present(views, False)))
    return views.result
