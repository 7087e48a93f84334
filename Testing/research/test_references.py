"""References that cannot go stale: every module path, command, subcommand and flag the words name exists.

The texts read: README.md, every Markdown file under docs/, the Slicer module's and the effect's help texts and the
docstrings of the library (SPECTFewShotLib, research included). What is checked:
- paths of the repository (`SPECTFewShotLib/landmarks/staged.py`, `Testing/...`, `docs/...`) and library paths
  written from a package (`landmarks/staged.py`, `cohort/`), which must exist;
- dotted module names (`SPECTFewShotLib.cohort.batch`, and in the library's own words `prnet.refine`), whose modules
  must exist and whose last names must be defined there;
- command lines (`spectfewshot evaluate classify --conditions`, and the short form `localize --prnet`), walked
  through the CLI's real argparse tree: every subcommand and every flag must be one the parser accepts;
- a flag quoted alone (`--without-protonet`) must be a flag of some command.
"""

from __future__ import annotations

import argparse
import ast
import re
import unittest
from functools import cache, lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "SPECTFewShotLib"
PROGRAM = "spectfewshot"
# Top-level folders of the repository a path may start with.
REPOSITORY_FOLDERS = ("SPECTFewShotLib", "SPECTFewShot", "SegmentEditorFewShotSPECT", "Testing", "Resources", "docs",
                      "requirements")
# Programs other than ours whose flags a text may quote (their flags are not ours to check).
OTHER_PROGRAMS = {"pip", "pip3", "python", "python3", "pytest", "make", "git", "cmake", "ctest", "ruff", "Slicer",
                  "dask", "dask-scheduler", "dask-worker", "nice", "taskset", "perf", "conda", "uv", "torchrun"}
# Flags of other programs that texts quote alone (said where they are named).
FOREIGN_FLAGS = {"--no-main-window", "--python-code", "--python-script", "--testing", "--no-splash",
                 "--additional-module-paths", "--extra-index-url", "--index-url", "--no-deps", "--upgrade",
                 "--disable-pip-version-check", "--user", "--help", "--version", "--debug", "--exit-after-startup"}

PATH_PATTERN = re.compile(r"(?<![\w./-])((?:" + "|".join(REPOSITORY_FOLDERS) + r")(?:/[\w.*{},-]+)+/?)")
DOTTED_PATTERN = re.compile(r"\bSPECTFewShotLib(?:\.\w+)+")
BACKTICK_PATTERN = re.compile(r"`([^`\n]+)`")
RELATIVE_PATH_PATTERN = re.compile(r"^([a-z_][\w]*/)+([\w]+\.py)?$|^[a-z_][\w]*\.py$")
DOCUMENT_NAME_PATTERN = re.compile(r"^[a-z][\w-]*\.md$")
LINK_PATTERN = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
RELATIVE_DOTTED_PATTERN = re.compile(r"(?<![\w.`'\"/])([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+)(?![\w/(])")
FILE_SUFFIXES = {"json", "csv", "parquet", "nrrd", "nii", "gz", "txt", "md", "py", "png", "pt", "seg", "mrk", "npz",
                 "yaml", "html", "dcm", "ui"}
# A line that says what it names is gone names it on purpose.
GONE_PATTERN = re.compile(r"\b(gone|removed|deleted|no longer|was dropped|were dropped)\b", re.I)
FLAG_PATTERN = re.compile(r"^--[a-z][a-z0-9-]*$")


# ---------------------------------------------------------------------------------------------- the CLI's tree
def parser_tree(parser: argparse.ArgumentParser) -> dict:
    """A parser as {'flags': set, 'choices': {flag: values}, 'commands': {name: tree}} (subcommands nested)."""
    flags, choices, commands = set(), {}, {}
    for action in parser._actions:
        flags.update(action.option_strings)
        if action.option_strings and action.choices is not None:
            choices.update({flag: {str(choice) for choice in action.choices} for flag in action.option_strings})
        if isinstance(action, argparse._SubParsersAction):
            commands.update({name: parser_tree(sub) for name, sub in action.choices.items()})
    return {"flags": flags, "choices": choices, "commands": commands}


@lru_cache(maxsize=1)
def cli_tree() -> dict:
    """The real command line's tree, research commands included (they need the research extra installed)."""
    from SPECTFewShotLib.cli import build_parser

    return parser_tree(build_parser())


