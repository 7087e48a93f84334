"""The library's shape: a few loose modules at the top, packages that import each other in one direction only, no
private attribute read across a package boundary, one name per thing (docs/ARCHITECTURE.md says where things live).
"""

from __future__ import annotations

import ast
import unittest
from collections import defaultdict
from functools import cache
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[2] / "SPECTFewShotLib"
NAME = LIBRARY.name
MAX_LOOSE_MODULES = 8
# The CLI's command modules are named for the commands they register (commands/polar_map.py is `polar-map`).
NAMED_FOR_COMMANDS = "commands"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(LIBRARY.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    """The part of the library a module belongs to: a top-level package or module, or under research/ a
    subpackage or module of research."""
    parts = module.split(".")
    depth = 3 if len(parts) > 2 and parts[1] == "research" else 2
    return ".".join(parts[:depth])


def imported_modules(path: Path) -> set:
    """Library modules a file imports (relative imports resolved), wherever the import statement sits."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name == NAME or name.startswith(NAME + ".")}


def existing_module(name: str) -> str | None:
    """The longest prefix of a dotted name that is a module or package of the library."""
    parts = name.split(".")
    while parts:
        path = LIBRARY.parent.joinpath(*parts)
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            return ".".join(parts)
        parts = parts[:-1]
    return None


@cache
def unit_graph() -> dict:
    """Unit -> {unit it imports: [file that imports it, ...]}."""
    graph: dict = defaultdict(lambda: defaultdict(list))
    for path in LIBRARY.rglob("*.py"):
        here = unit_of(module_name(path))
        for name in imported_modules(path):
            target = existing_module(name)
            if target and target != NAME and unit_of(target) != here:
                graph[here][unit_of(target)].append(str(path.relative_to(LIBRARY.parent)))
    return graph


def cycles(graph: dict) -> list:
    """Pairs of units that reach each other, each with the imports that close the loop."""
    def reach(start):
        seen, stack = set(), [start]
        while stack:
            for nxt in graph.get(stack.pop(), {}):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    found, pairs = [], set()
    for a in sorted(graph):
        for b in sorted(graph[a]):
            if a in reach(b) and frozenset((a, b)) not in pairs:
                pairs.add(frozenset((a, b)))
                found.append(f"{a} -> {b} ({graph[a][b][0]}) and back")
    return found


def private_reads_across_packages() -> list:
    """`something._name` read in one unit where `_name` is defined only in other units (self and cls excepted)."""
    defined: dict = defaultdict(set)
    reads = []
    for path in LIBRARY.rglob("*.py"):
        unit = unit_of(module_name(path))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined[node.name].add(unit)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                defined[node.attr].add(unit)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined[node.id].add(unit)
            elif isinstance(node, ast.arg):
                defined[node.arg].add(unit)
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and node.attr.startswith("_") \
                    and not node.attr.startswith("__") and not (isinstance(node.value, ast.Name)
                                                                 and node.value.id in {"self", "cls"}):
                reads.append((unit, node.attr, f"{path.relative_to(LIBRARY.parent)}:{node.lineno}"))
    return [f"{where} reads {attr} (defined in {', '.join(sorted(defined[attr]))})" for unit, attr, where in reads
            if defined[attr] and unit not in defined[attr]]


class LibraryLayoutTest(unittest.TestCase):
    def test_few_loose_modules_at_the_top(self):
        loose = sorted(p.name for p in LIBRARY.glob("*.py"))
        self.assertLessEqual(len(loose), MAX_LOOSE_MODULES, loose)

    def test_no_import_cycle_between_packages(self):
        self.assertEqual(cycles(unit_graph()), [])

    def test_the_cycle_check_finds_a_cycle(self):
        graph = {"a": {"b": ["a/x.py"]}, "b": {"c": ["b/y.py"]}, "c": {"a": ["c/z.py"]}}
        self.assertTrue(cycles(graph))
        self.assertEqual(cycles({"a": {"b": ["a/x.py"]}, "b": {"c": ["b/y.py"]}}), [])
        self.assertEqual(unit_of(f"{NAME}.research.evaluation.cases"), f"{NAME}.research.evaluation")
        self.assertEqual(unit_of(f"{NAME}.runtime.jobs"), f"{NAME}.runtime")

    def test_no_private_attribute_read_across_packages(self):
        self.assertEqual(private_reads_across_packages(), [])

    def test_one_name_per_thing(self):
        product = [p for p in LIBRARY.rglob("*.py") if "research" not in p.relative_to(LIBRARY).parts
                   and p.name != "__init__.py" and p.parent.name != NAMED_FOR_COMMANDS]
        by_name = defaultdict(list)
        for path in product:
            by_name[path.stem].append(str(path.relative_to(LIBRARY)))
        self.assertEqual({name: paths for name, paths in by_name.items() if len(paths) > 1}, {})
        packages = {p.parent.name for p in LIBRARY.glob("*/__init__.py")}
        self.assertEqual(sorted(str(p.relative_to(LIBRARY)) for p in product if p.stem in packages
                                and p.parent != LIBRARY), [])


if __name__ == "__main__":
    unittest.main()
