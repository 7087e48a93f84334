"""Everything that needs Slicer's own classes (MRML scene, segmentations, markups), imported lazily.

The only module of the library that imports `slicer`. It runs inside the 3D Slicer application and, headless,
on Kitware's `slicer-core` wheel, so it works through the scene it is given, the MRML classes and the static
methods of `vtkSlicerSegmentationsModuleLogic`, never through `slicer.mrmlScene` or `slicer.util` helpers.

Geometry: MRML nodes hold RAS coordinates, the library's `Volume` holds LPS. A linear parent transform of an input
node is folded into the geometry that is read (world coordinates), and outputs are written in world coordinates
without a parent transform, so inputs under different transforms still meet in one space.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any, Optional, Sequence

import numpy as np

from .errors import InputError
from .io.markups_io import Landmark
from .io.segmentation_io import Segmentation, SegmentInfo, default_color
from .io.volume_io import require_counts
from .measurements import Measurement, class_measurements, landmark_measurements
from .progress import CancelToken, ProgressCallback, report
from .volume import Volume

log = logging.getLogger(__name__)

# LPS <-> RAS: negate the first two world axes (the matrix is its own inverse).
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_BINARY_LABELMAP = "Binary labelmap"


def slicer_module() -> Any:
    """The `slicer` module (3D Slicer or slicer-core), with the segmentation converters registered."""
    try:
        import slicer
    except ImportError as error:
        raise InputError("this needs 3D Slicer or the slicer-core package (pip install slicer-core)") from error
    _ensure_segmentation_converters(slicer)
    return slicer


def new_scene() -> Any:
    """An empty MRML scene (headless work: tests, benchmarks, batch scripts)."""
    return slicer_module().vtkMRMLScene()


def _ensure_segmentation_converters(slicer: Any) -> None:
    """Register the standard segmentation representation converters, as Slicer's Segmentations module does.

    The application registers them when its Segmentations module starts; headless `slicer-core` has none, and
    without them a segment cannot even hold an empty binary labelmap.
    """
    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    if factory.GetConverterRules():
        return
    for rule in (slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule,
                 slicer.vtkClosedSurfaceToBinaryLabelmapConversionRule,
                 slicer.vtkClosedSurfaceToFractionalLabelmapConversionRule,
                 slicer.vtkFractionalLabelmapToClosedSurfaceConversionRule):
        factory.RegisterConverterRule(rule())


def image_data(array: np.ndarray, vtk_type: int):
    """A vtkImageData holding a [k, j, i] array (unit spacing, zero origin: GrowCut works in index space)."""
    from vtkmodules.util import numpy_support
    from vtkmodules.vtkCommonDataModel import vtkImageData

    image = vtkImageData()
    k, j, i = array.shape
    image.SetDimensions(i, j, k)
    scalars = numpy_support.numpy_to_vtk(np.ascontiguousarray(array).ravel(), deep=True, array_type=vtk_type)
    image.GetPointData().SetScalars(scalars)
    return image


# ---------------------------------------------------------------------------------------------------- matrices


def _to_vtk_matrix(matrix: np.ndarray):
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    out = vtkMatrix4x4()
    for row in range(4):
        for column in range(4):
            out.SetElement(row, column, float(matrix[row, column]))
    return out


def _from_vtk_matrix(matrix) -> np.ndarray:
    return np.array([[matrix.GetElement(row, column) for column in range(4)] for row in range(4)])


def _node_name(node: Any, fallback: str) -> str:
    return node.GetName() if node is not None and node.GetName() else fallback


def _to_world_matrix(node: Any) -> np.ndarray:
    """The node's parent transform to world (RAS), refusing non-linear transforms."""
    parent = node.GetParentTransformNode()
    if parent is None:
        return np.eye(4)
    if not parent.IsTransformToWorldLinear():
        raise InputError(f"'{_node_name(node, 'the node')}' is under a non-linear transform; harden it first "
                         "(Data module: right-click the transform, Harden transform)")
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    matrix = vtkMatrix4x4()
    parent.GetMatrixTransformToWorld(matrix)
    return _from_vtk_matrix(matrix)


