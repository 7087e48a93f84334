"""The "Few-shot SPECT" Segment Editor effect: complete a segmentation from painted seeds with the few-shot
classifier (ProtoNet prototypes, a per-study learner, a graph cut), the way Grow from seeds completes it with
GrowCut (preview, auto-update after each stroke, Cancel, masking), except that Apply writes the result into a
separate segmentation and leaves the seeds as painted.

The preview is SPECTFewShotLib.mrml.segment_editor_effect.effect_preview and Apply is its write_result, the
functions the headless tests run. Initialize computes the study's features first on the scene's job runner (the
one the SPECT Few-Shot module uses, with progress and Cancel here), never on the main thread; the packages are
checked first with the module's own install dialog.
"""

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
        self.clippedMaskImageDataRequired = False  # the edit mask is built on the whole source volume
        self.previewSegmentIds = []  # the seeds of the preview shown, in label order (label n = n-th ID)
        self.previewLabelmap = None
        self.featureJob = None

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
        <li>Click <dfn>Initialize</dfn>: every voxel of the source volume is classified from the painted voxels:
        prototypes of each tissue in a Prototypical Network's embedding, a learner fitted on the paint, a graph cut
        (the first time, the embedding and the volume's features are computed in the background, with a progress
        bar).
        <li>Paint more where the preview is wrong: with <dfn>Auto-update</dfn> the preview follows each stroke.
        <li>Click <dfn>Apply</dfn> to write the preview into the painting's <i>tissue classes</i> segmentation (the
        one the SPECT Few-Shot module shows); your painted seeds stay as painted, so you can paint more and apply
        again. <dfn>Cancel</dfn> drops the preview.
        </ul><p>
        Masking settings are honoured: voxels outside the editable area keep their earlier classes.
        Landmarks, cardiac views and reports are in the <b>SPECT Few-Shot</b> module.</html>""")

    def setupOptionsFrame(self):
        AbstractScriptedSegmentEditorAutoCompleteEffect.setupOptionsFrame(self)
        self.applyButton.setToolTip(_("Write the preview into the painting's tissue classes segmentation"))
        self.progressBar = qt.QProgressBar()
        self.progressBar.hide()
        self.scriptedEffect.addOptionsWidget(self.progressBar)

    def sceneLogic(self):
        """The scene's SceneLogic, shared with the SPECT Few-Shot module (one session, one job runner)."""
        from SPECTFewShotLib.mrml.scene_logic import scene_logic_for
        from SPECTFewShotLib.runtime.jobs import qt_schedule

        return scene_logic_for(self.scriptedEffect.parameterSetNode().GetScene(), qt_schedule(qt))

    # activate/deactivate: called by the C++ adaptor (qSlicerSegmentEditorScriptedEffect) after its own; the Python
    # base classes define neither (as Threshold and other scripted effects, no base call).
    def activate(self):
        """The module's live update leaves the strokes of the painting edited here to this effect's preview."""
        segmentationNode = self.scriptedEffect.parameterSetNode().GetSegmentationNode()
        if segmentationNode is not None:
            self.sceneLogic().effect_segmentation_ids.add(segmentationNode.GetID())

    def deactivate(self):
        """The module's live update follows the painting again; a running feature computation is cancelled."""
        if self.scriptedEffect.parameterSetNode() is not None:
            self.sceneLogic().effect_segmentation_ids.clear()
        self.cancelFeatureJob()

    def onPreview(self):
        """Initialize / Update: with the volume's features cached, the base class's preview (a fraction of a second);
        otherwise they are computed on the job runner first, and the preview follows when they are ready."""
        if self.featureJob is not None and not self.featureJob.done:
            return  # the features are being computed: the preview follows
        if self.featureJob is not None:  # dropped without a callback (the scene was closed meanwhile)
            self.stopFollowingJob()
        with slicer.util.tryWithErrorDisplay(_("Few-shot SPECT failed."), waitCursor=True):
            from SPECTFewShotLib.slicer_app.dependencies import ensure_in_slicer

            if not ensure_in_slicer(slicer):
                return
            from SPECTFewShotLib.mrml.images import volume_from_image

            logic = self.sceneLogic()
            volume = volume_from_image(self.scriptedEffect.sourceVolumeImageData())
            if logic.features_ready(volume):
                AbstractScriptedSegmentEditorAutoCompleteEffect.onPreview(self)
                return
            self.featureJob = logic.jobs.start(
                lambda progress, cancel: logic.compute_features(volume, progress, cancel),
                _("Computing the study's features"), self.onFeaturesReady, self.onFeaturesFailed,
                key=logic.features_job_key(volume))
            logic.jobs.listeners.append(self.showProgress)
            self.showProgress()

    def showProgress(self):
        job = self.featureJob
        self.progressBar.visible = job is not None
        if job is not None:
            self.progressBar.value = int(100 * job.fraction)
            self.progressBar.format = job.message + " %p%"

    def stopFollowingJob(self):
        self.featureJob = None
        if self.scriptedEffect.parameterSetNode() is not None:
            listeners = self.sceneLogic().jobs.listeners
            if self.showProgress in listeners:
                listeners.remove(self.showProgress)
        self.showProgress()

    def onFeaturesReady(self, result):
        self.stopFollowingJob()
        AbstractScriptedSegmentEditorAutoCompleteEffect.onPreview(self)

    def onFeaturesFailed(self, error):
        self.stopFollowingJob()
        from SPECTFewShotLib.errors import CancelledError

        if not isinstance(error, CancelledError):
            slicer.util.errorDisplay(_("Few-shot SPECT failed."), detailedText=str(error))

    def cancelFeatureJob(self):
        if self.featureJob is not None:
            self.featureJob.cancel()
            self.stopFollowingJob()

    def onCancel(self):
        self.cancelFeatureJob()
        AbstractScriptedSegmentEditorAutoCompleteEffect.onCancel(self)

    def reset(self):
        """Drop the preview (Cancel) and update the widgets."""
        AbstractScriptedSegmentEditorAutoCompleteEffect.reset(self)
        self.previewLabelmap = None
        self.updateGUIFromMRML()

    def computePreviewLabelmap(self, mergedImage, outputLabelmap):
        """Classify the whole source volume from the seeds (label n = n-th visible segment) with the cached features:
        `effect_preview` merges the seeds again on the source volume's lattice (the base class's `mergedImage`
        covers only the seeds' extent plus a margin) so that unpainted slices far from the paint are classified."""
        from SPECTFewShotLib.mrml.segment_editor_effect import effect_preview

        segmentIds = [self.selectedSegmentIds.GetValue(n) for n in range(self.selectedSegmentIds.GetNumberOfValues())]
        preview = effect_preview(self.scriptedEffect.parameterSetNode(), segmentIds,
                                 self.scriptedEffect.sourceVolumeImageData(), self.sceneLogic())
        outputLabelmap.DeepCopy(preview)
        self.previewSegmentIds, self.previewLabelmap = segmentIds, preview

    def onApply(self):
        """Write the preview into the painting's tissue classes segmentation (undo: Cancel or paint and apply again);
        the seeds stay as painted, unlike the base class's Apply, which replaces them."""
        from SPECTFewShotLib.mrml.segment_editor_effect import write_result

        with slicer.util.tryWithErrorDisplay(_("Few-shot SPECT could not apply the preview."), waitCursor=True):
            parameterSetNode = self.scriptedEffect.parameterSetNode()
            write_result(parameterSetNode.GetSegmentationNode(), self.previewSegmentIds, self.previewLabelmap,
                         parameterSetNode.GetSourceVolumeNode())
            self.reset()
