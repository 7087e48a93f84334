"""The cohort manifest: a CSV with one row per study, read and checked before any study runs.

Columns: `id` and `volume` (required); `paint` (a painted support to classify from) and/or `segmentation` (an LV
wall already drawn), at least one of them per row; optional `template` and `template_landmarks` (both or neither;
a row without them uses the command line's template, or none: the template-free LV landmarks); optional `group`
(normal, abnormal, rest, stress, ...). Relative paths are relative to the manifest's folder. Duplicate or unusable
ids, missing columns and missing files are refused in one line that names the rows (by line of the file).
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import InputError

REQUIRED_COLUMNS = ("id", "volume")
OPTIONAL_COLUMNS = ("paint", "segmentation", "template", "template_landmarks", "group")
PATH_COLUMNS = ("volume", "paint", "segmentation", "template", "template_landmarks")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_NAMED = 8  # rows named in one error line before "and N more"


@dataclass(frozen=True)
class StudyInputs:
    """One manifest row: the study's id, its input files (absolute), its group and its line in the manifest."""

    id: str
    volume: str
    paint: Optional[str] = None
    segmentation: Optional[str] = None
    template: Optional[str] = None
    template_landmarks: Optional[str] = None
    group: str = ""
    line: int = 0

    def input_paths(self) -> list[str]:
        """Every input file or folder of the study."""
        return [p for p in (self.volume, self.paint, self.segmentation, self.template, self.template_landmarks) if p]


def read_manifest(path: str | os.PathLike, template: Optional[str] = None,
                  template_landmarks: Optional[str] = None) -> list[StudyInputs]:
    """The studies of a manifest CSV, checked (columns, ids, files); `template` applies to rows without their own."""
    manifest = Path(path)
    if not manifest.is_file():
        raise InputError(f"{manifest}: manifest not found" if not manifest.exists() else
                         f"{manifest} is a folder; give the manifest CSV")
    if (template is None) != (template_landmarks is None):
        raise InputError("give --template and --template-landmarks together")
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{manifest.name} is not a CSV manifest (not UTF-8 text)") from None
    reader = csv.DictReader(line for line in text.splitlines(keepends=True) if not line.startswith("#"))
    columns = [c.strip() for c in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InputError(f"{manifest.name} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                         f"(it needs {', '.join(REQUIRED_COLUMNS)} and paint or segmentation)")
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise InputError(f"{manifest.name} has unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                         f"(known: {', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)})")
    folder = manifest.resolve().parent
    rows: list[tuple[int, dict[str, str]]] = []
    data_lines = [n for n, line in enumerate(text.splitlines(), start=1) if line.strip() and not line.startswith("#")]
    for number, raw in enumerate(reader):
        values = {(k or "").strip(): (v or "").strip() if isinstance(v, str) else "" for k, v in raw.items()}
        if not any(values.values()):
            continue
        line = data_lines[number + 1] if number + 1 < len(data_lines) else number + 2
        rows.append((line, values))
    if not rows:
        raise InputError(f"{manifest.name} lists no study")
    _check_ids(manifest.name, rows)
    problems: dict[str, list[str]] = {}
    studies = []
    for line, values in rows:
        where = f"line {line} ({values['id']})"
        if not values.get("volume"):
            problems.setdefault("no volume", []).append(where)
        if not values.get("paint") and not values.get("segmentation"):
            problems.setdefault("neither paint nor segmentation", []).append(where)
        if bool(values.get("template")) != bool(values.get("template_landmarks")):
            problems.setdefault("template without template_landmarks (or the reverse)", []).append(where)
        resolved = {}
        for column in PATH_COLUMNS:
            if values.get(column):
                p = Path(values[column]).expanduser()
                p = p if p.is_absolute() else folder / p
                if not p.exists():
                    problems.setdefault("missing files", []).append(f"{where} {column} {values[column]}")
                resolved[column] = str(p)
        if not values.get("template") and template is not None:
            resolved["template"], resolved["template_landmarks"] = _existing(template), _existing(template_landmarks)
        studies.append(StudyInputs(values["id"], resolved.get("volume", ""), resolved.get("paint"),
                                   resolved.get("segmentation"), resolved.get("template"),
                                   resolved.get("template_landmarks"), values.get("group", ""), line))
    if problems:
        raise InputError(f"{manifest.name}: " + "; ".join(f"{what}: {_named(where)}"
                                                           for what, where in problems.items()))
    return studies


def _check_ids(name: str, rows: list[tuple[int, dict[str, str]]]) -> None:
    """Every id present, usable as a folder name (letters, digits, . _ -) and unique."""
    bad = [f"line {line} ({values['id']!r})" for line, values in rows
           if not ID_PATTERN.match(values["id"]) or values["id"] in (".", "..")]
    if bad:
        raise InputError(f"{name}: ids must be folder names (letters, digits, '.', '_', '-'; not empty): "
                         f"{_named(bad)}")
    lines_of: dict[str, list[int]] = {}
    for line, values in rows:
        lines_of.setdefault(values["id"].lower(), []).append(line)
    duplicates = [f"{values['id']} (lines {', '.join(map(str, lines_of[values['id'].lower()]))})"
                  for line, values in rows if len(lines_of[values["id"].lower()]) > 1
                  and lines_of[values["id"].lower()][0] == line]
    if duplicates:
        raise InputError(f"{name}: duplicate ids (ids name the output folders; case is ignored): "
                         f"{_named(duplicates)}")


def _existing(path: Optional[str]) -> str:
    """A command-line input path, absolute, which must exist."""
    p = Path(str(path)).expanduser()
    if not p.exists():
        raise InputError(f"{p}: file not found")
    return str(p.resolve())


def _named(items: list[str]) -> str:
    """Up to MAX_NAMED items, then how many more."""
    shown = ", ".join(items[:MAX_NAMED])
    return shown + (f" and {len(items) - MAX_NAMED} more" if len(items) > MAX_NAMED else "")
