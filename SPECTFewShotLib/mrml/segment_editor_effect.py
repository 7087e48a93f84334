"""Headless logic of the "Few-shot SPECT" Segment Editor effect, and segmentation export through Slicer's own path.

The effect works like Grow from seeds: the visible painted segments are the seeds, the preview is the library's
classification of every voxel of the source volume from them (the classifier's features of the volume are cached,
so each stroke only re-classifies), Apply writes the preview into the edited segmentation through Slicer's segment
editor logic (masking and undo as for any effect), and Cancel drops the preview without touching the segmentation.
The Qt effect (SegmentEditorFewShotSPECT) calls `classify_seeds` from `computePreviewLabelmap`; tests and scripts
drive `FewShotEffectLogic` on a slicer-core scene.

`segmentation_on_volume_grid` brings a segmentation node's segments onto a volume's grid with
`vtkSlicerSegmentationsModuleLogic.GenerateMergedLabelmapInReferenceGeometry` (Slicer's export to labelmap), which
handles the nodes' parent transforms itself.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Iterator, Optional, Protocol, Sequence

import numpy as np

from ..errors import InputError
from ..io.segmentation_io import Segmentation, SegmentInfo
from ..volume import Volume
from .scene import slicer_module

log = logging.getLogger(__name__)

EFFECT_NAME = "Few-shot SPECT"  # the effect's name in the Segment Editor (not translated: modules find it by name)
# LPS <-> RAS: negate the first two world axes (the matrix is its own inverse).
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


class Classifier(Protocol):
    """What the effect needs of the library's classification session (mrml.scene_logic.SceneLogic provides it)."""

    def compute_features(self, volume: Volume) -> None:
        """Compute and cache the classifier's features of a volume (skipped when cached)."""

    def predict(self, volume: Volume, support: Segmentation) -> Any:
        """Classify every voxel from the cached features and the painted support (result.labels)."""


_SHARED: dict[int, Any] = {}  # id(scene) -> (scene, SceneLogic): one classification session per scene


def shared_classifier(scene: Any) -> Any:
    """The scene's classification session (a SceneLogic), shared by the effect and the module panel so that a
    volume's features are computed once."""
    entry = _SHARED.get(id(scene))
    if entry is None or entry[0] is not scene:
        from .scene_logic import SceneLogic

        entry = (scene, SceneLogic(scene))
        _SHARED.clear()  # one application scene at a time; a new scene drops the old session
        _SHARED[id(scene)] = entry
    return entry[1]


# ---------------------------------------------------------------------------------------------------- images


def _matrix(image: Any) -> np.ndarray:
    """The image's index-to-world (RAS) matrix as a numpy array."""
    from slicer.util import arrayFromVTKMatrix
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    matrix = vtkMatrix4x4()
    image.GetImageToWorldMatrix(matrix)
    return arrayFromVTKMatrix(matrix)


def image_array(image: Any) -> np.ndarray:
    """The voxels of a (oriented) image as a [k, j, i] array (a copy)."""
    from vtkmodules.util import numpy_support

    e = image.GetExtent()
    shape = (e[5] - e[4] + 1, e[3] - e[2] + 1, e[1] - e[0] + 1)
    if min(shape) < 1 or image.GetPointData().GetScalars() is None:
        return np.zeros((max(shape[0], 0), max(shape[1], 0), max(shape[2], 0)), dtype=np.uint8)
    return numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(shape).copy()


def oriented_image_like(array: np.ndarray, like: Any) -> Any:
    """A vtkOrientedImageData holding a [k, j, i] array with the extent and geometry of `like`."""
    from slicer.util import vtkMatrixFromArray
    from vtkmodules.util import numpy_support

    slicer = slicer_module()
    image = slicer.vtkOrientedImageData()
    image.SetExtent(like.GetExtent())
    image.SetImageToWorldMatrix(vtkMatrixFromArray(_matrix(like)))
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(np.ascontiguousarray(array).ravel(), deep=True))
    return image


def volume_from_image(image: Any) -> Volume:
    """An oriented image (the Segment Editor's aligned source volume) as a `Volume` in LPS."""
    array = image_array(image)
    index_to_lps = _LPS_TO_RAS @ _matrix(image)
    linear = index_to_lps[:3, :3]
    spacing = np.linalg.norm(linear, axis=0)
    if array.ndim != 3 or min(array.shape) < 2 or np.any(spacing <= 0):
        raise InputError("the source volume is not a 3D volume")
    extent = image.GetExtent()
    origin = index_to_lps @ np.array([extent[0], extent[2], extent[4], 1.0])
    direction = (linear / spacing[None, :]).ravel()
    return Volume(array, tuple(spacing), tuple(origin[:3]), tuple(direction))


