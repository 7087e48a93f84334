"""The SPECT Few-Shot module's panel (SPECTFewShotLib.slicer_app.panel) on a slicer-core scene, as the Slicer widget
drives it: Cancel and a scene closed mid-job leave nothing running and write nothing, no timer acts on a missing
parameter node; Show views computes on the runner, reuses its nodes and fits the polar-map view; dragging the axis
updates the views at a bounded rate and once more on release."""

import threading
import types
import unittest

import numpy as np

from SPECTFewShotLib import mrml
from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for
from Testing.cardiac_synthetic import synthetic_lv

try:
    import slicer
except ImportError:  # pragma: no cover - slicer-core is a test dependency
    slicer = None


class FakeTimer:
    """A single-shot timer the test fires by hand (Qt's QTimer in Slicer)."""

    def __init__(self, interval_ms, slot):
        self.slot, self.active, self.starts = slot, False, 0

    def start(self):
        self.active, self.starts = True, self.starts + 1

    def stop(self):
        self.active = False

    def fire(self):
        self.active = False
        self.slot()


def parameters(**values):
    """The parameter node's fields (the wrapper in Slicer), None unless given."""
    fields = ("inputVolume", "supportSegmentation", "outputSegmentation", "outputProbability", "templateVolume",
              "templateLandmarks", "templateSegmentation", "templateVolume2", "templateLandmarks2", "templateVolume3",
              "templateLandmarks3", "outputLandmarks", "outputLongAxis", "viewsSegmentation", "resultsTable")
    return types.SimpleNamespace(**{**dict.fromkeys(fields), "liveUpdate": True, "reducedThreshold": 70.0,
                                    "frameFromClassification": True, **values})


@unittest.skipIf(slicer is None, "needs slicer-core")
class PanelTestCase(unittest.TestCase):
    def setUp(self):
        from SPECTFewShotLib.mrml.scene_logic import SceneLogic
        from SPECTFewShotLib.slicer_app.panel import ModulePanel

        self.lv = synthetic_lv((2, 8), depth=0.5, blur_mm=8.0)
        self.scene = mrml.new_scene()
        self.scene.AddNewNodeByClass("vtkMRMLSelectionNode")  # as the application's scene has (units of lines)
        self.volume_node = mrml.volume_to_node(self.lv.image, self.scene, "study")
        wall = self.lv.wall.astype(np.int32)
        painted = np.zeros_like(wall)
        middle = wall.shape[0] // 2
        painted[middle][wall[middle] == 1] = 1
        painted[middle][wall[middle] == 0] = 2
        self.painting = mrml.segmentation_to_node(
            Segmentation(self.lv.image.with_array(painted), segments_for([1, 2], {1: "LV_myocardium",
                                                                                   2: "background"})),
            self.scene, "painting", reference_volume_node=self.volume_node)
        self.logic = SceneLogic(self.scene)
        self.shown, self.errors, self.timers = [], [], []

        def timer(interval_ms, slot):
            self.timers.append(FakeTimer(interval_ms, slot))
            return self.timers[-1]

        self.panel = ModulePanel(self.logic, lambda status, fraction: self.shown.append((status, fraction)),
                                 lambda message, error: self.errors.append(error), timer)
        self.parameters = parameters(inputVolume=self.volume_node, supportSegmentation=self.painting)
        self.panel.set_parameters(self.parameters)

    def block_features(self):
        """Make the feature computation wait for the returned event (a long embedding pass, under control)."""
        started, release = threading.Event(), threading.Event()

        def compute(volume, progress=None, cancel=None):
            started.set()
            release.wait(30)
            if cancel is not None:
                cancel.raise_if_cancelled()

        self.logic.compute_features = compute
        return started, release

    def node_count(self):
        return self.scene.GetNumberOfNodes()


class CancelAndSceneCloseTest(PanelTestCase):
    def test_a_scene_closed_mid_job_leaves_nothing_running_and_writes_nothing(self):
        started, release = self.block_features()
        nodes = self.node_count()
        self.panel.classify()
        self.assertTrue(self.panel.busy)
        started.wait(30)
        self.panel.paint_changed()  # a pending live update too
        live_timer = self.timers[0]
        self.assertTrue(live_timer.active)
        self.panel.scene_closed()  # what the widget's onSceneStartClose does
        self.assertFalse(live_timer.active)
        release.set()
        self.logic.jobs.wait()
        self.assertFalse(self.logic.jobs.busy)
        self.assertFalse(self.panel.busy)
        self.assertEqual(self.node_count(), nodes)  # no output written into the closing scene
        self.assertEqual(self.errors, [])
        live_timer.fire()  # a timer that still fires finds no parameter node: nothing happens, no traceback
        self.assertEqual(self.node_count(), nodes)
        self.assertEqual(self.shown[-1], ("", None))

    def test_cancel_stops_the_job_and_changes_nothing(self):
        started, release = self.block_features()
        nodes = self.node_count()
        self.panel.classify()
        started.wait(30)
        self.panel.cancel()
        release.set()
        self.logic.jobs.wait()
        self.assertFalse(self.panel.busy)
        self.assertEqual(self.shown[-1], ("Cancelled; nothing was changed", None))
        self.assertEqual(self.node_count(), nodes)
        self.assertEqual(self.errors, [])

    def test_shutdown_leaves_no_job_running(self):
        started, release = self.block_features()
        self.panel.classify()
        started.wait(30)
        job = self.logic.jobs.jobs[0]
        self.panel.shutdown()
        release.set()
        job.wait(30)
        self.assertTrue(job.done and job.cancelled)


