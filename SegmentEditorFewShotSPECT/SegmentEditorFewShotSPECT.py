"""Hidden module that registers the "Few-shot SPECT" effect with the Segment Editor when Slicer has started."""

import os

import slicer
from slicer.i18n import tr as _
from slicer.ScriptedLoadableModule import ScriptedLoadableModule


class SegmentEditorFewShotSPECT(ScriptedLoadableModule):
    """Registers the Segment Editor effect; it has no panel of its own."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "SegmentEditorFewShotSPECT"  # not shown: the module is hidden
        self.parent.categories = ["Segmentation"]
        self.parent.dependencies = ["Segmentations", "SegmentEditor"]
        self.parent.contributors = ["SPECTFewShot developers"]
        self.parent.hidden = True
        self.parent.helpText = _(
            "Registers the <b>Few-shot SPECT</b> effect of the Segment Editor: paint a few strokes of each tissue "
            "and the few-shot classifier (ProtoNet prototypes from the paint, a learner fitted on it, a graph cut) "
            "completes the segmentation (preview, auto-update, Apply, Cancel).")
        self.parent.acknowledgementText = _(
            "Method after Khan, Boddepalli, Bhattacharyya and Mitra, Few-Shot Classification and Anatomical "
            "Localization of Tissues in SPECT Imaging, arXiv:2502.06632 (2025).")
        slicer.app.connect("startupCompleted()", self.registerEditorEffect)

    def registerEditorEffect(self):
        """Register the scripted effect with the Segment Editor."""
        import qSlicerSegmentationsEditorEffectsPythonQt as qSlicerSegmentationsEditorEffects

        instance = qSlicerSegmentationsEditorEffects.qSlicerSegmentEditorScriptedEffect(None)
        effectFilename = os.path.join(os.path.dirname(__file__), self.__class__.__name__ + "Lib",
                                      "SegmentEditorEffect.py")
        instance.setPythonSource(effectFilename.replace("\\", "/"))
        instance.self().register()
