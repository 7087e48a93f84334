"""Tests by audience: Testing/product/ runs with what the product installs (what Slicer's test runner runs),
Testing/research/ needs the research package or an extra; shared helpers live in Testing/ and no test file imports
another test file.

What a file needs is read from its imports (every `import`, at the top or inside a test, through the Testing helpers
it imports) and from the module names it patches (`mock.patch("SPECTFewShotLib.research...")`).
"""

from __future__ import annotations

import ast
import unittest
from functools import cache
from pathlib import Path

TESTING = Path(__file__).resolve().parent.parent
PRODUCT, RESEARCH = TESTING / "product", TESTING / "research"
# Packages the product does not install (pyproject's research, batch and test extras).
EXTRA_PACKAGES = {"matplotlib", "skimage", "dask", "distributed", "slicerio", "pytest"}


def imported_names(path: Path) -> set:
    """Every module a file imports (relative imports resolved against Testing) and names it patches."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                module = ".".join(["Testing", *([module] if module else [])])
            names.add(module)
            names |= {f"{module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "patch" \
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            names.add(node.args[0].value)
    return names


@cache
def needs(path: Path) -> frozenset:
    """What a file needs beyond the product: 'research' and the extra packages, through Testing's helpers."""
    found = set()
    for name in imported_names(path):
        top = name.split(".")[0]
        if name.startswith("SPECTFewShotLib.research"):
            found.add("research")
        if top in EXTRA_PACKAGES:
            found.add(top)
        if top == "Testing" and "." in name:
            helper = TESTING / f"{name.split('.')[1]}.py"
            if helper.is_file() and helper != path:
                found |= needs(helper)
    return frozenset(found)


def files_in(folder: Path) -> list:
    return sorted(folder.glob("test_*.py"))


class AudienceTest(unittest.TestCase):
    def test_every_test_file_has_an_audience(self):
        self.assertEqual([p.name for p in files_in(TESTING)], [])
        self.assertGreater(len(files_in(PRODUCT)), 20)
        self.assertGreater(len(files_in(RESEARCH)), 10)

    def test_product_tests_need_only_the_product(self):
        # slicerio is optional for the product tests: the one test that uses it skips without it.
        extra = {p.name: sorted(needs(p) - {"slicerio"}) for p in files_in(PRODUCT)}
        self.assertEqual({name: found for name, found in extra.items() if found}, {})

    def test_research_tests_need_research_or_an_extra(self):
        self.assertEqual([p.name for p in files_in(RESEARCH) if not needs(p)], [])

    def test_no_test_file_imports_another(self):
        importing = {p.name: sorted(n for n in imported_names(p) if n.split(".")[-1].startswith("test_")
                                    or ".test_" in n)
                     for p in files_in(PRODUCT) + files_in(RESEARCH)}
        self.assertEqual({name: found for name, found in importing.items() if found}, {})

    def test_slicer_registers_the_product_tests_only(self):
        import re

        cmake = re.sub(r"#[^\n]*", "", (TESTING / "CMakeLists.txt").read_text(encoding="utf-8"))
        globs = re.findall(r"file\(GLOB \w+ RELATIVE \S+ ([^)]*)\)", cmake)
        self.assertEqual([g.strip() for g in globs], ["${CMAKE_CURRENT_SOURCE_DIR}/product/test_*.py"])
        pyproject = (TESTING.parent / "pyproject.toml").read_text(encoding="utf-8")
        self.assertIn('testpaths = ["Testing"]', pyproject)  # pytest (`make test`) collects both folders

    def test_the_rules_see_what_they_look_for(self):
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            sample = Path(tmp) / "test_sample.py"
            sample.write_text("def test():\n    from unittest import mock\n"
                              "    mock.patch('SPECTFewShotLib.research.missing_packages')\n"
                              "    from Testing.test_cli import x\n    import matplotlib.pyplot\n")
            self.assertEqual(needs(sample), {"research", "matplotlib"})
            self.assertIn("Testing.test_cli", imported_names(sample))


if __name__ == "__main__":
    unittest.main()