def _padded_to(seeds: Any, reference: Any) -> np.ndarray:
    """The seed labels placed in the reference's extent (same lattice; seeds outside it are dropped)."""
    r = reference.GetExtent()
    out = np.zeros((r[5] - r[4] + 1, r[3] - r[2] + 1, r[1] - r[0] + 1), dtype=np.int32)
    if seeds is None:
        return out
    s = seeds.GetExtent()
    lo = [max(r[2 * a], s[2 * a]) for a in range(3)]
    hi = [min(r[2 * a + 1], s[2 * a + 1]) for a in range(3)]
    if any(low > high for low, high in zip(lo, hi)) or any(s[2 * a] > s[2 * a + 1] for a in range(3)):
        return out
    if not np.allclose(_matrix(seeds), _matrix(reference), atol=1e-4):
        raise InputError("the painted segments are not on the source volume's grid")
    values = image_array(seeds)
    source = tuple(slice(lo[a] - s[2 * a], hi[a] - s[2 * a] + 1) for a in (2, 1, 0))
    target = tuple(slice(lo[a] - r[2 * a], hi[a] - r[2 * a] + 1) for a in (2, 1, 0))
    out[target] = values[source]
    return out


# ---------------------------------------------------------------------------------------------------- preview


def classify_seeds(source_image: Any, seeds_image: Any, segment_names: Sequence[str], classifier: Classifier,
                   edit_mask: Any = None) -> Any:
    """The preview labelmap over the source's extent, classified from the seeds.

    `seeds_image` holds label n for the n-th name (1-based, 0 = unpainted) on the source's lattice (any extent);
    `edit_mask` (the Segment Editor's: non-zero where editing is not allowed) leaves those voxels 0 in the preview.
    """
    volume = volume_from_image(source_image)
    seeds = _padded_to(seeds_image, source_image)
    segments = tuple(SegmentInfo(number, name, (0.5, 0.5, 0.5))
                     for number, name in enumerate(segment_names, start=1))
    classifier.compute_features(volume)
    result = classifier.predict(volume, Segmentation(volume.with_array(seeds), segments))
    labels = np.asarray(result.labels.labels.array, dtype=np.int32).copy()
    if edit_mask is not None:
        labels[_padded_to(edit_mask, source_image) != 0] = 0
    return oriented_image_like(labels.astype(np.uint8 if len(segment_names) < 256 else np.uint16), source_image)


def seed_segment_ids(segmentation_node: Any) -> list[str]:
    """The seeds: the visible segments (all segments when the node has no display node), in the node's order."""
    from vtkmodules.vtkCommonCore import vtkStringArray

    display = segmentation_node.GetDisplayNode()
    if display is not None:
        ids = vtkStringArray()
        display.GetVisibleSegmentIDs(ids)
        return [ids.GetValue(n) for n in range(ids.GetNumberOfValues())]
    segmentation = segmentation_node.GetSegmentation()
    return [segmentation.GetNthSegmentID(n) for n in range(segmentation.GetNumberOfSegments())]


def merged_seeds(segmentation_node: Any, segment_ids: Sequence[str], reference_image: Any) -> Any:
    """The seed segments merged on the reference's lattice, label n + 1 for the n-th ID (as the effect gets them)."""
    from vtkmodules.vtkCommonCore import vtkStringArray

    slicer = slicer_module()
    ids = vtkStringArray()
    for segment_id in segment_ids:
        ids.InsertNextValue(segment_id)
    merged = slicer.vtkOrientedImageData()
    if not segmentation_node.GenerateMergedLabelmapForAllSegments(
            merged, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY, reference_image, ids):
        raise InputError("the painted segments could not be read on the source volume's grid")
    return merged


def edit_mask_for(editor_node: Any, reference_image: Any) -> Optional[Any]:
    """The editor's edit mask on the reference's lattice (non-zero = not editable), None when editing is free."""
    slicer = slicer_module()
    segmentation_node = editor_node.GetSegmentationNode()
    intensity = bool(editor_node.GetSourceVolumeIntensityMask())
    if editor_node.GetMaskMode() == slicer.vtkMRMLSegmentationNode.EditAllowedEverywhere and not intensity:
        return None
    mask = slicer.vtkOrientedImageData()
    ok = segmentation_node.GenerateEditMask(
        mask, editor_node.GetMaskMode(), reference_image, "", editor_node.GetMaskSegmentID() or "",
        reference_image if intensity else None,
        editor_node.GetSourceVolumeIntensityMaskRange() if intensity else None)
    if not ok:
        raise InputError("the editable area could not be computed")
    return mask


