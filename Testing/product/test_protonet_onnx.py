"""The ONNX Runtime path of the ProtoNet embedding: the registered export of the shipped weights, the same embeddings
and labels as torch, no torch import in a default classification, and the fallback to torch."""

import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import numpy as np

from SPECTFewShotLib.classification.prior_session import FewShotSession
from SPECTFewShotLib.classification.session import StudySession
from SPECTFewShotLib.errors import InputError, ModelError
from SPECTFewShotLib.io.segmentation_io import write_segmentation
from SPECTFewShotLib.io.volume_io import write_volume
from SPECTFewShotLib.models.registry import REGISTRY_PATH, find_export, find_model, read_verified
from SPECTFewShotLib.protonet import onnx_embedding
from SPECTFewShotLib.protonet.onnx_embedding import TASK, onnxruntime_available
from Testing.fixtures import ring_volume, support_from

ROOT = Path(__file__).resolve().parents[2]
NEEDS_ORT = unittest.skipUnless(onnxruntime_available(), "ONNX Runtime is not installed")


class RegisteredExportTest(unittest.TestCase):
    def test_the_default_weights_have_a_verified_export_that_names_them(self):
        source = find_model("protonet")
        export, found = find_export(TASK, "protonet")
        self.assertEqual(found.id, source.id)
        self.assertEqual(export.exported_from, source.id)
        self.assertEqual(export.config["source_sha256"], source.sha256)
        self.assertGreater(export.config["temperature"], 0)
        self.assertTrue(export.default)
        self.assertTrue(read_verified(export).startswith(b"\x08"))  # an ONNX ModelProto: field 1, ir_version
        card = (export.path.parent / export.card).read_text(encoding="utf-8")
        self.assertIn(export.file, card)  # the model card says the .onnx file is the export of these weights

    def test_an_export_of_other_weights_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            registry = Path(tmp) / "registry.json"
            document = json.loads(REGISTRY_PATH.read_text(encoding="utf-8"))
            for item in document["models"]:
                if item["task"] == TASK:
                    item["config"]["source_sha256"] = "0" * 64
            registry.write_text(json.dumps(document), encoding="utf-8")
            with self.assertRaises(ModelError) as caught:
                find_export(TASK, "protonet", None, registry)
            self.assertIn("export it again", str(caught.exception))
            with self.assertRaises(ModelError):
                find_export(TASK, "protonet", "protonet-spect-v1", registry)  # never exported


@NEEDS_ORT
class SameAnswerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.volume, cls.classes = ring_volume(size=24)
        cls.support = support_from(cls.volume, cls.classes, [7, 12, 16])
        cls.sessions = {}
        for runtime in ("onnxruntime", "torch"):
            session = FewShotSession(device="cpu", runtime=runtime)
            session.set_volume(cls.volume)
            session.set_support(cls.support)
            cls.sessions[runtime] = session

    def test_each_runtime_is_the_one_asked_for(self):
        self.assertEqual({r: s.runtime for r, s in self.sessions.items()},
                         {"onnxruntime": "onnxruntime", "torch": "torch"})
        self.assertEqual(self.sessions["onnxruntime"].model_entry.id, find_model("protonet").id)

    def test_embeddings_agree(self):
        onnx, torch_ = (self.sessions[r]._features for r in ("onnxruntime", "torch"))
        self.assertEqual(onnx.shape, torch_.shape)
        self.assertLess(float(np.abs(onnx - torch_).max()), 1e-4)

    def test_protonet_labels_are_identical(self):
        labels = [self.sessions[r].predict().labels.labels.array for r in ("onnxruntime", "torch")]
        np.testing.assert_array_equal(labels[0], labels[1])

    def test_the_full_pipeline_gives_the_same_labels(self):
        labels = []
        for runtime in ("onnxruntime", "torch"):
            session = StudySession(device="cpu", runtime=runtime)
            session.set_volume(self.volume)
            session.set_support(self.support)
            labels.append(session.predict().labels.labels.array)
            self.assertEqual(session.prior.runtime, runtime)
        np.testing.assert_array_equal(labels[0], labels[1])

    def test_without_onnx_runtime_auto_falls_back_to_torch(self):
        with mock.patch.object(onnx_embedding, "onnxruntime_available", return_value=False):
            session = FewShotSession(device="cpu")
        self.assertEqual(session.runtime, "torch")
        self.assertEqual(FewShotSession(device="cpu").runtime, "onnxruntime")


class RuntimeChoiceTest(unittest.TestCase):
    def test_impossible_choices_are_refused_in_one_line(self):
        for options, phrase in [({"runtime": "tensorflow"}, "unknown runtime"),
                                ({"runtime": "onnxruntime", "model": "mine.pt"}, "--runtime torch")]:
            with self.assertRaises(InputError) as caught:
                FewShotSession(**options)
            self.assertIn(phrase, str(caught.exception))
            self.assertNotIn("\n", str(caught.exception))

    def test_without_onnx_runtime_asking_for_it_says_how_to_install_it(self):
        with mock.patch.object(onnx_embedding, "onnxruntime_available", return_value=False), \
                self.assertRaises(InputError) as caught:
            FewShotSession(runtime="onnxruntime")
        self.assertIn("pip install onnxruntime", str(caught.exception))


@NEEDS_ORT
class NoTorchTest(unittest.TestCase):
    def test_a_default_classify_process_never_imports_torch(self):
        volume, classes = ring_volume(size=20)
        with tempfile.TemporaryDirectory() as tmp:
            write_volume(volume, Path(tmp) / "volume.nrrd")
            write_segmentation(support_from(volume, classes, [6, 10, 14]), Path(tmp) / "support.seg.nrrd")
            code = ("import sys\n"
                    "from SPECTFewShotLib.cli import main\n"
                    "code = main(['classify', 'volume.nrrd', '--support', 'support.seg.nrrd', '-o', 'out.seg.nrrd'])\n"
                    "print('torch imported' if any(m.split('.')[0] == 'torch' for m in sys.modules) else 'no torch')\n"
                    "sys.exit(code)\n")
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            done = subprocess.run([sys.executable, "-c", code], cwd=tmp, capture_output=True, text=True, timeout=300,
                                  env=env)
            self.assertEqual(done.returncode, 0, done.stderr[-2000:])
            self.assertIn("onnxruntime on cpu", done.stdout)
            self.assertEqual(done.stdout.strip().splitlines()[-1], "no torch")
            self.assertTrue((Path(tmp) / "out.seg.nrrd").is_file())


if __name__ == "__main__":
    unittest.main()
