import logging
import time
from typing import Annotated, Optional

import qt
import slicer
import vtk
from slicer import (
    vtkMRMLMarkupsFiducialNode,
    vtkMRMLMarkupsLineNode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
    vtkMRMLTableNode,
)
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
from SPECTFewShotLib.background_job import BackgroundJob
from SPECTFewShotLib.errors import CancelledError, SPECTFewShotError
from SPECTFewShotLib.vocabulary import PAINTING_CLASSES

# A live update runs this long after the last paint event (strokes arrive as bursts of events).
LIVE_UPDATE_DELAY_MS = 300
DEFAULT_MODEL = "default"


def _modelChoices(task: str) -> list:
    """'default' plus the registered models of a task whose weights are installed (read from the shipped registry)."""
    try:
        from SPECTFewShotLib.models.registry import MODELS_DIR, list_models

        return [DEFAULT_MODEL] + [entry.id for entry in list_models(task) if (MODELS_DIR / entry.file).is_file()]
    except Exception:  # a damaged registry must not stop the module from loading; loading a model reports it
        logging.exception("SPECTFewShot: could not read the model registry")
        return [DEFAULT_MODEL]


#
# SPECTFewShot
#


class SPECTFewShot(ScriptedLoadableModule):
    """Uses ScriptedLoadableModule base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("SPECT Few-Shot")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Nuclear Medicine")]
        self.parent.dependencies = ["Segmentations", "SegmentEditor", "Markups", "Tables", "SampleData"]
        self.parent.contributors = ["SPECTFewShot developers"]
        self.parent.helpText = _("""
Paint a few strokes or slices of each tissue (LV myocardium, LV blood pool, liver, background) in a SPECT volume
and a Prototypical Network classifies every voxel, again after every stroke when <b>Live update</b> is on.
Place landmarks (LV apex, base, centre) once in a template study and a PRNet localiser places them in new studies.
Outputs are new segmentations, point lists and a measurement table; the volume and your painting are never modified.
See the <a href="https://github.com/SPECTFewShot/SlicerSPECTFewShot#using-it-in-3d-slicer">documentation</a>.
""")
        self.parent.acknowledgementText = _("""
