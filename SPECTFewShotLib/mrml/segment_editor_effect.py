"""Headless logic of the "Few-shot SPECT" Segment Editor effect.

The effect works like Grow from seeds: the visible painted segments are the seeds, the preview is the library's
classification of every voxel of the source volume from them (the classifier's features of the volume are cached,
so each stroke only re-classifies), Apply writes the preview into the edited segmentation through Slicer's segment
editor logic (masking and undo as for any effect), and Cancel drops the preview without touching the segmentation.
The Qt effect (SegmentEditorFewShotSPECT) calls `classify_seeds` from `computePreviewLabelmap`; tests and scripts
drive `FewShotEffectLogic` on a slicer-core scene.
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Protocol, Sequence

import numpy as np

from ..errors import InputError
from ..io.segmentation_io import Segmentation, SegmentInfo
from ..volume import Volume
from .images import image_array, oriented_image_like, padded_to, volume_from_image
from .scene import slicer_module

log = logging.getLogger(__name__)

EFFECT_NAME = "Few-shot SPECT"  # the effect's name in the Segment Editor (not translated: modules find it by name)


class Classifier(Protocol):
    """What the effect needs of the library's classification session (mrml.scene_logic.SceneLogic provides it)."""

    def compute_features(self, volume: Volume) -> None:
        """Compute and cache the classifier's features of a volume (skipped when cached)."""

    def predict(self, volume: Volume, support: Segmentation) -> Any:
        """Classify every voxel from the cached features and the painted support (result.labels)."""


_SHARED: dict[int, Any] = {}  # id(scene) -> (scene, SceneLogic): one classification session per scene


def shared_classifier(scene: Any) -> Any:
    """The scene's classification session (a SceneLogic), shared by the effect and the module panel so that a
    volume's features are computed once. Creating it turns numpy's huge-page advice off for the application
    (`memory_pages`: live updates allocate fresh arrays at every stroke)."""
    entry = _SHARED.get(id(scene))
    if entry is None or entry[0] is not scene:
        from ..memory_pages import avoid_huge_page_advice
        from .scene_logic import SceneLogic

        avoid_huge_page_advice()
        entry = (scene, SceneLogic(scene))
        _SHARED.clear()  # one application scene at a time; a new scene drops the old session
        _SHARED[id(scene)] = entry
    return entry[1]


# ---------------------------------------------------------------------------------------------------- images


# ---------------------------------------------------------------------------------------------------- preview


def classify_seeds(source_image: Any, seeds_image: Any, segment_names: Sequence[str], classifier: Classifier,
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