class ClassifyTest(PanelTestCase):
    def test_classify_then_a_stroke_classifies_again_into_the_same_node(self):
        from SPECTFewShotLib.mrml.segment_editor_effect import classification_node_for

        self.panel.classify()
        self.logic.jobs.wait()  # features, then the classification, each on a worker; written here
        self.assertEqual(self.errors, [])
        output = self.parameters.outputSegmentation
        self.assertIsNotNone(output)
        self.assertIs(classification_node_for(self.painting), output)  # where the effect's Apply writes too
        self.assertIsNotNone(self.parameters.resultsTable)
        self.assertTrue(self.shown[-1][0].startswith("Classified in"))
        painted = mrml.node_fingerprint(self.painting)
        computations = self.logic.feature_computations

        self.panel.paint_changed()  # a stroke: the debounced live update
        stale = self.panel.live.latest
        self.panel.paint_changed()  # and another before the first update ran
        self.timers[0].fire()
        self.logic.jobs.wait()
        self.assertEqual(self.errors, [])
        self.assertGreater(self.panel.live.shown_generation, stale)  # the newest paint's result is shown
        self.assertIs(self.parameters.outputSegmentation, output)
        self.assertEqual(self.logic.feature_computations, computations)  # the features were reused
        self.assertEqual(mrml.node_fingerprint(self.painting), painted)  # the painting is never written


