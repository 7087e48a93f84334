"""Cardiac views in a headless slicer-core scene: nodes from the study, the wall and the landmarks; the views and
the polar map follow the axis line when it moves; slice views turned to SA / VLA / HLA."""

import tempfile
import unittest
from pathlib import Path

import numpy as np

from SPECTFewShotLib import mrml
from SPECTFewShotLib.cardiac_views.polar_map import segments_csv
from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for
from Testing.cardiac_synthetic import synthetic_lv

try:
    import slicer
except ImportError:  # pragma: no cover - slicer-core is a test dependency
    slicer = None


@unittest.skipIf(slicer is None, "needs slicer-core")
class CardiacViewsSceneTest(unittest.TestCase):
    def setUp(self):
        from SPECTFewShotLib.mrml.cardiac_view_nodes import CardiacViewsLogic

        self.lv = synthetic_lv((2, 8), depth=0.5, blur_mm=8.0)
        self.scene = mrml.new_scene()
        self.scene.AddNewNodeByClass("vtkMRMLSelectionNode")
        self.volume_node = mrml.volume_to_node(self.lv.image, self.scene, "study")
        labels = self.lv.image.with_array(self.lv.wall.astype(np.int32) * 7)
        self.segmentation_node = mrml.segmentation_to_node(
            Segmentation(labels, segments_for([7], {7: "LV_myocardium"})), self.scene, "wall")
        self.landmarks_node = mrml.landmarks_to_node(self.lv.landmarks, self.scene, "landmarks")
        self.logic = CardiacViewsLogic(self.scene)
        self.nodes = self.logic.setup(self.volume_node, self.segmentation_node, self.landmarks_node)

    def test_nodes_hold_the_views_table_and_figure(self):
        from SPECTFewShotLib.mrml.cardiac_view_nodes import segment_table_rows

        rows = segment_table_rows(self.nodes.segment_table)
        self.assertEqual([r[0] for r in rows], list(range(1, 18)))
        self.assertEqual([r[0] for r in rows if r[3]], [2, 8])
        csv_rows = segments_csv(self.logic.result.polar_map).splitlines()[1:]
        self.assertEqual([f"{n},{name},{u:.1f},{r}" for n, name, u, r in rows], csv_rows)
        for name in ("short_axis", "vertical_long_axis", "horizontal_long_axis"):
            view = mrml.volume_from_node(getattr(self.nodes, name))
            expected = getattr(self.logic.result.views, name)
            np.testing.assert_allclose(view.array, expected.array)
            np.testing.assert_allclose(view.index_to_lps_matrix, expected.index_to_lps_matrix, atol=1e-6)
        image = self.nodes.polar_map_image.GetImageData()
        self.assertEqual(image.GetNumberOfScalarComponents(), 3)
        self.assertGreater(image.GetDimensions()[0], 500)
        line = self.nodes.axis_line
        self.assertEqual([line.GetNthControlPointLabel(n) for n in range(2)], ["LV_base", "LV_apex"])
        ras = [0.0, 0.0, 0.0]
        line.GetNthControlPointPositionWorld(1, ras)
        np.testing.assert_allclose([-ras[0], -ras[1], ras[2]], self.lv.frame.apex, atol=1e-3)

    def test_views_follow_the_moved_axis_line(self):
        seen = []
        self.logic.observe_axis_line(seen.append)
        before = mrml.volume_from_node(self.nodes.short_axis)
        line = self.nodes.axis_line
        ras = [0.0, 0.0, 0.0]
        line.GetNthControlPointPositionWorld(0, ras)
        moved = np.asarray(ras) + np.array([6.0, -4.0, 3.0])
        line.SetNthControlPointPositionWorld(0, moved.tolist())
        after = mrml.volume_from_node(self.nodes.short_axis)
        self.assertFalse(np.allclose(before.index_to_lps_matrix, after.index_to_lps_matrix))
        np.testing.assert_allclose(self.logic.result.frame.base, moved * [-1, -1, 1], atol=1e-6)
        self.assertEqual(len(seen), 1)
        self.assertIs(seen[0], self.logic.result)
        # the RV insertion points still fix the septum after the move
        self.assertEqual(self.logic.result.frame.septum_source, "RV insertion points")
        self.logic.stop_observing()
        line.SetNthControlPointPositionWorld(0, ras)
        np.testing.assert_allclose(self.logic.result.frame.base, moved * [-1, -1, 1], atol=1e-6)
        self.logic.update()
        np.testing.assert_allclose(self.logic.result.frame.base, np.asarray(ras) * [-1, -1, 1], atol=1e-6)

    def test_an_existing_line_and_slice_views(self):
        from SPECTFewShotLib.mrml.cardiac_view_nodes import CardiacViewsLogic, orient_slice_views

        line = self.nodes.axis_line
        line.SetNthControlPointPositionWorld(1, [0.0, 0.0, 0.0])  # the apex
        other = CardiacViewsLogic(self.scene)
        other.setup(self.volume_node, self.segmentation_node, None, axis_line_node=line)
        self.assertEqual(other.result.frame.septum_source, "anatomical convention (anterior = patient superior)")
        np.testing.assert_allclose(other.result.frame.apex, [0.0, 0.0, 0.0], atol=1e-9)
        for layout in ("Red", "Yellow", "Green"):
            node = self.scene.AddNewNodeByClass("vtkMRMLSliceNode")
            node.SetLayoutName(layout)
        self.assertEqual(sorted(orient_slice_views(self.scene, self.logic.result.frame)), ["Green", "Red", "Yellow"])
        red = self.scene.GetNthNodeByClass(0, "vtkMRMLSliceNode")
        matrix = red.GetSliceToRAS()
        up = np.array([matrix.GetElement(r, 1) for r in range(3)])
        np.testing.assert_allclose(up, self.logic.result.frame.anterior * [-1, -1, 1], atol=1e-9)

    def test_cardiac_layout_and_shown_views(self):
        from SPECTFewShotLib.mrml.cardiac_view_nodes import CARDIAC_LAYOUT_ID, add_cardiac_layout, show_views

        layout = self.scene.AddNewNodeByClass("vtkMRMLLayoutNode")
        self.assertEqual(add_cardiac_layout(layout), CARDIAC_LAYOUT_ID)
        self.assertTrue(layout.IsLayoutDescription(CARDIAC_LAYOUT_ID))
        self.assertIn("PolarMap", layout.GetLayoutDescription(CARDIAC_LAYOUT_ID))
        for name in ("Red", "Yellow", "PolarMap"):
            composite = self.scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
            composite.SetLayoutName(name)
        self.assertEqual(sorted(show_views(self.scene, self.nodes, self.logic.result.frame)),
                         ["PolarMap", "Red", "Yellow"])
        composites = {self.scene.GetNthNodeByClass(n, "vtkMRMLSliceCompositeNode").GetLayoutName():
                      self.scene.GetNthNodeByClass(n, "vtkMRMLSliceCompositeNode") for n in range(3)}
        self.assertEqual(composites["Red"].GetBackgroundVolumeID(), self.nodes.short_axis.GetID())
        self.assertEqual(composites["PolarMap"].GetBackgroundVolumeID(), self.nodes.polar_map_image.GetID())

    def test_saved_table_reads_back(self):
        with tempfile.TemporaryDirectory() as folder:
            storage = self.nodes.segment_table.CreateDefaultStorageNode()
            storage.SetFileName(str(Path(folder) / "segments.tsv"))
            self.assertTrue(storage.WriteData(self.nodes.segment_table))
            text = (Path(folder) / "segments.tsv").read_text()
        self.assertIn("uptake_percent", text)
        self.assertIn("basal anteroseptal", text)


if __name__ == "__main__":
    unittest.main()
