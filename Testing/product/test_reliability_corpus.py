"""A hostile-file corpus through `spectfewshot info` and `classify`: every file ends with a result, or with one clear
line on stderr and a non-zero exit, and nothing else (no traceback, no library warning, no C++ message, no
'internal error'); inputs and earlier outputs stay byte for byte as they were.

The corpus: every file and folder pydicom ships for its own tests (the local `pydicom/data/test_files` and
`charset_files`, never a download), the damaged NIfTI / NRRD files and the NM slice folders of
`Testing.hostile_files`. Each written file or folder goes through `classify` twice: as the volume, and as the
painted support of a valid volume.
`python -m Testing.product.test_reliability_corpus` prints the table of docs/evaluation/reliability/hostile_corpus.md.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import sys
import tempfile
import time
import unittest
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from SPECTFewShotLib.errors import SPECTFewShotError
from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for, write_segmentation
from SPECTFewShotLib.io.volume_io import read_volume
from Testing.cli_runner import run_cli
from Testing.hostile_files import NEGATIVE_SPACING, VALID_CLASSES, write_cases, write_dicom_folders

PREVIOUS = b"the previous result"


@dataclass
class Outcome:
    """How one run ended."""

    source: str  # "pydicom" or the damaged-file class
    name: str
    command: str  # "info", "classify (volume)", "classify (support)"
    code: int
    line: str  # the error line, or "" for a result
    clean: bool
    why: str = ""

    @property
    def ending(self) -> str:
        """'result' or 'refused'."""
        return "result" if self.code == 0 else "refused"


@contextlib.contextmanager
def captured_descriptors() -> Iterator[dict[str, str]]:
    """Capture what anything writes to file descriptors 1 and 2 (C and C++ libraries too)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    captured: dict[str, str] = {}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        files = {1: out, 2: err}
        try:
            for fd, handle in files.items():
                os.dup2(handle.fileno(), fd)
            yield captured
        finally:
            for fd in (1, 2):
                os.dup2(saved[fd], fd)
                os.close(saved[fd])
                files[fd].seek(0)
                captured["stdout" if fd == 1 else "stderr"] = files[fd].read().decode("utf-8", "replace")


def pydicom_corpus() -> list[Path]:
    """Every file and folder pydicom ships for its tests, as installed (no download)."""
    import pydicom.data

    root = Path(pydicom.data.__file__).parent
    return sorted(p for folder in ("test_files", "charset_files") for p in (root / folder).rglob("*")
                  if p.suffix != ".py" and p.name != "__pycache__" and "__pycache__" not in p.parts)


def support_on_grid(path: Path, folder: Path) -> Optional[Path]:
    """A two-class painting on the grid of a readable volume (bright half / dim half of its middle slice)."""
    try:
        volume = read_volume(path)
    except SPECTFewShotError:
        return None
    array = volume.array.astype(float)
    middle = array.shape[0] // 2
    painted = np.zeros(array.shape, dtype=np.int32)
    painted[middle] = np.where(array[middle] > np.median(array[middle]), 2, 1)
    support = Segmentation(volume.with_array(painted), segments_for([1, 2]))
    return write_segmentation(support, folder / f"support_{abs(hash(str(path)))}.nii.gz")