def all_flags(tree: dict) -> set:
    """Every flag of a tree and its subcommands."""
    flags = set(tree["flags"])
    for sub in tree["commands"].values():
        flags |= all_flags(sub)
    return flags


def command_problems(tokens: list, tree: dict) -> list:
    """What a command line (the tokens after the program's name) names that the tree does not accept."""
    problems, path, chain, choices, flag = [], [PROGRAM], [tree], None, ""
    for token in tokens:
        if choices is not None and not token.startswith("-"):
            if token.strip("'\".,:") not in choices and re.match(r"^[a-z][a-z-]*[.,:]?$", token):
                problems.append(f"'{' '.join(path)}' {flag} has no choice {token.strip('.,:')}")
            choices = None
            continue
        choices = None
        if token in {"|", "&&", ";", ">", "2>", "2>&1", "#", "\\", "..."} or token.startswith(("#", ">", "$(", "<")):
            break
        node = chain[-1]
        if token.startswith("-") and len(token) > 1 and not re.match(r"^-\d", token):
            flag = token.split("=", 1)[0]
            if not re.match(r"^--?[A-Za-z][\w-]*$", flag):
                continue
            if not any(flag in level["flags"] for level in chain):
                problems.append(f"'{' '.join(path)}' has no flag {flag}")
            elif "=" not in token:
                choices = next((level["choices"][flag] for level in chain if flag in level.get("choices", {})), None)
        elif node["commands"] and len(chain) == len(path):
            word = token.strip("'\".,:")
            if word not in node["commands"]:
                if re.match(r"^[a-z][a-z-]*$", word) and not token.endswith((".", ",", ":")):
                    problems.append(f"'{' '.join(path)}' has no subcommand {word}")
                break
            path.append(word)
            chain.append(node["commands"][word])
    return problems


def command_lines(text: str) -> list:
    """The command lines of a text: code blocks' lines and quoted spans naming the program or one of its commands."""
    top = cli_tree()["commands"]
    lines = []
    blocks = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S)
    for block in blocks:
        lines.extend(re.sub(r"\\\n\s*", " ", block).splitlines())
    prose = re.sub(r"```[^\n]*\n.*?```", "", text, flags=re.S)
    for span in BACKTICK_PATTERN.findall(prose):
        words = span.split()
        if words and (words[0] == PROGRAM or (words[0] in top and len(words) > 1)):
            lines.append(span if words[0] == PROGRAM else f"{PROGRAM} {span}")
    found = []
    for line in lines:
        for match in re.finditer(r"(?:^|[\s/(`])" + PROGRAM + r"((?:\s+\S+)*)", line):
            found.append(match.group(1).split())
    return found


