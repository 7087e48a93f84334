"""Normal limits of the 17 segment uptakes: mean and SD of each segment's uptake (% of the myocardial maximum) over
studies judged normal, acquired and reconstructed like the study at hand (same camera, same corrections).

With normal limits a segment is reduced when its uptake lies more than `sd_factor` SDs under the normal mean
(clinical packages score severity from such limits); without them, under the fixed threshold. A normal-limits file
is a CSV with the columns segment,mean_percent,sd_percent (segments 1-17); lines starting with # are comments.
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
MIN_SD_PERCENT = 1.0


@dataclass(frozen=True)
class NormalLimits:
    """Per-segment mean and SD (% of the myocardial maximum, AHA order) and how many normals made them."""

    mean: tuple[float, ...]
    sd: tuple[float, ...]
    count: int = 0
    description: str = ""

    def __post_init__(self) -> None:
        if len(self.mean) != 17 or len(self.sd) != 17:
            raise InputError("normal limits need a mean and an SD for each of the 17 segments")
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
    mean = np.nanmean(values, axis=0)
    sd = np.maximum(np.nanstd(values, axis=0, ddof=1), MIN_SD_PERCENT)
    return NormalLimits(tuple(float(v) for v in mean), tuple(float(v) for v in sd), int(values.shape[0]),
                        description)


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
    by_segment = {}
    for row in rows:
        try:
            by_segment[int(row["segment"])] = (float(row["mean_percent"]), float(row["sd_percent"]))
        except (TypeError, ValueError):
            raise InputError(f"{p.name}: a row holds a value that is not a number ({row})") from None
    if sorted(by_segment) != list(range(1, 18)):
        raise InputError(f"{p.name} must give each of the segments 1-17 once")
    return NormalLimits(tuple(by_segment[n][0] for n in range(1, 18)), tuple(by_segment[n][1] for n in range(1, 18)),
                        0, " ".join(comments))


def write_normal_limits(limits: NormalLimits, path: str | os.PathLike) -> Path:
    """Write normal limits as CSV (atomically), the description and count as comment lines."""
    buffer = io.StringIO()
    for line in (limits.description or "").splitlines():
        buffer.write(f"# {line}\n")
    buffer.write(f"# normals: {limits.count}\n")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LIMIT_COLUMNS)
    for number, (mean, sd) in enumerate(zip(limits.mean, limits.sd), start=1):
        writer.writerow([number, f"{mean:.2f}", f"{sd:.2f}"])
    write_text_atomic(path, buffer.getvalue())
    return Path(path)
