"""The "Few-shot SPECT" Segment Editor effect: complete a segmentation from painted seeds with the ProtoNet
classifier, the way Grow from seeds completes it with GrowCut (preview, auto-update after each stroke, Apply,
Cancel, masking). The computation is SPECTFewShotLib.mrml.segment_editor_effect.classify_seeds."""

import os

import qt
import slicer
from SegmentEditorEffects import AbstractScriptedSegmentEditorAutoCompleteEffect
from slicer.i18n import tr as _

__all__ = ["SegmentEditorEffect"]


class SegmentEditorEffect(AbstractScriptedSegmentEditorAutoCompleteEffect):
    """Few-shot SPECT: the visible segments are the seeds; the preview is the library's classification."""

    def __init__(self, scriptedEffect):
        AbstractScriptedSegmentEditorAutoCompleteEffect.__init__(self, scriptedEffect)
        scriptedEffect.name = "Few-shot SPECT"  # no tr: modules find effects by name (EFFECT_NAME in the library)
        scriptedEffect.title = _("Few-shot SPECT")
        self.minimumNumberOfSegments = 2
        self.minimumNumberOfSegmentsWithEditableArea = 2  # the classifier needs two painted classes, mask or not
        self.clippedMasterImageDataRequired = False  # the whole source volume is classified (cached features)
        self.clippedMaskImageDataRequired = False  # the edit mask is built on the whole source volume below

    def clone(self):
        """A new instance of this effect (the Segment Editor clones effects for each editor widget)."""
        import qSlicerSegmentationsEditorEffectsPythonQt as effects

        clonedEffect = effects.qSlicerSegmentEditorScriptedEffect(None)
        clonedEffect.setPythonSource(__file__.replace("\\", "/"))
        return clonedEffect

    def icon(self):
        """The effect's button icon."""
        iconPath = os.path.join(os.path.dirname(__file__), "SegmentEditorEffect.png")
        return qt.QIcon(iconPath) if os.path.exists(iconPath) else qt.QIcon()

    def helpText(self):
        """What the effect does and how to use it."""
        return "<html>" + _("""Complete a SPECT segmentation from a few painted strokes or slices.<br>
        Paint each tissue (e.g. LV_myocardium, LV_blood_pool, liver, background) with its own segment, at least two.
        <ul style="margin: 0">
        <li>Click <dfn>Initialize</dfn>: a Prototypical Network classifies every voxel of the source volume from the
        painted voxels (the first time takes a few seconds while it computes the volume's features).
        <li>Paint more where the preview is wrong: with <dfn>Auto-update</dfn> the preview follows each stroke.
        <li>Click <dfn>Apply</dfn> to write the preview into the segments (undoable), <dfn>Cancel</dfn> to drop it.
        </ul><p>
        Masking settings are honoured: voxels outside the editable area are left as they are.
        Landmarks, cardiac views and reports are in the <b>SPECT Few-Shot</b> module.</html>""")

    def reset(self):
        """Drop the preview (Cancel) and update the widgets."""
        AbstractScriptedSegmentEditorAutoCompleteEffect.reset(self)
        self.updateGUIFromMRML()

    def computePreviewLabelmap(self, mergedImage, outputLabelmap):
        """Classify the whole source volume from the seeds (label n = n-th visible segment).

        The seeds are merged again on the source volume's lattice (the base class's `mergedImage` covers only the
        seeds' extent plus a margin), so that unpainted slices far from the paint are classified too.
        """
        from SPECTFewShotLib.mrml.segment_editor_effect import (
            classify_seeds,
            edit_mask_for,
            merged_seeds,
            shared_classifier,
        )

        parameterSetNode = self.scriptedEffect.parameterSetNode()
        segmentationNode = parameterSetNode.GetSegmentationNode()
        segmentIds = [self.selectedSegmentIds.GetValue(n) for n in range(self.selectedSegmentIds.GetNumberOfValues())]
        names = [segmentationNode.GetSegmentation().GetSegment(segmentId).GetName() or segmentId
                 for segmentId in segmentIds]
        source = self.scriptedEffect.sourceVolumeImageData()
        seeds = merged_seeds(segmentationNode, segmentIds, source)
        preview = classify_seeds(source, seeds, names, shared_classifier(slicer.mrmlScene),
                                 edit_mask_for(parameterSetNode, source))
        outputLabelmap.DeepCopy(preview)
