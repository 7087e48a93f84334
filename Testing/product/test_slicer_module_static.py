"""What cannot run outside the Slicer application, checked statically: the module file, its .ui, the CMake lists."""

import ast
import os
import py_compile
import re
import struct
import subprocess
import sys
import tempfile
import types
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE_FILE = ROOT / "SPECTFewShot" / "SPECTFewShot.py"
MODULE_CMAKE = ROOT / "SPECTFewShot" / "CMakeLists.txt"
TOP_CMAKE = ROOT / "CMakeLists.txt"
UI_FILE = ROOT / "Resources" / "UI" / "SPECTFewShot.ui"
ICON_FILE = ROOT / "Resources" / "Icons" / "SPECTFewShot.png"
# Widgets that show MRML content and need the scene (the .ui connects mrmlSceneChanged to each of them).
MRML_WIDGET_CLASSES = {"qMRMLNodeComboBox", "qMRMLTableView", "qMRMLSegmentSelectorWidget",
                       "qMRMLSubjectHierarchyTreeView"}
QT_CLASSES = {"QWidget", "QLabel", "QPushButton", "QCheckBox", "QComboBox", "QProgressBar", "QFormLayout",
              "QVBoxLayout", "QHBoxLayout", "QGridLayout", "QSpinBox", "QDoubleSpinBox", "QLineEdit", "QTableView"}
TEMPLATE_CLASSES = {
    "SPECTFewShot": "ScriptedLoadableModule",
    "SPECTFewShotWidget": "ScriptedLoadableModuleWidget",
    "SPECTFewShotLogic": "ScriptedLoadableModuleLogic",
    "SPECTFewShotTest": "ScriptedLoadableModuleTest",
}


def module_tree() -> ast.Module:
    return ast.parse(MODULE_FILE.read_text(encoding="utf-8"))


def methods(cls: ast.ClassDef) -> list:
    return [f.name for f in cls.body if isinstance(f, ast.FunctionDef)]


def ui_root() -> ET.Element:
    return ET.parse(UI_FILE).getroot()


def ui_widgets() -> dict:
    """Widget name -> class, for every widget of the .ui."""
    return {w.get("name"): w.get("class") for w in ui_root().iter("widget")}


def cmake_set(text: str, variable: str) -> list:
    """The items of `set(<variable> ...)` in a CMake file (comments dropped)."""
    text = re.sub(r"#[^\n]*", "", text)
    match = re.search(r"set\(\s*" + re.escape(variable) + r"\s+([^)]*)\)", text)
    if match is None:
        raise AssertionError(f"set({variable} ...) not found")
    return match.group(1).split()


