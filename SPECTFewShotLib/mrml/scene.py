"""The MRML scene and the VTK plumbing the other glue files share: the `slicer` module (3D Slicer or
slicer-core), new scenes, VTK images and matrices, a node's world geometry, and node fingerprints."""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:  # Slicer's classes, for readers and type checkers; never imported at run time
    from vtk import vtkMatrix4x4
    from vtkSegmentationCore import vtkOrientedImageData

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


def _to_vtk_matrix(matrix: np.ndarray) -> Any:
    """A vtkMatrix4x4 from a 4x4 array (slicer.util's scene-free helper)."""
    from slicer.util import vtkMatrixFromArray

    return vtkMatrixFromArray(np.asarray(matrix, dtype=float))


def _from_vtk_matrix(matrix: vtkMatrix4x4) -> np.ndarray:
    """A 4x4 array from a vtkMatrix4x4 (slicer.util's scene-free helper)."""
    from slicer.util import arrayFromVTKMatrix

    return np.array(arrayFromVTKMatrix(matrix), dtype=float)


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


def node_fingerprint(node: Any) -> str:
    """A digest of what a volume or segmentation node holds, bit for bit (voxels, geometry, segments, colors)."""
    from vtkmodules.util import numpy_support

    digest = hashlib.blake2b(digest_size=16)

    def add_image(image: vtkOrientedImageData) -> None:
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
