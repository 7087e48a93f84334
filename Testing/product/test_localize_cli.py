"""`spectfewshot localize`: a markups file with the template's labels, LPS/RAS templates alike, and one clear line,
a non-zero exit and an untouched output for every bad input."""

import json
import tempfile
import unittest
from pathlib import Path

import numpy as np

from SPECTFewShotLib.io.markups_io import Landmark, read_landmarks, write_landmarks
from SPECTFewShotLib.io.volume_io import write_volume
from SPECTFewShotLib.landmarks.fusion import LOW_CONFIDENCE, agreement_confidence
from SPECTFewShotLib.runtime.threads import one_thread
from Testing.cli_runner import run_cli
from Testing.prnet_synthetic import synthetic_torso


class LocalizeCommandTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        root = Path(cls.tmp.name)
        template, truth = synthetic_torso(0, size=36, spacing=6.0, direction=(1, 0, 0, 0, 1, 0, 0, 0, -1))
        target, _ = synthetic_torso(1, size=30, spacing=7.0, shift_mm=(8.0, -5.0, 6.0))
        cls.template = write_volume(template, root / "template.nii.gz")
        cls.target = write_volume(target, root / "target.nrrd")
        cls.landmarks = [Landmark(name, tuple(float(v) for v in p)) for name, p in truth.items()]
        cls.lps = write_landmarks(cls.landmarks, root / "template_lps.mrk.json", "LPS")
        cls.ras = write_landmarks(cls.landmarks, root / "template_ras.mrk.json", "RAS")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def localize(self, landmarks, output, *extra, volume=None, template=None):
        return run_cli("localize", volume or self.target, "--template", template or self.template,
                       "--template-landmarks", landmarks, "-o", output,
                       *extra)

    def test_lps_and_ras_templates_give_the_same_markups(self):
        root = Path(self.tmp.name)
        code, out, err = self.localize(self.lps, root / "from_lps.mrk.json")
        self.assertEqual(code, 0, err)
        self.assertIn("LV_apex", out)
        code, _, err = self.localize(self.ras, root / "from_ras.mrk.json", "--coordinate-system", "RAS")
        self.assertEqual(code, 0, err)
        document = json.loads((root / "from_ras.mrk.json").read_text())
        markup = document["markups"][0]
        self.assertEqual(markup["coordinateSystem"], "RAS")
        self.assertEqual([p["label"] for p in markup["controlPoints"]], ["LV_center", "LV_apex", "LV_base"])
        confidences = next(m for m in markup["measurements"] if m["name"] == "confidence")["controlPointValues"]
        self.assertTrue(all(0.0 <= c <= 1.0 for c in confidences))
        for point, confidence in zip(markup["controlPoints"], confidences):  # the file says it per point too
            words = point["description"].split()
            self.assertEqual(words[0], "confidence")
            self.assertAlmostEqual(float(words[1]), confidence, delta=0.0051)
            self.assertEqual("check this point" in point["description"], confidence < LOW_CONFIDENCE)
        from_lps, from_ras = read_landmarks(root / "from_lps.mrk.json"), read_landmarks(root / "from_ras.mrk.json")
        self.assertEqual(json.loads((root / "from_lps.mrk.json").read_text())["markups"][0]["coordinateSystem"], "LPS")
        for a, b in zip(from_lps, from_ras):
            self.assertEqual(a.label, b.label)
            self.assertTrue(np.allclose(a.position_lps, b.position_lps, atol=1e-3))
            self.assertAlmostEqual(a.confidence, b.confidence, places=3)

    def test_without_a_template_the_lv_landmarks_follow_their_definitions(self):
        root = Path(self.tmp.name)
        code, out, err = run_cli("localize", self.target, "-o", root / "defined.mrk.json")
        self.assertEqual(code, 0, err)
        self.assertIn("by the built-in definitions (no template)", out)
        self.assertEqual([lm.label for lm in read_landmarks(root / "defined.mrk.json")],
                         ["LV_center", "LV_apex", "LV_base"])
        code, _, err = run_cli("localize", self.target, "--template-landmarks", self.lps, "-o", root / "x.mrk.json")
        self.assertEqual(code, 2, err)
        self.assertIn("0 --template but 1 --template-landmarks", err)

    def test_the_prnet_stage_runs_on_request_and_moves_points_at_most_its_radius(self):
        root = Path(self.tmp.name)
        code, out, err = self.localize(self.lps, root / "plain.mrk.json")
        self.assertEqual(code, 0, err)
        code, out, err = self.localize(self.lps, root / "prnet.mrk.json", "--prnet")
        self.assertEqual(code, 0, err)
        self.assertIn("PRNet search (prnet-25d-v2)", out)
        for plain, refined in zip(read_landmarks(root / "plain.mrk.json"), read_landmarks(root / "prnet.mrk.json")):
            # the search's 4 mm offsets turned into the study's frame and written to the markups file: 1e-3 mm of
            # rounding, far under the next grid step (2 mm)
            self.assertLessEqual(np.linalg.norm(np.subtract(plain.position_lps, refined.position_lps)), 4.0 + 1e-3)
        code, _, err = self.localize(self.lps, root / "x.mrk.json", "--prnet-model", "prnet-25d-v2")
        self.assertEqual(code, 2, err)
        self.assertIn("give --prnet too", err)

    def test_the_long_axis_is_written_as_a_line_markup_from_base_to_apex(self):
        root = Path(self.tmp.name)
        code, out, err = self.localize(self.lps, root / "axis_points.mrk.json", "--long-axis",
                                       root / "axis.mrk.json", "--coordinate-system", "RAS")
        self.assertEqual(code, 0, err)
        self.assertIn("LV long axis", out)
        markup = json.loads((root / "axis.mrk.json").read_text())["markups"][0]
        self.assertEqual((markup["type"], markup["coordinateSystem"]), ("Line", "RAS"))
        self.assertEqual([p["label"] for p in markup["controlPoints"]], ["LV_base", "LV_apex"])
        placed = {lm.label: np.asarray(lm.position_lps) for lm in read_landmarks(root / "axis_points.mrk.json")}
        for point in markup["controlPoints"]:  # RAS in the file: the placed base and apex
            lps = np.asarray(point["position"]) * [-1, -1, 1]
            self.assertTrue(np.allclose(lps, placed[point["label"]], atol=1e-3))
        self.assertIn("azimuth", markup["description"])
        code, _, err = self.localize(self.lps, root / "same.mrk.json", "--long-axis", root / "same.mrk.json")
        self.assertNotEqual(code, 0)
        self.assertIn("same file", err)

    def test_bad_inputs_give_one_line_and_leave_the_output_untouched(self):
        root = Path(self.tmp.name)
        output = root / "existing.mrk.json"
        output.write_text("previous result\n")
        (root / "notjson.mrk.json").write_text("{ this is not json")
        (root / "empty.mrk.json").write_text(json.dumps({"markups": [{"type": "Fiducial", "controlPoints": []}]}))
        far = write_landmarks([Landmark("LV_apex", (0.0, 0.0, 900.0))], root / "far.mrk.json")
        (root / "notes.txt").write_text("hello\n")
        cases = {
            "not JSON": (root / "notjson.mrk.json", {}),
            "no control points": (root / "empty.mrk.json", {}),
            "outside the template volume": (far, {}),
            "not an image": (self.lps, {"volume": root / "notes.txt"}),
            "file not found": (self.lps, {"template": root / "missing.nii.gz"}),
        }
        for expected, (landmarks, kwargs) in cases.items():
            with self.subTest(expected):
                code, _, err = self.localize(landmarks, output, **kwargs)
                self.assertNotEqual(code, 0)
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertTrue(err.startswith("error: "), err)
                self.assertIn(expected, err)
                self.assertEqual(output.read_text(), "previous result\n")

    def test_output_must_be_markups_and_must_not_overwrite_the_template(self):
        code, _, err = self.localize(self.lps, self.lps)
        self.assertNotEqual(code, 0)
        self.assertIn("overwrite the template landmarks", err)
        code, _, err = self.localize(self.lps, Path(self.tmp.name) / "out.json")
        self.assertNotEqual(code, 0)
        self.assertIn(".mrk.json", err)


    def test_several_templates_give_the_median_of_their_placements(self):
        root = Path(self.tmp.name)
        second, truth = synthetic_torso(2, size=34, spacing=6.5, shift_mm=(-6.0, 4.0, -3.0))
        second_path = write_volume(second, root / "second.nrrd")
        second_landmarks = write_landmarks([Landmark(n, tuple(float(v) for v in p)) for n, p in truth.items()],
                                           root / "second.mrk.json", "RAS")
        with one_thread():  # as each template is placed in a multi-template run
            code, _, err = self.localize(self.lps, root / "one.mrk.json")
            self.assertEqual(code, 0, err)
            code, _, err = self.localize(second_landmarks, root / "two.mrk.json", template=second_path)
            self.assertEqual(code, 0, err)
        code, out, err = self.localize(self.lps, root / "both.mrk.json", "--template", second_path,
                                       "--template-landmarks", second_landmarks)
        self.assertEqual(code, 0, err)
        self.assertIn("median of 2 templates", out)
        one, two = read_landmarks(root / "one.mrk.json"), read_landmarks(root / "two.mrk.json")
        both = read_landmarks(root / "both.mrk.json")
        self.assertEqual([lm.label for lm in both], ["LV_center", "LV_apex", "LV_base"])
        for a, b, fused in zip(one, two, both):
            expected = (np.asarray(a.position_lps) + np.asarray(b.position_lps)) / 2
            self.assertTrue(np.allclose(fused.position_lps, expected, atol=1e-3), (a, b, fused))
            distance = np.linalg.norm(np.subtract(a.position_lps, b.position_lps))  # how far the two agree
            expected_confidence = min(float(agreement_confidence(distance)), a.confidence, b.confidence)
            self.assertAlmostEqual(fused.confidence, expected_confidence, places=3)
        output = root / "kept.mrk.json"
        output.write_text("previous result\n")
        code, _, err = self.localize(self.lps, output, "--template", second_path)
        self.assertNotEqual(code, 0)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("one landmarks file per template", err)
        code, _, err = self.localize(self.lps, second_landmarks, "--template", second_path,
                                     "--template-landmarks", second_landmarks)
        self.assertIn("overwrite the template landmarks", err)
        self.assertEqual(output.read_text(), "previous result\n")