Method after Khan, Boddepalli, Bhattacharyya and Mitra, <i>Few-Shot Classification and Anatomical Localization of
Tissues in SPECT Imaging</i>, arXiv:2502.06632 (2025). Bundled sample study: Calixto W., Nogueira S., Luz F.,
Ortiz de Camargo T. F., <i>Myocardial perfusion scintigraphy image database</i> (version 1.0.0), PhysioNet (2025),
https://doi.org/10.13026/ce2z-dw74, and Goldberger A. et al., PhysioBank, PhysioToolkit, and PhysioNet,
Circulation 101(23):e215-e220 (2000).
""")
        slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData() -> None:
    """The bundled PhysioNet study in the Sample Data module (category Nuclear Medicine)."""
    from SPECTFewShotLib.sample_data import register_sample_data

    register_sample_data()


#
# SPECTFewShotParameterNode
#


@parameterNodeWrapper
class SPECTFewShotParameterNode:
    """
    The parameters needed by module.

    inputVolume - The SPECT volume to classify (never modified).
    supportSegmentation - The painted classes (never modified).
    outputSegmentation - Every voxel's class, with the painted names and colors.
    outputProbability - Optional winning-class probability per voxel.
    liveUpdate - Classify again after every stroke (from cached features).
    templateVolume, templateLandmarks - A study with its landmarks placed.
    templateVolume2, templateLandmarks2, templateVolume3, templateLandmarks3 - Optional further templates (each
        landmark is then the geometric median of the templates' placements).
    outputLandmarks - The landmarks found in the input volume.
    viewsSegmentation - The segmentation whose LV_myocardium the cardiac views and the polar map use.
    reducedThreshold - Segments below this percentage of the myocardial maximum are marked as reduced.
    resultsTable - Per-class volumes and mean counts, landmark distances.
    outputLongAxis - The LV long axis (base centre to apex) as a line the views follow.
    device, classifierModel - Where and with which weights the classifier runs.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    supportSegmentation: vtkMRMLSegmentationNode
    outputSegmentation: vtkMRMLSegmentationNode
    outputProbability: vtkMRMLScalarVolumeNode
    liveUpdate: bool = True
    templateVolume: vtkMRMLScalarVolumeNode
    templateLandmarks: vtkMRMLMarkupsFiducialNode
    templateVolume2: vtkMRMLScalarVolumeNode
    templateLandmarks2: vtkMRMLMarkupsFiducialNode
    templateVolume3: vtkMRMLScalarVolumeNode
    templateLandmarks3: vtkMRMLMarkupsFiducialNode
    outputLandmarks: vtkMRMLMarkupsFiducialNode
    outputLongAxis: vtkMRMLMarkupsLineNode
    viewsSegmentation: vtkMRMLSegmentationNode
    reducedThreshold: Annotated[float, WithinRange(1.0, 99.0)] = 70.0
    resultsTable: vtkMRMLTableNode
    device: Annotated[str, Choice(["auto", "cpu", "cuda"])] = "auto"
    classifierModel: Annotated[str, Choice(_modelChoices("protonet"))] = DEFAULT_MODEL


#
# SPECTFewShotWidget
#


class SPECTFewShotWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Uses ScriptedLoadableModuleWidget base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent=None) -> None:
        """Called when the user opens the module the first time and the widget is initialized."""
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)  # needed for parameter node observation
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._observedSupport = None
        self._job = None
        self._jobDone = None
        self._liveTimer = None
        self._jobTimer = None
        self._live = None  # LiveUpdates: which paint the shown classification belongs to
        self._liveJob = None  # (generation, BackgroundJob) of the live classification running now
        self._liveJobTimer = None

    def setup(self) -> None:
        """Called when the user opens the module the first time and the widget is initialized."""
        ScriptedLoadableModuleWidget.setup(self)

        # Load widget from .ui file (created by Qt Designer).
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SPECTFewShot.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)

        # Set scene in MRML widgets (the .ui connects mrmlSceneChanged to every MRML widget's setMRMLScene).
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = SPECTFewShotLogic()

        # Debounced live update, and the timer that follows a background computation.
        self._liveTimer = qt.QTimer()
        self._liveTimer.setSingleShot(True)
        self._liveTimer.setInterval(LIVE_UPDATE_DELAY_MS)
        self._liveTimer.connect("timeout()", self.onLiveUpdateTimeout)
        self._jobTimer = qt.QTimer()
        self._jobTimer.setInterval(100)
        self._jobTimer.connect("timeout()", self._pollJob)
        self._liveJobTimer = qt.QTimer()
        self._liveJobTimer.setInterval(50)
        self._liveJobTimer.connect("timeout()", self._pollLiveJob)
        from SPECTFewShotLib.live_update import LiveUpdates

        self._live = LiveUpdates()
        self.ui.progressBar.hide()
        self.ui.cancelButton.hide()

        # These connections ensure that we update parameter node when scene is closed
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        # Buttons
        self.ui.classifyButton.connect("clicked(bool)", self.onClassifyButton)
        self.ui.localizeButton.connect("clicked(bool)", self.onLocalizeButton)
        self.ui.showViewsButton.connect("clicked(bool)", self.onShowViewsButton)
        self.ui.editSupportButton.connect("clicked(bool)", self.onEditSupportButton)
        self.ui.loadSampleButton.connect("clicked(bool)", self.onLoadSampleButton)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancelButton)

        # Make sure parameter node is initialized (needed for module reload)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        """Called when the application closes and the module widget is destroyed."""
        if self._job is not None:
            self._job.cancel()
        if self._liveJob is not None:
            self._liveJob[1].cancel()
        for timer in (self._liveTimer, self._liveJobTimer):
            if timer is not None:
                timer.stop()
        self.logic.stopCardiacViews()
        self.removeObservers()

    def enter(self) -> None:
        """Called each time the user opens this module."""
        # Make sure parameter node exists and observed
        self.initializeParameterNode()

    def exit(self) -> None:
        """Called each time the user opens a different module (live update keeps following the painting)."""
        # Do not react to parameter node changes (GUI will be updated when the user enters into the module)
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def onSceneStartClose(self, caller, event) -> None:
        """Called just before the scene is closed."""
        # Parameter node will be reset, do not use it anymore
        if self._job is not None:
            self._job.cancel()
        self._observeSupport(None)
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        """Called just after the scene is closed."""
        # If this module is shown while the scene is closed then recreate a new parameter node immediately
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        """Ensure parameter node exists and observed."""
        # Parameter node stores all user choices in parameter values, node selections, etc.
        # so that when the scene is saved and reloaded, these settings are restored.
        self.setParameterNode(self.logic.getParameterNode())

        # Select default input nodes if nothing is selected yet to save a few clicks for the user
        if not self._parameterNode.inputVolume:
            firstVolumeNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolumeNode:
                self._parameterNode.inputVolume = firstVolumeNode

    def setParameterNode(self, inputParameterNode: Optional[SPECTFewShotParameterNode]) -> None:
        """Set and observe parameter node; GUI changes go to the parameter node and back (SlicerParameterName)."""
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # Note: in the .ui file, a Qt dynamic property called "SlicerParameterName" is set on each
            # ui element that needs connection.
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._onParameterNodeModified()

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        self._checkCanApply()
        self._observeSupport(self._parameterNode.supportSegmentation if self._parameterNode else None)
        if self._parameterNode:
            self.ui.resultsTableView.setMRMLTableNode(self._parameterNode.resultsTable)

    def _checkCanApply(self, caller=None, event=None) -> None:
        p = self._parameterNode
        busy = self._job is not None
        if p and p.inputVolume and p.supportSegmentation and not busy:
            self.ui.classifyButton.toolTip = _("Classify every voxel from the painted classes")
            self.ui.classifyButton.enabled = True
        else:
            self.ui.classifyButton.toolTip = _("Select the SPECT volume and the painted segmentation")
            self.ui.classifyButton.enabled = False
        if p and p.inputVolume and p.templateVolume and p.templateLandmarks and not busy:
            self.ui.localizeButton.toolTip = _("Place the template's landmarks in the SPECT volume")
            self.ui.localizeButton.enabled = True
        else:
            self.ui.localizeButton.toolTip = _("Select the SPECT volume, a template volume and its landmarks")
            self.ui.localizeButton.enabled = False
        axis = p and (p.outputLongAxis or p.outputLandmarks)
        self.ui.showViewsButton.enabled = bool(p and p.inputVolume and (p.viewsSegmentation or p.outputSegmentation)
                                               and axis and not busy)

    # -- live update

    def _observeSupport(self, node) -> None:
        """Follow the painted segmentation's changes (strokes, added or renamed segments)."""
        if node is self._observedSupport:
            return
        for event in self.logic.paintingEvents():
            if self._observedSupport is not None:
                self.removeObserver(self._observedSupport, event, self.onSupportModified)
            if node is not None:
                self.addObserver(node, event, self.onSupportModified)
        self._observedSupport = node

    def onSupportModified(self, caller=None, event=None) -> None:
        """A stroke was painted: classify again once the strokes stop for a moment (debounced)."""
        p = self._parameterNode
        if p and p.liveUpdate and p.inputVolume:
            self._live.paint_changed()
            self._liveTimer.start()

    def onLiveUpdateTimeout(self) -> None:
        """Classify the latest paint on a worker thread (Slicer stays responsive); a result is shown only if no
        newer paint has arrived meanwhile. Painting mistakes show in the status line, not in dialogs."""
        p = self._parameterNode
        if p is None or not p.liveUpdate or p.inputVolume is None or p.supportSegmentation is None:
            return
        if self._job is not None or self._liveJob is not None:  # try again when the running work is done
            self._liveTimer.start()
            return
        if not self.logic.hasFeaturesFor(p.inputVolume):
            self.ui.statusLabel.text = _("Click Classify once to compute the features; then the classes follow "
                                         "your painting.")
            return
        try:
            work = self.logic.classificationWork(p.inputVolume, p.supportSegmentation)
        except SPECTFewShotError as error:
            self.ui.statusLabel.text = _("Live update paused: {reason}").format(reason=error)
            return
        job = BackgroundJob(work, _("Classifying"))
        self._liveJob = (self._live.latest, job, time.perf_counter())
        job.start()
        self._liveJobTimer.start()

    def _pollLiveJob(self) -> None:
        if self._liveJob is None or not self._liveJob[1].done:
            return
        self._liveJobTimer.stop()
        (generation, job, started), self._liveJob = self._liveJob, None
        if job.error is not None:
            if not isinstance(job.error, CancelledError):
                self.ui.statusLabel.text = _("Live update paused: {reason}").format(reason=job.error)
            return
        if not self._live.offer(generation, job.result):  # newer paint arrived: its own update follows
            self._liveTimer.start()
            return
        p = self._parameterNode
        output = self.logic.writeClassification(job.result, p.inputVolume, p.outputSegmentation,
                                                p.outputProbability)
        if p.outputSegmentation is not output:
            p.outputSegmentation = output
        self._updateTable()
        self.ui.statusLabel.text = _("Classified in {seconds:.2f} s").format(seconds=time.perf_counter() - started)

    # -- actions

    def onClassifyButton(self) -> None:
        """Classify; the first time for a volume its features are computed on a worker thread with progress."""
        with slicer.util.tryWithErrorDisplay(_("Failed to classify."), waitCursor=True):
            if not self.logic.ensureDependencies():
                return
            self._configureLogic()
            p = self._parameterNode
            work = self.logic.featureWork(p.inputVolume, p.supportSegmentation)
            if work is None:  # features cached: classifying takes a fraction of a second
                self._classifyFromCachedFeatures()
                return
            self._startJob(_("Computing features"), work, lambda result: self._classifyFromCachedFeatures())

    def _classifyFromCachedFeatures(self) -> None:
        p = self._parameterNode
        start = time.perf_counter()
        output = self.logic.classify(p.inputVolume, p.supportSegmentation, p.outputSegmentation,
                                     p.outputProbability)
        elapsed = time.perf_counter() - start
        if p.outputSegmentation is not output:
            p.outputSegmentation = output
        self._updateTable()
        self.ui.statusLabel.text = _("Classified in {seconds:.2f} s").format(seconds=elapsed)

    def onLocalizeButton(self) -> None:
        """Place the template's landmarks in the volume (on a worker thread, with progress and Cancel)."""
        with slicer.util.tryWithErrorDisplay(_("Failed to place the landmarks."), waitCursor=True):
            if not self.logic.ensureDependencies():
                return
            self._configureLogic()
            p = self._parameterNode
            moreTemplates = [(p.templateVolume2, p.templateLandmarks2), (p.templateVolume3, p.templateLandmarks3)]
            # the classified wall (when there is one) gives the LV frame: the landmarks follow the user's myocardium
            work = self.logic.landmarkWork(p.inputVolume, p.templateVolume, p.templateLandmarks, moreTemplates,
                                           p.outputLandmarks, p.outputSegmentation)
            self._startJob(_("Placing landmarks"), work, self._onLandmarksFound)

    def _onLandmarksFound(self, placement) -> None:
        p = self._parameterNode
        output, axis, status = self.logic.writeLandmarks(placement, p.inputVolume, p.outputLandmarks,
                                                         p.outputLongAxis)
        if p.outputLandmarks is not output:
            p.outputLandmarks = output
        if p.outputLongAxis is not axis:
            p.outputLongAxis = axis
        self._updateTable()
        self.ui.statusLabel.text = status

    def _updateTable(self) -> None:
        p = self._parameterNode
        table = self.logic.measure(p.inputVolume, p.outputSegmentation, p.outputLandmarks, p.resultsTable)
        if p.resultsTable is not table:
            p.resultsTable = table
        self.ui.resultsTableView.setMRMLTableNode(table)

    def onShowViewsButton(self) -> None:
        """The short-axis and long-axis views, the polar map and its table in a cardiac layout, following the axis."""
        with slicer.util.tryWithErrorDisplay(_("Failed to show the cardiac views."), waitCursor=True):
            p = self._parameterNode
            result = self.logic.showCardiacViews(p.inputVolume, p.viewsSegmentation or p.outputSegmentation,
                                                 p.outputLandmarks, p.outputLongAxis, p.reducedThreshold)
            reduced = [str(segment.number) for segment in result.polar_map.segments if segment.reduced]
            self.ui.statusLabel.text = (_("Reduced segments: {segments}").format(segments=", ".join(reduced))
                                        if reduced else _("No reduced segment"))

    def onEditSupportButton(self) -> None:
        """Open the painted segmentation (created with the usual classes if needed) in the Segment Editor, with the
        Few-shot SPECT effect active: its preview follows every stroke, Apply writes it into the segmentation."""
        with slicer.util.tryWithErrorDisplay(_("Failed to open the Segment Editor."), waitCursor=True):
            p = self._parameterNode
            if p.supportSegmentation is None:
                p.supportSegmentation = self.logic.createPainting(p.inputVolume)
            slicer.util.selectModule("SegmentEditor")
            editor = slicer.modules.segmenteditor.widgetRepresentation().self().editor
            editor.setSegmentationNode(p.supportSegmentation)
            if p.inputVolume is not None:
                if hasattr(editor, "setSourceVolumeNode"):
                    editor.setSourceVolumeNode(p.inputVolume)
                else:  # Slicer before 5.4
                    editor.setMasterVolumeNode(p.inputVolume)
            from SPECTFewShotLib.mrml.segment_editor_effect import EFFECT_NAME

            editor.setActiveEffectByName(EFFECT_NAME)

    def onLoadSampleButton(self) -> None:
        """Load the bundled real study and show it."""
        with slicer.util.tryWithErrorDisplay(_("Failed to load the sample study."), waitCursor=True):
            volumeNode = self.logic.loadSampleStudy()
            self._parameterNode.inputVolume = volumeNode
            slicer.util.setSliceViewerLayers(background=volumeNode, fit=True)

    def onCancelButton(self) -> None:
        """Ask the running computation to stop at its next check; the classification shown stays."""
        self._live.cancel()
        if self._liveJob is not None:
            self._liveJob[1].cancel()
        if self._job is not None:
            self._job.cancel()
            self.ui.statusLabel.text = _("Cancelling...")

    def _configureLogic(self) -> None:
        p = self._parameterNode
        self.logic.configure(p.classifierModel, p.device)

    # -- background work

    def _startJob(self, message: str, work, onDone) -> None:
        """Run `work(progress, cancel)` on a worker thread; `onDone(result)` runs on this thread afterwards."""
        self._job = BackgroundJob(work, message)
        self._jobDone = onDone
        self.ui.progressBar.value = 0
        self.ui.progressBar.show()
        self.ui.cancelButton.show()
        self.ui.statusLabel.text = message
        self._checkCanApply()
        self._job.start()
        self._jobTimer.start()

    def _pollJob(self) -> None:
        job = self._job
        if job is None:
            self._jobTimer.stop()
            return
        self.ui.progressBar.value = int(100 * job.fraction)
        self.ui.statusLabel.text = job.message
        if not job.done:
            return
        self._jobTimer.stop()
        self._job = None
        self.ui.progressBar.hide()
        self.ui.cancelButton.hide()
        self._checkCanApply()
        if isinstance(job.error, CancelledError):
            self.ui.statusLabel.text = _("Cancelled; nothing was changed")
            return
        with slicer.util.tryWithErrorDisplay(_("The computation failed."), waitCursor=True):
            if job.error is not None:
                raise job.error
            self._jobDone(job.result)


