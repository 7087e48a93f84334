"""Normal limits from a cohort: per-segment mean and SD of the uptake over the finished studies of one group (the
site's normal studies), with how many studies gave each segment, in the format `polar-map --normals` reads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..cardiac_views.normal_limits import NormalLimits, limits_from_uptakes
from ..errors import InputError
from .table import uptakes_of

MIN_NORMALS = 3


def limits_from_cohort(rows: Sequence[dict], group: str, source: str | os.PathLike = "") -> NormalLimits:
    """Normal limits from the finished studies (status ok) of `group` in a cohort table's rows."""
    chosen = [row for row in rows if row.get("status") == "ok" and row.get("group", "") == group]
    if len(chosen) < MIN_NORMALS:
        groups = sorted({row.get("group", "") for row in rows if row.get("status") == "ok"})
        named = ", ".join(f"'{g}'" for g in groups) if groups else "none"
        raise InputError(f"group '{group}' has {len(chosen)} finished {'study' if len(chosen) == 1 else 'studies'}; "
                         f"normal limits need at least {MIN_NORMALS} (finished studies' groups: {named})")
    where = f" of {Path(source).name}" if source else ""
    description = (f"normal limits of the group '{group}'{where}: mean and SD of each segment's uptake (% of the "
                   f"myocardial maximum) over {len(chosen)} studies (SD at least 1 point)")
    return limits_from_uptakes([uptakes_of(row) for row in chosen], description)
