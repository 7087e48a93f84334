from typing import Annotated, Optional

import qt
import slicer
import vtk
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

# Only light parts of the library at import time (no torch): Slicer imports this file when it starts.
from SPECTFewShotLib.runtime.jobs import qt_schedule
from SPECTFewShotLib.slicer_app.dependencies import ensure_in_slicer, missing_requirements
from SPECTFewShotLib.slicer_app.panel import DEFAULT_MODEL, model_choices, slicer_panel
from SPECTFewShotLib.slicer_app.sample_data import register_sample_data
from SPECTFewShotLib.vocabulary import PAINTING_CLASSES


class SPECTFewShot(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("SPECT Few-Shot")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Nuclear Medicine")]
        self.parent.dependencies = ["Segmentations", "SegmentEditor", "Markups", "Tables", "SampleData"]
        self.parent.contributors = ["SPECTFewShot developers"]
        self.parent.helpText = _("""
Paint a few strokes or slices of each tissue (LV myocardium, LV blood pool, liver, background) in a SPECT volume:
ProtoNet prototypes of your paint, a learner and a graph cut classify every voxel (again after each stroke with <b>Live
update</b>). <b>Localize</b> carries every landmark of a template, annotated once in your own convention, in the LV
frame of the classified wall (else of the wall classified from a template segmentation, else of the counts); the status
line names the frame and the points to check. Outputs are new nodes; the volume and your painting are never modified.
See the <a href="https://github.com/SPECTFewShot/SlicerSPECTFewShot#using-it-in-3d-slicer">documentation</a>.
""")
        self.parent.acknowledgementText = _("""
Method after Khan, Boddepalli, Bhattacharyya and Mitra, <i>Few-Shot Classification and Anatomical Localization of
Tissues in SPECT Imaging</i>, arXiv:2502.06632 (2025). Bundled sample study: Calixto W., Nogueira S., Luz F.,
Ortiz de Camargo T. F., <i>Myocardial perfusion scintigraphy image database</i> (version 1.0.0), PhysioNet (2025),
https://doi.org/10.13026/ce2z-dw74, and Goldberger A. et al., PhysioBank, PhysioToolkit, and PhysioNet,
Circulation 101(23):e215-e220 (2000).
""")
        slicer.app.connect("startupCompleted()", register_sample_data)  # the bundled study in Sample Data


@parameterNodeWrapper
class SPECTFewShotParameterNode:
    """The module's choices, saved with the scene (the .ui binds each by SlicerParameterName; tooltips explain)."""

    inputVolume: slicer.vtkMRMLScalarVolumeNode
    supportSegmentation: slicer.vtkMRMLSegmentationNode
    outputSegmentation: slicer.vtkMRMLSegmentationNode
    outputProbability: slicer.vtkMRMLScalarVolumeNode
    liveUpdate: bool = True
    templateVolume: slicer.vtkMRMLScalarVolumeNode
    templateLandmarks: slicer.vtkMRMLMarkupsFiducialNode
    templateSegmentation: slicer.vtkMRMLSegmentationNode
    frameFromClassification: bool = True
    templateVolume2: slicer.vtkMRMLScalarVolumeNode
    templateLandmarks2: slicer.vtkMRMLMarkupsFiducialNode
    templateVolume3: slicer.vtkMRMLScalarVolumeNode
    templateLandmarks3: slicer.vtkMRMLMarkupsFiducialNode
    outputLandmarks: slicer.vtkMRMLMarkupsFiducialNode
    outputLongAxis: slicer.vtkMRMLMarkupsLineNode
    viewsSegmentation: slicer.vtkMRMLSegmentationNode
    reducedThreshold: Annotated[float, WithinRange(1.0, 99.0)] = 70.0
    resultsTable: slicer.vtkMRMLTableNode
    device: Annotated[str, Choice(["auto", "cpu", "cuda"])] = "auto"
    classifierModel: Annotated[str, Choice(model_choices("protonet"))] = DEFAULT_MODEL


class SPECTFewShotWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Binds the .ui to the parameter node; the actions are SPECTFewShotLib.slicer_app.panel.ModulePanel's."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)  # needed for parameter node observation
        self.logic = self.panel = self._parameterNode = self._parameterNodeGuiTag = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SPECTFewShot.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)  # the .ui connects mrmlSceneChanged to every MRML widget
        self.logic = SPECTFewShotLogic()
        self._show("", None)  # no progress bar until a job runs
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.classifyButton.connect("clicked(bool)", lambda checked: self.onAction("classify"))
        self.ui.localizeButton.connect("clicked(bool)", lambda checked: self.onAction("localize"))
        self.ui.showViewsButton.connect("clicked(bool)", lambda checked: self.onAction("show_views"))
        self.ui.editSupportButton.connect("clicked(bool)", self.onEditSupportButton)
        self.ui.loadSampleButton.connect("clicked(bool)", self.onLoadSampleButton)
        self.ui.cancelButton.connect("clicked(bool)", lambda checked: self.panel.cancel())
        self.initializeParameterNode()

    def _show(self, status: str, fraction: Optional[float]) -> None:
        self.ui.statusLabel.text = status
        self.ui.progressBar.visible = self.ui.cancelButton.visible = fraction is not None
        self.ui.progressBar.value = int(100 * (fraction or 0.0))

    def onAction(self, action: str) -> None:  # the dependencies first (the install dialog), then the action
        with slicer.util.tryWithErrorDisplay(_("Failed to compute."), waitCursor=True):
            if self.logic.ensureDependencies():
                self.logic.configure(self._parameterNode.classifierModel, self._parameterNode.device)
                getattr(self.panel, action)()

    def cleanup(self) -> None:
        self.panel.shutdown()  # the application closes: nothing keeps running
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:  # the GUI stops following the parameter node (the live update keeps going)
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def onSceneStartClose(self, caller, event) -> None:
        self.panel.scene_closed()  # every job and pending update dropped
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        if self.panel is None or self.panel.logic is not self.logic.sceneLogic:  # a panel on the scene's SceneLogic
            self.panel = slicer_panel(slicer, qt, self.logic.sceneLogic, self._show)
            self.panel.on_busy_changed = self._onParameterNodeModified
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            self._parameterNode.inputVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")

    def setParameterNode(self, inputParameterNode: Optional[SPECTFewShotParameterNode]) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = inputParameterNode
        self.panel.set_parameters(inputParameterNode)
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._onParameterNodeModified()

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        p = self._parameterNode
        for button, enabled in self.panel.enabled().items():
            getattr(self.ui, button).enabled = enabled
        self.panel.observe_painting(p.supportSegmentation if p else None)  # the live update follows it
        if p:
            self.ui.resultsTableView.setMRMLTableNode(p.resultsTable)

    def onEditSupportButton(self) -> None:
        """The painting in the Segment Editor with the Few-shot SPECT effect (Apply never writes the painting)."""
        with slicer.util.tryWithErrorDisplay(_("Failed to open the Segment Editor."), waitCursor=True):
            p = self._parameterNode
            if p.supportSegmentation is None:
                p.supportSegmentation = self.logic.createPainting(p.inputVolume)
            from SPECTFewShotLib.mrml.segment_editor_effect import open_in_segment_editor

            open_in_segment_editor(slicer, p.supportSegmentation, p.inputVolume)

    def onLoadSampleButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to load the sample study."), waitCursor=True):
            self._parameterNode.inputVolume = self.logic.loadSampleStudy()


