"""The cohort table: one row per study (status, the one-line error, class volumes, Dice, LV length, landmark
confidences, the 17 segment uptakes and reduced flags, seconds), as CSV and, when pyarrow is installed, Parquet."""

from __future__ import annotations

import csv
import importlib.util
import io
import math
import os
from pathlib import Path
from typing import Any, Sequence

from ..errors import InputError
from ..io.atomic import atomic_path, write_text_atomic

COHORT_CSV = "cohort.csv"
COHORT_PARQUET = "cohort.parquet"
FIRST_COLUMNS = ("id", "group", "status", "error", "seconds", "warnings")
SEGMENTS = range(1, 18)
UPTAKE_COLUMNS = tuple(f"uptake_{n:02d}" for n in SEGMENTS)
REDUCED_COLUMNS = tuple(f"reduced_{n:02d}" for n in SEGMENTS)


def cohort_columns(rows: Sequence[dict]) -> list[str]:
    """The table's columns: the fixed ones, then every class volume, the Dice, the LV length, the confidences,
    the uptakes and the reduced flags found in any row (in order of first appearance within each kind)."""
    seen: list[str] = []
    for row in rows:
        seen += [key for key in row if key not in seen]

    def kind(prefix: str = "", suffix: str = "") -> list[str]:
        return [c for c in seen if c.startswith(prefix) and c.endswith(suffix) and c not in FIRST_COLUMNS]

    volumes = kind(suffix="_ml")
    named = ["dice_myocardium", "lv_length_mm"]
    ordered = [*FIRST_COLUMNS, *volumes, *[c for c in named if c in seen], *kind("confidence_"),
               *UPTAKE_COLUMNS, *REDUCED_COLUMNS, "reduced_segments"]
    return ordered + [c for c in seen if c not in ordered]


def write_cohort_table(rows: Sequence[dict], folder: str | os.PathLike) -> list[Path]:
    """Write cohort.csv (and cohort.parquet when pyarrow is installed) into `folder`, atomically; returns them."""
    columns = cohort_columns(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _cell(row.get(c, "")) for c in columns})
    written = [Path(folder) / COHORT_CSV]
    write_text_atomic(written[0], buffer.getvalue())
    if parquet_available():
        written.append(_write_parquet(rows, columns, Path(folder) / COHORT_PARQUET))
    return written


def parquet_available() -> bool:
    """Whether pyarrow (the optional Parquet writer) is installed."""
    return importlib.util.find_spec("pyarrow") is not None


def _write_parquet(rows: Sequence[dict], columns: list[str], path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = {c: [None if row.get(c, "") == "" else row.get(c) for row in rows] for c in columns}
    table = pa.table({c: pa.array(values, type=pa.string() if c in (*FIRST_COLUMNS[:4], "warnings") else None)
                      for c, values in data.items()})
    with atomic_path(path) as tmp:
        pq.write_table(table, str(tmp))
    return path


def _cell(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return value


def read_cohort_table(folder: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of RESULTS/cohort.csv (every value as text)."""
    path = Path(folder)
    path = path / COHORT_CSV if path.is_dir() else path
    if not path.exists():
        raise InputError(f"{path}: no cohort table (run spectfewshot batch first)")
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (UnicodeDecodeError, csv.Error):
        raise InputError(f"{path.name} is not a cohort table") from None
    if not rows or any(c not in rows[0] for c in ("id", "status", "group", *UPTAKE_COLUMNS)):
        raise InputError(f"{path.name} is not a cohort table with studies (it needs id, group, status and the "
                         "17 uptake columns)")
    return rows


def uptakes_of(row: dict) -> list[float]:
    """The 17 segment uptakes of a row (NaN where a segment has none)."""
    values = []
    for column in UPTAKE_COLUMNS:
        text = row.get(column, "")
        try:
            values.append(float(text) if text not in ("", None) else math.nan)
        except (TypeError, ValueError):
            values.append(math.nan)
    return values
