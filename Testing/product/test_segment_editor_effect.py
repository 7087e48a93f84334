"""The "Few-shot SPECT" Segment Editor effect's logic on slicer-core: preview, apply, cancel, masking, export."""

import contextlib
import math
import sys
import tempfile
import threading
import time
import types
import unittest
from pathlib import Path
from unittest import mock

import numpy as np

from SPECTFewShotLib.io.segmentation_io import Segmentation, read_segmentation, segments_for
from SPECTFewShotLib.io.volume_io import read_volume, write_volume
from SPECTFewShotLib.mrml.images import image_array
from SPECTFewShotLib.mrml.scene import new_scene, node_fingerprint, slicer_module
from SPECTFewShotLib.mrml.scene_logic import SceneLogic
from SPECTFewShotLib.mrml.segment_editor_effect import FewShotEffectLogic
from SPECTFewShotLib.mrml.segmentations import segmentation_from_node, segmentation_to_node
from SPECTFewShotLib.mrml.volumes import volume_to_node
from SPECTFewShotLib.resources import sample_study
from SPECTFewShotLib.volume import Volume
from Testing.segmentation_reference import hand_written_segmentation_on_grid


def run_classify_command(*argv) -> int:
    """`spectfewshot classify ARGV...` through the command's own parser and code (stdout silenced)."""
    import argparse
    import contextlib
    import io

    from SPECTFewShotLib.commands import classify

    parser = argparse.ArgumentParser(prog="spectfewshot")
    classify.register(parser.add_subparsers())
    args = parser.parse_args(["classify", *(str(a) for a in argv)])
    with contextlib.redirect_stdout(io.StringIO()):
        return args.func(args)

NAMES = {1: "LV_myocardium", 2: "background"}


def cropped_study() -> tuple[Volume, np.ndarray]:
    """The bundled study cropped around the heart (fast to classify) and its LV-wall mask on the same grid."""
    image_path, mask_path = sample_study()
    volume, mask = read_volume(image_path), read_volume(mask_path).array > 0
    k, j, i = np.nonzero(mask)
    box = tuple(slice(max(0, low - 8), high + 9) for low, high in ((k.min(), k.max()), (j.min(), j.max()),
                                                                     (i.min(), i.max())))
    origin = volume.index_to_lps([box[2].start, box[1].start, box[0].start])
    cropped = Volume(np.ascontiguousarray(volume.array[box]), volume.spacing, tuple(origin), volume.direction)
    return cropped, mask[box]


