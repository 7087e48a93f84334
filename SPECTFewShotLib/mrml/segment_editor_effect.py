"""The "Few-shot SPECT" Segment Editor effect's logic, shared by the Qt effect and headless callers.

The effect works like Grow from seeds: the visible painted segments are the seeds and the preview is the library's
classification of every voxel of the source volume from them (the classifier's features of the volume are cached,
so each stroke only re-classifies). Unlike Grow from seeds, Apply never replaces the seeds: the seeds are the
classifier's support, so the result goes into a separate segmentation (`write_result`: "<painting> tissue classes",
the one the SPECT Few-Shot module shows too), and the painting stays as painted. Cancel drops the preview.

The Qt effect (SegmentEditorFewShotSPECT) computes its preview with `effect_preview` and applies it with
`write_result`, the very functions `FewShotEffectLogic` runs on a slicer-core scene in the tests; the features are
computed on the scene's job runner (`SceneLogic.jobs`), never on the main thread.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Optional, Protocol, Sequence

import numpy as np

from ..errors import InputError
from ..io.segmentation_io import Segmentation, SegmentInfo
from ..volume import Volume
from .images import image_array, oriented_image_like, padded_to, volume_from_image
from .scene import _node_name, slicer_module
from .scene_logic import scene_logic_for

if TYPE_CHECKING:  # Slicer's classes, for readers and type checkers; never imported at run time
    from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLSegmentEditorNode
    from vtkSegmentationCore import vtkOrientedImageData

log = logging.getLogger(__name__)

EFFECT_NAME = "Few-shot SPECT"  # the effect's name in the Segment Editor (not translated: modules find effects by it)
# The painting's node reference to the segmentation its classification goes into (saved with the scene).
OUTPUT_REFERENCE_ROLE = "SPECTFewShotClassification"


class Classifier(Protocol):
    """What the effect needs of the library's classification session (mrml.scene_logic.SceneLogic provides it)."""

    def compute_features(self, volume: Volume) -> None:
        """Compute and cache the classifier's features of a volume (skipped when cached)."""

    def predict(self, volume: Volume, support: Segmentation) -> Any:
        """Classify every voxel from the cached features and the painted support (result.labels)."""


# ---------------------------------------------------------------------------------------------------- preview


def classify_seeds(source_image: vtkOrientedImageData, seeds_image: vtkOrientedImageData,
                   segment_names: Sequence[str], classifier: Classifier,
                   edit_mask: Any = None) -> Any:
    """The preview labelmap over the source's extent, classified from the seeds.

    `seeds_image` holds label n for the n-th name (1-based, 0 = unpainted) on the source's lattice (any extent);
    `edit_mask` (the Segment Editor's: non-zero where editing is not allowed) leaves those voxels 0 in the preview.
    """
    volume = volume_from_image(source_image)
    seeds = padded_to(seeds_image, source_image)
    segments = tuple(SegmentInfo(number, name, (0.5, 0.5, 0.5))
                     for number, name in enumerate(segment_names, start=1))
    classifier.compute_features(volume)
    result = classifier.predict(volume, Segmentation(volume.with_array(seeds), segments))
    labels = np.asarray(result.labels.labels.array, dtype=np.int32).copy()
    if edit_mask is not None:
        labels[padded_to(edit_mask, source_image) != 0] = 0
    return oriented_image_like(labels.astype(np.uint8 if len(segment_names) < 256 else np.uint16), source_image)


def seed_segment_ids(segmentation_node: vtkMRMLSegmentationNode) -> list[str]:
    """The seeds: the visible segments (all segments when the node has no display node), in the node's order."""
    from vtkmodules.vtkCommonCore import vtkStringArray

    display = segmentation_node.GetDisplayNode()
    if display is not None:
        ids = vtkStringArray()
        display.GetVisibleSegmentIDs(ids)
        return [ids.GetValue(n) for n in range(ids.GetNumberOfValues())]
    segmentation = segmentation_node.GetSegmentation()
    return [segmentation.GetNthSegmentID(n) for n in range(segmentation.GetNumberOfSegments())]


def merged_seeds(segmentation_node: vtkMRMLSegmentationNode, segment_ids: Sequence[str],
                 reference_image: vtkOrientedImageData) -> Any:
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


def edit_mask_for(editor_node: vtkMRMLSegmentEditorNode, reference_image: vtkOrientedImageData) -> Optional[Any]:
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


def effect_preview(editor_node: vtkMRMLSegmentEditorNode, segment_ids: Sequence[str],
                   source_image: vtkOrientedImageData, classifier: Classifier) -> Any:
    """The preview labelmap (label n = the n-th seed segment, 0 where editing is masked) over the source image: the
    one preview computation of the Qt effect (`computePreviewLabelmap`) and of `FewShotEffectLogic.preview`."""
    node = editor_node.GetSegmentationNode()
    if node is None:
        raise InputError("select the segmentation to edit")
    if len(segment_ids) < 2:
        raise InputError("paint at least two visible segments (e.g. LV_myocardium and background)")
    segmentation = node.GetSegmentation()
    names = [segmentation.GetSegment(segment_id).GetName() or segment_id for segment_id in segment_ids]
    seeds = merged_seeds(node, segment_ids, source_image)
    return classify_seeds(source_image, seeds, names, classifier, edit_mask_for(editor_node, source_image))


