"""The cohort polar map: per group, the mean and the SD of each of the 17 segment uptakes over the group's
finished studies, as two bull's eyes (same orientation as the single-study polar map: anterior at 12 o'clock,
septum at 9), drawn with numpy alone like the single-study figure."""

from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np

from ..cardiac_views.aha_segments import AHA_SEGMENTS, RING_RADII, segment_at
from ..cardiac_views.polar_figure import BLACK, GREY, colour_scale, draw_text, draw_text_centred, write_png
from .table import uptakes_of

COHORT_FIGURE = "cohort_polar_map.png"
SD_FULL_SCALE = 20.0  # SD (points of %) shown white in the SD map
NO_GROUP = "(no group)"


def group_uptakes(rows: Sequence[dict]) -> dict[str, np.ndarray]:
    """The 17 uptakes of the finished studies (status ok) of each group, in order of first appearance."""
    groups: dict[str, list[list[float]]] = {}
    for row in rows:
        if row.get("status") == "ok":
            groups.setdefault(str(row.get("group") or NO_GROUP), []).append(uptakes_of(row))
    return {name: np.asarray(values, dtype=float) for name, values in groups.items()}


def render_cohort_figure(rows: Sequence[dict], title: str = "", disc: int = 300) -> np.ndarray:
    """The figure as an RGB image: one band per group with its mean map and its SD map (and their numbers)."""
    groups = group_uptakes(rows)
    margin, band = 40, disc + 90
    width = 2 * disc + 3 * margin + 60
    height = 70 + max(len(groups), 1) * band + 90
    image = np.full((height, width, 3), 255, dtype=np.uint8)
    draw_text(image, (title or "Cohort polar map").upper()[:40], 20, 16, 3)
    draw_text(image, "MEAN AND SD OF EACH SEGMENT'S UPTAKE (% OF MYOCARDIAL MAXIMUM)", 20, 48, 1, GREY)
    numbers = _segment_image(disc)
    top = 70
    if not groups:
        draw_text(image, "NO FINISHED STUDY", margin, top + 20, 2)
    for name, uptakes in groups.items():
        with np.errstate(all="ignore"):
            mean = np.nanmean(uptakes, axis=0) if len(uptakes) else np.full(17, np.nan)
            sd = np.nanstd(uptakes, axis=0, ddof=1) if len(uptakes) > 1 else np.full(17, np.nan)
        draw_text(image, f"{name} ({len(uptakes)} {'study' if len(uptakes) == 1 else 'studies'})".upper()[:44],
                  margin, top + 6, 2)
        for column, (values, label, scale, fmt) in enumerate(((mean, "MEAN %", 1.0, "{:.0f}"),
                                                                (sd, "SD", 100.0 / SD_FULL_SCALE, "{:.1f}"))):
            left = margin + column * (disc + margin + 30)
            disc_top = top + 40
            _draw_disc(image, numbers, values, scale, left, disc_top, fmt)
            draw_text(image, label, left, disc_top + disc + 8, 2, GREY)
        top += band
    _colour_bar(image, margin, top + 10, disc, "MEAN", 100.0, "%")
    _colour_bar(image, margin + disc + margin + 30, top + 10, disc, "SD", SD_FULL_SCALE, "")
    return image


def write_cohort_figure(rows: Sequence[dict], path: str | os.PathLike, title: str = "") -> None:
    """Render the cohort polar map and write it as a PNG (atomically)."""
    write_png(render_cohort_figure(rows, title), path)


def _segment_image(size: int) -> np.ndarray:
    """AHA segment number of every pixel of a size x size bull's eye (0 outside the disc)."""
    centre = (size - 1) / 2.0
    y, x = np.mgrid[0:size, 0:size].astype(float)
    right, up = x - centre, centre - y
    radius = np.hypot(right, up) / (size / 2.0)
    angle = (np.degrees(np.arctan2(up, right)) - 90.0) % 360.0
    return np.where(radius <= 1.0, segment_at(np.minimum(radius, 1.0), angle), 0)


def _draw_disc(image: np.ndarray, numbers: np.ndarray, values: np.ndarray, scale: float, left: int, top: int,
               fmt: str) -> None:
    size = numbers.shape[0]
    inside = numbers > 0
    per_pixel = np.where(inside, values[np.clip(numbers, 1, 17) - 1] * scale, np.nan)
    region = image[top:top + size, left:left + size]
    region[inside] = colour_scale(per_pixel[inside])
    edges = np.zeros_like(inside)
    edges[1:, :] |= numbers[1:, :] != numbers[:-1, :]
    edges[:, 1:] |= numbers[:, 1:] != numbers[:, :-1]
    region[edges] = BLACK
    centre = (left + (size - 1) / 2.0, top + (size - 1) / 2.0)
    for seg in AHA_SEGMENTS:
        inner, outer = RING_RADII[seg.ring]
        radius = 0.0 if seg.ring == "apex" else (inner + outer) / 2 * size / 2
        angle = math.radians(seg.center_deg + 90.0)
        value = values[seg.number - 1]
        text = fmt.format(value) if np.isfinite(value) else "--"
        draw_text_centred(image, text, centre[0] + radius * math.cos(angle), centre[1] - radius * math.sin(angle),
                          1 if seg.ring == "apex" else 2, BLACK, (255, 255, 255))


def _colour_bar(image: np.ndarray, left: int, top: int, width: int, label: str, full: float, unit: str) -> None:
    gradient = colour_scale(np.linspace(0.0, 100.0, width))
    image[top:top + 14, left:left + width] = gradient[None, :, :]
    draw_text(image, label, left, top + 20, 1, GREY)
    for fraction in (0.0, 0.5, 1.0):
        x = left + round(fraction * (width - 1))
        draw_text_centred(image, f"{fraction * full:g}{unit}", x, top + 40, 1)
