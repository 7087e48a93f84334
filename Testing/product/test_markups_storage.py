"""`.mrk.json` files the product writes, read by slicer-core's markups storage node, and the node's files read back."""

import tempfile
import unittest
from pathlib import Path

import numpy as np

from SPECTFewShotLib.io.markups_io import Landmark, read_landmarks, write_landmarks
from SPECTFewShotLib.mrml.scene import new_scene, slicer_module

LANDMARKS = [Landmark("LV_center", (31.25, -12.5, 480.0), 0.88), Landmark("LV_apex", (60.5, -45.75, 455.125), 0.42),
             Landmark("LV_base", (-7.0, 3.5, 505.5), 0.97)]


class MarkupsStorageNodeTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.slicer = slicer_module()
        self.scene = new_scene()

    def storage(self, path: Path, system: str | None = None):
        """A markups JSON storage node of the scene for `path` (writing in `system` when given)."""
        storage = self.slicer.vtkMRMLMarkupsJsonStorageNode()
        self.scene.AddNode(storage)
        storage.SetFileName(str(path))
        if system is not None:
            storage.SetCoordinateSystem(self.slicer.vtkMRMLStorageNode.GetCoordinateSystemTypeFromString(system))
        return storage

    def read_into_node(self, path: Path):
        node = self.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", path.stem)
        self.assertTrue(self.storage(path).ReadData(node), path.name)
        return node

    def test_slicer_reads_the_products_files_in_either_coordinate_system(self):
        for system in ("LPS", "RAS"):
            path = write_landmarks(LANDMARKS, Path(self.tmp.name) / f"{system}.mrk.json", system)
            node = self.read_into_node(path)
            self.assertEqual(node.GetNumberOfControlPoints(), len(LANDMARKS))
            for index, landmark in enumerate(LANDMARKS):
                ras = [0.0, 0.0, 0.0]
                node.GetNthControlPointPositionWorld(index, ras)
                x, y, z = landmark.position_lps
                np.testing.assert_allclose(ras, [-x, -y, z], atol=1e-4, err_msg=f"{system} {landmark.label}")
                self.assertEqual(node.GetNthControlPointLabel(index), landmark.label)
            measurement = node.GetMeasurement("confidence")
            self.assertIsNotNone(measurement, system)
            values = measurement.GetControlPointValues()
            self.assertEqual([round(values.GetValue(i), 4) for i in range(values.GetNumberOfTuples())],
                             [landmark.confidence for landmark in LANDMARKS])

    def test_the_product_reads_slicers_files_in_either_coordinate_system(self):
        node = self.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "placed in Slicer")
        for landmark in LANDMARKS:
            x, y, z = landmark.position_lps
            node.AddControlPoint(-x, -y, z, landmark.label)
        for system in ("LPS", "RAS"):
            path = Path(self.tmp.name) / f"slicer_{system}.mrk.json"
            self.assertTrue(self.storage(path, system).WriteData(node), system)
            self.assertIn(f'"coordinateSystem": "{system}"', path.read_text())
            back = read_landmarks(path)
            self.assertEqual([b.label for b in back], [landmark.label for landmark in LANDMARKS])
            for got, want in zip(back, LANDMARKS):
                np.testing.assert_allclose(got.position_lps, want.position_lps, atol=1e-4, err_msg=system)

    def test_product_to_slicer_to_product_keeps_points_and_confidences(self):
        path = write_landmarks(LANDMARKS, Path(self.tmp.name) / "product.mrk.json")
        node = self.read_into_node(path)
        rewritten = Path(self.tmp.name) / "rewritten.mrk.json"
        self.assertTrue(self.storage(rewritten).WriteData(node))
        back = read_landmarks(rewritten)
        self.assertEqual([(b.label, b.confidence) for b in back], [(w.label, w.confidence) for w in LANDMARKS])
        for got, want in zip(back, LANDMARKS):
            np.testing.assert_allclose(got.position_lps, want.position_lps, atol=1e-4)


if __name__ == "__main__":
    unittest.main()
