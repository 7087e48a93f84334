"""MRML conversions on real slicer-core nodes: volumes (RAS/LPS, oblique, transforms), segmentations, landmarks."""

import json
import tempfile
import unittest
from pathlib import Path

import numpy as np

from SPECTFewShotLib import mrml
from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.io.markups_io import Landmark, read_landmarks
from SPECTFewShotLib.io.segmentation_io import Segmentation, SegmentInfo, segments_for
from SPECTFewShotLib.io.volume_io import write_volume
from SPECTFewShotLib.landmarks.fusion import landmark_description
from SPECTFewShotLib.measurements import Measurement
from SPECTFewShotLib.volume import Volume

try:
    import slicer
except ImportError:  # pragma: no cover - slicer-core is a test dependency
    slicer = None


def rotation(axis: int, angle: float) -> np.ndarray:
    """A 3x3 rotation about one axis."""
    c, s = np.cos(angle), np.sin(angle)
    a, b = [n for n in range(3) if n != axis]
    r = np.eye(3)
    r[a, a], r[a, b], r[b, a], r[b, b] = c, -s, s, c
    return r


OBLIQUE = rotation(2, 0.4) @ rotation(0, 0.25)


def oblique_volume(shape=(9, 10, 11), seed=0) -> Volume:
    """A small volume with anisotropic spacing and an oblique direction."""
    array = (np.random.default_rng(seed).random(shape) * 100).astype(np.float32)
    return Volume(array, (2.0, 3.0, 4.0), (-10.0, 20.0, 5.0), OBLIQUE.ravel())


def vtk_matrix(m: np.ndarray):
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    out = vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            out.SetElement(r, c, m[r, c])
    return out


def linear_transform(scene, matrix: np.ndarray):
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    node.SetMatrixTransformToParent(vtk_matrix(matrix))
    return node


def rigid(angle: float, translation) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = rotation(1, angle)
    m[:3, 3] = translation
    return m


@unittest.skipIf(slicer is None, "slicer-core is not installed")
class VolumeNodeTest(unittest.TestCase):
    def setUp(self):
        self.scene = slicer.vtkMRMLScene()

    def test_round_trip_is_exact_with_oblique_direction(self):
        volume = oblique_volume()
        node = mrml.volume_to_node(volume, self.scene, "oblique")
        back = mrml.volume_from_node(node)
        np.testing.assert_array_equal(back.array, volume.array)
        np.testing.assert_allclose(back.spacing, volume.spacing, atol=1e-12)
        np.testing.assert_allclose(back.origin, volume.origin, atol=1e-12)
        np.testing.assert_allclose(back.direction, volume.direction, atol=1e-12)
        # RAS in the node is LPS with the first two axes negated, voxel by voxel.
        ijk = np.array([3.0, 4.0, 5.0, 1.0])
        ras = mrml.scene._ijk_to_ras(node) @ ijk
        lps = volume.index_to_lps(ijk[:3])
        np.testing.assert_allclose(ras[:3], [-lps[0], -lps[1], lps[2]], atol=1e-9)

    def test_geometry_matches_slicers_own_file_reader(self):
        volume = oblique_volume()
        with tempfile.TemporaryDirectory() as tmp:
            for suffix in (".nrrd", ".nii.gz"):
                path = Path(tmp) / f"oblique{suffix}"
                write_volume(volume, path)
                loaded = self.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
                storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
                self.scene.AddNode(storage)
                storage.SetFileName(str(path))
                self.assertEqual(storage.ReadData(loaded), 1)
                ours = mrml.volume_to_node(volume, self.scene, "ours")
                np.testing.assert_allclose(mrml.scene._ijk_to_ras(loaded), mrml.scene._ijk_to_ras(ours), atol=1e-4)
                np.testing.assert_array_equal(mrml.volume_from_node(loaded).array, volume.array)

    def test_linear_parent_transform_is_folded_into_the_geometry(self):
        volume = oblique_volume()
        node = mrml.volume_to_node(volume, self.scene, "moved")
        matrix = rigid(0.3, (5.0, -7.0, 11.0))
        node.SetAndObserveTransformNodeID(linear_transform(self.scene, matrix).GetID())
        moved = mrml.volume_from_node(node)
        ijk = np.array([2.0, 5.0, 7.0])
        lps = volume.index_to_lps(ijk)
        ras = matrix @ np.array([-lps[0], -lps[1], lps[2], 1.0])
        np.testing.assert_allclose(moved.index_to_lps(ijk), [-ras[0], -ras[1], ras[2]], atol=1e-9)

    def test_refusals(self):
        empty = self.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "empty")
        with self.assertRaisesRegex(InputError, "no image data"):
            mrml.volume_from_node(empty)
        nan = oblique_volume()
        nan.array[0, 0, 0] = np.nan
        with self.assertRaisesRegex(InputError, "not numbers"):
            mrml.volume_from_node(mrml.volume_to_node(nan, self.scene))


