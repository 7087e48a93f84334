"""Damaged weights: a truncated, altered, missing or wrong-format weights file is one line naming the file and what
to do (exit 2 from the CLI; the Slicer module shows the same ModelError in a dialog), never a traceback, and never
a load of bytes that were not verified."""

import hashlib
import json
import shutil
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from SPECTFewShotLib.errors import ModelError
from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for, write_segmentation
from SPECTFewShotLib.io.volume_io import write_volume
from SPECTFewShotLib.models import registry
from SPECTFewShotLib.volume import Volume
from Testing.cli_runner import run_cli

MARKER = Path(tempfile.gettempdir()) / "spectfewshot-weights-code-ran"


class _RunsCode:
    """An object whose unpickling would run code (creates MARKER): what weights_only=True must never allow."""

    def __reduce__(self):
        return (Path.touch, (MARKER,))


class DamagedWeightsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.root = Path(cls.tmp.name)
        rng = np.random.default_rng(0)
        counts = (rng.random((6, 10, 10)) * 50 + 10).astype(np.float32)
        counts[:, 3:7, 3:7] += 100
        volume = Volume(counts, (4.0, 4.0, 4.0), (0.0, 0.0, 0.0))
        painted = np.zeros(counts.shape, dtype=np.int32)
        painted[2] = 1
        painted[2, 3:7, 3:7] = 2
        cls.volume = write_volume(volume, cls.root / "study.nii.gz")
        cls.support = write_segmentation(Segmentation(volume.with_array(painted), segments_for([1, 2])),
                                         cls.root / "painted.seg.nrrd")
        cls.shipped = registry.find_model("protonet")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.models = Path(tempfile.mkdtemp(dir=self.root))
        self.weights = self.models / self.shipped.file
        shutil.copyfile(self.shipped.path, self.weights)
        entry = {**registry.asdict(self.shipped)}
        (self.models / "registry.json").write_text(json.dumps({"models": [entry]}))
        self.output = self.root / "result.seg.nrrd"
        self.output.write_bytes(b"previous result")
        self.inputs = {p: p.read_bytes() for p in (self.volume, self.support)}
        MARKER.unlink(missing_ok=True)

    def classify(self, *extra):
        # the ProtoNet prior is the stage that loads weights (the learner and graph cut need none)
        with mock.patch.object(registry, "REGISTRY_PATH", self.models / "registry.json"):
            return run_cli("classify", self.volume, "--support", self.support, "-o", self.output, "--device", "cpu",
                           "--stages", "prior", *extra)

    def assert_one_line(self, result, *phrases):
        code, _, err = result
        self.assertEqual(code, 2, err)
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("error: "), err)
        self.assertNotIn("Traceback", err)
        for phrase in phrases:
            self.assertIn(phrase, lines[0])
        self.assertEqual(self.output.read_bytes(), b"previous result")
        self.assertEqual({p: p.read_bytes() for p in self.inputs}, self.inputs)
        return lines[0]

    def test_truncated_altered_and_missing_shipped_weights(self):
        data = self.weights.read_bytes()
        self.weights.write_bytes(data[: len(data) // 2])
        self.assert_one_line(self.classify(), str(self.weights), "SHA-256", "reinstall")
        altered = bytearray(data)
        altered[len(data) // 3] ^= 0x01
        self.weights.write_bytes(bytes(altered))
        self.assert_one_line(self.classify(), str(self.weights), "SHA-256", "reinstall")
        self.weights.unlink()
        self.assert_one_line(self.classify(), str(self.weights), "missing", "reinstall")

    def test_damaged_registry(self):
        (self.models / "registry.json").write_text('{"models": [{"id": "x"')
        self.assert_one_line(self.classify(), "registry.json", "reinstall")
        (self.models / "registry.json").write_text('{"models": [{"id": "x", "unknown_field": 1}]}')
        self.assert_one_line(self.classify(), "registry.json", "reinstall")

    def test_users_weights_of_the_wrong_format(self):
        text = self.root / "notes.pt"
        text.write_text("not weights\n")
        self.assert_one_line(self.classify("--model", text), str(text), "not a PyTorch weights file",
                             "spectfewshot train")
        cut = self.root / "cut.pt"
        cut.write_bytes(self.shipped.path.read_bytes()[:100_000])
        self.assert_one_line(self.classify("--model", cut), str(cut), "not a PyTorch weights file")
        tensor = self.root / "tensor.pt"
        torch.save(torch.zeros(3), tensor)
        self.assert_one_line(self.classify("--model", tensor), str(tensor), "holds no weights")
        mixed = self.root / "mixed.pt"
        torch.save({"state_dict": {"a": torch.zeros(1), "b": 3}}, mixed)
        self.assert_one_line(self.classify("--model", mixed), str(mixed), "holds no weights")
        self.assert_one_line(self.classify("--model", self.root / "absent.pt"), "absent.pt", "missing")

    def test_pickled_code_is_refused_and_never_runs(self):
        evil = self.root / "evil.pt"
        torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": _RunsCode()}, evil)
        self.assert_one_line(self.classify("--model", evil), str(evil), "never loaded")
        self.assertFalse(MARKER.exists())

    def test_the_bytes_loaded_are_the_bytes_verified(self):
        # A file replaced between checking and loading: what is loaded must still be what was checked.
        replacement = self.root / "replacement.pt"
        torch.save({"state_dict": {"other": torch.ones(2)}, "config": {}}, replacement)
        original_sha = registry.sha256_of

        def hash_then_replace(path):
            digest = original_sha(path)
            shutil.copyfile(replacement, path)
            return digest

        with mock.patch.object(registry, "sha256_of", hash_then_replace), \
                mock.patch.object(registry, "REGISTRY_PATH", self.models / "registry.json"):
            try:
                state, _ = registry.load_weights("protonet")
            except ModelError as error:  # a refusal of the changed file is as good as loading the verified bytes
                self.assertIn(str(self.weights), str(error))
                return
        verified = torch.load(self.shipped.path, map_location="cpu", weights_only=True)["state_dict"]
        self.assertEqual(sorted(state), sorted(verified))
        self.assertEqual(hashlib.sha256(self.shipped.path.read_bytes()).hexdigest(), self.shipped.sha256)

    def test_damaged_prnet_weights_are_one_line_too(self):
        prnet = registry.find_model("prnet")
        models = Path(tempfile.mkdtemp(dir=self.root))
        (models / prnet.file).write_bytes(prnet.path.read_bytes()[:-10])
        (models / "registry.json").write_text(json.dumps({"models": [registry.asdict(prnet)]}))
        with self.assertRaises(ModelError) as caught:
            registry.load_weights("prnet", None, models / "registry.json")
        message = str(caught.exception)
        self.assertEqual(len(message.splitlines()), 1)
        self.assertIn(str(models / prnet.file), message)
        self.assertIn("reinstall", message)


if __name__ == "__main__":
    unittest.main()