def paint(mask: np.ndarray) -> np.ndarray:
    """Two painted axial slices: the LV wall (1) and, away from it, background (2)."""
    from scipy import ndimage

    painted = np.zeros(mask.shape, dtype=np.int32)
    far = ~ndimage.binary_dilation(mask, iterations=3)
    rows = np.nonzero(mask.any(axis=(1, 2)))[0]
    for k in (rows[len(rows) // 3], rows[2 * len(rows) // 3]):
        painted[k][mask[k]] = 1
        painted[k][far[k]] = 2
    return painted


class EffectTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.volume, cls.mask = cropped_study()
        cls.painted = paint(cls.mask)
        cls.classifier = SceneLogic(new_scene())  # one feature cache for every test, as in a session

    def setUp(self):
        self.slicer = slicer_module()
        self.scene = new_scene()
        self.volume_node = volume_to_node(self.volume, self.scene, "study")
        seeds = Segmentation(self.volume.with_array(self.painted), segments_for([1, 2], NAMES))
        self.segmentation_node = segmentation_to_node(seeds, self.scene, "painting",
                                                      reference_volume_node=self.volume_node)
        self.editor_node = self.slicer.vtkMRMLSegmentEditorNode()
        self.scene.AddNode(self.editor_node)
        self.editor_node.SetAndObserveSegmentationNode(self.segmentation_node)
        self.editor_node.SetAndObserveSourceVolumeNode(self.volume_node)
        self.logic = FewShotEffectLogic(self.editor_node, self.classifier)

    def fingerprints(self) -> dict:
        nodes = [self.scene.GetNthNode(n) for n in range(self.scene.GetNumberOfNodes())]
        return {node.GetID(): node_fingerprint(node) for node in nodes
                if node.IsA("vtkMRMLVolumeNode") or node.IsA("vtkMRMLSegmentationNode")}


class PreviewTest(EffectTestCase):
    def test_the_preview_is_what_spectfewshot_classify_gives_for_the_same_paint(self):
        self.assertIsNone(self.logic.preview_image)
        self.logic.preview()
        preview = self.logic.preview_labels()
        with tempfile.TemporaryDirectory() as tmp:
            volume_path = write_volume(self.volume, Path(tmp) / "study.nrrd")
            support = Segmentation(self.volume.with_array(self.painted), segments_for([1, 2], NAMES))
            from SPECTFewShotLib.io.segmentation_io import write_segmentation

            support_path = write_segmentation(support, Path(tmp) / "support.seg.nrrd")
            code = run_classify_command(volume_path, "--support", support_path, "-o", Path(tmp) / "out.seg.nrrd")
            self.assertEqual(code, 0)
            expected = read_segmentation(Path(tmp) / "out.seg.nrrd")
        self.assertEqual(preview.shape, expected.labels.array.shape)
        for number, segment_id in enumerate(self.logic.segment_ids, start=1):
            name = self.segmentation_node.GetSegmentation().GetSegment(segment_id).GetName()
            label = next(info.label for info in expected.segments if info.name == name)
            np.testing.assert_array_equal(preview == number, expected.labels.array == label, err_msg=name)
        wall = preview == self.logic.segment_ids.index("LV_myocardium") + 1
        dice = 2 * (wall & self.mask).sum() / (wall.sum() + self.mask.sum())
        self.assertGreater(dice, 0.5)  # a real classification, not the paint alone

    def test_one_painted_segment_is_refused_with_a_clear_message(self):
        from SPECTFewShotLib.errors import InputError

        display = self.segmentation_node.GetDisplayNode()
        display.SetSegmentVisibility("background", False)
        with self.assertRaisesRegex(InputError, "at least two"):
            self.logic.preview()


class ApplyCancelTest(EffectTestCase):
    def test_cancel_changes_nothing(self):
        before, nodes = self.fingerprints(), self.scene.GetNumberOfNodes()
        self.logic.preview()
        self.logic.cancel()
        self.assertEqual(self.fingerprints(), before)
        self.assertEqual(self.scene.GetNumberOfNodes(), nodes)
        self.assertIsNone(self.logic.preview_image)

    def test_apply_keeps_the_seeds_and_writes_the_classes_into_a_separate_segmentation(self):
        from SPECTFewShotLib.mrml.segment_editor_effect import classification_node_for

        other = segmentation_to_node(Segmentation(self.volume.with_array(self.painted), segments_for([1, 2], NAMES)),
                                     self.scene, "another painting", reference_volume_node=self.volume_node)
        before = self.fingerprints()
        self.logic.preview()
        preview, ids = self.logic.preview_labels(), list(self.logic.segment_ids)
        output = self.logic.apply()
        after = self.fingerprints()
        self.assertEqual(after[self.segmentation_node.GetID()], before[self.segmentation_node.GetID()])  # seeds kept
        self.assertEqual(after[other.GetID()], before[other.GetID()])
        self.assertEqual(self.volume_node.GetID() in after and after[self.volume_node.GetID()],
                         before[self.volume_node.GetID()])
        self.assertNotIn(output.GetID(), before)  # a new node: "<painting> tissue classes"
        self.assertEqual(output.GetName(), "painting tissue classes")
        self.assertIs(classification_node_for(self.segmentation_node), output)
        written = segmentation_from_node(output, self.volume_node)
        for number, segment_id in enumerate(ids, start=1):
            name = self.segmentation_node.GetSegmentation().GetSegment(segment_id).GetName()
            info = next(i for i in written.segments if i.name == name)
            np.testing.assert_array_equal(written.labels.array == info.label, preview == number, err_msg=name)
        self.logic.preview()  # paint nothing more and apply again: the same node, no new one
        nodes = self.scene.GetNumberOfNodes()
        self.assertIs(self.logic.apply(), output)
        self.assertEqual(self.scene.GetNumberOfNodes(), nodes)

    def test_a_masked_region_keeps_the_classes_applied_before(self):
        from SPECTFewShotLib.mrml.segmentations import paint_segment

        self.logic.preview()
        first = segmentation_from_node(self.logic.apply(), self.volume_node)
        region = np.zeros(self.mask.shape, dtype=bool)
        region[:, :, : self.mask.shape[2] // 2] = True  # editing allowed in the left half only
        segmentation = self.segmentation_node.GetSegmentation()
        segmentation.AddEmptySegment("editable", "editable", [0.2, 0.2, 0.9])
        paint_segment(self.segmentation_node, "editable", region, self.volume_node)
        self.segmentation_node.GetDisplayNode().SetSegmentVisibility("editable", False)  # a mask, not a seed
        self.editor_node.SetMaskMode(self.slicer.vtkMRMLSegmentationNode.EditAllowedInsideSingleSegment)
        self.editor_node.SetMaskSegmentID("editable")
        self.logic.preview()
        preview = self.logic.preview_labels()
        self.assertFalse(preview[~region].any())
        self.assertTrue(preview[region].any())
        second = segmentation_from_node(self.logic.apply(), self.volume_node)
        for name in NAMES.values():
            old = first.labels.array == next(i.label for i in first.segments if i.name == name)
            new = second.labels.array == next(i.label for i in second.segments if i.name == name)
            np.testing.assert_array_equal(new[~region], old[~region], err_msg=name)  # masked: as applied before

    def test_the_effect_and_the_module_read_the_same_volume_so_features_are_shared(self):
        from SPECTFewShotLib.mrml.images import volume_from_image
        from SPECTFewShotLib.mrml.scene_logic import volume_digest
        from SPECTFewShotLib.mrml.volumes import volume_from_node

        aligned = volume_from_image(self.logic.source_image())
        self.assertEqual(volume_digest(aligned), volume_digest(volume_from_node(self.volume_node)))


EFFECT_FILE = (Path(__file__).resolve().parents[2] / "SegmentEditorFewShotSPECT" / "SegmentEditorFewShotSPECTLib"
               / "SegmentEditorEffect.py")


class FakeAutoCompleteBase:
    """What the effect inherits from Slicer's AbstractScriptedSegmentEditorAutoCompleteEffect, done as Slicer's
    does it (Modules/Loadable/Segmentations/EditorEffects/Python/SegmentEditorEffects/
    AbstractScriptedSegmentEditorAutoCompleteEffect.py): the visible segments are the selected seeds; onPreview
    -> preview() -> computePreviewLabelmap(mergedImage, outputLabelmap); onCancel -> reset()."""

    def __init__(self, scriptedEffect):
        scriptedEffect.perSegment = False
        self.scriptedEffect = scriptedEffect
        self.selectedSegmentIds = None
        self.previews = []

    def setupOptionsFrame(self):
        self.applyButton = types.SimpleNamespace(setToolTip=lambda text: None)

    def onPreview(self):
        self.preview()

    def preview(self):
        from vtkmodules.vtkCommonCore import vtkStringArray

        node = self.scriptedEffect.parameterSetNode().GetSegmentationNode()
        if self.selectedSegmentIds is None:
            self.selectedSegmentIds = vtkStringArray()
            node.GetDisplayNode().GetVisibleSegmentIDs(self.selectedSegmentIds)
        slicer = slicer_module()
        merged, output = slicer.vtkOrientedImageData(), slicer.vtkOrientedImageData()
        self.computePreviewLabelmap(merged, output)
        self.previews.append(output)

    def reset(self):
        self.selectedSegmentIds = None

    def onCancel(self):
        self.reset()

    def updateGUIFromMRML(self):
        pass


class FakeProgressBar(types.SimpleNamespace):
    def hide(self):
        self.visible = False


def load_qt_effect(event_loop: list):
    """The effect's own file, imported with Slicer's Qt parts replaced by the fakes above (slicer-core has no Qt):
    `qt.QTimer.singleShot(0, f)` appends f to `event_loop`, which the test then runs as Qt's loop would."""
    import importlib.util

    fake_qt = types.SimpleNamespace(
        QTimer=types.SimpleNamespace(singleShot=lambda ms, function: event_loop.append(function)),
        QIcon=lambda *args: None, QProgressBar=lambda: FakeProgressBar(visible=True, value=0, format=""))
    fakes = {"qt": fake_qt, "slicer.i18n": types.SimpleNamespace(tr=lambda text: text),
             "SegmentEditorEffects": types.SimpleNamespace(
                 AbstractScriptedSegmentEditorAutoCompleteEffect=FakeAutoCompleteBase)}
    with mock.patch.dict(sys.modules, fakes):
        spec = importlib.util.spec_from_file_location("FewShotSegmentEditorEffectUnderTest", EFFECT_FILE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


class QtEffectTest(EffectTestCase):
    """The Qt effect class itself: Initialize computes the features on the job runner, never on the main thread,
    and the preview is FewShotEffectLogic's; Apply keeps the seeds; Cancel stops the computation."""

    def setUp(self):
        super().setUp()
        from SPECTFewShotLib.mrml.scene_logic import scene_logic_for

        self.event_loop, self.errors = [], []
        self.scene_logic = scene_logic_for(self.scene)  # a fresh one: its features are not computed yet
        self.threads = []
        compute = self.scene_logic.compute_features
        self.scene_logic.compute_features = lambda volume, *args: (  # the threads that really computed them
            self.scene_logic.features_ready(volume) or self.threads.append(threading.current_thread()),
            compute(volume, *args))[1]
        editor_logic = self.slicer.vtkSlicerSegmentEditorLogic()
        editor_logic.SetMRMLScene(self.scene)
        editor_logic.SetSegmentEditorNode(self.editor_node)
        editor_logic.UpdateAlignedSourceVolume()
        scripted = types.SimpleNamespace(parameterSetNode=lambda: self.editor_node,
                                         sourceVolumeImageData=editor_logic.GetAlignedSourceVolume,
                                         addOptionsWidget=lambda widget: None)
        module = load_qt_effect(self.event_loop)
        patches = [mock.patch.object(self.slicer.util, "tryWithErrorDisplay", self.raise_errors),
                   mock.patch.object(self.slicer.util, "errorDisplay",
                                     lambda text, detailedText="": self.errors.append(detailedText))]
        for patch in patches:
            patch.start()
            self.addCleanup(patch.stop)
        self.effect = module.SegmentEditorEffect(scripted)
        self.effect.setupOptionsFrame()

    @staticmethod
    @contextlib.contextmanager
    def raise_errors(message="", waitCursor=False):
        yield  # errors reach the test instead of a dialog

    def run_event_loop(self, limit: float = 300.0) -> None:
        deadline = time.perf_counter() + limit
        while self.event_loop:
            self.assertLess(time.perf_counter(), deadline)
            self.event_loop.pop(0)()

    def test_initialize_computes_the_features_on_a_worker_then_previews_what_the_logic_previews(self):
        self.effect.onPreview()
        self.assertIsNotNone(self.effect.featureJob)  # Initialize returned at once: the features run on the runner
        self.assertEqual(self.effect.previews, [])
        self.assertTrue(self.effect.progressBar.visible)
        self.run_event_loop()
        self.assertEqual(self.errors, [])
        self.assertEqual(len(self.threads), 1)
        self.assertIsNot(self.threads[0], threading.main_thread())
        self.assertEqual(len(self.effect.previews), 1)
        self.assertFalse(self.effect.progressBar.visible)
        expected = FewShotEffectLogic(self.editor_node, self.scene_logic)
        expected.preview()
        np.testing.assert_array_equal(image_array(self.effect.previews[0]), expected.preview_labels())
        self.assertEqual(self.scene_logic.feature_computations, 1)  # the logic's preview reused them

        before = self.fingerprints()[self.segmentation_node.GetID()]
        self.effect.onApply()
        from SPECTFewShotLib.mrml.segment_editor_effect import classification_node_for

        self.assertEqual(self.fingerprints()[self.segmentation_node.GetID()], before)  # the seeds survive Apply
        output = classification_node_for(self.segmentation_node)
        self.assertIsNotNone(output)
        written = segmentation_from_node(output, self.volume_node)
        self.assertEqual([i.name for i in written.segments], ["LV_myocardium", "background"])
        self.assertEqual(int((written.labels.array != 0).sum()), int((expected.preview_labels() != 0).sum()))

    def test_cancel_during_the_feature_computation_leaves_nothing_running_and_no_preview(self):
        self.effect.onPreview()
        job = self.effect.featureJob
        self.effect.onCancel()
        self.assertIsNone(self.effect.featureJob)
        self.run_event_loop()
        job.wait(60)
        self.assertTrue(job.cancelled and job.done)
        self.assertFalse(self.scene_logic.jobs.busy)
        self.assertEqual(self.effect.previews, [])
        self.assertEqual(self.errors, [])

    def test_a_computation_dropped_by_a_scene_close_does_not_block_the_next_initialize(self):
        self.effect.onPreview()
        job = self.effect.featureJob
        self.scene_logic.jobs.forget_all()  # what the module does when the scene closes
        self.run_event_loop()
        job.wait(60)
        self.effect.onPreview()  # Initialize again: a new computation, not "already running" forever
        self.assertIsNotNone(self.effect.featureJob)
        self.assertIsNot(self.effect.featureJob, job)
        self.effect.onCancel()
        self.run_event_loop()

    def test_while_active_the_module_does_not_classify_the_same_strokes(self):
        from SPECTFewShotLib.slicer_app.panel import ModulePanel

        started = []
        panel = ModulePanel(self.scene_logic, lambda status, fraction: None, lambda message, error: None,
                            lambda ms, slot: types.SimpleNamespace(start=lambda: started.append(1), stop=lambda: 0))
        panel.set_parameters(types.SimpleNamespace(liveUpdate=True, inputVolume=self.volume_node,
                                                   supportSegmentation=self.segmentation_node))
        self.effect.activate()
        panel.paint_changed()
        self.assertEqual(started, [])
        self.effect.deactivate()
        panel.paint_changed()
        self.assertEqual(started, [1])


class SlicerExportPathTest(unittest.TestCase):
    def test_slicers_export_equals_the_hand_written_resampling_under_parent_transforms(self):
        slicer = slicer_module()
        scene = new_scene()
        rng = np.random.default_rng(2)
        volume = Volume(rng.random((12, 14, 16)).astype(np.float32), (2.0, 2.5, 3.0), (5.0, -3.0, 10.0),
                        (1, 0, 0, 0, 1, 0, 0, 0, 1))
        volume_node = volume_to_node(volume, scene, "volume")
        labels = np.zeros(volume.array.shape, dtype=np.int32)
        labels[3:8, 4:10, 5:12], labels[6:10, 2:6, 2:7], labels[1:3, 1:3, 1:3] = 1, 2, 3
        node = segmentation_to_node(Segmentation(volume.with_array(labels), segments_for([1, 2, 3], NAMES)), scene,
                                    reference_volume_node=volume_node)
        self.assertTrue(np.array_equal(segmentation_from_node(node, volume_node).labels.array, labels))

        def rotation(axis: int, angle: float, shift: tuple) -> object:
            matrix = np.eye(4)
            c, s = math.cos(angle), math.sin(angle)
            a, b = [n for n in range(3) if n != axis]
            matrix[a, a], matrix[a, b], matrix[b, a], matrix[b, b] = c, -s, s, c
            matrix[:3, 3] = shift
            transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
            transform.SetMatrixTransformToParent(slicer.util.vtkMatrixFromArray(matrix))
            return transform

        node.SetAndObserveTransformNodeID(rotation(2, 0.3, (4.2, -1.3, 2.7)).GetID())
        for moved_volume in (False, True):
            if moved_volume:
                volume_node.SetAndObserveTransformNodeID(rotation(0, -0.2, (-2.0, 3.3, 1.0)).GetID())
            before = node_fingerprint(node)
            ours = segmentation_from_node(node, volume_node)
            theirs = hand_written_segmentation_on_grid(node, volume_node)
            np.testing.assert_array_equal(ours.labels.array, theirs.labels.array)
            self.assertEqual([i.name for i in ours.segments], [i.name for i in theirs.segments])
            self.assertGreater(int((ours.labels.array != 0).sum()), 100)
            self.assertNotEqual(int((ours.labels.array != labels).sum()), 0)  # the transform moved the labels
            self.assertEqual(node_fingerprint(node), before)
        self.assertEqual(image_array(node.GetSegmentation().GetSegment("LV_myocardium").GetRepresentation(
            "Binary labelmap")).ndim, 3)


if __name__ == "__main__":
    unittest.main()