#
# SPECTFewShotLogic
#


class SPECTFewShotLogic(ScriptedLoadableModuleLogic):
    """The module's logic, usable from the Python console without the widget: it adapts slicer.mrmlScene to
    SPECTFewShotLib.mrml.SceneLogic, where the work is done (and tested headless on slicer-core)."""

    def __init__(self) -> None:
        """Called when the logic class is instantiated. Can be used for initializing member variables."""
        ScriptedLoadableModuleLogic.__init__(self)
        self._sceneLogic = None
        self._cardiacViews = None
        self._dependenciesChecked = False

    def getParameterNode(self):
        return SPECTFewShotParameterNode(super().getParameterNode())

    @property
    def sceneLogic(self):
        """The library's logic on the application's scene (created on first use)."""
        from SPECTFewShotLib.mrml.segment_editor_effect import shared_classifier

        # one session per scene, shared with the Segment Editor effect, so a volume's features are computed once
        self._sceneLogic = shared_classifier(slicer.mrmlScene)
        return self._sceneLogic

    def configure(self, classifierModel: str = DEFAULT_MODEL, device: str = "auto") -> None:
        """Choose the model weights (registry IDs, or 'default') and the device ('auto', 'cpu' or 'cuda')."""
        self.sceneLogic.configure(None if classifierModel == DEFAULT_MODEL else classifierModel, device)

    def ensureDependencies(self, askConfirmation: bool = True) -> bool:
        """True when the Python packages are there; otherwise install them after the user agreed: torch through the
        PyTorch extension, the rest with pip in the background (False until it has finished)."""
        from SPECTFewShotLib.dependencies import (
            TORCH_DISTRIBUTIONS,
            install_in_slicer,
            install_torch_in_slicer,
            missing_message,
            missing_requirements,
        )

        missing = missing_requirements()
        if not missing:
            return True
        interactive = askConfirmation and not slicer.app.testingEnabled()
        if interactive and not slicer.util.confirmOkCancelDisplay(
                missing_message(missing) + "\n\n" + _("Install them now?"), _("Install Python packages")):
            return False
        torchMissing = [r for r in missing if r.distribution in TORCH_DISTRIBUTIONS]
        others = [r for r in missing if r.distribution not in TORCH_DISTRIBUTIONS]
        if torchMissing:
            install_torch_in_slicer(torchMissing)
        if others and interactive:  # in the background: Slicer stays usable, a message says when it is done
            install_in_slicer(others, lambda code: slicer.util.infoDisplay(
                _("The Python packages are installed: run the step again.") if code == 0 else
                _("Installing the Python packages failed; see the Python console.")))
            return False
        if others:
            slicer.util.pip_install(" ".join(str(r) for r in others))
        stillMissing = missing_requirements()
        if stillMissing:
            raise RuntimeError(_("These packages could not be installed: {names}").format(
                names=", ".join(str(r) for r in stillMissing)))
        return True

    def _ready(self) -> None:
        if self._dependenciesChecked:
            return
        if not self.ensureDependencies():
            raise RuntimeError(_("SPECTFewShot cannot run without its Python packages"))
        self._dependenciesChecked = True

    def hasFeaturesFor(self, volumeNode) -> bool:
        """Whether this volume's features are cached (then classifying takes a fraction of a second)."""
        if self._sceneLogic is None or volumeNode is None or volumeNode.GetImageData() is None:
            return False
        from SPECTFewShotLib.mrml import volume_from_node

        try:
            return self._sceneLogic.features_ready(volume_from_node(volumeNode))
        except SPECTFewShotError:
            return False

    def classify(self, volumeNode, supportSegmentationNode, outputSegmentationNode=None,
                 probabilityVolumeNode=None):
        """Classify every voxel from the painted segments; returns the output segmentation node."""
        self._ready()
        return self.sceneLogic.classify(volumeNode, supportSegmentationNode, outputSegmentationNode,
                                        probabilityVolumeNode)

    def classificationWork(self, volumeNode, supportSegmentationNode):
        """Check the inputs; the work (for a worker thread) that classifies the painting from cached features."""
        return self.sceneLogic.classification_work(volumeNode, supportSegmentationNode)

    def writeClassification(self, result, volumeNode, outputSegmentationNode=None, probabilityVolumeNode=None):
        """Write a classification into the output segmentation (and probability volume); returns the output node."""
        return self.sceneLogic.write_classification(result, volumeNode, outputSegmentationNode,
                                                    probabilityVolumeNode)

    def featureWork(self, volumeNode, supportSegmentationNode):
        """Check the inputs; the work (for a worker thread) that computes the volume's features, None if cached."""
        self._ready()
        return self.sceneLogic.feature_work(volumeNode, supportSegmentationNode)

    def landmarkWork(self, volumeNode, templateVolumeNode, templateLandmarksNode, moreTemplates=(),
                     outputLandmarksNode=None, segmentationNode=None):
        """Check the inputs; the work (for a worker thread) that places the templates' landmarks, in the LV frame
        of segmentationNode's LV_myocardium when it has one, else of the counts."""
        self._ready()
        return self.sceneLogic.landmark_work(volumeNode, templateVolumeNode, templateLandmarksNode, moreTemplates,
                                             outputLandmarksNode, segmentationNode)

    def writeLandmarks(self, placement, volumeNode, outputLandmarksNode=None, outputLongAxisNode=None):
        """Write placed landmarks into a point list node and the LV long axis into a line node; returns both nodes
        and a status line for the user."""
        points, axis = self.sceneLogic.write_placement(placement, volumeNode, outputLandmarksNode, outputLongAxisNode)
        return points, axis, self.sceneLogic.landmark_status(placement)

    def localize(self, volumeNode, templateVolumeNode, templateLandmarksNode, outputLandmarksNode=None,
                 moreTemplates=(), segmentationNode=None):
        """Place the template's landmarks in the volume; returns the output point list node. moreTemplates: further
        (volume node, point list node) templates, each landmark then the geometric median of the placements;
        segmentationNode: the study's classification, whose LV_myocardium then gives the LV frame."""
        self._ready()
        return self.sceneLogic.localize(volumeNode, templateVolumeNode, templateLandmarksNode, outputLandmarksNode,
                                        moreTemplates=moreTemplates, segmentationNode=segmentationNode)

    def measure(self, volumeNode, segmentationNode=None, landmarksNode=None, tableNode=None):
        """Per-class volume (mL) and mean counts, landmark distances; returns the table node."""
        return self.sceneLogic.measure(volumeNode, segmentationNode, landmarksNode, tableNode)

    def showCardiacViews(self, volumeNode, segmentationNode, landmarksNode=None, axisLineNode=None,
                         reducedThreshold: float = 70.0):
        """Short axis, vertical and horizontal long axis and the 17-segment polar map (image and table) of the
        volume's LV myocardium along the long-axis line (else the landmarks' LV_base to LV_apex), in a cardiac
        layout; they follow when the line is moved. Returns the analysis (frame, views, polar map)."""
        from SPECTFewShotLib.cardiac_views.polar_map import PolarMapSettings
        from SPECTFewShotLib.mrml.cardiac_views import CardiacViewsLogic, add_cardiac_layout, show_views

        self.stopCardiacViews()
        views = CardiacViewsLogic(slicer.mrmlScene, PolarMapSettings(threshold_percent=float(reducedThreshold)))
        nodes = views.setup(volumeNode, segmentationNode, landmarksNode, axis_line_node=axisLineNode)
        layoutManager = slicer.app.layoutManager()
        if layoutManager is not None:  # the application; a headless scene has no views to arrange
            layoutNode = layoutManager.layoutLogic().GetLayoutNode()
            layoutNode.SetViewArrangement(add_cardiac_layout(layoutNode))
            show_views(slicer.mrmlScene, nodes, views.result.frame)
            selection = slicer.app.applicationLogic().GetSelectionNode()
            selection.SetActiveTableID(nodes.segment_table.GetID())
            slicer.app.applicationLogic().PropagateTableSelection()
            views.observe_axis_line(lambda result: show_views(slicer.mrmlScene, views.nodes, result.frame))
        else:
            views.observe_axis_line()
        self._cardiacViews = views
        return views.result

    def stopCardiacViews(self) -> None:
        """Stop following the long-axis line with the cardiac views."""
        if getattr(self, "_cardiacViews", None) is not None:
            self._cardiacViews.stop_observing()
            self._cardiacViews = None

    @staticmethod
    def paintingEvents() -> list:
        """The events a segmentation node fires when it is painted (what the live update follows)."""
        from SPECTFewShotLib.mrml import painting_events

        return painting_events()

    def createPainting(self, volumeNode):
        """A new segmentation to paint into, with empty segments for the usual classes."""
        from SPECTFewShotLib.mrml import create_painting

        return create_painting(slicer.mrmlScene, volumeNode, PAINTING_CLASSES)

    def loadSampleStudy(self):
        """Load the bundled PhysioNet perfusion study (patient001) through Slicer's own volume loading."""
        from SPECTFewShotLib.resources import sample_study

        imagePath, _maskPath = sample_study()
        return slicer.util.loadVolume(str(imagePath), {"name": "PhysioNet MPS patient001"})