class Corpus:
    """Runs the corpus and judges each ending."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.outcomes: list[Outcome] = []
        self.control_volume: Optional[Path] = None
        self.control_support: Optional[Path] = None
        self.cases: list[tuple[str, Path]] = []

    def run(self, command: str, argv: list, source: str, name: str, watched: list[Path],
            output: Optional[Path] = None) -> Outcome:
        before = {p: _fingerprint(p) for p in watched}
        why = ""
        with captured_descriptors() as raw:
            try:
                code, _, err = run_cli(*argv)
            except BaseException as error:  # an escaping exception is exactly what is looked for
                code, err, why = -1, "", f"raised {type(error).__name__}: {error}"
        stderr = err + raw.get("stderr", "")
        lines = [line for line in stderr.splitlines() if line.strip()]
        line = lines[0] if lines else ""
        if not why:
            if code == 0:
                # a result: warnings (notices about assumptions) are allowed, a traceback is not
                if "Traceback" in stderr:
                    why = "traceback on a successful run"
                elif output is not None and (not output.exists() or output.read_bytes() == PREVIOUS):
                    why = "exit 0 without writing the output"
            elif len(lines) != 1:
                why = f"{len(lines)} lines on stderr"
            elif not line.startswith("error: ") or "internal error" in line:
                why = "not one clear error line"
            elif code != 2:
                why = f"exit status {code}"
            elif output is not None and output.read_bytes() != PREVIOUS:
                why = "a refused run changed the existing output"
        if not why and any(_fingerprint(p) != before[p] for p in watched):
            why = "an input file was modified"
        outcome = Outcome(source, name, command, code, "" if code == 0 else line, not why, why)
        self.outcomes.append(outcome)
        return outcome

    def info(self, path: Path, source: str) -> Outcome:
        return self.run("info", ["info", path], source, path.name, [path])

    def classify_volume(self, path: Path, source: str, readable: bool) -> None:
        # a volume `info` reads gets a painting on its own grid; any other, the control's (it is refused first)
        support = (support_on_grid(path, self.folder) if readable else None) or self.control_support
        output = self._output()
        self.run("classify (volume)", ["classify", path, "--support", support, "-o", output, "--device", "cpu"],
                 source, path.name, [path, support], output)

    def classify_support(self, path: Path, source: str) -> None:
        output = self._output()
        self.run("classify (support)", ["classify", self.control_volume, "--support", path, "-o", output,
                                        "--device", "cpu"], source, path.name, [path, self.control_volume], output)

    def _output(self) -> Path:
        output = self.folder / "result.seg.nrrd"
        output.write_bytes(PREVIOUS)
        return output


def _fingerprint(path: Path) -> object:
    if path.is_dir():
        return tuple((p.name, p.read_bytes()) for p in sorted(path.rglob("*")) if p.is_file())
    return path.read_bytes() if path.exists() else None


def run_corpus(folder: Path, pydicom_classify: bool = True) -> Corpus:
    """Every corpus file through info and classify; returns the judged outcomes."""
    corpus = Corpus(folder)
    damaged = folder / "damaged"
    damaged.mkdir()
    cases = corpus.cases = write_cases(damaged) + write_dicom_folders(damaged)
    corpus.control_volume = next(p for kind, p in cases if kind == "valid control")
    corpus.control_support = support_on_grid(corpus.control_volume, folder)
    for kind, path in cases:
        readable = corpus.info(path, kind).code == 0
        corpus.classify_volume(path, kind, readable)
        corpus.classify_support(path, kind)
    for path in pydicom_corpus():
        readable = corpus.info(path, "pydicom test data").code == 0
        if pydicom_classify:
            corpus.classify_volume(path, "pydicom test data", readable)
    return corpus


def reason(line: str) -> str:
    """A refusal line reduced to its kind: without 'error:', the file's name and the details in parentheses."""
    text = line.removeprefix("error: ")
    text = re.sub(r"^\S+?(?=: | is | has | holds )", "", text).lstrip(": ")
    text = re.sub(r"\([^()]*\)", "(...)", text)
    text = re.sub(r"\d[\d,.]*", "N", text)
    return text[:110]


def reason_table(outcomes: list[Outcome], command: str = "info") -> str:
    """Per kind of ending, how many pydicom test files ended so (for one command)."""
    kinds = collections.Counter("result" if o.code == 0 else reason(o.line)
                                for o in outcomes if o.source == "pydicom test data" and o.command == command)
    lines = ["| pydicom test files: how `info` ended | files |", "|---|---:|"]
    lines += [f"| {kind} | {count} |" for kind, count in kinds.most_common()]
    return "\n".join(lines)


def table(outcomes: list[Outcome]) -> str:
    """The markdown table: per source class and command, files tried, results, refusals, unclean endings."""
    rows = collections.OrderedDict()
    for outcome in outcomes:
        row = rows.setdefault((outcome.source, outcome.command), collections.Counter())
        row["tried"] += 1
        row[outcome.ending] += 1
        row["unclean"] += 0 if outcome.clean else 1
    lines = ["| files | command | tried | result (exit 0) | one-line refusal (exit 2) | unclean |",
             "|---|---|---:|---:|---:|---:|"]
    for (source, command), row in rows.items():
        lines.append(f"| {source} | {command} | {row['tried']} | {row['result']} | {row['refused']} | "
                     f"{row['unclean']} |")
    total = collections.Counter(o.ending for o in outcomes)
    lines.append(f"| **all** | | **{len(outcomes)}** | **{total['result']}** | **{total['refused']}** | "
                 f"**{sum(not o.clean for o in outcomes)}** |")
    return "\n".join(lines)


