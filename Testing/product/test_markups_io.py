"""Markups files: written in Slicer's schema with an explicit coordinate system; LPS and RAS read correctly."""

import json
import tempfile
import unittest
from pathlib import Path

import numpy as np

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.io.markups_io import Landmark, read_landmarks, write_landmarks

LANDMARKS = [Landmark("LV_apex", (12.5, -40.0, 88.0), 0.93), Landmark("LV_base", (-3.0, -10.5, 120.25), 0.71)]


class MarkupsFilesTest(unittest.TestCase):
    def test_lps_and_ras_files_give_the_same_lps_points(self):
        with tempfile.TemporaryDirectory() as tmp:
            for system in ("LPS", "RAS"):
                path = write_landmarks(LANDMARKS, Path(tmp) / f"{system}.mrk.json", system)
                document = json.loads(path.read_text())
                self.assertEqual(document["markups"][0]["coordinateSystem"], system)
                back = read_landmarks(path)
                self.assertEqual([b.label for b in back], ["LV_apex", "LV_base"])
                for got, want in zip(back, LANDMARKS):
                    np.testing.assert_allclose(got.position_lps, want.position_lps)
                    self.assertAlmostEqual(got.confidence, want.confidence)
            ras = json.loads((Path(tmp) / "RAS.mrk.json").read_text())
            self.assertEqual(ras["markups"][0]["controlPoints"][0]["position"], [-12.5, 40.0, 88.0])

    def test_slicer_reads_labels_positions_and_confidence(self):
        try:
            import slicer
        except ImportError:
            self.skipTest("slicer-core is not installed")
        with tempfile.TemporaryDirectory() as tmp:
            path = write_landmarks(LANDMARKS, Path(tmp) / "l.mrk.json")
            scene = slicer.vtkMRMLScene()
            node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode")
            storage = slicer.vtkMRMLMarkupsJsonStorageNode()
            scene.AddNode(storage)
            storage.SetFileName(str(path))
            self.assertTrue(storage.ReadData(node))
            self.assertEqual(node.GetNumberOfControlPoints(), 2)
            self.assertEqual(node.GetNthControlPointLabel(0), "LV_apex")
            position = [0.0, 0.0, 0.0]
            node.GetNthControlPointPosition(0, position)  # MRML works in RAS
            np.testing.assert_allclose(position, (-12.5, 40.0, 88.0))
            values = node.GetMeasurement("confidence").GetControlPointValues()
            self.assertAlmostEqual(values.GetValue(1), 0.71, places=4)

    def test_invalid_files_are_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            cases = {
                "text.mrk.json": "not json at all",
                "nolist.mrk.json": json.dumps({"something": 1}),
                "empty.mrk.json": json.dumps({"markups": [{"type": "Fiducial", "controlPoints": []}]}),
                "unplaced.mrk.json": json.dumps({"markups": [{"controlPoints": [
                    {"label": "LV_apex", "position": [0, 0, 0], "positionStatus": "undefined"}]}]}),
                "badpos.mrk.json": json.dumps({"markups": [{"controlPoints": [{"label": "x", "position": [1, 2]}]}]}),
            }
            for name, text in cases.items():
                (tmp / name).write_text(text)
                with self.assertRaises(InputError, msg=name) as caught:
                    read_landmarks(tmp / name)
                self.assertNotIn("\n", str(caught.exception))
            with self.assertRaises(InputError):
                write_landmarks(LANDMARKS, tmp / "points.json")


if __name__ == "__main__":
    unittest.main()
