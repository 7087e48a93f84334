"""Normal limits of the 17 segment uptakes: mean and SD of each segment's uptake (% of the myocardial maximum) over
studies judged normal, acquired and reconstructed like the study at hand (same camera, same corrections).

With normal limits a segment is reduced when its uptake lies more than `sd_factor` SDs under the normal mean
(clinical packages score severity from such limits); without them, under the fixed threshold. A normal-limits file
is a CSV with the columns segment,mean_percent,sd_percent (segments 1-17), optionally count (how many normal
studies gave that segment's uptake); lines starting with # are comments.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..io.atomic import write_text_atomic

LIMIT_COLUMNS = ("segment", "mean_percent", "sd_percent")
COUNT_COLUMN = "count"
MIN_SD_PERCENT = 1.0


@dataclass(frozen=True)
class NormalLimits:
    """Per-segment mean and SD (% of the myocardial maximum, AHA order), how many normals made them and, when known,
    how many gave each segment's uptake."""

    mean: tuple[float, ...]
    sd: tuple[float, ...]
    count: int = 0
    description: str = ""
    segment_counts: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.mean) != 17 or len(self.sd) != 17:
            raise InputError("normal limits need a mean and an SD for each of the 17 segments")
        if self.segment_counts and len(self.segment_counts) != 17:
            raise InputError("normal limits give a count for each of the 17 segments or for none")
        if not all(np.isfinite(self.mean)) or not all(np.isfinite(self.sd)) or min(self.sd) <= 0:
            raise InputError("normal limits need finite means and positive SDs")

    def lower_limits(self, sd_factor: float) -> np.ndarray:
        """Per-segment uptake under which a segment is reduced."""
        return np.asarray(self.mean) - sd_factor * np.asarray(self.sd)


def limits_from_uptakes(uptakes: Sequence[Sequence[float]], description: str = "") -> NormalLimits:
    """Normal limits from the 17 segment uptakes of several normal studies (SDs at least 1 point)."""
    values = np.asarray(uptakes, dtype=float)
    if values.ndim != 2 or values.shape[1] != 17 or values.shape[0] < 3:
        raise InputError("normal limits need the 17 segment uptakes of at least 3 normal studies")
    counts = np.isfinite(values).sum(axis=0)
    if counts.min() < 2:
        few = [str(n) for n, c in enumerate(counts, start=1) if c < 2]
        raise InputError(f"normal limits need each segment's uptake from at least 2 normal studies; segment"
                         f"{'s' if len(few) > 1 else ''} {', '.join(few)} {'have' if len(few) > 1 else 'has'} fewer")
    mean = np.nanmean(values, axis=0)
    sd = np.maximum(np.nanstd(values, axis=0, ddof=1), MIN_SD_PERCENT)
    return NormalLimits(tuple(float(v) for v in mean), tuple(float(v) for v in sd), int(values.shape[0]),
                        description, tuple(int(c) for c in counts))


def read_normal_limits(path: str | os.PathLike) -> NormalLimits:
    """Read a normal-limits CSV (segment,mean_percent,sd_percent for segments 1-17)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{p.name} is not a normal-limits CSV (not text)") from None
    comments = [line[1:].strip() for line in text.splitlines() if line.startswith("#")]
    rows = list(csv.DictReader(line for line in text.splitlines() if line.strip() and not line.startswith("#")))
    if not rows or any(column not in rows[0] for column in LIMIT_COLUMNS):
        raise InputError(f"{p.name} is not a normal-limits CSV: it needs the columns {','.join(LIMIT_COLUMNS)}")
    by_segment, counts = {}, {}
    for row in rows:
        try:
            by_segment[int(row["segment"])] = (float(row["mean_percent"]), float(row["sd_percent"]))
            if row.get(COUNT_COLUMN):
                counts[int(row["segment"])] = int(row[COUNT_COLUMN])
        except (TypeError, ValueError):
            raise InputError(f"{p.name}: a row holds a value that is not a number ({row})") from None
    if sorted(by_segment) != list(range(1, 18)) or len(rows) != 17:
        raise InputError(f"{p.name} must give each of the segments 1-17 once")
    total = next((int(c.split(":", 1)[1]) for c in comments if c.startswith("normals:")
                  and c.split(":", 1)[1].strip().isdigit()), 0)
    description = " ".join(c for c in comments if not c.startswith("normals:"))
    return NormalLimits(tuple(by_segment[n][0] for n in range(1, 18)), tuple(by_segment[n][1] for n in range(1, 18)),
                        total, description,
                        tuple(counts[n] for n in range(1, 18)) if sorted(counts) == list(range(1, 18)) else ())


def write_normal_limits(limits: NormalLimits, path: str | os.PathLike) -> Path:
    """Write normal limits as CSV (atomically), the description and count as comment lines."""
    buffer = io.StringIO()
    for line in (limits.description or "").splitlines():
        buffer.write(f"# {line}\n")
    buffer.write(f"# normals: {limits.count}\n")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LIMIT_COLUMNS + ((COUNT_COLUMN,) if limits.segment_counts else ()))
    for number, (mean, sd) in enumerate(zip(limits.mean, limits.sd), start=1):
        count = [limits.segment_counts[number - 1]] if limits.segment_counts else []
        writer.writerow([number, f"{mean:.2f}", f"{sd:.2f}", *count])
    write_text_atomic(path, buffer.getvalue())
    return Path(path)