@unittest.skipIf(slicer is None, "slicer-core is not installed")
class SegmentationNodeTest(unittest.TestCase):
    def setUp(self):
        self.scene = slicer.vtkMRMLScene()
        self.volume = oblique_volume()
        self.volume_node = mrml.volume_to_node(self.volume, self.scene, "volume")
        labels = np.zeros(self.volume.array.shape, dtype=np.int32)
        labels[2:5, 3:7, 4:8] = 1
        labels[6:, :, :3] = 2
        labels[0, 0, 0] = 3
        segments = (SegmentInfo(1, "LV_myocardium", (0.9, 0.1, 0.2)), SegmentInfo(2, "background", (0.1, 0.8, 0.3)),
                    SegmentInfo(3, "liver", (0.2, 0.3, 0.9)))
        self.segmentation = Segmentation(self.volume.with_array(labels), segments)

    def test_names_colors_and_labels_survive_a_round_trip(self):
        node = mrml.segmentation_to_node(self.segmentation, self.scene, "painted", None, self.volume_node)
        back = mrml.segmentation_from_node(node, self.volume_node)
        np.testing.assert_array_equal(back.labels.array, self.segmentation.labels.array)
        self.assertEqual([(s.name, s.color) for s in back.segments],
                         [(s.name, s.color) for s in self.segmentation.segments])
        self.assertFalse(back.labels.grid_differences(self.volume))

    def test_rewriting_an_output_keeps_segment_ids_and_drops_missing_classes(self):
        node = mrml.segmentation_to_node(self.segmentation, self.scene, "out", None, self.volume_node)
        ids = [node.GetSegmentation().GetNthSegmentID(n) for n in range(3)]
        self.assertEqual(ids, ["LV_myocardium", "background", "liver"])
        labels = self.segmentation.labels.array.copy()
        labels[labels == 3] = 0
        labels[0, :2, :2] = 1
        smaller = Segmentation(self.volume.with_array(labels), self.segmentation.segments[:2])
        mrml.segmentation_to_node(smaller, self.scene, node=node)
        self.assertEqual([node.GetSegmentation().GetNthSegmentID(n) for n in range(2)], ids[:2])
        self.assertEqual(node.GetSegmentation().GetNumberOfSegments(), 2)
        np.testing.assert_array_equal(mrml.segmentation_from_node(node, self.volume_node).labels.array, labels)

    def _painted_on_other_grid(self):
        """The segmentation painted on a finer, shifted, differently oriented grid (as Slicer allows)."""
        fine = Volume(np.zeros((16, 17, 19), np.float32), (1.3, 1.7, 2.1), (-14.0, 12.0, -2.0),
                      (rotation(2, 0.1) @ rotation(1, -0.2)).ravel())
        centre = fine.index_to_lps(np.stack(np.meshgrid(*[np.arange(n) for n in fine.size], indexing="ij"),
                                            -1).reshape(-1, 3)).reshape(*fine.size, 3).transpose(2, 1, 0, 3)
        labels = np.zeros(fine.array.shape, np.int32)
        labels[np.linalg.norm(centre - self.volume.index_to_lps([5, 4.5, 4]), axis=-1) < 7] = 1
        labels[(centre[..., 2] > 15) & (labels == 0)] = 2
        return Segmentation(fine.with_array(labels), segments_for([1, 2], {1: "LV_myocardium", 2: "background"}))

    def _slicer_export(self, segmentation_node):
        """What Slicer's ExportSegmentsToLabelmapNode gives with the volume as reference (in a scratch scene)."""
        from vtkmodules.vtkCommonCore import vtkStringArray

        scratch = slicer.vtkMRMLScene()
        labelmap = scratch.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
        ids = vtkStringArray()
        for n in range(segmentation_node.GetSegmentation().GetNumberOfSegments()):
            ids.InsertNextValue(segmentation_node.GetSegmentation().GetNthSegmentID(n))
        ok = slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
            segmentation_node, ids, labelmap, self.volume_node, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY)
        self.assertTrue(ok)
        return mrml.volume_from_node(labelmap).array

    def test_support_on_another_grid_is_resampled_like_slicers_export(self):
        painted = self._painted_on_other_grid()
        node = mrml.segmentation_to_node(painted, self.scene, "painted elsewhere")
        node.CreateDefaultDisplayNodes()
        ours = mrml.segmentation_from_node(node, self.volume_node)
        self.assertEqual(ours.labels.array.shape, self.volume.array.shape)
        self.assertGreater((ours.labels.array == 1).sum(), 10)
        self.assertGreater((ours.labels.array == 2).sum(), 10)
        np.testing.assert_array_equal(ours.labels.array, self._slicer_export(node))

    def test_transforms_between_support_and_volume_are_applied_like_slicers_export(self):
        painted = self._painted_on_other_grid()
        node = mrml.segmentation_to_node(painted, self.scene, "painted elsewhere")
        node.CreateDefaultDisplayNodes()
        node.SetAndObserveTransformNodeID(linear_transform(self.scene, rigid(0.05, (3.0, 1.0, -2.0))).GetID())
        ours = mrml.segmentation_from_node(node, self.volume_node)
        np.testing.assert_array_equal(ours.labels.array, self._slicer_export(node))
        untransformed = mrml.segmentation_from_node(mrml.segmentation_to_node(painted, self.scene, "x"),
                                                    self.volume_node)
        self.assertFalse(np.array_equal(ours.labels.array, untransformed.labels.array))

    def test_reading_leaves_the_painted_node_untouched(self):
        node = mrml.segmentation_to_node(self._painted_on_other_grid(), self.scene, "painted")
        before = (node.GetMTime(), node.GetSegmentation().GetMTime(), node.GetDisplayNode())
        mrml.segmentation_from_node(node, self.volume_node)
        self.assertEqual((node.GetMTime(), node.GetSegmentation().GetMTime(), node.GetDisplayNode()), before)
        self.assertEqual(self.scene.GetNumberOfNodesByClass("vtkMRMLLabelMapVolumeNode"), 0)

    def test_fingerprints_see_every_change(self):
        node = mrml.segmentation_to_node(self.segmentation, self.scene, "painted", None, self.volume_node)
        volume_print, painted_print = mrml.node_fingerprint(self.volume_node), mrml.node_fingerprint(node)
        mrml.segmentation_from_node(node, self.volume_node)
        mrml.volume_from_node(self.volume_node)
        self.assertEqual(mrml.node_fingerprint(self.volume_node), volume_print)
        self.assertEqual(mrml.node_fingerprint(node), painted_print)
        stroke = np.zeros(self.volume.array.shape, bool)
        stroke[8, 8, 8] = True
        mrml.paint_segment(node, "liver", stroke, self.volume_node)
        self.assertNotEqual(mrml.node_fingerprint(node), painted_print)
        recolored = mrml.node_fingerprint(node)
        node.GetSegmentation().GetSegment("liver").SetColor(0.0, 0.0, 0.0)
        self.assertNotEqual(mrml.node_fingerprint(node), recolored)
        changed = self.volume.array.copy()
        changed[0, 0, 0] += 1.0
        mrml.volume_to_node(self.volume.with_array(changed), self.scene, node=self.volume_node)
        self.assertNotEqual(mrml.node_fingerprint(self.volume_node), volume_print)

    def test_segments_carry_the_vocabularys_terminology_in_nodes(self):
        from SPECTFewShotLib.vocabulary import tissue_terminology

        node = mrml.segmentation_to_node(self.segmentation, self.scene, "classes", None, self.volume_node)
        painting = mrml.create_painting(self.scene, self.volume_node, ("LV_myocardium", "liver"))
        for written in (node, painting):
            terms = {info.name: info.terminology for _, info in mrml.segment_infos(written)}
            self.assertIn("SCT^71616004^Muscle", terms["LV_myocardium"])  # muscle of the heart (Slicer's lists)
            self.assertEqual(terms["liver"], tissue_terminology("liver"))

    def test_new_painting_has_the_usual_classes_and_counts_only_painted_ones(self):
        node = mrml.create_painting(self.scene, self.volume_node, ("LV_myocardium", "background", "liver"))
        self.assertEqual([info.name for _, info in mrml.segment_infos(node)],
                         ["LV_myocardium", "background", "liver"])
        stroke = np.zeros(self.volume.array.shape, bool)
        stroke[1, 1, 1] = True
        mrml.paint_segment(node, "background", stroke, self.volume_node)
        painted = mrml.segmentation_from_node(node, self.volume_node)
        self.assertEqual([info.name for info in painted.segments], ["background"])
        self.assertEqual(painted.labels.array[1, 1, 1], 2)

    def test_strokes_send_the_events_live_update_follows_and_outputs_do_not(self):
        painted = mrml.segmentation_to_node(self.segmentation, self.scene, "painted", None, self.volume_node)
        output = mrml.segmentation_to_node(self.segmentation, self.scene, "output", None, self.volume_node)
        seen = []
        for event in mrml.painting_events():
            painted.AddObserver(event, lambda caller, event_id: seen.append(event_id))
        mrml.segmentation_to_node(self.segmentation, self.scene, node=output)  # a classification result
        self.assertEqual(seen, [])
        stroke = np.zeros(self.volume.array.shape, bool)
        stroke[8, 8, 8] = True
        mrml.paint_segment(painted, "liver", stroke, self.volume_node)
        self.assertTrue(seen)
        seen.clear()
        painted.GetSegmentation().AddEmptySegment("RV", "RV_blood_pool")
        self.assertTrue(seen)

    def test_paint_stroke_adds_voxels_to_a_segment(self):
        node = mrml.segmentation_to_node(self.segmentation, self.scene, "painted", None, self.volume_node)
        stroke = np.zeros(self.volume.array.shape, bool)
        stroke[8, 8, 8:10] = True
        mrml.paint_segment(node, "liver", stroke, self.volume_node)
        labels = mrml.segmentation_from_node(node, self.volume_node).labels.array
        self.assertTrue(np.all(labels[8, 8, 8:10] == 3))
        self.assertEqual(labels[0, 0, 0], 3)
        self.assertEqual((labels == 3).sum(), 3)
        stroke[:] = False
        stroke[6, 0, 0] = True  # over the background: the voxel changes segment
        mrml.paint_segment(node, "liver", stroke, self.volume_node)
        after = mrml.segmentation_from_node(node, self.volume_node).labels.array
        self.assertEqual(after[6, 0, 0], 3)
        self.assertEqual((after == 2).sum(), (labels == 2).sum() - 1)