def classification_node_for(seeds_node: vtkMRMLSegmentationNode) -> Optional[Any]:
    """The segmentation the painting's classification goes into (None before the first one, or once deleted)."""
    node = seeds_node.GetNodeReference(OUTPUT_REFERENCE_ROLE)
    return node if node is not None and node.GetScene() is seeds_node.GetScene() else None


def write_result(seeds_node: vtkMRMLSegmentationNode, segment_ids: Sequence[str], preview_image: vtkOrientedImageData,
                 source_volume_node: Optional[vtkMRMLScalarVolumeNode] = None,
                 output_node: Any = None) -> Any:
    """Apply: write the preview into the painting's classification segmentation (`output_node`, else the one the
    painting refers to, else a new "<painting> tissue classes"), never into the seeds; returns that node.

    Segments carry the seeds' names and colors. Where the preview is 0 (editing masked) the classification keeps
    what it held. The painting refers to the node afterwards, so the module and later Applies find it.
    """
    if seeds_node is None or preview_image is None:
        raise InputError("there is no preview: run the preview first")
    scene = seeds_node.GetScene()
    content = seeds_node.GetSegmentation()
    infos = []
    for number, segment_id in enumerate(segment_ids, start=1):
        segment = content.GetSegment(segment_id)
        if segment is None:
            raise InputError(f"segment {segment_id} was removed while the preview was shown")
        infos.append(SegmentInfo(number, segment.GetName() or segment_id, tuple(segment.GetColor())))
    labels = volume_from_image(preview_image)
    array = np.asarray(labels.array, dtype=np.int32).copy()
    if output_node is None:
        output_node = classification_node_for(seeds_node)
    if output_node is seeds_node:
        raise InputError("the classification must not be written into the painting")
    if output_node is not None and source_volume_node is not None and (array == 0).any():
        from .segmentations import segmentation_from_node

        before = segmentation_from_node(output_node, source_volume_node)
        if before.labels.array.shape == array.shape:
            by_name = {info.name: info.label for info in infos}
            masked = array == 0
            for info in before.segments:
                if info.name in by_name:
                    array[masked & (before.labels.array == info.label)] = by_name[info.name]
    from .segmentations import segmentation_to_node

    name = f"{_node_name(seeds_node, 'painting')} tissue classes"
    output_node = segmentation_to_node(Segmentation(labels.with_array(array), tuple(infos)), scene, name,
                                       output_node, source_volume_node)
    seeds_node.SetNodeReferenceID(OUTPUT_REFERENCE_ROLE, output_node.GetID())
    return output_node


class FewShotEffectLogic:
    """The effect without its widgets: preview, apply and cancel on the painting a segment editor node edits."""

    def __init__(self, editor_node: vtkMRMLSegmentEditorNode, classifier: Optional[Classifier] = None) -> None:
        slicer = slicer_module()
        scene = editor_node.GetScene()
        if scene is None:
            raise InputError("the segment editor node is not in a scene")
        if classifier is None:
            classifier = scene_logic_for(scene)
        self.editor_node = editor_node
        self.classifier = classifier
        self.preview_image: Optional[vtkOrientedImageData] = None
        self.segment_ids: list[str] = []
        self.output_node: Any = None
        self._editor = slicer.vtkSlicerSegmentEditorLogic()
        self._editor.SetMRMLScene(scene)
        self._editor.SetSegmentEditorNode(editor_node)

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
        ids = seed_segment_ids(node)
        self.preview_image = effect_preview(self.editor_node, ids, self.source_image(), self.classifier)
        self.segment_ids = ids
        return self.preview_image

    def preview_labels(self) -> np.ndarray:
        """The preview as a [k, j, i] array (label n + 1 for the n-th seed segment; 0 where editing is masked)."""
        if self.preview_image is None:
            raise InputError("there is no preview: run the preview first")
        return image_array(self.preview_image)

    def apply(self) -> Any:
        """Write the preview into the painting's classification segmentation (the seeds stay as painted), then drop
        the preview; returns the classification node."""
        self.preview_labels()
        self.output_node = write_result(self._segmentation_node(), self.segment_ids, self.preview_image,
                                        self.editor_node.GetSourceVolumeNode())
        self.cancel()
        return self.output_node

    def cancel(self) -> None:
        """Drop the preview; the segmentation is left as it is."""
        self.preview_image = None
        self.segment_ids = []


def open_in_segment_editor(slicer: Any, painting_node: vtkMRMLSegmentationNode,
                           volume_node: vtkMRMLScalarVolumeNode) -> None:
    """Show the painting in the application's Segment Editor with this effect active (the module's "Paint in
    Segment Editor"): its preview follows the strokes, and Apply writes the classification, not the painting."""
    slicer.util.selectModule("SegmentEditor")
    editor = slicer.modules.segmenteditor.widgetRepresentation().self().editor
    editor.setSegmentationNode(painting_node)
    editor.setSourceVolumeNode(volume_node)
    editor.setActiveEffectByName(EFFECT_NAME)