class LocalizeFromSegmentationTest(unittest.TestCase):
    """`localize --segmentation`: the LV frame from the study's myocardium (on any grid) instead of its counts."""

    @classmethod
    def setUpClass(cls):
        from SPECTFewShotLib.cardiac_landmarks import lv_landmarks
        from SPECTFewShotLib.io.segmentation_io import Segmentation, SegmentInfo, read_segmentation, write_segmentation
        from SPECTFewShotLib.io.volume_io import read_volume
        from SPECTFewShotLib.resources import sample_study
        from SPECTFewShotLib.volume import Volume

        cls.tmp = tempfile.TemporaryDirectory()
        root = Path(cls.tmp.name)
        cls.image, mask_path = sample_study()
        volume = read_volume(cls.image)
        wall = read_segmentation(mask_path).labels.array > 0
        labels = np.where(wall, 7, 1).astype(np.int32)
        segments = (SegmentInfo(1, "background", (0.5, 0.5, 0.5)), SegmentInfo(7, "LV_myocardium", (0.8, 0.2, 0.2)))
        cls.truth = {lm.label: np.asarray(lm.position_lps) for lm in
                     lv_landmarks(volume.with_array(wall.astype(np.uint8)))}
        cls.segmentation = write_segmentation(Segmentation(volume.with_array(labels), segments), root / "wall.seg.nrrd")
        # the same wall on a cropped grid of its own (another origin and size)
        k, j, i = (slice(int(a.min()) - 2, int(a.max()) + 3) for a in np.nonzero(wall))
        origin = volume.index_to_lps((i.start, j.start, k.start))
        cropped = Volume(np.ascontiguousarray(labels[k, j, i]), volume.spacing, tuple(origin), volume.direction)
        cls.cropped = write_segmentation(Segmentation(cropped, segments), root / "cropped.seg.nrrd")
        no_wall = (SegmentInfo(1, "background", (0.5, 0.5, 0.5)), SegmentInfo(7, "liver", (0.8, 0.2, 0.2)))
        cls.liver_only = write_segmentation(Segmentation(volume.with_array(labels), no_wall), root / "liver.seg.nrrd")
        everything = np.full(labels.shape, 7, dtype=np.int32)
        everything[0] = 1  # a classification that leaked into the whole study
        cls.leaked = write_segmentation(Segmentation(volume.with_array(everything), segments), root / "leaked.seg.nrrd")
        far = Volume(labels, volume.spacing, tuple(np.asarray(volume.origin) + 2000.0), volume.direction)
        cls.elsewhere = write_segmentation(Segmentation(far, segments), root / "elsewhere.seg.nrrd")
        cls.template_landmarks = write_landmarks([Landmark(n, tuple(map(float, p))) for n, p in cls.truth.items()],
                                                 root / "template.mrk.json")
        # the template's wall under a value and a name of the annotator's own
        own = (SegmentInfo(1, "background", (0.5, 0.5, 0.5)), SegmentInfo(3, "wall", (0.8, 0.2, 0.2)))
        cls.own_names = write_segmentation(Segmentation(volume.with_array(np.where(wall, 3, 1).astype(np.int32)), own),
                                           root / "own_names.seg.nrrd")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def localize(self, output, *extra):
        return run_cli("localize", self.image, "--template", self.image, "--template-landmarks",
                       self.template_landmarks, "-o", output, *extra)

    def errors_mm(self, output) -> dict:
        """Each landmark written to `output`: its distance (mm) from this study's own point."""
        return {lm.label: float(np.linalg.norm(np.asarray(lm.position_lps) - self.truth[lm.label]))
                for lm in read_landmarks(output)}

    def test_the_lv_landmarks_follow_the_myocardium_given_on_any_grid(self):
        root = Path(self.tmp.name)
        for name, segmentation in (("same grid", self.segmentation), ("cropped grid", self.cropped)):
            with self.subTest(name):
                output = root / f"{name.replace(' ', '_')}.mrk.json"
                code, out, err = self.localize(output, "--segmentation", segmentation, "--template-segmentation",
                                               segmentation)
                self.assertEqual(code, 0, err)
                self.assertIn(f"LV frame from the myocardium of {Path(segmentation).name}", out)
                for label, error in self.errors_mm(output).items():
                    self.assertLess(error, 0.5, label)
        code, out, err = self.localize(root / "counts.mrk.json", "--template-segmentation", self.segmentation,
                                       "--no-one-shot")
        self.assertEqual(code, 0, err)
        self.assertIn("LV frame from the counts", out)
        worst = max(self.errors_mm(root / "counts.mrk.json").values())
        self.assertGreater(worst, 5.0, "the counts' frame differs from this mask's: the option must change it")

    def test_the_study_and_the_template_name_their_myocardium_each_by_its_own_option(self):
        root = Path(self.tmp.name)
        output = root / "own_labels.mrk.json"
        code, _, err = self.localize(output, "--segmentation", self.segmentation, "--label", "7",
                                     "--template-segmentation", self.own_names, "--template-label", "3")
        self.assertEqual(code, 0, err)
        for label, error in self.errors_mm(output).items():
            self.assertLess(error, 0.5, label)
        code, _, err = self.localize(root / "unnamed.mrk.json", "--segmentation", self.segmentation, "--label", "7",
                                     "--template-segmentation", self.own_names)
        self.assertEqual(code, 2, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("own_names.seg.nrrd", err)  # the file whose segment could not be chosen
        self.assertIn("--template-label", err)

    def test_one_shot_classifies_the_studys_wall_from_the_templates_myocardium(self):
        # the default with a template's segmentation and no study wall; --one-shot says the same
        root = Path(self.tmp.name)
        for extra in ((), ("--one-shot",)):
            with self.subTest(extra=extra):
                code, out, err = self.localize(root / "one_shot.mrk.json", "--template-segmentation", self.cropped,
                                               *extra)
                self.assertEqual(code, 0, err)
                self.assertIn("LV frame from the wall classified from the template's myocardium", out)
                for label, error in self.errors_mm(root / "one_shot.mrk.json").items():  # the template is the study
                    self.assertLess(error, 8.0, label)
        code, out, err = self.localize(root / "opted_out.mrk.json", "--template-segmentation", self.cropped,
                                       "--no-one-shot")
        self.assertEqual(code, 0, err)
        self.assertIn("LV frame from the counts", out)
        for extra, expected in ((("--one-shot",), "give --template-segmentation too"),
                                (("--one-shot", "--template-segmentation", self.cropped, "--segmentation",
                                  self.segmentation), "give one of them")):
            with self.subTest(expected):
                code, _, err = self.localize(root / "refused.mrk.json", *extra)
                self.assertNotEqual(code, 0)
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertTrue(err.startswith("error: "), err)
                self.assertIn(expected, err)
                self.assertFalse((root / "refused.mrk.json").exists())

    def test_a_myocardium_that_is_not_lv_sized_is_not_used_and_the_user_is_told(self):
        root = Path(self.tmp.name)
        code, out, err = self.localize(root / "leaked.mrk.json", "--segmentation", self.leaked)
        self.assertEqual(code, 0, err)
        self.assertIn("not used for the LV frame", out)
        self.assertIn("LV frame from the counts", out)
        code, _, err = self.localize(root / "counts_again.mrk.json")
        self.assertEqual(code, 0, err)
        self.assertEqual([lm.position_lps for lm in read_landmarks(root / "leaked.mrk.json")],
                         [lm.position_lps for lm in read_landmarks(root / "counts_again.mrk.json")])

    def test_a_segmentation_without_this_studys_myocardium_gives_one_line(self):
        root = Path(self.tmp.name)
        output = root / "kept.mrk.json"
        output.write_text("previous result\n")
        cases = {"none is named LV_myocardium": ("--segmentation", self.liver_only),
                 "outside the volume": ("--segmentation", self.elsewhere),
                 "give --segmentation too": ("--label", "LV_myocardium"),
                 "give --template-segmentation too": ("--template-label", "LV_myocardium"),
                 "no segment 'LV_blood_pool'": ("--segmentation", self.segmentation, "--label", "LV_blood_pool")}
        for expected, extra in cases.items():
            with self.subTest(expected):
                code, _, err = self.localize(output, *extra)
                self.assertEqual(code, 2, err)
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertIn(expected, err)
                self.assertEqual(output.read_text(), "previous result\n")


if __name__ == "__main__":
    unittest.main()