@unittest.skipIf(slicer is None, "slicer-core is not installed")
class MarkupsAndTableTest(unittest.TestCase):
    def setUp(self):
        self.scene = slicer.vtkMRMLScene()
        self.landmarks = [Landmark("LV_apex", (10.5, -20.25, 30.0), 0.9), Landmark("LV_base", (-4.0, 5.0, 60.0), 0.4),
                          Landmark("LV_center", (2.0, -6.0, 45.0), 0.75)]

    def test_landmarks_round_trip_in_ras_with_confidences(self):
        node = mrml.landmarks_to_node(self.landmarks, self.scene, "found")
        ras = [0.0, 0.0, 0.0]
        node.GetNthControlPointPosition(0, ras)
        self.assertEqual(ras, [-10.5, 20.25, 30.0])
        back = mrml.landmarks_from_node(node)
        self.assertEqual([(m.label, m.position_lps, m.confidence) for m in back],
                         [(m.label, m.position_lps, m.confidence) for m in self.landmarks])
        self.assertEqual(node.GetNthControlPointDescription(1), "confidence 0.40")
        flagged = Landmark("LV_apex", (0.0, 0.0, 0.0), 0.1, landmark_description(0.1))  # as the localiser writes it
        mrml.landmarks_to_node([flagged], self.scene, node=node)
        self.assertEqual(len(mrml.landmarks_from_node(node)), 1)
        self.assertEqual(node.GetNthControlPointDescription(0), "confidence 0.10 (low confidence: check this point)")

    def test_saved_by_slicer_read_by_the_library(self):
        node = mrml.landmarks_to_node(self.landmarks, self.scene, "found")
        storage = slicer.vtkMRMLMarkupsJsonStorageNode()
        self.scene.AddNode(storage)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "found.mrk.json"
            storage.SetFileName(str(path))
            self.assertEqual(storage.WriteData(node), 1)
            read = read_landmarks(path)
            document = json.loads(path.read_text())
        self.assertEqual([m.label for m in read], ["LV_apex", "LV_base", "LV_center"])
        np.testing.assert_allclose([m.position_lps for m in read], [m.position_lps for m in self.landmarks],
                                   atol=1e-6)
        self.assertEqual([m.confidence for m in read], [0.9, 0.4, 0.75])
        self.assertEqual(document["markups"][0]["measurements"][0]["name"], "confidence")

    def test_world_positions_under_a_transform(self):
        node = mrml.landmarks_to_node(self.landmarks, self.scene, "moved")
        node.SetAndObserveTransformNodeID(linear_transform(self.scene, rigid(0.0, (1.0, 2.0, 3.0))).GetID())
        moved = mrml.landmarks_from_node(node)
        np.testing.assert_allclose(moved[0].position_lps, (10.5 - 1.0, -20.25 - 2.0, 33.0))

    def test_missing_or_unplaced_landmarks_are_refused(self):
        empty = self.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "template")
        with self.assertRaisesRegex(InputError, "holds no points"):
            mrml.landmarks_from_node(empty)
        with self.assertRaisesRegex(InputError, "select the template landmarks"):
            mrml.landmarks_from_node(None)
        empty.AddControlPoint(1.0, 2.0, 3.0, "LV_apex")
        empty.AddControlPoint(1.0, 2.0, 3.0, "LV_base")
        empty.UnsetNthControlPointPosition(1)
        with self.assertRaisesRegex(InputError, "'LV_base' is not placed"):
            mrml.landmarks_from_node(empty)
        empty.SetNthControlPointPosition(1, 0.0, 0.0, 0.0)
        empty.SetNthControlPointLabel(1, "LV_apex")
        with self.assertRaisesRegex(InputError, "several points are named LV_apex"):
            mrml.landmarks_from_node(empty)

    def test_table_holds_the_measurements(self):
        rows = [Measurement("LV_myocardium volume", 101.5, "mL"), Measurement("LV length", 82.0, "mm")]
        node = mrml.measurements_to_table(rows, self.scene, "results")
        self.assertEqual(mrml.table_rows(node), [("LV_myocardium volume", 101.5, "mL"), ("LV length", 82.0, "mm")])
        mrml.measurements_to_table(rows[:1], self.scene, node=node)
        self.assertEqual(len(mrml.table_rows(node)), 1)


