"""The Slicer module's end-to-end scenario on a slicer-core scene: the very function the module's self-test runs."""

import tempfile
import unittest
from pathlib import Path

import numpy as np

from SPECTFewShotLib.io.segmentation_io import Segmentation, read_segmentation, segments_for, write_segmentation
from SPECTFewShotLib.io.volume_io import read_volume
from SPECTFewShotLib.models.registry import list_models
from SPECTFewShotLib.resources import sample_study
from SPECTFewShotLib.selftest.painting import paint_slices, quartile_slices, unpainted_slices
from Testing.cli_runner import run_cli

try:
    import slicer
except ImportError:  # pragma: no cover - slicer-core is a test dependency
    slicer = None

# The scenario runs the shipped models; until both are registered there is nothing to run it with.
MISSING_MODELS = [task for task in ("protonet", "prnet") if not list_models(task)]


@unittest.skipIf(slicer is None, "slicer-core is not installed")
@unittest.skipIf(MISSING_MODELS, f"no shipped weights registered for {', '.join(MISSING_MODELS)}")
class ScenarioTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from SPECTFewShotLib import mrml
        from SPECTFewShotLib.selftest.scenario import run_scenario

        cls.mrml = mrml
        cls.scene = slicer.vtkMRMLScene()
        cls.result = run_scenario(cls.scene, device="cpu")
        cls.nodes = cls.result["nodes"]

    def test_outputs_carry_the_painted_names_and_colors(self):
        painted = [(info.name, info.color) for _, info in self.mrml.segment_infos(self.nodes["painting"])]
        output = [(info.name, info.color) for _, info in self.mrml.segment_infos(self.nodes["classes"])]
        self.assertEqual(output, painted)
        self.assertEqual([name for name, _ in output], ["LV_myocardium", "background"])

    def test_dice_on_unpainted_slices_matches_the_command_line(self):
        image_path, mask_path = sample_study()
        volume = read_volume(image_path)
        wall = read_segmentation(mask_path).labels.array > 0
        slices = quartile_slices(wall)
        self.assertEqual(slices, self.result["painted_slices"])
        from SPECTFewShotLib.selftest.scenario import BACKGROUND, CLASS_NAMES, MYOCARDIUM

        class_map = np.where(wall, MYOCARDIUM, BACKGROUND).astype(np.int32)
        support = Segmentation(volume.with_array(paint_slices(class_map, slices)),
                               segments_for([MYOCARDIUM, BACKGROUND], CLASS_NAMES))
        with tempfile.TemporaryDirectory() as tmp:
            support_path = write_segmentation(support, Path(tmp) / "painted.seg.nrrd")
            output_path = Path(tmp) / "classes.seg.nrrd"
            code, _, err = run_cli("classify", image_path, "--support", support_path, "-o", output_path,
                                   "--device", "cpu")
            self.assertEqual(code, 0, err)
            command_line = read_segmentation(output_path).labels.array
        unpainted = unpainted_slices(wall.shape, slices)
        from SPECTFewShotLib.selftest.scenario import dice

        cli_dice = dice(command_line[unpainted] == MYOCARDIUM, wall[unpainted])
        self.assertAlmostEqual(self.result["dice_unpainted"], cli_dice, places=6)
        np.testing.assert_array_equal(self.result["labels"], command_line)

    def test_inputs_are_unchanged_bit_for_bit(self):
        volume_node = self.nodes["volume"]
        image_path, _ = sample_study()
        np.testing.assert_array_equal(self.mrml.volume_from_node(volume_node).array, read_volume(image_path).array)
        # The painting holds exactly the protocol's slices plus the one stroke the scenario painted.
        painting = self.mrml.segmentation_from_node(self.nodes["painting"], volume_node).labels.array
        painted_slices = set(self.result["painted_slices"]) | {self.result["stroke_slice"]}
        self.assertEqual(set(np.nonzero(painting.any(axis=(1, 2)))[0].tolist()), painted_slices)

    def test_an_update_after_a_stroke_reuses_the_features(self):
        self.assertEqual(self.result["feature_computations"], 1)
        self.assertIn("predict_s", self.result["update_timings"])
        self.assertNotIn("features_s", self.result["update_timings"])
        self.assertNotIn(self.result["stroke_slice"], self.result["painted_slices"])

    def test_landmarks_follow_a_translated_volume(self):
        self.assertLessEqual(self.result["translation_discrepancy_mm"], 1.0)
        self.assertGreater(np.linalg.norm(self.result["translation_shift_mm"]), 10.0)
        found = self.mrml.landmarks_from_node(self.nodes["landmarks"])
        from SPECTFewShotLib.selftest.scenario import TEMPLATE_LANDMARKS_NAME

        template = self.mrml.landmarks_from_node(self.scene.GetFirstNodeByName(TEMPLATE_LANDMARKS_NAME))
        self.assertEqual([m.label for m in found], [m.label for m in template])
        self.assertTrue(all(0.0 <= m.confidence <= 1.0 for m in found))

    def test_landmarks_follow_a_rotated_and_shifted_volume_within_one_voxel(self):
        axis, degrees, shift = self.result["rotation"]
        self.assertGreaterEqual(degrees, 15.0)  # a rotation, not only a shift ...
        self.assertGreater(np.count_nonzero(axis), 1)  # ... about an oblique axis ...
        self.assertGreater(np.linalg.norm(shift), 10.0)  # ... and a shift
        voxel = min(read_volume(sample_study()[0]).spacing)
        self.assertLessEqual(self.result["rotation_discrepancy_mm"], voxel)

    def test_cardiac_views_stand_on_the_placed_axis(self):
        from SPECTFewShotLib.mrml.cardiac_view_nodes import segment_table_rows

        rows = segment_table_rows(self.nodes["polar_table"])
        self.assertEqual([row[0] for row in rows], list(range(1, 18)))
        self.assertEqual(rows, self.result["polar_map_rows"])
        self.assertEqual(self.nodes["short_axis"].GetImageData().GetNumberOfScalarComponents(), 1)
        line = self.nodes["long_axis"]
        self.assertEqual([line.GetNthControlPointLabel(n) for n in range(2)], ["LV_base", "LV_apex"])

    def test_measurement_tables(self):
        table = self.result["table"]
        self.assertEqual(table["LV_myocardium volume"][1], "mL")
        self.assertGreater(table["LV_myocardium mean counts"][0], table["background mean counts"][0])
        lengths = [v for name, v in self.result["landmark_table"].items() if name.startswith("LV length")]
        self.assertEqual(len(lengths), 1)
        self.assertGreater(lengths[0][0], 20.0)