class ViewsTest(PanelTestCase):
    def setUp(self):
        super().setUp()
        labels = self.lv.image.with_array(self.lv.wall.astype(np.int32) * 7)
        self.wall_node = mrml.segmentation_to_node(Segmentation(labels, segments_for([7], {7: "LV_myocardium"})),
                                                   self.scene, "wall")
        self.parameters.viewsSegmentation = self.wall_node
        self.parameters.outputLandmarks = mrml.landmarks_to_node(self.lv.landmarks, self.scene, "landmarks")

    def show_views(self):
        self.panel.show_views()
        self.assertTrue(self.panel.busy)  # computed on the runner
        self.logic.jobs.wait()
        self.assertEqual(self.errors, [])
        return self.logic.cardiac_views

    def test_show_views_twice_reuses_its_nodes(self):
        views = self.show_views()
        nodes = self.node_count()
        first = dict(vars(views.nodes))
        again = self.show_views()
        self.assertIs(again, views)
        self.assertEqual(self.node_count(), nodes)
        self.assertEqual(vars(again.nodes), first)
        self.assertEqual(views.updates, 2)
        self.scene.RemoveNode(views.nodes.polar_map_image)  # deleted by the user: a new one, the rest reused
        self.show_views()
        self.assertEqual(self.scene.GetNumberOfNodesByClass("vtkMRMLVectorVolumeNode"), 1)
        self.assertIsNot(views.nodes.polar_map_image, first["polar_map_image"])
        self.assertEqual({k: v for k, v in vars(views.nodes).items() if k != "polar_map_image"},
                         {k: v for k, v in first.items() if k != "polar_map_image"})

    def test_the_polar_map_view_is_fitted_to_its_image(self):
        from SPECTFewShotLib.mrml.cardiac_view_nodes import POLAR_MAP_VIEW, fit_polar_map_view

        views = self.show_views()
        slice_node = self.scene.AddNewNodeByClass("vtkMRMLSliceNode")
        slice_node.SetLayoutName(POLAR_MAP_VIEW)
        slice_node.SetOrientationToAxial()
        slice_node.SetDimensions(400, 300, 1)
        self.assertTrue(fit_polar_map_view(self.scene, views.nodes))
        bounds = [0.0] * 6
        views.nodes.polar_map_image.GetRASBounds(bounds)
        xy_to_ras = slice_node.GetXYToRAS()
        corners = np.array([[xy_to_ras.MultiplyPoint((x, y, 0, 1))[axis] for axis in range(2)]
                            for x in (0, 400) for y in (0, 300)])
        self.assertLessEqual(corners[:, 0].min(), bounds[0] + 1e-6)  # the whole figure is in view ...
        self.assertGreaterEqual(corners[:, 0].max(), bounds[1] - 1e-6)
        self.assertLessEqual(corners[:, 1].min(), bounds[2] + 1e-6)
        self.assertGreaterEqual(corners[:, 1].max(), bounds[3] - 1e-6)
        width = corners[:, 0].max() - corners[:, 0].min()
        height = corners[:, 1].max() - corners[:, 1].min()
        self.assertLess(min(width / (bounds[1] - bounds[0]), height / (bounds[3] - bounds[2])), 1.1)  # ... filling it

    def test_dragging_the_axis_updates_at_a_bounded_rate_and_once_more_on_release(self):
        presented = []  # what the application shows: the layout once, then the slice views after each update
        self.panel.present_views = lambda views, first: presented.append(first)
        views = self.show_views()
        self.assertEqual(presented, [True])
        views.drag_interval_s = 3600.0  # no update between the first move and the release, whatever the machine
        line = views.nodes.axis_line
        start = np.asarray(line.GetNthControlPointPositionWorld(0))
        updates = views.updates
        line.InvokeEvent(line.PointStartInteractionEvent)
        for step in range(1, 21):  # twenty mouse moves of a drag
            line.SetNthControlPointPositionWorld(0, *(start + step * np.array([0.3, -0.2, 0.1])))
        self.assertEqual(views.updates, updates + 1)  # the first move only, not twenty analyses
        line.InvokeEvent(line.PointEndInteractionEvent)
        self.assertEqual(views.updates, updates + 2)  # and once on release, at the final position
        final = start + 20 * np.array([0.3, -0.2, 0.1])
        np.testing.assert_allclose(views.result.frame.base, final * [-1, -1, 1], atol=1e-6)
        line.SetNthControlPointPositionWorld(0, *start)  # a move by a script (no drag) updates at once
        self.assertEqual(views.updates, updates + 3)
        self.assertEqual(presented, [True, False, False, False])  # the layout and the polar-map zoom are kept

    def test_a_flagged_apex_the_axis_rests_on_is_named_until_the_axis_end_is_moved(self):
        from SPECTFewShotLib.cardiac_views.frame import flagged_points_warning
        from SPECTFewShotLib.landmarks.fusion import LOW_CONFIDENCE
        from SPECTFewShotLib.slicer_app.panel import views_status

        landmarks = [type(lm)(lm.label, lm.position_lps, LOW_CONFIDENCE / 2 if lm.label == "LV_apex" else 0.9)
                     for lm in self.lv.landmarks]
        self.parameters.outputLandmarks = mrml.landmarks_to_node(landmarks, self.scene, "flagged")
        views = self.show_views()
        status = self.shown[-1][0]
        self.assertIn("septum from the ", status)
        warning = flagged_points_warning(landmarks, views.result.frame)  # the library's line, as the CLI prints it
        self.assertIn("LV_apex", warning)
        self.assertTrue(status.endswith(f"; warning: {warning}"), status)
        line = views.nodes.axis_line
        apex = np.asarray(line.GetNthControlPointPositionWorld(1))
        line.SetNthControlPointPositionWorld(1, *(apex + np.array([6.0, 0.0, 0.0])))  # the user moves the apex end
        self.assertNotIn("warning", views_status(views.result, landmarks))
        sure = [type(lm)(lm.label, lm.position_lps, 0.9) for lm in self.lv.landmarks]
        self.assertNotIn("warning", views_status(views.result, sure))