def tracked_files(folder: str) -> list:
    """Files of a folder as git tracks them (others' uncommitted work does not count); all files without git."""
    try:
        out = subprocess.run(["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True, check=True)
        files = out.stdout.split()
        if files:
            return sorted(files)
    except (OSError, subprocess.CalledProcessError):
        pass
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*") if p.is_file())


class ModuleFileTest(unittest.TestCase):
    def test_compiles(self):
        with tempfile.TemporaryDirectory() as tmp:
            py_compile.compile(str(MODULE_FILE), cfile=str(Path(tmp) / "m.pyc"), doraise=True)

    def test_follows_the_scripted_module_template(self):
        tree = module_tree()
        classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
        for name, base in TEMPLATE_CLASSES.items():
            self.assertIn(name, classes)
            self.assertIn(base, [getattr(b, "id", None) for b in classes[name].bases], name)
        widget_bases = [getattr(b, "id", None) for b in classes["SPECTFewShotWidget"].bases]
        self.assertIn("VTKObservationMixin", widget_bases)
        wrapper = classes["SPECTFewShotParameterNode"]
        self.assertIn("parameterNodeWrapper", [getattr(d, "id", None) for d in wrapper.decorator_list])
        for method in ("setup", "cleanup", "enter", "exit", "onSceneStartClose", "onSceneEndClose",
                       "initializeParameterNode", "setParameterNode"):
            self.assertIn(method, methods(classes["SPECTFewShotWidget"]))
        for method in ("getParameterNode", "classify", "localize", "measure"):
            self.assertIn(method, methods(classes["SPECTFewShotLogic"]))
        self.assertIn("runTest", methods(classes["SPECTFewShotTest"]))
        text = MODULE_FILE.read_text(encoding="utf-8")
        self.assertIn('self.resourcePath("UI/SPECTFewShot.ui")', text)
        self.assertIn('translate("qSlicerAbstractCoreModule", "Nuclear Medicine")', text)
        self.assertIn("arXiv:2502.06632", text)
        self.assertIn("10.13026/ce2z-dw74", text)
        # Every action of the widget shows errors in a dialog.
        widget = classes["SPECTFewShotWidget"]
        for name in ("onAction", "onEditSupportButton", "onLoadSampleButton"):
            method = next(f for f in widget.body if isinstance(f, ast.FunctionDef) and f.name == name)
            self.assertIn("tryWithErrorDisplay", ast.unparse(method), name)
        # The self-test runs the library's scenario, the very function pytest runs on slicer-core, and never
        # installs packages (Slicer runs it with --testing, offline).
        test_class = ast.unparse(classes["SPECTFewShotTest"])
        self.assertIn("from SPECTFewShotLib.selftest.scenario import run_scenario", test_class)
        self.assertIn("run_scenario(slicer.mrmlScene", test_class)
        for installer in ("ensureDependencies", "ensure_in_slicer", "pip_install", "install_"):
            self.assertNotIn(installer, test_class)

    def test_the_module_is_thin(self):
        """Metadata, parameter node, a widget binding the .ui, the console API and the self-test (issue 39's
        SlicerNNUnet-sized module): the work is in the library, where it is tested headless."""
        self.assertLessEqual(len(MODULE_FILE.read_text(encoding="utf-8").splitlines()), 250)
        widget = next(n for n in module_tree().body if isinstance(n, ast.ClassDef) and n.name == "SPECTFewShotWidget")
        text = ast.unparse(widget)
        for leftover in ("BackgroundJob", "threading", "QTimer()", "_pollJob"):
            self.assertNotIn(leftover, text)  # jobs and timers live in SPECTFewShotLib.runtime

    def test_the_buttons_the_panel_enables_exist_in_the_ui(self):
        from SPECTFewShotLib.slicer_app.panel import ModulePanel

        class Timer:
            start = stop = staticmethod(lambda: None)

        panel = ModulePanel(types.SimpleNamespace(jobs=None), lambda *a: None, lambda *a: None, lambda *a: Timer())
        self.assertLessEqual(set(panel.enabled()), set(ui_widgets()))

    def test_imports_only_light_library_parts_when_slicer_loads_it(self):
        """Slicer imports the module file at start-up: its top-level library imports must not pull in torch."""
        tree = module_tree()
        library = [n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.module
                   and n.module.startswith("SPECTFewShotLib")]
        self.assertTrue(library)
        code = "import sys\n" + "".join(f"import {m}\n" for m in library) + (
            "bad = [m for m in ('torch', 'torchvision', 'slicer', 'scipy', 'SimpleITK') if m in sys.modules]\n"
            "assert not bad, bad\n")
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_parameter_node_choices_cover_the_device_choices(self):
        from SPECTFewShotLib.runtime.device import DEVICE_CHOICES

        text = MODULE_FILE.read_text(encoding="utf-8")
        match = re.search(r"device: Annotated\[str, Choice\((\[[^\]]*\])\)\]", text)
        self.assertIsNotNone(match)
        self.assertEqual(set(ast.literal_eval(match.group(1))), set(DEVICE_CHOICES))


class UiFileTest(unittest.TestCase):
    def test_every_widget_the_module_uses_exists(self):
        names = set(ui_widgets())
        used = set(re.findall(r"self\.ui\.(\w+)", MODULE_FILE.read_text(encoding="utf-8")))
        self.assertTrue(used)
        self.assertFalse(used - names, f"used by the module but missing from the .ui: {sorted(used - names)}")

    def test_parameter_names_match_the_parameter_node(self):
        tree = module_tree()
        wrapper = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SPECTFewShotParameterNode")
        fields = {n.target.id for n in wrapper.body if isinstance(n, ast.AnnAssign)}
        bound = {}
        for widget in ui_root().iter("widget"):
            for prop in widget.findall("property"):
                if prop.get("name") == "SlicerParameterName":
                    bound[prop.find("string").text] = widget.get("name")
        self.assertFalse(set(bound) - fields, f"no such parameter: {sorted(set(bound) - fields)}")
        self.assertEqual(len(bound), len(set(bound.values())))
        # Everything the user chooses in the GUI is bound, so it is saved with the scene.
        self.assertEqual(set(bound), fields)

    def test_mrml_widgets_get_the_scene_and_custom_widgets_are_declared(self):
        widgets = ui_widgets()
        root = ui_root()
        top = root.find("widget")
        self.assertEqual((top.get("class"), top.get("name")), ("qMRMLWidget", "SPECTFewShot"))
        receivers = {c.findtext("receiver") for c in root.iter("connection")
                     if c.findtext("signal") == "mrmlSceneChanged(vtkMRMLScene*)"
                     and c.findtext("slot") == "setMRMLScene(vtkMRMLScene*)"}
        needing_scene = {name for name, cls in widgets.items() if cls in MRML_WIDGET_CLASSES}
        self.assertFalse(needing_scene - receivers, f"no scene for {sorted(needing_scene - receivers)}")
        declared = {c.findtext("class") for c in root.iter("customwidget")}
        custom = {cls for cls in widgets.values() if cls not in QT_CLASSES}
        self.assertFalse(custom - declared, f"undeclared custom widgets {sorted(custom - declared)}")

    def test_node_selectors_offer_the_right_node_types(self):
        expected = {"inputVolumeSelector": "vtkMRMLScalarVolumeNode",
                    "templateVolumeSelector": "vtkMRMLScalarVolumeNode",
                    "supportSegmentationSelector": "vtkMRMLSegmentationNode",
                    "outputSegmentationSelector": "vtkMRMLSegmentationNode",
                    "templateLandmarksSelector": "vtkMRMLMarkupsFiducialNode",
                    "templateSegmentationSelector": "vtkMRMLSegmentationNode",
                    "outputLandmarksSelector": "vtkMRMLMarkupsFiducialNode", "resultsTableSelector": "vtkMRMLTableNode",
                    "templateVolume2Selector": "vtkMRMLScalarVolumeNode",
                    "templateLandmarks2Selector": "vtkMRMLMarkupsFiducialNode",
                    "templateVolume3Selector": "vtkMRMLScalarVolumeNode",
                    "templateLandmarks3Selector": "vtkMRMLMarkupsFiducialNode"}
        found = {widget.get("name") for widget in ui_root().iter("widget")}
        self.assertFalse(set(expected) - found, f"missing selectors {sorted(set(expected) - found)}")
        for widget in ui_root().iter("widget"):
            if widget.get("name") in expected:
                types = [s.text for p in widget.findall("property") if p.get("name") == "nodeTypes"
                         for s in p.iter("string")]
                self.assertEqual(types, [expected[widget.get("name")]], widget.get("name"))

    def test_icon_is_a_png_of_a_sensible_size(self):
        data = ICON_FILE.read_bytes()
        self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
        width, height = struct.unpack(">II", data[16:24])
        self.assertTrue(64 <= width <= 256 and width == height, (width, height))


class CMakeListsTest(unittest.TestCase):
    def test_every_library_file_is_listed_and_every_listed_file_exists(self):
        text = MODULE_CMAKE.read_text(encoding="utf-8")
        listed = cmake_set(text, "SPECTFewShotLib_PYTHON_SCRIPTS")
        shipped = [f for f in tracked_files("SPECTFewShotLib")
                   if f.endswith(".py") and not f.startswith("SPECTFewShotLib/research/")]
        missing = sorted(set(shipped) - set(listed))
        research = [f for f in listed if f.startswith("SPECTFewShotLib/research/")]
        self.assertFalse(research, f"research code must not ship in Slicer: {research}")
        self.assertFalse(missing, "add to SPECTFewShotLib_PYTHON_SCRIPTS in SPECTFewShot/CMakeLists.txt:\n  "
                         + "\n  ".join(missing))
        absent = [f for f in listed if not (ROOT / f).is_file()]
        self.assertFalse(absent, f"listed but not in the repository: {absent}")
        self.assertEqual(len(listed), len(set(listed)))

    def test_the_shipped_library_imports_alone(self):
        """Copy exactly the listed files elsewhere and import every module there: the shipped set is closed."""
        import site

        listed = cmake_set(MODULE_CMAKE.read_text(encoding="utf-8"), "SPECTFewShotLib_PYTHON_SCRIPTS")
        with tempfile.TemporaryDirectory() as folder:
            for name in listed:
                target = Path(folder) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes((ROOT / name).read_bytes())
            modules = [name[:-3].replace("/", ".").removesuffix(".__init__") for name in listed]
            # -S: site-packages without their .pth files, so the editable install cannot point back at the repository
            script = ("import importlib, sys\nsys.path = [p for p in sys.path if p not in ('', %r)]\n"
                      f"sys.path += {site.getsitepackages()!r}\n"
                      "sys.path.insert(0, %r)\nfor m in %r:\n    importlib.import_module(m)\n"
                      "bad = [m for m in sys.modules if m.startswith('SPECTFewShotLib.research')]\n"
                      "assert not bad, bad\nimport SPECTFewShotLib\n"
                      "assert SPECTFewShotLib.__file__.startswith(%r), SPECTFewShotLib.__file__\n"
                      "print('ok')\n") % (str(ROOT), folder, modules, folder)
            done = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, cwd=folder,
                                  timeout=300, env={**os.environ, "PYTHONPATH": ""})
        self.assertEqual(done.returncode, 0, done.stderr[-2000:])
        self.assertEqual(done.stdout.strip(), "ok")

    def test_every_resource_is_listed_and_every_listed_resource_exists(self):
        text = MODULE_CMAKE.read_text(encoding="utf-8")
        listed = cmake_set(text, "SPECTFewShot_PYTHON_RESOURCES")
        from SPECTFewShotLib.models.registry import list_models, shipped_models

        def model_files(entries) -> set:
            return {f"Resources/Models/{name}" for e in entries for name in (e.file, e.card) if name}

        research_only = model_files(list_models()) - model_files(shipped_models())
        self.assertTrue(research_only, "every registered model ships; the research bench's should not")
        self.assertFalse(research_only & set(listed), f"listed for Slicer: {sorted(research_only & set(listed))}")
        self.assertTrue(model_files(shipped_models()) <= set(listed), "a default product model is not shipped")
        shipped = [f for f in tracked_files("Resources") if f not in research_only]
        missing = sorted(set(shipped) - set(listed))
        self.assertFalse(missing, "add to SPECTFewShot_PYTHON_RESOURCES in SPECTFewShot/CMakeLists.txt:\n  "
                         + "\n  ".join(missing))
        absent = [f for f in listed if not (ROOT / f).is_file()]
        self.assertFalse(absent, f"listed but not in the repository: {absent}")
        for needed in ("Resources/UI/SPECTFewShot.ui", "Resources/Icons/SPECTFewShot.png",
                       "Resources/Models/registry.json"):
            self.assertIn(needed, listed)

    def test_module_build_and_tests_are_registered(self):
        text = re.sub(r"#[^\n]*", "", MODULE_CMAKE.read_text(encoding="utf-8"))
        self.assertEqual(cmake_set(text, "MODULE_PYTHON_SCRIPTS"), ["${MODULE_NAME}.py"])
        self.assertRegex(text, r"set\(MODULE_NAME SPECTFewShot\)")
        self.assertRegex(text, r"slicerMacroBuildScriptedModule\(\s*NAME \$\{MODULE_NAME\}")
        library_call = re.search(r"ctkMacroCompilePythonScript\(([^)]*)\)", text)
        self.assertIsNotNone(library_call)
        for needed in ('SCRIPTS "${SPECTFewShotLib_PYTHON_SCRIPTS}"', 'RESOURCES "${SPECTFewShot_PYTHON_RESOURCES}"',
                       "SOURCE_DIR ${PROJECT_SOURCE_DIR}",
                       "DESTINATION_DIR ${CMAKE_BINARY_DIR}/${Slicer_QTSCRIPTEDMODULES_LIB_DIR}",
                       "INSTALL_DIR ${Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR}", "NO_INSTALL_SUBDIR"):
            self.assertIn(needed, " ".join(library_call.group(1).split()))
        self.assertRegex(text, r"slicer_add_python_unittest\(\s*SCRIPT \$\{MODULE_NAME\}\.py")
        testing = (ROOT / "Testing" / "CMakeLists.txt").read_text(encoding="utf-8")
        self.assertIn("slicer_add_python_unittest(", testing)
        self.assertIn("test_*.py", testing)
        # slicer_add_python_unittest passes --additional-module-paths itself (UNITTEST_LIB_PATHS in Slicer's
        # CMake/SlicerMacroPythonTesting.cmake); a second one makes CTK read the paths as data files.
        for cmake in (text, re.sub(r"#[^\n]*", "", testing)):
            self.assertNotIn("--additional-module-paths", cmake)

    def test_the_minimum_slicer_version_is_stated_once_and_checked(self):
        top = re.sub(r"#[^\n]*", "", TOP_CMAKE.read_text(encoding="utf-8"))
        self.assertEqual(re.findall(r'set\(SPECTFewShot_MINIMUM_SLICER_VERSION "([0-9.]+)"\)', top), ["5.10"])
        self.assertIn('VERSION_LESS "${SPECTFewShot_MINIMUM_SLICER_VERSION}"', top)
        dependencies = ROOT / "SPECTFewShotLib" / "slicer_app" / "dependencies.py"
        others = [path for path in (ROOT / "README.md", MODULE_FILE, dependencies)
                  if re.search(r"Slicer (before|older than|>=|≥) ?[0-9]\.[0-9]+|Slicer [0-9]\.[0-9]+\+",
                               path.read_text(encoding="utf-8"))]
        self.assertEqual(others, [], "a second, different statement of the minimum Slicer version")

    def test_extension_metadata(self):
        text = TOP_CMAKE.read_text(encoding="utf-8")
        values = dict(re.findall(r'set\((EXTENSION_\w+) "([^"]*)"\)', text))
        self.assertEqual(values["EXTENSION_CATEGORY"], "Nuclear Medicine")
        self.assertEqual(values["EXTENSION_DEPENDS"], "PyTorch")
        for key in ("EXTENSION_HOMEPAGE", "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION", "EXTENSION_ICONURL",
                    "EXTENSION_SCREENSHOTURLS"):
            self.assertTrue(values.get(key), key)
        self.assertTrue(values["EXTENSION_ICONURL"].endswith("Resources/Icons/SPECTFewShot.png"))
        self.assertRegex(text, r"project\(SPECTFewShot\)")
        self.assertIn("add_subdirectory(SPECTFewShot)", text)
        self.assertIn("include(${Slicer_EXTENSION_CPACK})", text)


class DependenciesTest(unittest.TestCase):
    def test_slicer_requirements_follow_pyproject_without_slicer_owned_packages(self):
        try:
            import tomllib
        except ImportError:  # Python < 3.11
            self.skipTest("tomllib needs Python 3.11")
        from SPECTFewShotLib.slicer_app.dependencies import REQUIREMENTS, SLICER_OWNED

        project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        declared = {}
        for item in project["dependencies"]:
            name, minimum = re.match(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)", item).groups()
            declared[name] = minimum
        expected = {name: minimum for name, minimum in declared.items() if name not in SLICER_OWNED}
        self.assertEqual({r.distribution: r.minimum for r in REQUIREMENTS}, expected)

    def test_missing_requirements_and_versions(self):
        from SPECTFewShotLib.slicer_app.dependencies import (
            Requirement,
            is_satisfied,
            missing_requirements,
            version_tuple,
        )

        self.assertEqual(version_tuple("2.13.0+cpu"), (2, 13, 0))
        self.assertGreater(version_tuple("0.28.0"), version_tuple("0.16"))
        self.assertEqual(missing_requirements(), [])  # the development environment has everything
        self.assertFalse(is_satisfied(Requirement("numpy", "numpy", "999")))
        self.assertFalse(is_satisfied(Requirement("no-such-package", "no_such_package_xyz", "1.0")))


if __name__ == "__main__":
    unittest.main()
