"""Slicer conventions checked without the application: the Segment Editor effect module, Sample Data, the
requirements file, and the extension metadata."""

import ast
import hashlib
import re
import unittest
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

ROOT = Path(__file__).resolve().parents[2]
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
        self.assertLessEqual({"__init__", "clone", "icon", "helpText", "computePreviewLabelmap", "onPreview",
                              "onApply", "activate", "deactivate"}, methods)
        self.assertIn(f'scriptedEffect.name = "{EFFECT_NAME}"', source)
        # The preview and Apply are the library's functions (the ones FewShotEffectLogic runs in the tests), and
        # Apply never falls back to the base class's, which replaces the seeds.
        self.assertIn("effect_preview(", source)
        self.assertIn("write_result(", source)
        apply = next(node for node in effect.body if isinstance(node, ast.FunctionDef) and node.name == "onApply")
        self.assertNotIn("AutoCompleteEffect.onApply", ast.unparse(apply))
        # The Python base classes define no activate/deactivate (the C++ adaptor calls the effect's): no base call.
        for name in ("activate", "deactivate"):
            method = next(node for node in effect.body if isinstance(node, ast.FunctionDef) and node.name == name)
            self.assertNotIn(f"Effect.{name}(", ast.unparse(method))

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


# Excerpts of the terminology lists Slicer ships (Modules/Loadable/Terminologies/Resources/ of Slicer/Slicer):
# SegmentationCategoryTypeModifier-DICOM-Master.json, the context TERMINOLOGY_CONTEXT names, category -> its types
# (cardiac: Heart 80891009 with cid "4,4031,6113,7152", Left ventricle 87878005 with cid "3010,7152"; no myocardium
# type), and the anatomic regions of CID 4 (Heart). SegmentationCategoryTypeModifier-SlicerGeneralAnatomy.json has
# the same Tissue types (Muscle 71616004, cid 7166).
SLICER_CATEGORY_TYPES = {
    ("85756007", "Tissue"): {("85756007", "Tissue"), ("71616004", "Muscle")},
    ("123037004", "Anatomical Structure"): {("80891009", "Heart"), ("87878005", "Left ventricle")},
}
SLICER_ANATOMIC_REGIONS = {("80891009", "Heart")}
# (the former LV_myocardium type, SCT 74281007 Myocardium, is in none of them)


class TerminologyTest(unittest.TestCase):
    def test_the_cardiac_codes_are_codes_slicers_lists_carry(self):
        from SPECTFewShotLib.vocabulary import TISSUE_BY_NAME

        for name in ("LV_myocardium", "LV_blood_pool", "background"):
            fields = [tuple(code.split("^")) for code in TISSUE_BY_NAME[name].terminology.split("~")[1:]]
            category, type_, region = fields[0][1:], fields[1][1:], fields[4]  # fields: scheme, value, meaning
            self.assertIn(type_, SLICER_CATEGORY_TYPES[category], name)
            if region[0]:
                self.assertIn(region[1:], SLICER_ANATOMIC_REGIONS, name)


class SampleDataTest(unittest.TestCase):
    def test_the_bundled_study_is_a_nuclear_medicine_sample_with_a_valid_checksum(self):
        from SPECTFewShotLib.slicer_app.sample_data import sample_data_source

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
        from SPECTFewShotLib.slicer_app.dependencies import REQUIREMENTS, SLICER_OWNED, read_requirements

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

        from SPECTFewShotLib.slicer_app.dependencies import read_requirements

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

        from SPECTFewShotLib.slicer_app.dependencies import Requirement, install_in_slicer

        calls, results = [], []

        def modern(text, blocking=True, completedCallback=None, requester=None):
            calls.append((text, blocking, requester))
            completedCallback(0)

        def old(text):
            calls.append((text,))

        wanted = [Requirement("scipy", "scipy", "1.10")]
        install_in_slicer(wanted, results.append, SimpleNamespace(util=SimpleNamespace(pip_install=modern)))
        install_in_slicer(wanted, results.append, SimpleNamespace(util=SimpleNamespace(pip_install=old)))
        self.assertEqual([call[1:] for call in calls], [(False, "SPECTFewShot"), ()])
        self.assertEqual(results, [0, 0])
        for call in calls:  # Slicer's own numpy is pinned: a dependency cannot upgrade it
            words = call[0].split()
            self.assertEqual(words[:2], ["scipy>=1.10", "-c"])
            import importlib.metadata

            pins = Path(words[2]).read_text(encoding="utf-8").split()
            self.assertIn(f"numpy=={importlib.metadata.version('numpy')}", pins)

    def test_tests_never_install_and_a_declined_install_changes_nothing(self):
        from types import SimpleNamespace
        from unittest import mock

        from SPECTFewShotLib.slicer_app import dependencies
        from SPECTFewShotLib.slicer_app.dependencies import Requirement, ensure_in_slicer

        missing = [Requirement("scipy", "scipy", "999")]
        installs = []
        app = SimpleNamespace(app=SimpleNamespace(testingEnabled=lambda: True),
                              util=SimpleNamespace(pip_install=lambda *a, **k: installs.append(a),
                                                   confirmOkCancelDisplay=lambda *a: False))
        with mock.patch.object(dependencies, "missing_requirements", return_value=missing):
            with self.assertRaisesRegex(RuntimeError, "scipy>=999"):
                ensure_in_slicer(app)
            app.app.testingEnabled = lambda: False
            self.assertFalse(ensure_in_slicer(app))  # the user declined
        self.assertEqual(installs, [])


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
