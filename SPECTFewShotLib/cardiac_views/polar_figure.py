"""The polar-map figure as a PNG, drawn with numpy alone (no matplotlib in the product, none needed in Slicer).

Left: the bull's eye (anterior at 12 o'clock, septum at 9, inferior at 6, lateral at 3) in a heated-object colour
scale of % of the myocardial maximum, the 17 segment boundaries in black, each segment's number, abbreviation and
uptake; reduced segments carry their text in red on a white box. Right: the segment table with full names, the
reduced segments by number and name (wrapped, never cut off) and a colour bar with the threshold marked. Text
uses a built-in 5 x 7 pixel font, scaled.
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

from ..io.atomic import atomic_path
from .aha_segments import AHA_SEGMENTS, RING_RADII
from .frame import CardiacFrame
from .polar_map import PolarMap, polar_image, polar_segment_image
from .reorientation import CardiacViews

Colour = tuple[int, int, int]

# 5 x 7 glyphs: seven rows, five bits each (the leftmost pixel is the highest bit).
_FONT = {
    "0": "0E 11 13 15 19 11 0E", "1": "04 0C 04 04 04 04 0E", "2": "0E 11 01 02 04 08 1F",
    "3": "1F 02 04 02 01 11 0E", "4": "02 06 0A 12 1F 02 02", "5": "1F 10 1E 01 01 11 0E",
    "6": "06 08 10 1E 11 11 0E", "7": "1F 01 02 04 08 08 08", "8": "0E 11 11 0E 11 11 0E",
    "9": "0E 11 11 0F 01 02 0C", "A": "0E 11 11 11 1F 11 11", "B": "1E 11 11 1E 11 11 1E",
    "C": "0E 11 10 10 10 11 0E", "D": "1C 12 11 11 11 12 1C", "E": "1F 10 10 1E 10 10 1F",
    "F": "1F 10 10 1E 10 10 10", "G": "0E 11 10 17 11 11 0F", "H": "11 11 11 1F 11 11 11",
    "I": "0E 04 04 04 04 04 0E", "J": "07 02 02 02 02 12 0C", "K": "11 12 14 18 14 12 11",
    "L": "10 10 10 10 10 10 1F", "M": "11 1B 15 15 11 11 11", "N": "11 11 19 15 13 11 11",
    "O": "0E 11 11 11 11 11 0E", "P": "1E 11 11 1E 10 10 10", "Q": "0E 11 11 11 15 12 0D",
    "R": "1E 11 11 1E 14 12 11", "S": "0F 10 10 0E 01 01 1E", "T": "1F 04 04 04 04 04 04",
    "U": "11 11 11 11 11 11 0E", "V": "11 11 11 11 11 0A 04", "W": "11 11 11 15 15 15 0A",
    "X": "11 11 0A 04 0A 11 11", "Y": "11 11 11 0A 04 04 04", "Z": "1F 01 02 04 08 10 1F",
    "%": "18 19 02 04 08 13 03", ".": "00 00 00 00 00 0C 0C", "-": "00 00 00 1F 00 00 00",
    "<": "02 04 08 10 08 04 02", ">": "08 04 02 01 02 04 08", "(": "02 04 08 08 08 04 02",
    ")": "08 04 02 02 02 04 08", ":": "00 0C 0C 00 0C 0C 00", "/": "00 01 02 04 08 10 00",
    "=": "00 00 1F 00 1F 00 00", ",": "00 00 00 00 0C 04 08", "+": "00 04 04 1F 04 04 00",
    "*": "00 04 15 0E 15 04 00", "'": "04 04 08 00 00 00 00", " ": "00 00 00 00 00 00 00",
    "_": "00 00 00 00 00 00 1F",
}
_GLYPHS = {ch: np.array([[(int(row, 16) >> (4 - b)) & 1 for b in range(5)] for row in rows.split()], dtype=bool)
           for ch, rows in _FONT.items()}
# Heated-object colour scale (black -> red -> orange -> yellow -> white), as nuclear-medicine displays use.
_SCALE_POINTS = np.array([0.0, 0.35, 0.6, 0.8, 1.0])
_SCALE_COLOURS = np.array([[0, 0, 0], [170, 20, 0], [240, 110, 0], [255, 220, 40], [255, 255, 255]], dtype=float)
WHITE, BLACK, RED, GREY = (255, 255, 255), (0, 0, 0), (200, 0, 0), (150, 150, 150)


def colour_scale(percent: np.ndarray) -> np.ndarray:
    """RGB (uint8, ... x 3) of % values in the heated-object scale (0 % black, 100 % white)."""
    x = np.clip(np.nan_to_num(np.asarray(percent, dtype=float) / 100.0, nan=0.0), 0.0, 1.0)
    return np.stack([np.interp(x, _SCALE_POINTS, _SCALE_COLOURS[:, c]) for c in range(3)], axis=-1).astype(np.uint8)


def text_size(text: str, scale: int) -> tuple[int, int]:
    """Width and height in pixels of one line of text at `scale`."""
    return max(len(text) * 6 * scale - scale, 0), 7 * scale


def draw_text(image: np.ndarray, text: str, x: int, y: int, scale: int = 2, colour: Colour = BLACK,
              box: Colour | None = None) -> None:
    """Draw one line of upper-case text with its top-left corner at (x, y), optionally on a filled box."""
    width, height = text_size(text, scale)
    if box is not None:
        _fill(image, x - scale, y - scale, x + width + scale, y + height + scale, box)
    for n, ch in enumerate(text.upper()):
        glyph = _GLYPHS.get(ch, _GLYPHS["*"])
        pixels = np.kron(glyph, np.ones((scale, scale), dtype=bool))
        left = x + n * 6 * scale
        _paint(image, pixels, left, y, colour)


def draw_text_centred(image: np.ndarray, text: str, cx: float, cy: float, scale: int = 2, colour: Colour = BLACK,
                      box: Colour | None = None) -> None:
    """Draw one line of text centred on (cx, cy)."""
    width, height = text_size(text, scale)
    draw_text(image, text, round(cx - width / 2), round(cy - height / 2), scale, colour, box)


def _paint(image: np.ndarray, pixels: np.ndarray, left: int, top: int, colour) -> None:
    h, w = pixels.shape
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, image.shape[0]), min(left + w, image.shape[1])
    if y1 <= y0 or x1 <= x0:
        return
    region = pixels[y0 - top:y1 - top, x0 - left:x1 - left]
    image[y0:y1, x0:x1][region] = colour


def _fill(image: np.ndarray, x0: int, y0: int, x1: int, y1: int, colour) -> None:
    image[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = colour


# Characters per line of the reduced-segment list beside the table (scale 2).
REDUCED_LINE_CHARACTERS = 36


def reduced_segments_text(polar_map: PolarMap) -> str:
    """The reduced segments by number and name ("4 basal inferior, 10 mid inferior"), or "none"."""
    names = [f"{s.number} {s.name}" for s in polar_map.segments if s.reduced]
    return ", ".join(names) if names else "none"


def reduced_lines(polar_map: PolarMap, width: int = REDUCED_LINE_CHARACTERS) -> list[str]:
    """The reduced segments by number and name, wrapped into lines of at most `width` characters (none cut off)."""
    names = [f"{s.number} {s.name}" for s in polar_map.segments if s.reduced]
    if not names:
        return ["NONE"]
    lines: list[str] = []
    for n, name in enumerate(names):
        item = name + ("," if n < len(names) - 1 else "")
        if lines and len(lines[-1]) + 1 + len(item) <= width:
            lines[-1] += " " + item
        else:
            lines.append(item)
    return [line.upper() for line in lines]


def render_polar_figure(polar_map: PolarMap, title: str = "", disc: int = 480) -> np.ndarray:
    """The figure as an RGB image (height, width, 3), uint8; tall enough for every reduced segment's line."""
    margin, table_width = 80, 470
    table_height = 24 + 21 * len(polar_map.segments) + 31 + 21 * len(reduced_lines(polar_map)) + 36 + 18 + 50
    height = max(disc + 2 * margin + 60, 60 + margin - 10 + table_height)
    width = disc + 2 * margin + table_width
    image = np.full((height, width, 3), 255, dtype=np.uint8)
    top = 60 + margin
    values = polar_image(polar_map, disc)
    numbers = polar_segment_image(polar_map, disc)
    inside = numbers > 0
    disc_rgb = image[top:top + disc, margin:margin + disc]
    disc_rgb[inside] = colour_scale(values[inside])
    edges = np.zeros_like(inside)
    edges[1:, :] |= numbers[1:, :] != numbers[:-1, :]
    edges[:, 1:] |= numbers[:, 1:] != numbers[:, :-1]
    edges[:-1, :] |= edges[1:, :].copy()
    disc_rgb[edges] = BLACK
    threshold = polar_map.settings.threshold_percent
    segments = {s.number: s for s in polar_map.segments}
    centre = (margin + (disc - 1) / 2.0, top + (disc - 1) / 2.0)
    for seg in AHA_SEGMENTS:
        inner, outer = RING_RADII[seg.ring]
        radius = 0.0 if seg.ring == "apex" else (inner + outer) / 2 * disc / 2
        math_angle = np.radians(seg.center_deg + 90.0)
        cx, cy = centre[0] + radius * np.cos(math_angle), centre[1] - radius * np.sin(math_angle)
        uptake = segments[seg.number]
        reduced = uptake.reduced
        colour = RED if reduced else BLACK
        value = f"{uptake.uptake_percent:.0f}%" if np.isfinite(uptake.uptake_percent) else "--"
        draw_text_centred(image, f"{seg.number} {seg.abbreviation}", cx, cy - 9, 1 if seg.ring == "apex" else 2,
                          colour, WHITE)
        draw_text_centred(image, value, cx, cy + 10, 2, colour, WHITE)
    for label, angle in (("ANT", 90.0), ("SEPT", 180.0), ("INF", 270.0), ("LAT", 0.0)):
        r = disc / 2 + 22
        cx, cy = centre[0] + r * np.cos(np.radians(angle)), centre[1] - r * np.sin(np.radians(angle))
        draw_text_centred(image, label, cx, cy, 2, GREY)
    draw_text(image, (title or "Polar map").upper()[:50], 20, 18, 3)
    statistic = "MAXIMUM" if polar_map.settings.statistic == "max" else "MEAN"
    draw_text(image, f"{statistic} COUNT PER RAY, % OF MYOCARDIAL MAXIMUM", 20, 52, 2, GREY)
    _draw_table(image, polar_map, margin + disc + 50, top - 10, threshold)
    return image


