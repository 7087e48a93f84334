"""Slicer conventions checked without the application: the Segment Editor effect module, Sample Data, the
requirements file, and the extension metadata."""

import ast
import hashlib
import re
import unittest
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

ROOT = Path(__file__).resolve().parent.parent
EFFECT_DIR = ROOT / "SegmentEditorFewShotSPECT"


def cmake_set(text: str, variable: str) -> list[str]:
    """The items of `set(<variable> ...)` in a CMake file (comments dropped)."""
    match = re.search(rf"set\({variable}\s+([^)]*)\)", re.sub(r"#[^\n]*", "", text))
    return match.group(1).split() if match else []


class SegmentEditorEffectModuleTest(unittest.TestCase):
    def test_the_effect_follows_slicers_auto_complete_effect(self):
        from SPECTFewShotLib.mrml.segment_editor_effect import EFFECT_NAME

        source = (EFFECT_DIR / "SegmentEditorFewShotSPECTLib" / "SegmentEditorEffect.py").read_text(encoding="utf-8")
        tree = ast.parse(source)
        classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
        effect = next(node for node in classes if node.name == "SegmentEditorEffect")
        self.assertEqual([base.id for base in effect.bases], ["AbstractScriptedSegmentEditorAutoCompleteEffect"])
        methods = {node.name for node in effect.body if isinstance(node, ast.FunctionDef)}
        self.assertLessEqual({"__init__", "clone", "icon", "helpText", "computePreviewLabelmap"}, methods)
        self.assertIn(f'scriptedEffect.name = "{EFFECT_NAME}"', source)
        self.assertIn("classify_seeds(", source)
        self.assertIn("edit_mask_for(", source)

    def test_the_hidden_module_registers_the_effect_and_every_file_is_built(self):
        module = (EFFECT_DIR / "SegmentEditorFewShotSPECT.py").read_text(encoding="utf-8")
        compile(module, "SegmentEditorFewShotSPECT.py", "exec")
        self.assertIn("self.parent.hidden = True", module)
        self.assertIn('slicer.app.connect("startupCompleted()", self.registerEditorEffect)', module)
        cmake = (EFFECT_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
        self.assertIn("set(MODULE_NAME SegmentEditorFewShotSPECT)", cmake)
        listed = {item.replace("${MODULE_NAME}", "SegmentEditorFewShotSPECT")
                  for item in cmake_set(cmake, "MODULE_PYTHON_SCRIPTS") + cmake_set(cmake, "MODULE_PYTHON_RESOURCES")}
        present = {str(p.relative_to(EFFECT_DIR)) for p in EFFECT_DIR.rglob("*")
                   if p.is_file() and p.name != "CMakeLists.txt" and "__pycache__" not in p.parts}
        self.assertEqual(listed, present)
        top = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
        self.assertIn("add_subdirectory(SegmentEditorFewShotSPECT)", top)


class SampleDataTest(unittest.TestCase):
    def test_the_bundled_study_is_a_nuclear_medicine_sample_with_a_valid_checksum(self):
        from SPECTFewShotLib.sample_data import sample_data_source

        source = sample_data_source()
        self.assertEqual(source["category"], "Nuclear Medicine")
        (uri,), (checksum,) = source["uris"], source["checksums"]
        path = Path(url2pathname(urlparse(uri).path))
        self.assertTrue(path.is_file(), uri)
        self.assertEqual(source["fileNames"], [path.name])
        algorithm, digest = checksum.split(":")
        self.assertEqual((algorithm, digest), ("SHA256", hashlib.sha256(path.read_bytes()).hexdigest()))
        self.assertTrue(Path(source["thumbnailFileName"]).is_file())


class RequirementsFileTest(unittest.TestCase):
    def test_the_requirements_file_is_pyproject_without_slicers_own_packages(self):
        try:
            import tomllib
        except ImportError:  # Python < 3.11
            self.skipTest("tomllib needs Python 3.11")
        from SPECTFewShotLib.dependencies import REQUIREMENTS, SLICER_OWNED, read_requirements

        project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        declared = dict(re.match(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)", item).groups()
                        for item in project["dependencies"])
        expected = {name: minimum for name, minimum in declared.items() if name not in SLICER_OWNED}
        self.assertEqual({r.distribution: r.minimum for r in REQUIREMENTS}, expected)
        self.assertNotIn("torchvision", expected)
        self.assertEqual(read_requirements(ROOT / "Resources" / "requirements.txt"), REQUIREMENTS)
        listed = cmake_set((ROOT / "SPECTFewShot" / "CMakeLists.txt").read_text(encoding="utf-8"),
                           "SPECTFewShot_PYTHON_RESOURCES")
        self.assertIn("Resources/requirements.txt", listed)

    def test_a_malformed_line_is_refused_with_its_line_number(self):
        import tempfile

        from SPECTFewShotLib.dependencies import read_requirements

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "requirements.txt"
            path.write_text("# comment\nscipy>=1.10\nscikit-image\n", encoding="utf-8")
            with self.assertRaisesRegex(ValueError, "line 3"):
                read_requirements(path)
            path.write_text("scikit-image>=0.21  # images\n", encoding="utf-8")
            self.assertEqual([(r.distribution, r.module) for r in read_requirements(path)],
                             [("scikit-image", "skimage")])

    def test_install_reports_through_the_callback_blocking_or_not(self):
        from types import SimpleNamespace

        from SPECTFewShotLib.dependencies import Requirement, install_in_slicer

        calls, results = [], []

        def modern(text, blocking=True, completedCallback=None, requester=None):
            calls.append((text, blocking, requester))
            completedCallback(0)

        def old(text):
            calls.append((text,))

        wanted = [Requirement("scipy", "scipy", "1.10")]
        install_in_slicer(wanted, results.append, SimpleNamespace(util=SimpleNamespace(pip_install=modern)))
        install_in_slicer(wanted, results.append, SimpleNamespace(util=SimpleNamespace(pip_install=old)))
        self.assertEqual(calls, [("scipy>=1.10", False, "SPECTFewShot"), ("scipy>=1.10",)])
        self.assertEqual(results, [0, 0])


class ExtensionMetadataTest(unittest.TestCase):
    def test_screenshots_are_real_files_of_the_repository(self):
        text = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
        values = dict(re.findall(r'set\((EXTENSION_\w+) "([^"]*)"\)', text))
        urls = values["EXTENSION_SCREENSHOTURLS"].split()
        self.assertTrue(urls)
        for url in urls:
            relative = re.sub(r"^https://raw\.githubusercontent\.com/[^/]+/[^/]+/[^/]+/", "", url)
            self.assertNotEqual(relative, url, url)
            self.assertTrue((ROOT / relative).is_file(), relative)
        self.assertIn(values.get("EXTENSION_STATUS"), ("Beta", "Experimental", "Work in progress"))


if __name__ == "__main__":
    unittest.main()
