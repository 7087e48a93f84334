"""The SPECT Few-Shot module panel's work, without Qt: what Classify, Place landmarks, Show views, Cancel and the live
update do, each on the scene's one job runner, outputs written on the main thread.

The Slicer widget binds its `.ui` and hands this class its parameter node, a `show(status, fraction)` function (the
status line and the progress bar; fraction None hides the bar), an `error(message, exception)` dialog, a timer
factory and the function that lays out the cardiac views; the tests drive it on a slicer-core scene with plain
callables. Rules it keeps: one module job at a time; the classification shown belongs to the newest paint
(`LiveUpdates`); strokes the Few-shot SPECT effect is previewing are not classified a second time; after a scene
close or `shutdown` no job writes anything and no timer acts on a missing parameter node.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from ..errors import CancelledError, SPECTFewShotError
from ..runtime.jobs import BackgroundJob
from ..runtime.live_update import LiveUpdates

if TYPE_CHECKING:
    from ..io.markups_io import Landmark

# A live update runs this long after the last paint event (strokes arrive as bursts of events).
LIVE_UPDATE_DELAY_MS = 300
DEFAULT_MODEL = "default"
# An end of the long-axis line this close (mm) to its landmark rests on that landmark (further: the user moved it).
AXIS_END_TOLERANCE_MM = 0.5

Show = Callable[[str, Optional[float]], None]
ErrorDisplay = Callable[[str, BaseException], None]
TimerFactory = Callable[[int, Callable[[], None]], Any]  # (interval ms, slot) -> object with start() and stop()


class ModulePanel:
    """The module widget's actions on one scene's SceneLogic (`mrml.scene_logic.scene_logic_for`)."""

    def __init__(self, scene_logic: Any, show: Show, error: ErrorDisplay, make_timer: TimerFactory,
                 present_views: Optional[Callable[[Any, bool], None]] = None) -> None:
        self.logic = scene_logic
        self.show = show
        self.error = error
        self.present_views = present_views
        self.parameters: Any = None
        self.live = LiveUpdates()
        self._observed: Optional[tuple[Any, list[int]]] = None  # the painting followed, its observer tags
        self._job: Optional[BackgroundJob] = None  # the module's running job (Classify, Place landmarks, views)
        self._live_job: Optional[BackgroundJob] = None
        self._live_timer = make_timer(LIVE_UPDATE_DELAY_MS, self.on_live_timeout)
        self.on_busy_changed: Callable[[], None] = lambda: None

    # -- state

    @property
    def busy(self) -> bool:
        """Whether a Classify, Place landmarks or Show views job is running."""
        return self._job is not None

    def set_parameters(self, parameters: Any) -> None:
        """The parameter node the actions read (None while the scene closes)."""
        self.parameters = parameters

    def enabled(self) -> dict[str, bool]:
        """The module's buttons (by their .ui names) that can run now: inputs chosen, no module job running."""
        p, free = self.parameters, self._job is None
        return {"classifyButton": bool(p and p.inputVolume and p.supportSegmentation and free),
                "localizeButton": bool(p and p.inputVolume and p.templateVolume and p.templateLandmarks and free),
                "showViewsButton": bool(p and p.inputVolume and (p.viewsSegmentation or p.outputSegmentation)
                                   and (p.outputLongAxis or p.outputLandmarks) and free)}

    def observe_painting(self, node: Any) -> None:
        """Follow a painting's strokes, added and renamed segments (the live update); None stops following."""
        from ..mrml.segmentations import painting_events

        if self._observed is not None and self._observed[0] is node:
            return
        if self._observed is not None:
            for tag in self._observed[1]:
                self._observed[0].RemoveObserver(tag)
            self._observed = None
        if node is not None:
            self._observed = (node, [node.AddObserver(event, lambda caller, event: self.paint_changed())
                                     for event in painting_events()])

    def cancel(self) -> None:
        """Cancel: the running jobs stop at their next check; the classification shown stays."""
        self.live.cancel()
        for job in (self._job, self._live_job):
            if job is not None:
                job.cancel()
        if self._job is not None:
            self.show("Cancelling...", None)

    def scene_closed(self) -> None:
        """The scene is closing: drop every job and pending update; nothing is written afterwards."""
        self._live_timer.stop()
        self.logic.jobs.forget_all()
        self._job = self._live_job = None
        self.parameters = None
        self.observe_painting(None)
        if self.logic.cardiac_views is not None:
            self.logic.cardiac_views.stop_observing()
        self.show("", None)
        self.on_busy_changed()

    def shutdown(self) -> None:
        """The module is destroyed (application exit): as a scene close, leaving nothing running."""
        self.scene_closed()

    # -- running work

    def _start(self, message: str, work: Any, on_done: Callable[[Any], None], key: Any = None) -> None:
        def done(result: Any) -> None:
            if self._job is not job or self.parameters is None:
                return  # superseded, or the scene closed meanwhile
            self._finish()
            self._guarded(on_done, result)

        def failed(error: BaseException) -> None:
            if self._job is not job:
                return
            self._finish()
            if isinstance(error, CancelledError):
                self.show("Cancelled; nothing was changed", None)
            elif self.parameters is not None:
                self.show("", None)
                self.error("The computation failed.", error)

        job = self.logic.jobs.start(work, message, done, failed, key=key)
        self._job = job
        self.show(message, 0.0)
        self.on_busy_changed()

    def _finish(self) -> None:
        self._job = None
        self.show("", None)
        self.on_busy_changed()

    def _guarded(self, step: Callable[[Any], None], value: Any) -> None:
        try:
            step(value)
        except Exception as error:  # shown in a dialog, as the buttons' own errors are
            self.error("The computation failed.", error)

    def progress(self) -> None:
        """Show the running job's progress (the runner calls it at every pump)."""
        if self._job is not None:
            self.show(self._job.message, self._job.fraction)

    # -- Classify

    def classify(self) -> None:
        """Classify every voxel from the painting; the first time for a volume its features are computed first."""
        p = self.parameters
        work = self.logic.feature_work(p.inputVolume, p.supportSegmentation)
        if work is None:
            self._classify_from_cached_features()
            return
        volume = self.logic.read_volume(p.inputVolume)
        self._start("Computing features", work, lambda _: self._classify_from_cached_features(),
                    key=self.logic.features_job_key(volume))

    def _classify_from_cached_features(self) -> None:
        p = self.parameters
        work = self.logic.classification_work(p.inputVolume, p.supportSegmentation)
        started = time.perf_counter()
        self._start("Classifying", work, lambda result: self._write_classification(result, started))

    def _write_classification(self, result: Any, started: float) -> None:
        from ..mrml.segment_editor_effect import OUTPUT_REFERENCE_ROLE, classification_node_for

        p = self.parameters
        output = p.outputSegmentation or classification_node_for(p.supportSegmentation)
        output = self.logic.write_classification(result, p.inputVolume, output, p.outputProbability)
        if p.outputSegmentation is not output:
            p.outputSegmentation = output
        p.supportSegmentation.SetNodeReferenceID(OUTPUT_REFERENCE_ROLE, output.GetID())  # the effect's Apply too
        self.update_table()
        self.show(f"Classified in {time.perf_counter() - started:.2f} s", None)

    # -- live update

    def paint_changed(self) -> None:
        """A stroke was painted: classify again once the strokes pause (unless the effect is previewing them)."""
        p = self.parameters
        if p is None or not p.liveUpdate or p.inputVolume is None or p.supportSegmentation is None:
            return
        if p.supportSegmentation.GetID() in self.logic.effect_segmentation_ids:
            return  # the Few-shot SPECT effect classifies these strokes already (its preview)
        self.live.paint_changed()
        self._live_timer.start()

    def on_live_timeout(self) -> None:
        """Classify the newest paint on the runner; a result is shown only if no newer paint arrived meanwhile."""
        p = self.parameters
        if p is None or not p.liveUpdate or p.inputVolume is None or p.supportSegmentation is None:
            return
        if self._job is not None or self._live_job is not None:  # try again when the running work is done
            self._live_timer.start()
            return
        from ..mrml.volumes import volume_from_node

        try:
            if not self.logic.features_ready(volume_from_node(p.inputVolume)):
                self.show("Click Classify once to compute the features; then the classes follow your painting.",
                          None)
                return
            work = self.logic.classification_work(p.inputVolume, p.supportSegmentation)
        except SPECTFewShotError as error:
            self.show(f"Live update paused: {error}", None)
            return
        generation, started = self.live.latest, time.perf_counter()

        def done(result: Any) -> None:
            if self._live_job is not job or self.parameters is None:
                return
            self._live_job = None
            if not self.live.offer(generation, result):  # newer paint arrived: its own update follows
                self._live_timer.start()
                return
            self._guarded(lambda value: self._write_classification(value, started), result)

        def failed(error: BaseException) -> None:
            if self._live_job is not job:
                return
            self._live_job = None
            if not isinstance(error, CancelledError) and self.parameters is not None:
                self.show(f"Live update paused: {error}", None)

        job = self.logic.jobs.start(work, "Classifying", done, failed)
        self._live_job = job

    # -- Place landmarks

    def localize(self) -> None:
        """Place the templates' landmarks: the study's LV frame from the output classes' myocardium when ticked and
        there is one (as `localize --segmentation`), the first template's from its segmentation when chosen (as
        `--template-segmentation`; without the study's, its frame from its wall classified from that one, as
        `localize` then does), each else from the counts."""
        p = self.parameters
        more = [(p.templateVolume2, p.templateLandmarks2), (p.templateVolume3, p.templateLandmarks3)]
        study_wall = p.outputSegmentation if p.frameFromClassification else None
        work = self.logic.landmark_work(p.inputVolume, p.templateVolume, p.templateLandmarks, more,
                                        p.outputLandmarks, study_wall, p.templateSegmentation)
        self._start("Placing landmarks", work, self._write_landmarks)

    def _write_landmarks(self, placement: Any) -> None:
        p = self.parameters
        points, axis = self.logic.write_placement(placement, p.inputVolume, p.outputLandmarks, p.outputLongAxis)
        if p.outputLandmarks is not points:
            p.outputLandmarks = points
        if p.outputLongAxis is not axis:
            p.outputLongAxis = axis
        self.update_table()
        self.show(self.logic.landmark_status(placement), None)

    # -- measurements and views

    def update_table(self) -> Any:
        """Rewrite the results table (per-class volumes and counts, landmark distances); returns its node."""
        p = self.parameters
        table = self.logic.measure(p.inputVolume, p.outputSegmentation, p.outputLandmarks, p.resultsTable)
        if p.resultsTable is not table:
            p.resultsTable = table
        return table

    def show_views(self) -> None:
        """SA, VLA, HLA, the polar map and its table along the long axis, computed on the runner; the nodes of the
        previous Show views are reused, and the views then follow the axis line."""
        from ..mrml.cardiac_view_nodes import views_logic_for
        from ..mrml.markups import landmarks_from_node

        p = self.parameters
        views = views_logic_for(self.logic, p.reducedThreshold)
        frame = views.prepare(p.inputVolume, p.viewsSegmentation or p.outputSegmentation, p.outputLandmarks,
                              axis_line_node=p.outputLongAxis)
        landmarks = landmarks_from_node(p.outputLandmarks) if p.outputLandmarks is not None else []
        self._start("Computing the cardiac views", lambda progress, cancel: views.compute(frame),
                    lambda result: self._write_views(views, result, landmarks))

    def _write_views(self, views: Any, result: Any, landmarks: Any = ()) -> None:
        views.write(result)
        present = self.present_views
        if present is not None:
            present(views, True)
        views.observe_axis_line(None if present is None else (lambda _: present(views, False)))
        self.show(views_status(result, landmarks), None)