def _draw_table(image: np.ndarray, polar_map: PolarMap, left: int, top: int, threshold: float) -> None:
    draw_text(image, "SEG  NAME", left, top, 2)
    draw_text(image, "UPTAKE", left + 330, top, 2)
    row = top + 24
    for s in polar_map.segments:
        colour = RED if s.reduced else BLACK
        value = f"{s.uptake_percent:5.1f}%" if np.isfinite(s.uptake_percent) else "   --"
        draw_text(image, f"{s.number:>3}  {s.name}", left, row, 2, colour)
        draw_text(image, value + (" <" if s.reduced else ""), left + 318, row, 2, colour)
        row += 21
    row += 10
    reduced = polar_map.reduced_segments()
    if polar_map.settings.normal_limits is not None:
        rule = f"> {polar_map.settings.normal_sd:g} SD UNDER NORMAL"
    else:
        rule = f"< {threshold:g}%"
    draw_text(image, f"REDUCED ({rule}):", left, row, 2, RED if reduced else BLACK)
    row += 21
    for line in reduced_lines(polar_map):
        draw_text(image, line, left, row, 2, RED if reduced else BLACK)
        row += 21
    row += 15
    bar_width, bar_height = 400, 18
    gradient = colour_scale(np.linspace(0.0, 100.0, bar_width))
    image[row:row + bar_height, left:left + bar_width] = gradient[None, :, :]
    for value in (0, 50, 100):
        x = left + round(value / 100.0 * (bar_width - 1))
        draw_text_centred(image, f"{value}%", x, row + bar_height + 14, 2)
    if polar_map.settings.normal_limits is None:
        mark = left + round(threshold / 100.0 * (bar_width - 1))
        image[row - 4:row + bar_height + 4, mark - 1:mark + 1] = BLUE
        draw_text_centred(image, f"{threshold:g}%", mark, row + bar_height + 34, 2, BLUE)