class FewShotEffectLogic:
    """The effect without its widgets: preview, apply and cancel on the segmentation a segment editor node edits."""

    def __init__(self, editor_node: Any, classifier: Optional[Classifier] = None) -> None:
        slicer = slicer_module()
        scene = editor_node.GetScene()
        if scene is None:
            raise InputError("the segment editor node is not in a scene")
        if classifier is None:
            classifier = shared_classifier(scene)
        self.editor_node = editor_node
        self.classifier = classifier
        self.preview_image: Any = None
        self.segment_ids: list[str] = []
        self._editor = slicer.vtkSlicerSegmentEditorLogic()
        self._editor.SetMRMLScene(scene)
        self._editor.SetSegmentEditorNode(editor_node)
        self._history = slicer.vtkSegmentationHistory()
        self._editor.SetSegmentationHistory(self._history)

    def _segmentation_node(self) -> Any:
        node = self.editor_node.GetSegmentationNode()
        if node is None:
            raise InputError("select the segmentation to edit")
        if self.editor_node.GetSourceVolumeNode() is None:
            raise InputError("select the source volume (the SPECT study)")
        return node

    def source_image(self) -> Any:
        """The source volume on the segmentation's lattice (Slicer's aligned source volume)."""
        self._segmentation_node()
        if not self._editor.UpdateAlignedSourceVolume() or self._editor.GetAlignedSourceVolume() is None:
            raise InputError("the source volume could not be aligned with the segmentation")
        return self._editor.GetAlignedSourceVolume()

    def preview(self) -> Any:
        """Classify the source volume from the visible painted segments; returns (and keeps) the preview labelmap."""
        node = self._segmentation_node()
        source = self.source_image()
        ids = seed_segment_ids(node)
        if len(ids) < 2:
            raise InputError("paint at least two visible segments (e.g. LV_myocardium and background)")
        segmentation = node.GetSegmentation()
        names = [segmentation.GetSegment(segment_id).GetName() or segment_id for segment_id in ids]
        seeds = merged_seeds(node, ids, source)
        self.preview_image = classify_seeds(source, seeds, names, self.classifier, edit_mask_for(self.editor_node,
                                                                                                  source))
        self.segment_ids = ids
        return self.preview_image

    def preview_labels(self) -> np.ndarray:
        """The preview as a [k, j, i] array (label n + 1 for the n-th seed segment; 0 where editing is masked)."""
        if self.preview_image is None:
            raise InputError("there is no preview: run the preview first")
        return image_array(self.preview_image)

    def apply(self) -> None:
        """Write the preview into the edited segmentation (one undo step; masking honoured), then drop it."""
        labels = self.preview_labels()
        node = self._segmentation_node()
        slicer = slicer_module()
        self._history.SetSegmentation(node.GetSegmentation())
        self._editor.SaveStateForUndo()
        was_modifying = node.StartModify()
        try:
            for number, segment_id in enumerate(self.segment_ids, start=1):
                if node.GetSegmentation().GetSegment(segment_id) is None:
                    raise InputError(f"segment {segment_id} was removed while the preview was shown")
                modifier = oriented_image_like((labels == number).astype(np.uint8), self.preview_image)
                self._editor.ModifySegmentByLabelmap(node, segment_id, modifier,
                                                     slicer.vtkSlicerSegmentEditorLogic.ModificationModeSet,
                                                     False, False)
        finally:
            node.EndModify(was_modifying)
        self.cancel()

    def undo(self) -> None:
        """Restore the segmentation as it was before the latest apply."""
        self._editor.Undo()

    def cancel(self) -> None:
        """Drop the preview; the segmentation is left as it is."""
        self.preview_image = None
        self.segment_ids = []


# ---------------------------------------------------------------------------------------------------- export


@contextlib.contextmanager
def _binary_labelmap_source(segmentation_node: Any, label: str) -> Iterator[Any]:
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


def segmentation_on_volume_grid(segmentation_node: Any, reference_volume_node: Any,
                                name: Optional[str] = None) -> Segmentation:
    """The segments of a segmentation node as labels on the reference volume's grid (Slicer's export path).

    `vtkSlicerSegmentationsModuleLogic.GenerateMergedLabelmapInReferenceGeometry` resamples (nearest neighbour)
    through the transform between the two nodes; nothing is added to the scene and the input is not modified.
    Label values follow the segment order (1, 2, ...); only segments with voxels on the grid are listed.
    """
    from vtkmodules.vtkCommonCore import vtkIntArray, vtkStringArray

    from .segmentations import segment_infos
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
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    grid = volume_from_node(reference_volume_node)
    reference = slicer.vtkOrientedImageData()  # the volume's lattice in its own (untransformed) coordinates
    reference.SetExtent(reference_volume_node.GetImageData().GetExtent())
    ijk_to_ras = vtkMatrix4x4()
    reference_volume_node.GetIJKToRASMatrix(ijk_to_ras)
    reference.SetImageToWorldMatrix(ijk_to_ras)
    array = _padded_to(merged, reference)
    if array.shape != grid.array.shape:
        raise InputError(f"{label} could not be resampled onto the volume's grid")
    painted = set(np.unique(array).tolist()) - {0}
    return Segmentation(grid.with_array(array), tuple(info for _, info in infos if info.label in painted))