def views_status(result: Any, landmarks: Sequence[Landmark] = ()) -> str:
    """The status line after Show views: the reduced segments, where the septum came from, and the library's warning
    (`cardiac_views.frame.flagged_points_warning`) when the long axis or the septum rests on points flagged for
    checking. An end of the axis the user has moved away from its landmark no longer rests on it."""
    import numpy as np

    from ..cardiac_views.frame import flagged_points_warning

    frame = result.frame
    ends = {"LV_apex": frame.apex, "LV_base": frame.base}
    resting = [lm for lm in landmarks if lm.label not in ends
               or float(np.linalg.norm(np.subtract(lm.position_lps, ends[lm.label]))) <= AXIS_END_TOLERANCE_MM]
    reduced = [str(segment.number) for segment in result.polar_map.segments if segment.reduced]
    parts = [f"Reduced segments: {', '.join(reduced)}" if reduced else "No reduced segment",
             f"septum from the {frame.septum_source}"]
    warning = flagged_points_warning(resting, frame)
    return "; ".join(parts + ([f"warning: {warning}"] if warning else []))


def model_choices(task: str) -> list[str]:
    """'default' plus the registered models of a task whose weights are installed (the module's model menu)."""
    try:
        from ..models.registry import MODELS_DIR, list_models

        return [DEFAULT_MODEL] + [entry.id for entry in list_models(task) if (MODELS_DIR / entry.file).is_file()]
    except Exception:  # a damaged registry must not stop the module from loading; loading a model reports it
        logging.getLogger(__name__).exception("SPECTFewShot: could not read the model registry")
        return [DEFAULT_MODEL]


def slicer_panel(slicer: Any, qt: Any, scene_logic: Any, show: Show) -> ModulePanel:
    """The panel as the Slicer widget uses it: Qt timers, Slicer's error dialog, the cardiac layout, progress
    refreshed at every pump of the scene's job runner."""
    from ..mrml.cardiac_view_nodes import present_in_application

    def timer(interval_ms: int, slot: Callable[[], None]) -> Any:
        qt_timer = qt.QTimer()
        qt_timer.setSingleShot(True)
        qt_timer.setInterval(interval_ms)
        qt_timer.connect("timeout()", slot)
        return qt_timer

    panel = ModulePanel(scene_logic, show, lambda message, error: slicer.util.errorDisplay(
        message, detailedText=str(error)), timer, lambda views, first: present_in_application(slicer, views, first))
    scene_logic.jobs.listeners.append(panel.progress)
    return panel