BLUE = (0, 70, 200)


def write_png(image: np.ndarray, path: str | os.PathLike) -> None:
    """Write an RGB uint8 image (height, width, 3) as a PNG file, atomically (zlib and struct only)."""
    rgb = np.ascontiguousarray(image, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("write_png needs an RGB image of shape (height, width, 3)")
    height, width = rgb.shape[:2]
    raw = np.concatenate([np.zeros((height, 1), dtype=np.uint8), rgb.reshape(height, width * 3)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        """One PNG chunk: length, type, data, CRC."""
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw.tobytes(), 3))
            + chunk(b"IEND", b""))
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_polar_figure(polar_map: PolarMap, path: str | os.PathLike, title: str = "") -> None:
    """Render the polar-map figure and write it as a PNG."""
    write_png(render_polar_figure(polar_map, title), path)


def _resize_nearest(image: np.ndarray, size: int) -> np.ndarray:
    rows = np.minimum((np.arange(size) * image.shape[0] / size).astype(int), image.shape[0] - 1)
    columns = np.minimum((np.arange(size) * image.shape[1] / size).astype(int), image.shape[1] - 1)
    return image[rows][:, columns]


def render_views_figure(views: CardiacViews, frame: CardiacFrame, maximum: float, title: str = "",
                        panel: int = 200) -> np.ndarray:
    """SA slices at 25, 50 and 75 % of the axis (apex to base) and the mid VLA and HLA slices, side by side, in the
    polar map's colour scale (100 % = `maximum`), each with its orientation marked: an RGB image."""
    sa, vla, hla = views.short_axis, views.vertical_long_axis, views.horizontal_long_axis
    panels = []
    for fraction, label in ((0.25, "SA APICAL"), (0.5, "SA MID"), (0.75, "SA BASAL")):
        k = round(float(sa.lps_to_index(frame.apex + fraction * frame.length_mm * frame.axis)[2]))
        panels.append((sa.array[int(np.clip(k, 0, sa.array.shape[0] - 1))], label, ("ANT", "INF", "SEPT", "LAT")))
    for view, label, marks in ((vla, "VLA", ("ANT", "INF", "BASE", "APEX")),
                               (hla, "HLA", ("APEX", "BASE", "SEPT", "LAT"))):
        k = round(float(view.lps_to_index(frame.center)[2]))
        panels.append((view.array[int(np.clip(k, 0, view.array.shape[0] - 1))], label, marks))
    gap, top = 40, 70
    image = np.full((top + panel + 12, len(panels) * (panel + gap) + gap, 3), 255, dtype=np.uint8)
    draw_text(image, (title or "Cardiac views").upper()[:60], 20, 16, 3)
    for n, (plane, label, (up, down, left, right)) in enumerate(panels):
        x0 = gap + n * (panel + gap)
        image[top:top + panel, x0:x0 + panel] = colour_scale(100.0 * _resize_nearest(plane, panel) / maximum)
        draw_text_centred(image, label, x0 + panel / 2, top - 14, 2)
        draw_text_centred(image, up, x0 + panel / 2, top + 10, 1, WHITE)
        draw_text_centred(image, down, x0 + panel / 2, top + panel - 10, 1, WHITE)
        draw_text(image, left, x0 + 3, top + panel // 2 - 3, 1, WHITE)
        width, _ = text_size(right, 1)
        draw_text(image, right, x0 + panel - width - 3, top + panel // 2 - 3, 1, WHITE)
    return image