class SPECTFewShotLogic(ScriptedLoadableModuleLogic):
    """The console API (README, "Scripting") on slicer.mrmlScene's SceneLogic, shared with the panel and effect."""

    def getParameterNode(self):
        return SPECTFewShotParameterNode(super().getParameterNode())

    @property
    def sceneLogic(self):
        """The library's logic on the application's scene, its job runner pumped by Qt's event loop."""
        from SPECTFewShotLib.mrml.scene_logic import scene_logic_for

        return scene_logic_for(slicer.mrmlScene, qt_schedule(qt))

    def configure(self, classifierModel: str = DEFAULT_MODEL, device: str = "auto") -> None:
        """The model weights (a registry ID, or 'default') and the device ('auto', 'cpu' or 'cuda')."""
        self.sceneLogic.configure(None if classifierModel == DEFAULT_MODEL else classifierModel, device)

    def ensureDependencies(self, askConfirmation: bool = True) -> bool:
        """True when the packages are there; else ask and install them (never in testing mode)."""
        return ensure_in_slicer(slicer, askConfirmation)

    def classify(self, volumeNode, supportSegmentationNode, outputSegmentationNode=None, probabilityVolumeNode=None):
        """Classify every voxel from the painted segments (blocking); returns the output segmentation node."""
        return self.sceneLogic.classify(volumeNode, supportSegmentationNode, outputSegmentationNode,
                                        probabilityVolumeNode)

    def localize(self, volumeNode, templateVolumeNode, templateLandmarksNode, outputLandmarksNode=None,
                 moreTemplates=(), segmentationNode=None, templateSegmentationNode=None):
        """Place the template's landmarks in the volume (blocking); returns the output point list node."""
        return self.sceneLogic.localize(volumeNode, templateVolumeNode, templateLandmarksNode, outputLandmarksNode,
                                        moreTemplates=moreTemplates, segmentationNode=segmentationNode,
                                        templateSegmentationNode=templateSegmentationNode)

    def measure(self, volumeNode, segmentationNode=None, landmarksNode=None, tableNode=None):
        """Per-class volume (mL) and mean counts, landmark distances; returns the table node."""
        return self.sceneLogic.measure(volumeNode, segmentationNode, landmarksNode, tableNode)

    def showCardiacViews(self, volumeNode, segmentationNode, landmarksNode=None, axisLineNode=None,
                         reducedThreshold: float = 70.0):
        """SA, VLA, HLA and the polar map along the axis line, following it; returns the analysis."""
        from SPECTFewShotLib.mrml.cardiac_view_nodes import present_in_application, show_cardiac_views

        return show_cardiac_views(self.sceneLogic, volumeNode, segmentationNode, landmarksNode, axisLineNode,
                                  reducedThreshold, lambda views, first: present_in_application(slicer, views, first))

    def createPainting(self, volumeNode):
        """A new segmentation to paint into, with empty segments for the usual classes."""
        from SPECTFewShotLib.mrml import create_painting

        return create_painting(slicer.mrmlScene, volumeNode, PAINTING_CLASSES)

    def loadSampleStudy(self):
        """Load the bundled PhysioNet perfusion study (patient001) with Slicer's volume loading, and show it."""
        from SPECTFewShotLib.resources import sample_study

        volumeNode = slicer.util.loadVolume(str(sample_study()[0]), {"name": "PhysioNet MPS patient001"})
        slicer.util.setSliceViewerLayers(background=volumeNode, fit=True)
        return volumeNode


class SPECTFewShotTest(ScriptedLoadableModuleTest):
    """The library's end-to-end scenario on the application's scene (pytest: Testing/product/test_scenario.py)."""

    def runTest(self):
        slicer.mrmlScene.Clear()
        self.test_SPECTFewShot1()

    def test_SPECTFewShot1(self):
        """Load the bundled study, paint, classify, paint a stroke and classify again, localize, views, measure."""
        from SPECTFewShotLib.selftest.scenario import run_scenario

        missing = missing_requirements()  # the test never installs: a test machine provides the packages
        self.assertFalse(missing, f"install first: {', '.join(str(r) for r in missing)}")
        result = run_scenario(slicer.mrmlScene, progress=lambda fraction, message: self.delayDisplay(message, 10))
        self.delayDisplay(f"Passed: myocardium Dice on the unpainted slices {result['dice_unpainted']:.3f}")
