"""Shared pieces: the model registry, devices, progress and cancellation, GrowCut."""

import tempfile
import unittest
from pathlib import Path

import numpy as np

from SPECTFewShotLib.errors import CancelledError, InputError, ModelError
from SPECTFewShotLib.models.registry import ModelEntry, find_model, load_weights, register_model, sha256_of
from SPECTFewShotLib.research.seeds import held_out_seeds, is_held_out, training_seeds
from SPECTFewShotLib.runtime.progress import CancelToken, report


class RegistryTest(unittest.TestCase):
    def test_registered_weights_load_and_tampering_is_refused(self):
        import torch

        with tempfile.TemporaryDirectory() as tmp:
            registry = Path(tmp) / "registry.json"
            weights = Path(tmp) / "tiny.pt"
            torch.save({"state_dict": {"w": torch.arange(4.0)}, "config": {"width": 4}}, weights)
            register_model(ModelEntry("tiny-v1", "protonet", "tiny.pt", sha256_of(weights), default=True), registry)
            register_model(ModelEntry("tiny-v2", "protonet", "tiny.pt", sha256_of(weights), default=True), registry)
            self.assertEqual(find_model("protonet", None, registry).id, "tiny-v2")
            state, entry = load_weights("protonet", "tiny-v1", registry)
            self.assertTrue(torch.equal(state["w"], torch.arange(4.0)))
            self.assertEqual(entry.config, {"width": 4})
            with self.assertRaises(ModelError):
                find_model("prnet", None, registry)
            with self.assertRaises(ModelError):
                load_weights("protonet", "nope", registry)
            weights.write_bytes(weights.read_bytes()[:-3] + b"xyz")
            with self.assertRaises(ModelError) as caught:
                load_weights("protonet", "tiny-v1", registry)
            self.assertIn("SHA-256", str(caught.exception))

    def test_pickled_code_is_never_run(self):
        import pickle

        with tempfile.TemporaryDirectory() as tmp:
            evil = Path(tmp) / "evil.pt"

            class Boom:
                def __reduce__(self):
                    return (exec, ("raise SystemExit('ran')",))

            evil.write_bytes(pickle.dumps({"state_dict": Boom()}, protocol=2))
            with self.assertRaises(ModelError):
                load_weights("protonet", str(evil))


class ProgressTest(unittest.TestCase):
    def test_progress_is_clipped_and_cancel_stops(self):
        seen = []
        token = CancelToken()
        report(lambda f, m: seen.append((f, m)), 1.5, "done", token)
        self.assertEqual(seen, [(1.0, "done")])
        token.cancel()
        with self.assertRaises(CancelledError):
            report(None, 0.5, "again", token)


class SeedsTest(unittest.TestCase):
    def test_training_and_held_out_seeds_never_meet(self):
        held = held_out_seeds(20)
        self.assertTrue(all(is_held_out(s) for s in held))
        self.assertFalse(any(is_held_out(s) for s in training_seeds(500)))
        with self.assertRaises(ValueError):
            training_seeds(10, start=held[0] - 5)

    def test_a_fresh_held_out_set_starts_after_the_skipped_seeds(self):
        fresh = held_out_seeds(5, skip=60)
        self.assertEqual(fresh, list(range(held_out_seeds(1)[0] + 60, held_out_seeds(1)[0] + 65)))
        self.assertTrue(all(is_held_out(s) for s in fresh))
        self.assertFalse(set(fresh) & set(held_out_seeds(60)))
        with self.assertRaises(ValueError):
            held_out_seeds(5, skip=-1)

    def test_evaluate_localize_refuses_a_negative_skip_in_one_line(self):
        from Testing.cli_runner import run_cli

        code, _, err = run_cli("evaluate", "localize", "--skip", "-1")
        self.assertNotEqual(code, 0)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("--skip", err)

    def test_evaluate_localize_refuses_an_output_it_would_not_write(self):
        from Testing.cli_runner import run_cli

        code, _, err = run_cli("evaluate", "localize", "--conventions", "--output", "report.txt", "--held-out", "0")
        self.assertNotEqual(code, 0)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("--output writes the --confidence report only", err)


class DeviceTest(unittest.TestCase):
    def test_cpu_and_unknown_devices(self):
        import torch

        from SPECTFewShotLib.runtime.device import resolve_device

        self.assertEqual(resolve_device("cpu").type, "cpu")
        self.assertIn(resolve_device("auto").type, ("cpu", "cuda"))
        with self.assertRaises(InputError):
            resolve_device("tpu")
        if not torch.cuda.is_available():
            with self.assertRaises(InputError):
                resolve_device("cuda")


class GrowFromSeedsTest(unittest.TestCase):
    def test_two_blobs_are_separated_from_their_seeds(self):
        try:
            import slicer  # noqa: F401
        except ImportError:
            self.skipTest("slicer-core is not installed")
        from SPECTFewShotLib.research.baselines.growcut import grow_from_seeds
        from SPECTFewShotLib.volume import Volume

        array = np.zeros((20, 20, 20), dtype=np.float32)
        array[4:10, 4:10, 4:10] = 100.0
        array[12:18, 12:18, 12:18] = 10.0
        seeds = np.zeros(array.shape, dtype=np.int16)
        seeds[6, 6, 6] = 1
        seeds[15, 15, 15] = 2
        labels = grow_from_seeds(Volume(array, (4, 4, 4), (0, 0, 0)), seeds)
        self.assertTrue(np.all(labels[4:10, 4:10, 4:10] == 1))
        self.assertTrue(np.all(labels[12:18, 12:18, 12:18] == 2))
        with self.assertRaises(InputError):
            grow_from_seeds(Volume(array, (4, 4, 4), (0, 0, 0)), np.where(seeds == 1, 1, 0))


if __name__ == "__main__":
    unittest.main()