@unittest.skipIf(slicer is None, "slicer-core is not installed")
class BenchLiveUpdateTest(unittest.TestCase):
    def run_cli(self, *args):
        return run_cli("bench", "live-update", *args)

    def test_refuses_no_strokes_in_one_line(self):
        code, _, err = self.run_cli("--strokes", "0")
        self.assertNotEqual(code, 0)
        self.assertEqual(err.strip(), "error: --strokes must be at least 1")

    @unittest.skipIf(MISSING_MODELS, f"no shipped weights registered for {', '.join(MISSING_MODELS)}")
    def test_reports_first_classify_update_and_growcut(self):
        code, out, _ = self.run_cli("--strokes", "1", "--threads", "1")
        self.assertEqual(code, 0)
        self.assertRegex(out, r"first classify \(features \+ prototypes \+ output\): [0-9.]+ s")
        self.assertRegex(out, r"live update after a stroke, median of 1: [0-9.]+ s \(read painting")
        self.assertRegex(out, r"GrowCut .* median: [0-9.]+ s")
        self.assertRegex(out, r"CPU [0-9.]+ s \(all threads\)")
        self.assertRegex(out, r"load average at the start ([0-9.]+|unknown), at the end ([0-9.]+|unknown)")


if __name__ == "__main__":
    unittest.main()