@unittest.skipIf(slicer is None, "slicer-core is not installed")
class SceneLogicInputTest(unittest.TestCase):
    """Refusals that come before any model runs."""

    def setUp(self):
        self.scene = slicer.vtkMRMLScene()
        self.logic = mrml.SceneLogic(self.scene)
        self.volume = oblique_volume()
        self.volume_node = mrml.volume_to_node(self.volume, self.scene, "volume")

    def _painted(self, labels):
        seg = Segmentation(self.volume.with_array(labels), segments_for([1, 2], {1: "LV_myocardium",
                                                                                2: "background"}))
        return mrml.segmentation_to_node(seg, self.scene, "painted")

    def test_empty_and_one_class_painting_are_refused(self):
        empty = self.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "nothing")
        with self.assertRaisesRegex(InputError, "no segments"):
            self.logic.classify(self.volume_node, empty)
        labels = np.zeros(self.volume.array.shape, np.int32)
        with self.assertRaisesRegex(InputError, "nothing painted"):
            self.logic.classify(self.volume_node, self._painted(labels))
        labels[1, 1, 1] = 1
        with self.assertRaisesRegex(InputError, r"only one class \(LV_myocardium\)"):
            self.logic.classify(self.volume_node, self._painted(labels))

    def test_missing_inputs_and_output_clashes_are_refused(self):
        labels = np.zeros(self.volume.array.shape, np.int32)
        labels[1, 1, 1], labels[2, 2, 2] = 1, 2
        painted = self._painted(labels)
        with self.assertRaisesRegex(InputError, "select the input volume"):
            self.logic.classify(None, painted)
        with self.assertRaisesRegex(InputError, "select the painted segmentation"):
            self.logic.classify(self.volume_node, None)
        with self.assertRaisesRegex(InputError, "must not be the painted"):
            self.logic.classify(self.volume_node, painted, painted)
        constant = mrml.volume_to_node(self.volume.with_array(np.ones_like(self.volume.array)), self.scene)
        with self.assertRaisesRegex(InputError, "constant"):
            self.logic.classify(constant, painted)
        template = self.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "template")
        with self.assertRaisesRegex(InputError, "holds no points"):
            self.logic.localize(self.volume_node, self.volume_node, template)
        template.AddControlPoint(1e4, 0.0, 0.0, "LV_apex")
        with self.assertRaisesRegex(InputError, "LV_apex lie outside the template volume"):
            self.logic.localize(self.volume_node, self.volume_node, template)


    def test_the_landmarks_frame_reads_only_a_segment_named_lv_myocardium(self):
        labels = np.zeros(self.volume.array.shape, np.int32)
        labels[2:6, 2:6, 2:6], labels[0] = 1, 2
        wall = self.logic.read_myocardium(self._painted(labels), self.volume_node)
        self.assertIsNotNone(wall)
        np.testing.assert_array_equal(wall.array, (labels == 1).astype(np.uint8))
        self.assertEqual(wall.grid_differences(self.volume), [])
        other = Segmentation(self.volume.with_array(labels), segments_for([1, 2], {1: "liver", 2: "background"}))
        self.assertIsNone(self.logic.read_myocardium(mrml.segmentation_to_node(other, self.scene, "x"),
                                                     self.volume_node))
        self.assertIsNone(self.logic.read_myocardium(None, self.volume_node))
        empty = self.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "nothing classified yet")
        self.assertIsNone(self.logic.read_myocardium(empty, self.volume_node))
        labels[:] = 2
        labels[3, 3, 3] = 1  # a wall of one voxel gives no frame
        self.assertIsNone(self.logic.read_myocardium(self._painted(labels), self.volume_node))

    def test_every_template_is_checked_and_none_may_be_the_output(self):
        shape = np.array(self.volume.array.shape[::-1], dtype=float)
        x, y, z = self.volume.index_to_lps(((shape - 1) / 2)[None])[0]
        good = self.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "good")
        good.AddControlPoint(-x, -y, z, "LV_apex")  # RAS: the volume's centre
        second = self.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "second")
        second.AddControlPoint(-x, -y, z, "LV_apex")
        second.AddControlPoint(1e4, 0.0, 0.0, "LV_base")
        with self.assertRaisesRegex(InputError, "must not be the template landmarks"):
            self.logic.localize(self.volume_node, self.volume_node, good, second,
                                moreTemplates=[(self.volume_node, second)])
        with self.assertRaisesRegex(InputError, "LV_base lie outside the template volume"):
            self.logic.localize(self.volume_node, self.volume_node, good, moreTemplates=[(self.volume_node, second)])
        # the panel's rows of further templates: an empty row is skipped, a half-filled one refused
        with self.assertRaisesRegex(InputError, "template 3: select both its volume and its landmarks"):
            self.logic.read_localization_inputs(self.volume_node, self.volume_node, good,
                                                [(None, None), (self.volume_node, None)])
        with self.assertRaisesRegex(InputError, "template 2: select both"):
            self.logic.read_localization_inputs(self.volume_node, self.volume_node, good, [(None, good)])
        with self.assertRaisesRegex(InputError, "must not be the template landmarks"):
            self.logic.read_localization_inputs(self.volume_node, self.volume_node, good, [], good)
        with self.assertRaisesRegex(InputError, "select the template volume"):
            self.logic.read_localization_inputs(self.volume_node, None, good)
        volume, templates = self.logic.read_localization_inputs(self.volume_node, self.volume_node, good,
                                                                [(None, None), (self.volume_node, good)])
        self.assertEqual(len(templates), 2)
        self.assertEqual([lm.label for lm in templates[1][1]], ["LV_apex"])
        self.assertEqual(volume.array.shape, self.volume.array.shape)

if __name__ == "__main__":
    unittest.main()