def _ijk_to_ras(node: Any) -> np.ndarray:
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    matrix = vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return _from_vtk_matrix(matrix)


def _geometry_from_matrix(index_to_lps: np.ndarray) -> tuple[tuple, tuple, tuple]:
    """Spacing (column norms), origin and direction (unit columns, row-major) of an index-to-LPS matrix."""
    linear = index_to_lps[:3, :3]
    spacing = np.linalg.norm(linear, axis=0)
    if np.any(spacing <= 0):
        raise InputError("the volume's geometry is degenerate (a voxel spacing is 0)")
    direction = linear / spacing[None, :]
    return tuple(spacing), tuple(index_to_lps[:3, 3]), tuple(direction.ravel())


# ---------------------------------------------------------------------------------------------------- volumes


def volume_from_node(volume_node: Any, name: str | None = None) -> Volume:
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


def volume_to_node(volume: Volume, scene: Any, name: str = "volume", node: Any = None) -> Any:
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


# ---------------------------------------------------------------------------------------------------- segmentations


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


# ---------------------------------------------------------------------------------------------------- landmarks


def landmarks_from_node(markups_node: Any, name: str | None = None) -> list[Landmark]:
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


def _confidence_values(markups_node: Any, count: int) -> list[float] | None:
    for index in range(markups_node.GetNumberOfMeasurements()):
        measurement = markups_node.GetNthMeasurement(index)
        if measurement is not None and measurement.GetName() == "confidence":
            values = measurement.GetControlPointValues()
            if values is not None and values.GetNumberOfTuples() == count:
                return [float(values.GetValue(n)) for n in range(count)]
    return None


def landmarks_to_node(landmarks: Sequence[Landmark], scene: Any, name: str = "landmarks", node: Any = None) -> Any:
    """Write LPS landmarks into a point list node (a new one unless `node` is given), confidences included."""
    from vtkmodules.vtkCommonCore import vtkDoubleArray

    slicer = slicer_module()
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
    if node.GetDisplayNode() is None and node.GetScene() is not None:
        node.CreateDefaultDisplayNodes()
    was_modifying = node.StartModify()
    try:
        node.SetAndObserveTransformNodeID(None)
        node.RemoveAllControlPoints()
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
    finally:
        node.EndModify(was_modifying)
    return node


# ---------------------------------------------------------------------------------------------------- tables