class LocalizeTest(PanelTestCase):
    """Localize takes the study's frame from the output classes unless unticked, the template's from its
    segmentation, and says in the status line which frame was used and which points to check."""

    def setUp(self):
        super().setUp()
        labels = self.lv.image.with_array(self.lv.wall.astype(np.int32) * 3)
        self.wall_node = mrml.segmentation_to_node(Segmentation(labels, segments_for([3], {3: "LV_myocardium"})),
                                                   self.scene, "classes")
        self.parameters.outputSegmentation = self.wall_node
        self.parameters.templateVolume = self.volume_node
        self.parameters.templateLandmarks = mrml.landmarks_to_node(self.lv.landmarks, self.scene, "template")
        self.calls = []
        place = self.logic.place_landmarks

        def spy(volume, templates, progress=None, cancel=None, myocardium=None, template_myocardia=None):
            self.calls.append((myocardium, template_myocardia))
            return place(volume, templates, progress, cancel, myocardium, template_myocardia)

        self.logic.place_landmarks = spy

    def localize(self):
        self.panel.localize()
        self.assertTrue(self.panel.busy)  # placed on the runner
        self.logic.jobs.wait()
        self.assertEqual(self.errors, [])
        return self.shown[-1][0]

    def test_the_classified_wall_and_the_template_segmentation_make_the_frames(self):
        self.parameters.templateSegmentation = self.wall_node
        status = self.localize()
        myocardium, template_walls = self.calls[-1]
        self.assertIsNotNone(myocardium)
        self.assertIsNotNone(template_walls[0])
        self.assertTrue(status.startswith(f"Placed {len(self.lv.landmarks)} landmarks (LV frame from the classified "
                                          "myocardium)"), status)
        self.assertEqual(len(status.splitlines()), 1)
        # the template placed in itself with both frames from the same wall: its own points come back
        placed = mrml.landmarks_from_node(self.parameters.outputLandmarks)
        for found, given in zip(placed, self.lv.landmarks):
            self.assertLess(np.linalg.norm(np.subtract(found.position_lps, given.position_lps)), 0.5)
        self.assertIsNotNone(self.parameters.outputLongAxis)

    def test_a_template_segmentation_alone_classifies_the_studys_wall_from_it_unless_opted_out(self):
        self.parameters.frameFromClassification = False
        self.parameters.templateSegmentation = self.wall_node
        status = self.localize()
        self.assertIsNone(self.calls[-1][0])
        self.assertTrue(status.startswith(f"Placed {len(self.lv.landmarks)} landmarks (LV frame from the study's wall "
                                          "classified from the template's myocardium)"), status)
        self.logic.one_shot = False  # the console's opt-out
        self.assertIn("LV frame from the counts", self.localize())

    def test_unticked_the_frame_comes_from_the_counts(self):
        self.parameters.frameFromClassification = False
        status = self.localize()
        myocardium, template_walls = self.calls[-1]
        self.assertIsNone(myocardium)
        self.assertEqual(template_walls, [None])
        self.assertIn("LV frame from the counts", status)

    def test_a_classified_wall_that_is_no_lv_is_not_used_and_the_user_is_told(self):
        blob = np.zeros(self.lv.wall.shape, np.int32)
        blob[2:12, 2:12, 2:12] = 3  # solid, in a corner: no wall around a cavity
        self.parameters.outputSegmentation = mrml.segmentation_to_node(
            Segmentation(self.lv.image.with_array(blob), segments_for([3], {3: "LV_myocardium"})), self.scene, "blob")
        status = self.localize()
        self.assertTrue(status.startswith(f"Placed {len(self.lv.landmarks)} landmarks (LV frame from the counts)"),
                        status)
        self.assertIn("the myocardium given was not used for the LV frame", status)
        # the console API says the same from its last placement
        self.logic.localize(self.volume_node, self.volume_node, self.parameters.templateLandmarks,
                            segmentationNode=self.parameters.outputSegmentation)
        self.assertEqual(self.logic.landmark_status(self.logic.last_placement), status)

    def test_the_status_names_the_points_to_check(self):
        from SPECTFewShotLib.landmarks.fusion import LOW_CONFIDENCE, low_confidence_labels
        from SPECTFewShotLib.landmarks.staged import Placement

        placement = self.logic.place_landmarks(self.lv.image, [(self.lv.image, self.lv.landmarks)],
                                               myocardium=self.lv.image.with_array(self.lv.wall.astype(np.uint8)))
        doubtful = [type(lm)(lm.label, lm.position_lps, LOW_CONFIDENCE / 2 if lm.label == "LV_apex" else 0.9)
                    for lm in placement.landmarks]
        self.assertEqual(low_confidence_labels(doubtful), ["LV_apex"])
        status = self.logic.landmark_status(Placement(doubtful, placement.long_axis, placement.frame,
                                                      ["a warning"]))
        self.assertIn("; check: LV_apex", status)
        self.assertTrue(status.endswith("; a warning"), status)
        sure = self.logic.landmark_status(Placement([type(lm)(lm.label, lm.position_lps, 0.9) for lm in doubtful],
                                                    placement.long_axis, placement.frame))
        self.assertIn("no point flagged for checking", sure)


@unittest.skipIf(slicer is None, "needs slicer-core")
class LiveUpdateWhileEffectActiveTest(PanelTestCase):
    def test_strokes_of_a_painting_the_effect_previews_are_not_classified_again(self):
        self.logic.effect_segmentation_ids.add(self.painting.GetID())
        self.panel.paint_changed()
        self.assertFalse(self.timers[0].active)
        self.logic.effect_segmentation_ids.clear()
        self.panel.paint_changed()
        self.assertTrue(self.timers[0].active)

    def test_a_stroke_starts_the_debounced_live_update_through_the_observer(self):
        self.panel.observe_painting(self.painting)
        mrml.paint_segment(self.painting, "LV_myocardium", self.lv.wall, self.volume_node)
        self.assertTrue(self.timers[0].active)
        self.panel.observe_painting(None)


if __name__ == "__main__":
    unittest.main()