# ------------------------------------------------------------------------------------------- modules and paths
@cache
def defined_names(module_file: Path) -> frozenset:
    """Every name a module defines anywhere (functions, classes, assignments, attributes set on self, imports)."""
    tree = ast.parse(module_file.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return frozenset(names)


def module_file(package: Path, parts: list) -> tuple:
    """(file of the longest module prefix of `parts` under `package`, the parts left); (None, parts) if none."""
    found, rest = None, parts
    folder = package
    for index, part in enumerate(parts):
        if (folder / part / "__init__.py").is_file():
            folder = folder / part
            found, rest = folder / "__init__.py", parts[index + 1:]
        elif (folder / f"{part}.py").is_file():
            found, rest = folder / f"{part}.py", parts[index + 1:]
            break
        else:
            break
    return found, rest


def dotted_resolves(package: Path, parts: list) -> bool:
    """Whether `a.b.c` names a module under `package` and, for what is left, names that module defines."""
    found, rest = module_file(package, parts)
    if found is None or len(rest) == len(parts):
        return False
    return all(name in defined_names(found) for name in rest[:1])


def listed_module_problems(init_file: Path, text: str) -> list:
    """A package's docstring that lists its modules ('Modules: `a` (...), `b` ...') lists only modules it holds."""
    if init_file.name != "__init__.py" or "Modules:" not in text:
        return []
    listing = re.split(r"\n\n|\.\s+[A-Z]", text.split("Modules:", 1)[1], maxsplit=1)[0]
    folder = init_file.parent
    return [f"{_rel(folder)} holds no module {name}" for name in re.findall(r"`([a-z_][a-z0-9_]*)`", listing)
            if not (folder / f"{name}.py").is_file() and not (folder / name / "__init__.py").is_file()]


@lru_cache(maxsize=1)
def library_packages() -> dict:
    """Package name -> its folders, for every package of the library (research included)."""
    packages: dict = {}
    for init in LIBRARY.rglob("__init__.py"):
        packages.setdefault(init.parent.name, []).append(init.parent)
    return packages


def relative_dotted_problems(name: str) -> list:
    """A dotted name written inside the library (`prnet.refine`): when its head is one of the library's packages,
    that package (the nearest to the text, or any) must hold the rest."""
    parts = name.split(".")
    folders = library_packages().get(parts[0], [])
    if not folders or parts[0] in {"SPECTFewShotLib"} or parts[-1] in FILE_SUFFIXES:
        return []
    candidates = [folder for folder in folders if dotted_resolves(folder.parent, parts)]
    return [] if candidates else [f"no module {name} (under {', '.join(_rel(f) for f in folders)})"]


def path_problems(path: str, bases: list) -> list:
    """A path must exist under one of `bases` (a glob or a braces pattern is left alone)."""
    if any(mark in path for mark in "*{}") or path.endswith("..."):
        return []
    clean = path.rstrip(".,:;)")
    if any((base / clean).exists() for base in bases):
        return []
    return [f"no path {clean}"]


@lru_cache(maxsize=1)
def repository_paths() -> tuple:
    """Every file and folder of the repository's own folders, as '/'-joined paths (folders end with '/')."""
    paths = []
    for folder in REPOSITORY_FOLDERS:
        for path in (ROOT / folder).rglob("*"):
            if "__pycache__" not in path.parts:
                paths.append("/" + _rel(path) + ("/" if path.is_dir() else ""))
    return tuple(paths)


def relative_path_problems(path: str) -> list:
    """A path written from inside the library (`prnet/refine.py`, `cohort/`, `staged.py`): some file or folder of
    the repository must end with it, and its head must be one of the library's packages or modules."""
    head = path.split("/")[0]
    known = set(library_packages()) | {p.stem for p in LIBRARY.rglob("*.py")}
    if head.removesuffix(".py") not in known and "/" in path:
        return []
    if any(candidate.endswith("/" + path) for candidate in repository_paths()):
        return []
    return [f"no path {path}"]


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# ------------------------------------------------------------------------------------------------- the texts
def documentation_texts() -> dict:
    """README and every Markdown file under docs/: name -> (text, folders its relative paths may start from)."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return {_rel(f): (f.read_text(encoding="utf-8"), [ROOT, f.parent, LIBRARY]) for f in files}


def help_texts() -> dict:
    """The Slicer module's and the effect's help texts (the string given to parent.helpText)."""
    texts = {}
    for file in (ROOT / "SPECTFewShot" / "SPECTFewShot.py", ROOT / "SegmentEditorFewShotSPECT" /
                 "SegmentEditorFewShotSPECT.py"):
        tree = ast.parse(file.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr == "helpText"
                                                    for t in node.targets):
                strings = [n.value for n in ast.walk(node.value) if isinstance(n, ast.Constant)
                           and isinstance(n.value, str)]
                texts[f"{_rel(file)} helpText"] = ("".join(strings), [ROOT, LIBRARY])
    return texts


problems_of_listing: dict = {}


def docstrings() -> dict:
    """Every docstring of the library: 'file:line' -> (text, folders its relative paths may start from)."""
    texts = {}
    for file in sorted(LIBRARY.rglob("*.py")):
        tree = ast.parse(file.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                text = ast.get_docstring(node, clean=False)
                if text:
                    if isinstance(node, ast.Module):
                        problems_of_listing[_rel(file)] = listed_module_problems(file, text)
                    line = getattr(node, "lineno", 1)
                    bases = [ROOT, LIBRARY, LIBRARY / "research", file.parent, file.parent.parent]
                    texts[f"{_rel(file)}:{line}"] = (text, bases)
    return texts


def reference_problems(text: str, bases: list, library_text: bool = False) -> list:
    """Every reference of a text that names something that does not exist (a line that says it is gone excepted)."""
    tree = cli_tree()
    problems = []
    for tokens in command_lines(text):
        problems += command_problems(tokens, tree)
    known_flags = all_flags(tree) | FOREIGN_FLAGS
    for line in text.splitlines():
        if GONE_PATTERN.search(line):
            continue
        for path in PATH_PATTERN.findall(line):
            problems += path_problems(path, [ROOT])
        for dotted in DOTTED_PATTERN.findall(line):
            if not dotted_resolves(ROOT, dotted.split(".")):
                problems.append(f"no module {dotted}")
        for span in BACKTICK_PATTERN.findall(line):
            words = span.split()
            if not words:
                continue
            if FLAG_PATTERN.match(words[0].split("=")[0]) and len(words) <= 2:
                if words[0].split("=")[0] not in known_flags:
                    problems.append(f"no command has the flag {words[0]}")
            elif RELATIVE_PATH_PATTERN.match(span) and not span.startswith(REPOSITORY_FOLDERS):
                problems += relative_path_problems(span)
            elif DOCUMENT_NAME_PATTERN.match(span) and not (ROOT / span).exists() and \
                    not any(p.endswith("/" + span) for p in repository_paths()):
                problems.append(f"no file {span}")
        for link in LINK_PATTERN.findall(line):
            if "://" not in link and not link.startswith("mailto:"):
                problems += path_problems(link, bases)
        if library_text:
            for dotted in RELATIVE_DOTTED_PATTERN.findall(line):
                problems += relative_dotted_problems(dotted)
    return problems


def all_problems(texts: dict, library_text: bool = False) -> list:
    found = []
    for name, (text, bases) in texts.items():
        found += [f"{name}: {problem}" for problem in reference_problems(text, bases, library_text)]
    return found


class ReferenceCheckerTest(unittest.TestCase):
    """The checker itself: it finds what is gone and accepts what is there."""

    def test_a_removed_flag_is_found(self):
        real = "Run `spectfewshot classify --without-protonet` or `localize --prnet`."
        self.assertEqual(reference_problems(real, [ROOT]), [])
        fake = "Run `spectfewshot classify --without-prototypes` or `localize --prnet-fast`."
        problems = reference_problems(fake, [ROOT])
        self.assertEqual(len(problems), 2, problems)
        self.assertIn("--without-prototypes", problems[0])
        self.assertIn("--prnet-fast", problems[1])

    def test_a_flag_the_parser_loses_is_found(self):
        text = "```\nspectfewshot evaluate classify --conditions\n```"
        tree = cli_tree()
        self.assertEqual(command_problems(command_lines(text)[0], tree), [])
        pruned = {"flags": tree["flags"], "commands": dict(tree["commands"])}
        evaluate = tree["commands"]["evaluate"]
        classify = evaluate["commands"]["classify"]
        pruned["commands"]["evaluate"] = {"flags": evaluate["flags"], "commands": {
            **evaluate["commands"], "classify": {"flags": classify["flags"] - {"--conditions"}, "commands": {}}}}
        self.assertEqual(command_problems(command_lines(text)[0], pruned),
                         ["'spectfewshot evaluate classify' has no flag --conditions"])

    def test_subcommands_and_modules(self):
        self.assertEqual(reference_problems("`spectfewshot evaluate localize --conventions`", [ROOT]), [])
        self.assertTrue(reference_problems("`spectfewshot evaluate prnet`", [ROOT]))
        self.assertTrue(reference_problems("`spectfewshot --stages preview`", [ROOT]))
        self.assertEqual(reference_problems("SPECTFewShotLib/landmarks/staged.py, SPECTFewShotLib.cohort.batch",
                                            [ROOT]), [])
        self.assertTrue(reference_problems("SPECTFewShotLib/prnet/fusion.py", [ROOT]))
        self.assertTrue(reference_problems("SPECTFewShotLib.protonet.episodes", [ROOT]))
        self.assertEqual(reference_problems("fused by the median (landmarks.fusion)", [ROOT], library_text=True), [])
        self.assertTrue(reference_problems("fused by the median (prnet.fusion)", [ROOT], library_text=True))
        self.assertTrue(reference_problems("see `landmarks/no_such_stage.py`", [ROOT, LIBRARY]))
        self.assertEqual(reference_problems("see `prnet/refine.py` and `staged.py`", [ROOT]), [])
        self.assertTrue(reference_problems("see `prnet/refinement.py`", [ROOT]))
        self.assertEqual(reference_problems("`prnet/refinement.py` is gone", [ROOT]), [])
        self.assertEqual(reference_problems("`spectfewshot classify v.nrrd --stages preview`", [ROOT]), [])
        self.assertTrue(reference_problems("`spectfewshot classify v.nrrd --stages glance`", [ROOT]))
        protonet = LIBRARY / "protonet" / "__init__.py"
        self.assertEqual(listed_module_problems(protonet, "Modules: `embedding` (the network), `features`."), [])
        self.assertEqual(reference_problems("see `classify_speed.md` and [the table](docs/evaluation/README.md)",
                                            [ROOT]), [])
        self.assertTrue(reference_problems("see `polar_map_thresholds_uncorrected.md`", [ROOT]))
        self.assertTrue(reference_problems("see [the table](docs/evaluation/no_such_table.md)", [ROOT]))
        self.assertTrue(listed_module_problems(protonet, "Modules: `embedding` (the network), `episodes`."))


class ReferencesExistTest(unittest.TestCase):
    """What the words of the project name exists."""

    def test_readme_and_docs(self):
        self.assertEqual(all_problems(documentation_texts()), [])

    def test_help_texts(self):
        self.assertEqual(all_problems(help_texts()), [])

    def test_docstrings(self):
        self.assertEqual(all_problems(docstrings(), library_text=True), [])

    def test_packages_list_the_modules_they_hold(self):
        docstrings()
        self.assertEqual([p for problems in problems_of_listing.values() for p in problems], [])


MACHINE_PATH_PATTERN = re.compile(r"(?<![\w.~…-])/(work|root|home|tmp|Users|mnt|scratch|data)/")
EVALUATION = ROOT / "docs" / "evaluation"
TOPICS = {"classify", "landmarks", "views", "realism", "reliability", "archive"}
PROVENANCE_PATTERN = re.compile(r"^(# )?Command: `[^`]+`.* · commit [0-9a-f]{7,}[^·]* · machine: \S.*$")


def provenance_problems(path: Path, text: str) -> list:
    """An evaluation file must open with its one provenance line."""
    first = text.splitlines()[0] if text else ""
    return [] if PROVENANCE_PATTERN.match(first) else [f"{_rel(path)} does not open with 'Command: ... · commit ... · "
                                                      f"machine: ...' but with {first[:60]!r}"]


class DocumentationLayoutTest(unittest.TestCase):
    """docs/evaluation by topic, each file saying how it was made, no machine's paths, no twins."""

    def test_evaluation_files_sit_in_topic_folders(self):
        loose = [p.name for p in EVALUATION.iterdir() if p.name != "README.md" and p.name not in TOPICS]
        self.assertEqual(loose, [])

    def test_every_evaluation_file_opens_with_its_provenance(self):
        problems = []
        for path in sorted(EVALUATION.rglob("*")):
            if path.is_file() and path.suffix in {".md", ".txt", ".csv"} and path.name != "README.md":
                problems += provenance_problems(path, path.read_text(encoding="utf-8"))
        self.assertEqual(problems, [])

    def test_the_check_refuses_a_file_without_it(self):
        good = "Command: `spectfewshot bench views` · commit dca4541 · machine: x86_64, 2 CPU cores, no GPU used\n"
        self.assertEqual(provenance_problems(EVALUATION / "x.md", good), [])
        self.assertTrue(provenance_problems(EVALUATION / "x.md", "# Title\n\n" + good))
        self.assertTrue(provenance_problems(EVALUATION / "x.md", "Command: `spectfewshot bench views`\n"))

    def test_the_research_bench_writes_that_line_without_machine_paths(self):
        from unittest import mock

        from SPECTFewShotLib.research import provenance as commands

        line = commands.provenance_line("spectfewshot bench views")
        self.assertEqual(provenance_problems(EVALUATION / "x.md", line + "\n"), [])
        argv = ["spectfewshot", "evaluate", "polar-map", "--real-dir", "/work/shared/data/physionet-mps",
                "--markdown-dir", str(EVALUATION / "views")]
        with mock.patch("sys.argv", argv):
            self.assertEqual(commands.command_line(), "spectfewshot evaluate polar-map --real-dir .../physionet-mps "
                                                      "--markdown-dir docs/evaluation/views")

    def test_no_machine_paths_under_docs(self):
        found = [f"{_rel(p)}:{n}" for p in sorted((ROOT / "docs").rglob("*")) if p.suffix in {".md", ".txt", ".csv"}
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if MACHINE_PATH_PATTERN.search(line)]
        self.assertEqual(found, [])
        self.assertTrue(MACHINE_PATH_PATTERN.search("--real-dir /work/shared/data/physionet-mps"))
        self.assertFalse(MACHINE_PATH_PATTERN.search("--real-dir Resources/SampleData/physionet-mps"))

    def test_no_corrected_twins(self):
        self.assertEqual([_rel(p) for p in (ROOT / "docs").rglob("*_corrected*")], [])


if __name__ == "__main__":
    unittest.main()