#
# SPECTFewShotTest
#


class SPECTFewShotTest(ScriptedLoadableModuleTest):
    """
    This is the test case for your scripted module.
    Uses ScriptedLoadableModuleTest base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def setUp(self):
        """Do whatever is needed to reset the state - typically a scene clear will be enough."""
        slicer.mrmlScene.Clear()

    def runTest(self):
        """Run as few or as many tests as needed here."""
        self.setUp()
        self.test_SPECTFewShot1()

    def test_SPECTFewShot1(self):
        """The library's end-to-end scenario (the one pytest runs on slicer-core) on the application's scene:
        load the bundled study, paint, classify, paint a stroke and classify again, localize in a moved copy, measure.
        """
        self.delayDisplay("Starting the test")
        logic = SPECTFewShotLogic()
        self.assertTrue(logic.ensureDependencies(askConfirmation=False))

        from SPECTFewShotLib.scenario import run_scenario

        result = run_scenario(slicer.mrmlScene, progress=lambda fraction, message: self.delayDisplay(message, 10))
        self.delayDisplay(
            f"Myocardium Dice on unpainted slices {result['dice_unpainted']:.3f}; first classify "
            f"{result['first_classify_s']:.2f} s, after a stroke {result['update_classify_s']:.3f} s")
        self.delayDisplay("Test passed")
