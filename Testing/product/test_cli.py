"""The command line: `info` in text and JSON, and one line + non-zero exit for every bad input."""

import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from SPECTFewShotLib.io.volume_io import write_volume
from SPECTFewShotLib.resources import sample_study
from Testing.cli_runner import run_cli
from Testing.fixtures import make_volume
from Testing.nm_dicom_factory import write_nm_file


class InfoTest(unittest.TestCase):
    def test_json_has_exactly_the_documented_keys(self):
        image, _ = sample_study()
        code, out, err = run_cli("info", image, "--json")
        self.assertEqual(code, 0, err)
        info = json.loads(out)
        self.assertEqual(set(info), {"size", "spacing", "origin_lps", "direction", "modality", "units",
                                     "min", "max", "mean", "sum"})
        self.assertEqual(info["size"], [70, 70, 50])
        self.assertEqual(info["direction"], [1, 0, 0, 0, 1, 0, 0, 0, -1])
        self.assertEqual(info["max"], 32767.0)
        self.assertAlmostEqual(info["sum"], 386439801.0)

    def test_text_names_geometry_and_nm_fields(self):
        with tempfile.TemporaryDirectory() as tmp:
            frames = np.arange(10 * 8 * 9, dtype=np.uint16).reshape(10, 8, 9)
            path = write_nm_file(Path(tmp) / "nm.dcm", frames, origin=(-120.5, -95.25, 310.0))
            code, out, _ = run_cli("info", path)
        self.assertEqual(code, 0)
        self.assertIn("9 x 8 x 10", out)
        self.assertIn("4.42", out)
        self.assertIn("-120.50, -95.25, 310.00", out)
        self.assertIn("NM", out)
        self.assertIn("counts", out)


class ErrorPolicyTest(unittest.TestCase):
    def test_each_bad_input_gives_one_line_and_a_nonzero_exit(self):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (tmp / "notes.txt").write_text("hello\n")
            (tmp / "corrupt.nii.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 50)
            sitk.WriteImage(sitk.Image(16, 16, sitk.sitkUInt16), str(tmp / "flat.nii.gz"))
            write_nm_file(tmp / "proj.dcm", np.ones((4, 8, 8), dtype=np.uint16), image_type="TOMO")
            nan = make_volume().array.astype(np.float32)
            nan[0, 0, 0] = np.nan
            write_volume(make_volume().with_array(nan), tmp / "nan.nrrd")
            write_volume(make_volume().with_array(np.zeros((12, 10, 14), dtype=np.int16)), tmp / "zeros.nrrd")
            cases = {"zeros.nrrd": "empty", "missing.nii": "not found", "notes.txt": "not an image",
                     "corrupt.nii.gz": "corrupt.nii.gz", "flat.nii.gz": "2D", "proj.dcm": "projection",
                     "nan.nrrd": "NaN"}
            for name, words in cases.items():
                code, _out, err = run_cli("info", tmp / name)
                self.assertNotEqual(code, 0, name)
                self.assertEqual(len(err.strip().splitlines()), 1, f"{name}: {err!r}")
                self.assertTrue(err.startswith("error: "), err)
                self.assertIn(words, err)
                self.assertNotIn("Traceback", err)

    def test_console_script_prints_no_traceback(self):
        result = subprocess.run([sys.executable, "-m", "SPECTFewShotLib.cli", "info", "/nonexistent/volume.nii.gz"],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 2)
        self.assertEqual(result.stderr.strip(), "error: /nonexistent/volume.nii.gz: file not found")


class HugePageAdviceTest(unittest.TestCase):
    """The CLI's process and Slicer's classification session do not ask for transparent huge pages (slow first
    touches, memory_pages), unless the user says so."""

    ADVICE = "from numpy._core.multiarray import _set_madvise_hugepage as advise; "
    COMMAND = ADVICE + ("import sys; from SPECTFewShotLib import cli; code = cli.main(['info', sys.argv[1]]); "
                        "print('advice', advise(True), 'exit', code)")
    SESSION = ADVICE + ("import slicer; from SPECTFewShotLib.mrml.scene_logic import scene_logic_for; "
                        "scene_logic_for(slicer.vtkMRMLScene()); print('advice', advise(True))")

    def _last_line(self, probe: str, *arguments: str, **env) -> str:
        """The last line a probe prints in a fresh Python, without the user's setting unless `env` gives one."""
        import os

        environment = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
        environment.update(env)
        result = subprocess.run([sys.executable, "-c", probe, *arguments], capture_output=True, text=True,
                                timeout=120, env=environment)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout.strip().splitlines()[-1]

    def test_the_command_line_turns_the_advice_off(self):
        self.assertEqual(self._last_line(self.COMMAND, str(sample_study()[0])), "advice False exit 0")

    def test_the_users_setting_wins(self):
        self.assertEqual(self._last_line(self.COMMAND, str(sample_study()[0]), NUMPY_MADVISE_HUGEPAGE="1"),
                         "advice True exit 0")

    def test_the_slicer_session_turns_the_advice_off(self):
        self.assertEqual(self._last_line(self.SESSION), "advice False")

if __name__ == "__main__":
    unittest.main()
