"""The demo's report figure: painted slices, results over the SPECT on unpainted slices, probabilities, Dice."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from SPECTFewShotLib.io.atomic import atomic_path


def classification_figure(counts: np.ndarray, support: np.ndarray, reference: np.ndarray, protonet: np.ndarray,
                          growcut: np.ndarray, probability: np.ndarray, painted_slices: Sequence[int],
                          shown_slices: Sequence[int], title: str, notes: Sequence[str],
                          path: str | os.PathLike) -> Path:
    """Write a PNG: row 1 the painted slices with the paint, row 2 unpainted slices with the reference (white),
    SPECTFewShot (red) and GrowCut (cyan dashed) contours, row 3 its myocardium probability on the same slices; every
    panel is cropped to the reference's in-plane extent plus a margin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    columns = max(len(painted_slices), len(shown_slices))
    rows_, cols_ = np.nonzero(reference.any(axis=0))
    margin = 12
    crop = (slice(max(0, rows_.min() - margin), rows_.max() + margin + 1),
            slice(max(0, cols_.min() - margin), cols_.max() + margin + 1))
    figure, axes = plt.subplots(3, columns, figsize=(2.6 * columns, 8.6))
    axes = np.atleast_2d(axes)
    top = float(np.percentile(counts, 99.9))
    paint_colors = ListedColormap([(0.3, 0.5, 1.0), (1.0, 0.55, 0.1), (0.2, 0.9, 0.3), (0.9, 0.2, 0.9)])
    values = [v for v in np.unique(support) if v != 0]
    for column in range(columns):
        for row in range(3):
            axes[row, column].axis("off")
    for column, k in enumerate(painted_slices):
        ax = axes[0, column]
        ax.imshow(counts[k][crop], cmap="gray", vmin=0, vmax=top)
        index = np.searchsorted(values, support[k][crop])
        ax.imshow(np.ma.masked_where(support[k][crop] == 0, index), cmap=paint_colors, vmin=0, vmax=3,
                  alpha=0.45, interpolation="nearest")
        ax.set_title(f"painted slice k={k}", fontsize=9)
    for column, k in enumerate(shown_slices):
        ax = axes[1, column]
        ax.imshow(counts[k][crop], cmap="gray", vmin=0, vmax=top)
        for mask, color, style in ((reference, "white", "solid"), (protonet, "red", "solid"),
                                   (growcut, "cyan", "dashed")):
            if mask[k][crop].any():
                ax.contour(mask[k][crop].astype(float), [0.5], colors=color, linewidths=1.2, linestyles=style)
        ax.set_title(f"unpainted k={k}", fontsize=9)
        ax = axes[2, column]
        shown = ax.imshow(probability[k][crop], cmap="magma", vmin=0, vmax=1)
        ax.set_title(f"P(myocardium) k={k}", fontsize=9)
    figure.colorbar(shown, ax=axes[2, :].tolist(), fraction=0.02)
    figure.suptitle(title + "\n" + "   ".join(notes), fontsize=10)
    figure.text(0.01, 0.35, "white: reference   red: SPECTFewShot   cyan dashed: GrowCut", fontsize=8, rotation=90)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=90)
    plt.close(figure)
    return Path(path)