def measurements_to_table(measurements: Sequence[Measurement], scene: Any, name: str = "measurements",
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


def table_rows(table_node: Any) -> list[tuple[str, float, str]]:
    """The (measurement, value, unit) rows of a table written by `measurements_to_table`."""
    table = table_node.GetTable()
    names, values, units = (table.GetColumnByName(column) for column in ("Measurement", "Value", "Unit"))
    if names is None or values is None or units is None:
        raise InputError(f"table '{_node_name(table_node, 'unnamed')}' is not a SPECTFewShot measurement table")
    return [(names.GetValue(n), float(values.GetValue(n)), units.GetValue(n)) for n in range(table.GetNumberOfRows())]


# ---------------------------------------------------------------------------------------------------- fingerprints


def node_fingerprint(node: Any) -> str:
    """A digest of what a volume or segmentation node holds, bit for bit (voxels, geometry, segments, colors)."""
    from vtkmodules.util import numpy_support

    digest = hashlib.blake2b(digest_size=16)

    def add_image(image: Any) -> None:
        scalars = image.GetPointData().GetScalars() if image is not None else None
        if scalars is None:
            digest.update(b"no image")
            return
        digest.update(repr((image.GetExtent(), scalars.GetDataTypeAsString())).encode())
        digest.update(np.ascontiguousarray(numpy_support.vtk_to_numpy(scalars)).tobytes())

    digest.update(node.GetClassName().encode())
    digest.update(str(node.GetTransformNodeID()).encode())
    if node.IsA("vtkMRMLVolumeNode"):
        digest.update(_ijk_to_ras(node).tobytes())
        add_image(node.GetImageData())
        return digest.hexdigest()
    if node.IsA("vtkMRMLSegmentationNode"):
        segmentation = node.GetSegmentation()
        digest.update(str(segmentation.GetSourceRepresentationName()).encode())
        for index in range(segmentation.GetNumberOfSegments()):
            segment_id = segmentation.GetNthSegmentID(index)
            segment = segmentation.GetSegment(segment_id)
            digest.update(repr((segment_id, segment.GetName(), tuple(segment.GetColor()),
                                segment.GetLabelValue())).encode())
            representation = segment.GetRepresentation(_BINARY_LABELMAP)
            if representation is not None:
                matrix = _vtk_matrix_4x4()
                representation.GetImageToWorldMatrix(matrix)
                digest.update(_from_vtk_matrix(matrix).tobytes())
                add_image(representation)
        return digest.hexdigest()
    raise InputError(f"cannot fingerprint a {node.GetClassName()}")


def _vtk_matrix_4x4():
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    return vtkMatrix4x4()


# ---------------------------------------------------------------------------------------------------- scene logic


def volume_digest(volume: Volume) -> str:
    """A fingerprint of a volume's voxels and geometry (the key of the feature cache)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.ascontiguousarray(volume.array).tobytes())
    digest.update(repr((volume.array.dtype.str, volume.array.shape, volume.spacing, volume.origin,
                        volume.direction)).encode())
    return digest.hexdigest()


class SceneLogic:
    """The library's classifier and localiser run on the nodes of one MRML scene; outputs are new nodes.

    Reading nodes and writing outputs must happen on the thread that owns the scene; `compute_features`,
    `predict` and `find_landmarks` touch no MRML object and may run on a worker thread.
    """

    def __init__(self, scene: Any, model: Optional[str] = None, device: str = "auto",
                 localizer_model: Optional[str] = None) -> None:
        self.scene = scene
        self.model = model
        self.device = device
        self.localizer_model = localizer_model
        self.feature_computations = 0
        self.timings: dict[str, float] = {}  # seconds spent in each step of the latest classify / localize
        self._session: Any = None
        self._session_key: tuple = ()
        self._features_key: str | None = None
        self._localizer: Any = None
        self._localizer_key: tuple = ()

    # -- configuration

    def configure(self, model: Optional[str] = None, device: str = "auto",
                  localizer_model: Optional[str] = None) -> None:
        """Choose the models and the device; cached features are dropped when the classifier changes."""
        self.model, self.device, self.localizer_model = model or None, device or "auto", localizer_model or None

    # -- reading (scene thread)

    def read_volume(self, volume_node: Any, role: str = "input volume") -> Volume:
        """A volume node as a `Volume` holding counts (refuses empty or constant volumes)."""
        if volume_node is None:
            raise InputError(f"select the {role}")
        volume = volume_from_node(volume_node, f"{role} '{_node_name(volume_node, 'unnamed')}'")
        return require_counts(volume, f"{role} '{_node_name(volume_node, 'unnamed')}'")

    def read_support(self, support_node: Any, volume_node: Any) -> Segmentation:
        """The painted segments on the volume's grid; refuses empty and one-class painting."""
        if support_node is None:
            raise InputError("select the painted segmentation (the support)")
        name = f"'{_node_name(support_node, 'the painted segmentation')}'"
        if support_node.GetSegmentation().GetNumberOfSegments() == 0:
            raise InputError(f"{name} has no segments: paint at least two classes (e.g. LV_myocardium and "
                             "background) in the Segment Editor")
        support = segmentation_from_node(support_node, volume_node, f"segmentation {name}")
        painted = [info.name for info in support.segments]
        if not painted:
            raise InputError(f"nothing painted in {name} lies inside the volume: paint at least two classes "
                             "(e.g. LV_myocardium and background)")
        if len(painted) < 2:
            raise InputError(f"only one class ({painted[0]}) is painted in {name}: paint at least one more class "
                             "(e.g. background)")
        return support

    # -- computing (any thread; no MRML access)

    def _classifier(self) -> Any:
        from .protonet.session import FewShotSession

        key = (self.model, self.device)
        if self._session is None or self._session_key != key:
            self._session = FewShotSession(model=self.model, device=self.device)
            self._session_key = key
            self._features_key = None
        return self._session

    def features_ready(self, volume: Volume) -> bool:
        """Whether the classifier's features of this volume are cached (a classification is then fast)."""
        return (self._session is not None and self._session_key == (self.model, self.device)
                and self._features_key == volume_digest(volume))

    def compute_features(self, volume: Volume, progress: Optional[ProgressCallback] = None,
                         cancel: Optional[CancelToken] = None) -> None:
        """Compute and cache the classifier's features of a volume (skipped when already cached)."""
        if self.features_ready(volume):
            return
        session = self._classifier()
        start = time.perf_counter()
        self._features_key = None
        session.set_volume(volume, progress=progress, cancel=cancel)
        self._features_key = volume_digest(volume)
        self.feature_computations += 1
        self.timings["features_s"] = time.perf_counter() - start

    def predict(self, volume: Volume, support: Segmentation) -> Any:
        """Classify every voxel from the cached features and the painted support (a ClassificationResult)."""
        if not self.features_ready(volume):
            raise InputError("the volume's features are not computed yet")
        start = time.perf_counter()
        session = self._classifier()
        session.set_support(support)
        result = session.predict()
        self.timings["predict_s"] = time.perf_counter() - start
        return result

    def _landmark_finder(self) -> Any:
        from .prnet.localize import Localizer

        key = (self.localizer_model, self.device)
        if self._localizer is None or self._localizer_key != key:
            self._localizer = Localizer(model=self.localizer_model, device=self.device)
            self._localizer_key = key
        return self._localizer

    def find_landmarks(self, volume: Volume, templates: Sequence[tuple[Volume, Sequence[Landmark]]],
                       progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None
                       ) -> list[Landmark]:
        """Place the templates' landmarks (labels of the first template, a confidence per point) in a volume: one
        template's placement, or the geometric median per landmark of several templates' placements."""
        start = time.perf_counter()
        landmarks = self._landmark_finder().localize_from_templates(volume, templates, progress=progress,
                                                                    cancel=cancel)
        self.timings["localize_s"] = time.perf_counter() - start
        return landmarks

    # -- writing (scene thread)

    def write_classification(self, result: Any, volume_node: Any, output_node: Any = None,
                             probability_node: Any = None) -> Any:
        """Write a ClassificationResult into a segmentation node (and the winning-class probability volume)."""
        start = time.perf_counter()
        name = f"{_node_name(volume_node, 'volume')} tissue classes"
        node = segmentation_to_node(result.labels, self.scene, name, output_node, volume_node)
        if probability_node is not None:
            labels = result.labels.labels
            confidence = np.asarray(result.probabilities, dtype=np.float32).max(axis=0)
            volume_to_node(labels.with_array(confidence), self.scene, node=probability_node)
        self.timings["write_s"] = time.perf_counter() - start
        return node

    # -- the scripting API

    def classify(self, volumeNode: Any, supportSegmentationNode: Any, outputSegmentationNode: Any = None,
                 probabilityVolumeNode: Any = None, progress: Optional[ProgressCallback] = None,
                 cancel: Optional[CancelToken] = None) -> Any:
        """Classify every voxel of the volume from the painted segments; returns the output segmentation node.

        The output (a new node unless one is given) carries the support's segment names and colors; the
        optional probability volume receives each voxel's winning-class probability. Features are cached, so
        classifying again after more painting only recomputes the prototypes.
        """
        start = time.perf_counter()
        self.timings = {}
        if outputSegmentationNode is not None and outputSegmentationNode is supportSegmentationNode:
            raise InputError("the output segmentation must not be the painted segmentation")
        if probabilityVolumeNode is not None and probabilityVolumeNode is volumeNode:
            raise InputError("the probability volume must not be the input volume")
        volume = self.read_volume(volumeNode)
        support = self.read_support(supportSegmentationNode, volumeNode)
        self.timings["read_s"] = time.perf_counter() - start
        report(progress, 0.0, "computing features", cancel)
        self.compute_features(volume, progress, cancel)
        result = self.predict(volume, support)
        node = self.write_classification(result, volumeNode, outputSegmentationNode, probabilityVolumeNode)
        self.timings["classify_s"] = time.perf_counter() - start
        report(progress, 1.0, "classified", cancel)
        return node

    def read_localization_inputs(self, volumeNode: Any, templateVolumeNode: Any, templateLandmarksNode: Any,
                                 moreTemplates: Sequence[tuple[Any, Any]] = (), outputLandmarksNode: Any = None
                                 ) -> tuple[Volume, list[tuple[Volume, list[Landmark]]]]:
        """The target volume and every template (volume, landmarks), checked: each template's landmarks inside its
        volume, and the output point list none of the templates' (it would overwrite one). A further template
        with neither node is skipped (an empty row of the module's panel); one with a single node is refused."""
        pairs = [(templateVolumeNode, templateLandmarksNode), *moreTemplates]
        if outputLandmarksNode is not None and any(outputLandmarksNode is landmarks for _, landmarks in pairs):
            raise InputError("the output landmarks must not be the template landmarks")
        for number, (template, landmarks) in enumerate(moreTemplates, start=2):
            if (template is None) != (landmarks is None):
                raise InputError(f"template {number}: select both its volume and its landmarks")
        volume = self.read_volume(volumeNode)
        return volume, [self.read_template(templateVolumeNode, templateLandmarksNode),
                        *[self.read_template(template, landmarks) for template, landmarks in moreTemplates
                          if template is not None]]

    def read_template(self, templateVolumeNode: Any, templateLandmarksNode: Any) -> tuple[Volume, list[Landmark]]:
        """A template volume and its landmarks, checked (every landmark inside the volume)."""
        template = self.read_volume(templateVolumeNode, "template volume")
        landmarks = landmarks_from_node(templateLandmarksNode, f"template landmarks "
                                        f"'{_node_name(templateLandmarksNode, 'unnamed')}'")
        outside = [landmark.label for landmark in landmarks if not template.contains_lps(landmark.position_lps)]
        if outside:
            raise InputError(f"template landmarks {', '.join(outside)} lie outside the template volume")
        return template, landmarks

    def write_landmarks(self, landmarks: Sequence[Landmark], volume_node: Any, output_node: Any = None) -> Any:
        """Write found landmarks into a point list node (new unless given)."""
        name = f"{_node_name(volume_node, 'volume')} landmarks"
        return landmarks_to_node(landmarks, self.scene, name, output_node)

    def localize(self, volumeNode: Any, templateVolumeNode: Any, templateLandmarksNode: Any,
                 outputLandmarksNode: Any = None, progress: Optional[ProgressCallback] = None,
                 cancel: Optional[CancelToken] = None, moreTemplates: Sequence[tuple[Any, Any]] = ()) -> Any:
        """Place the template's landmarks in the volume; returns a point list node (labels, confidences).
        `moreTemplates`: further (volume node, point list node) templates; each landmark is then the geometric
        median of the templates' placements."""
        volume, templates = self.read_localization_inputs(volumeNode, templateVolumeNode, templateLandmarksNode,
                                                          moreTemplates, outputLandmarksNode)
        found = self.find_landmarks(volume, templates, progress, cancel)
        return self.write_landmarks(found, volumeNode, outputLandmarksNode)

    def measure(self, volumeNode: Any, segmentationNode: Any = None, landmarksNode: Any = None,
                tableNode: Any = None) -> Any:
        """A table of per-class volume (mL) and mean counts, and landmark distances (e.g. LV length)."""
        if segmentationNode is None and landmarksNode is None:
            raise InputError("nothing to measure: give a segmentation or landmarks")
        rows: list[Measurement] = []
        if segmentationNode is not None:
            volume = self.read_volume(volumeNode)
            rows += class_measurements(volume, segmentation_from_node(segmentationNode, volumeNode))
        if landmarksNode is not None:
            rows += landmark_measurements(landmarks_from_node(landmarksNode))
        name = f"{_node_name(volumeNode, 'volume')} measurements"
        return measurements_to_table(rows, self.scene, name, tableNode)