class HostileCorpusTest(unittest.TestCase):
    def test_every_file_ends_with_a_result_or_one_clear_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            corpus = run_corpus(Path(tmp))
            self.check(corpus)

    def check(self, corpus: Corpus) -> None:
        unclean = [f"{o.source} {o.name} [{o.command}]: {o.why} ({o.line})" for o in corpus.outcomes if not o.clean]
        self.assertEqual(unclean, [])
        damaged = [o for o in corpus.outcomes if o.source not in (*VALID_CLASSES, "pydicom test data")]
        self.assertTrue(all(o.code == 2 for o in damaged),
                        [f"{o.name} [{o.command}] gave a result" for o in damaged if o.code != 2])
        # valid volumes give a result; as a painted support a volume of counts is refused (not whole labels)
        valid = [o for o in corpus.outcomes if o.source in VALID_CLASSES]
        self.assertTrue(valid and all((o.code == 0) == (o.command != "classify (support)") for o in valid),
                        [(o.name, o.command, o.line) for o in valid])
        mirrored = read_volume(next(p for kind, p in corpus.cases if kind == NEGATIVE_SPACING))
        self.assertEqual(mirrored.spacing, (4.0, 4.0, 4.0))
        self.assertEqual(mirrored.direction_matrix[1, 1], -1.0)
        self.assertGreater(sum(o.source == "pydicom test data" for o in corpus.outcomes), 200)


def main() -> int:
    """Print the corpus table (and any unclean ending) for docs/evaluation/reliability/hostile_corpus.md."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = run_corpus(Path(tmp))
    print(table(corpus.outcomes))
    print()
    print(reason_table(corpus.outcomes))
    print()
    inputs = collections.Counter(o.source == "pydicom test data" for o in corpus.outcomes if o.command == "info")
    print(f"{inputs[True]} pydicom test paths and {inputs[False]} damaged or control files, "
          f"{len(corpus.outcomes)} runs, {time.perf_counter() - started:.1f} s")
    print("\nRefusal lines by class (first of each distinct line):")
    seen = set()
    for o in corpus.outcomes:
        key = (o.source, o.command, o.line.split(":", 1)[-1][:60])
        if o.line and key not in seen and o.command != "classify (support)":
            seen.add(key)
            print(f"- {o.source} / {o.command} / {o.name}: `{o.line}`")
    for o in corpus.outcomes:
        if not o.clean:
            print(f"UNCLEAN {o.source} {o.name} [{o.command}]: {o.why} ({o.line})")
    return 0 if all(o.clean for o in corpus.outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())


class DamagedMarkupsTest(unittest.TestCase):
    """Template landmarks (for `localize`) with any field replaced by a value of the wrong kind: one clear refusal."""

    def test_every_field_replaced_by_a_wrong_value(self):
        import copy
        import json

        from SPECTFewShotLib.errors import InputError
        from SPECTFewShotLib.io.markups_io import read_landmarks

        base = {"markups": [{"coordinateSystem": "LPS", "controlPoints": [{"label": "a", "position": [1, 2, 3]}],
                             "measurements": [{"name": "confidence", "controlPointValues": [0.5]}]}]}
        wrong = [None, 1, "x", [], {}, [None], [[1]], float("nan"), True, [1, 2], {"a": 1}]

        def field_paths(node, prefix=()):
            yield prefix
            items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
            for key, value in items:
                yield from field_paths(value, (*prefix, key))

        escaped = []
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "template.mrk.json"
            for where in list(field_paths(base)):
                for value in wrong:
                    document = copy.deepcopy(base)
                    if where:
                        parent = document
                        for key in where[:-1]:
                            parent = parent[key]
                        parent[where[-1]] = value
                    else:
                        document = value
                    path.write_text(json.dumps(document))
                    try:
                        read_landmarks(path)
                    except InputError as error:
                        self.assertEqual(len(str(error).splitlines()), 1)
                    except Exception as error:  # anything else would reach the user as an internal error
                        escaped.append(f"{where} = {value!r}: {type(error).__name__}: {error}")
        self.assertEqual(escaped, [])
