"""The realism report: the real study and held-out phantoms side by side (figure) and their realism numbers
(markdown table), written by `spectfewshot evaluate realism -o DIR` as DIR/realism.md and DIR/figures/realism.png."""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path
from typing import Optional

import numpy as np

from SPECTFewShotLib.io.atomic import atomic_path, write_text_atomic
from SPECTFewShotLib.io.volume_io import read_volume
from SPECTFewShotLib.research.phantom.config import PhantomConfig, axis_signs
from SPECTFewShotLib.research.phantom.realism import RealismMetrics, cavity_from_wall, liver_from_counts, measure
from SPECTFewShotLib.research.seeds import held_out_seeds
from SPECTFewShotLib.resources import sample_study
from SPECTFewShotLib.runtime.progress import ProgressCallback, report
from SPECTFewShotLib.volume import Volume

log = logging.getLogger(__name__)

COLUMNS = (
    ("myocardium_to_blood_pool", "myocardium / blood pool", "{:.2f}"),
    ("myocardium_to_liver", "myocardium / liver", "{:.2f}"),
    ("liver_cv", "noise: liver CV", "{:.2f}"),
    ("wall_fwhm_mm", "wall FWHM (mm)", "{:.1f}"),
    ("background_to_myocardium", "background / myocardium", "{:.2f}"),
    ("hot_extracardiac_ml", "hot extra-cardiac (mL)", "{:.0f}"),
)
FIGURE_PHANTOMS = 3
WINDOW = (0.0, 1.6)  # display window as a multiple of the myocardium's 90th percentile


def measure_real_study() -> tuple[Volume, np.ndarray, RealismMetrics]:
    """The bundled real study, its LV wall mask and its realism numbers."""
    image_path, mask_path = sample_study()
    volume = read_volume(image_path)
    wall = read_volume(mask_path).array > 0
    metrics = measure(volume, wall, cavity_from_wall(wall), liver_from_counts(volume.array, wall),
                      np.ones_like(wall))
    return volume, wall, metrics


def measure_phantom(study) -> RealismMetrics:
    """Realism numbers of a phantom from its own labels (wall, blood pool, liver)."""
    labels, values = study.labels.labels.array, study.label_values
    tissue = np.isin(labels, [values["body"], values["lungs"]])
    return measure(study.image, labels == values["LV_myocardium"], labels == values["LV_blood_pool"],
                   labels == values["liver"], tissue)


def write_realism_report(folder: str | Path, phantoms: int = 20, config: Optional[PhantomConfig] = None,
                         progress: Optional[ProgressCallback] = None) -> tuple[Path, Path, str]:
    """Measure the real study and `phantoms` held-out phantoms; write realism.md and figures/realism.png."""
    from SPECTFewShotLib.research.phantom import generate_study

    folder = Path(folder)
    real_volume, real_wall, real = measure_real_study()
    rows, shown, seconds = [], [], []
    for number, seed in enumerate(held_out_seeds(phantoms)):
        report(progress, number / phantoms, f"phantom {seed}")
        start = time.perf_counter()
        study = generate_study(seed, config)
        seconds.append(time.perf_counter() - start)
        rows.append((seed, study.metadata["protocol"]["camera"], measure_phantom(study)))
        if len(shown) < FIGURE_PHANTOMS:
            shown.append(study)
    table = realism_table(real, rows)
    figure = folder / "figures" / "realism.png"
    draw_figure(real_volume, real_wall, shown, figure)
    draw_labels_figure(shown, folder / "figures" / "realism_labels.png")
    markdown = folder / "realism.md"
    write_text_atomic(markdown, realism_markdown(real, rows, table, config, seconds))
    report(progress, 1.0, "done")
    return markdown, figure, table


def _summary(values: list[float], fmt: str) -> str:
    values = [v for v in values if np.isfinite(v)]
    if not values:
        return "n/a"
    return f"{fmt.format(statistics.median(values))} [{fmt.format(min(values))}–{fmt.format(max(values))}]"


def realism_table(real: RealismMetrics, rows: list[tuple[int, str, RealismMetrics]]) -> str:
    """Markdown table: the real study, all phantoms and each camera type (median [min–max])."""
    header = "| | " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 1)]
    real_values = real.as_dict()
    lines.append("| real study (CZT, rest) | " + " | ".join(fmt.format(real_values[key]) for key, _, fmt in COLUMNS)
                 + " |")
    groups = [("all phantoms", rows)] + [(f"{camera} phantoms", [r for r in rows if r[1] == camera])
                                         for camera in ("czt", "parallel")]
    for name, group in groups:
        if not group:
            continue
        cells = [_summary([getattr(m, key) for _, _, m in group], fmt) for key, _, fmt in COLUMNS]
        lines.append(f"| {name} (n = {len(group)}) | " + " | ".join(cells) + " |")
    inside = []
    for key, _title, _ in COLUMNS:
        values = [getattr(m, key) for _, _, m in rows if np.isfinite(getattr(m, key))]
        within = bool(values) and min(values) <= real_values[key] <= max(values)
        inside.append("yes" if within else "**no**")
    lines.append("| real within the phantoms' range? | " + " | ".join(inside) + " |")
    return "\n".join(lines)


def realism_markdown(real: RealismMetrics, rows: list[tuple[int, str, RealismMetrics]], table: str,
                     config: Optional[PhantomConfig], seconds: list[float]) -> str:
    """The realism document: how it was made, the figure, the table and the remaining differences."""
    seeds = [seed for seed, _, _ in rows]
    setting = "default settings (`PhantomConfig()`)" if config is None else f"`{config}`"
    from SPECTFewShotLib.research.provenance import provenance_line

    return "\n".join([
        provenance_line(),
        "",
        "# How realistic are the phantoms?",
        "",
        "Written by the command above (do not edit by hand). Phantoms: held-out seeds "
        f"{seeds[0]}–{seeds[-1]} ({len(seeds)} studies, {setting}); real: the bundled PhysioNet MPS study "
        "(GE Discovery NM 530c CZT, rest Tc-99m sestamibi) with its LV-wall mask. The simulator was tuned by "
        "looking at training seeds (0–19) against these numbers; the held-out seeds shown here were not looked at "
        "while tuning, and the real study is a sanity reference, not a fitting target.",
        "",
        "![Real study and phantoms](figures/realism.png)",
        "",
        "Rows: the real study, then the first held-out phantoms. Columns: axial, coronal and sagittal planes "
        "through the LV centre (patient's right on the image left, anterior/superior up). Every image is divided "
        "by the 90th percentile of its own LV-wall counts and shown in the same window "
        f"[{WINDOW[0]:g}, {WINDOW[1]:g}] (units differ: the real study is scaled int16 counts, phantoms are OSEM "
        "counts).",
        "",
        "The same phantoms' ground truth: labels in the same three planes, landmarks (+) projected onto them "
        "(white: LV centre, apex, base; cyan: RV insertion points):",
        "",
        "![Phantom labels and landmarks](figures/realism_labels.png)",
        "",
        "## Realism numbers (median [min–max])",
        "",
        table,
        "",
        "How each number is measured, identically on both (SPECTFewShotLib/phantom/realism.py):",
        "",
        "- **myocardium / blood pool** and **myocardium / liver**: ratios of median counts in the LV wall, the LV "
        "cavity and the liver. Phantoms use their labels; the real study uses its wall mask, the cavity = convex "
        "hull of the mask minus the wall, and the liver = the largest region hotter than 60 % of the wall maximum "
        "in the patient's right half, outside the wall.",
        "- **noise: liver CV**: standard deviation / mean in the liver eroded by two voxels. It includes slow "
        "intensity changes inside the liver (attenuation with depth when not corrected), not only noise.",
        "- **wall FWHM**: median full width at half maximum of radial profiles across the LV wall at "
        "mid-ventricle (half maximum above the lowest value on each side of the peak): true wall thickness and "
        "effective resolution together.",
        "- **background / myocardium**: median counts of the tissue outside the heart and the liver (phantoms: "
        "body and lung labels; real: every voxel with counts), at least two voxels from the wall, cavity and "
        "liver, over the wall's median.",
        "- **hot extra-cardiac**: millilitres outside the LV wall hotter than half the myocardial maximum "
        "(liver, gut, ...), what makes tissue classification hard. It grows with the field of view: the real "
        "study covers 280 x 280 x 200 mm, phantoms 256–435 mm in-plane and axially.",
        "",
        "## Where the phantoms still differ from the real study",
        "",
        "- **Camera geometry**: the real study comes from a stationary multi-pinhole CZT camera with a focused "
        "field of view; the simulator models every camera as a 180-degree parallel-beam acquisition whose "
        "depth-dependent Gaussian blur has the camera's resolution (CZT: 5–7 mm, nearly constant with depth). "
        "Truncation is simulated (CZT phantoms are reconstructed only inside a heart-centred cylinder, so "
        "activity outside it piles up at its edge like the bright rim of the real study), pinhole-specific "
        "artefacts and limited-angle distortions of the real camera are not.",
        "- **Anatomy**: organs are ellipsoids and superellipses; their uptake is uniform apart from a smooth "
        "random texture (and, in the myocardium, a regional variation and an optional defect). Real organs have "
        "irregular shapes and sharper internal structure; there is no gallbladder, no bowel content, no "
        "papillary muscles, and motion is a Gaussian blur (cardiac 3–8 mm, respiratory 0–12 mm along z), not "
        "a moving anatomy.",
        "- **Ratios by camera**: CZT phantoms have more myocardium-to-blood-pool contrast than the real CZT "
        "study (median 2.2 against 1.8 in the last run) and parallel-hole phantoms less; the real study's wall "
        "FWHM lies near the top of the phantoms' range.",
        "- **Scatter** is a broad Gaussian of the primary projections (scatter-to-primary 0.2–0.4), corrected "
        "with its exact expectation when scatter correction is drawn; real triple-energy-window estimates are "
        "noisy.",
        "- **Reconstruction**: OSEM with a Gaussian post-filter; vendor reconstructions (e.g. the CZT camera's "
        "iterative MAP reconstruction with Butterworth filtering) have a different noise texture.",
        "- Any number above marked **no** lies outside the phantoms' range; see the table.",
        "",
        "## How the phantoms are made",
        "",
        "`generate_study(seed, config)` in `SPECTFewShotLib/phantom/` (`spectfewshot phantom --seed N -o DIR` "
        "writes it to files), every step drawn from the seed:",
        "",
        "1. **Anatomy** (`anatomy.py`, `heart.py`): superelliptic torso with spine and optional breasts, lungs, "
        "liver placed 0–30 mm below the LV epicardium, stomach, spleen, kidneys, 0–4 hot bowel loops; LV "
        "myocardium as a thick half-ellipsoidal cup open at the valve plane (cavity radius 20–29 mm, length "
        "55–75 mm, wall 16–22 mm as SPECT masks draw it, thinner apex), long axis 30–65 degrees from the left "
        "toward anterior and "
        "10–40 degrees below horizontal, RV crescent wrapping the septum, atrial blood beyond the valve plane, "
        "and in 40 % of studies a perfusion defect (25–70 % less uptake) in the LAD, RCA or LCx territory.",
        "2. **Uptake** (`uptake.py`, `texture.py`, `motion.py`): rest Tc-99m sestamibi ratios to myocardium "
        "(blood 0.05–0.14, body 0.10–0.18, liver 0.25–0.9, bowel 0.25–1.0, ...), a smooth random texture in "
        "the organs outside "
        "the heart, and the blur of cardiac (2–6 mm) and respiratory (0–12 mm along z) motion of an ungated "
        "study; activity and attenuation are averaged over 2x2x2 sub-voxels at tissue boundaries.",
        "3. **Acquisition** (`physics/`): 60 views over 180 degrees (RAO 45 to LPO 45), circular or "
        "body-contouring orbit, a rotation-based projector in torch with attenuation (narrow-beam 140 keV "
        "coefficients) and depth-dependent Gaussian collimator blur in 8 depth slabs: parallel-hole cameras "
        "8–15 mm FWHM at the heart (LEHR-like growth with distance), CZT cameras 5–7 mm (nearly constant); "
        "scatter (scatter-to-primary 0.2–0.4) as a broad blur of the primaries; Poisson counts, 2–8 million "
        "(parallel-hole) or 4–12 million (CZT).",
        "4. **Reconstruction** (`reconstruction.py`): OSEM with the matched back-projector, 2–5 iterations of "
        "10 subsets, with or without attenuation correction, scatter correction and resolution recovery "
        "(drawn), a Gaussian post-filter (7–13 mm parallel-hole, 6–11 mm CZT); CZT studies are reconstructed "
        "only inside a heart-centred "
        "cylinder (truncation, as on focused CZT cameras) and masked to it. Output: 64^3 voxels of 4–6.8 mm "
        "(256–435 mm field of view), or with `real_like_config()` 70 x 70 x 50 CZT voxels like the shared real "
        "studies; LPS with k toward inferior like the real study.",
        "",
        "Real OSEM was chosen over a resolution-and-noise model because it meets the time: the generation time "
        f"of the phantoms above was {statistics.median(seconds):.1f} s median "
        f"({min(seconds):.1f}–{max(seconds):.1f} s) on one CPU thread while other jobs shared the machine "
        "(`spectfewshot bench phantom` measures it per camera type).",
        "",
    ])


def _canonical(array: np.ndarray, direction: tuple) -> np.ndarray:
    """The array flipped so that i runs to the patient's left, j posterior, k superior."""
    signs = axis_signs(direction)
    for axis_ijk, sign in enumerate(signs):
        if sign < 0:
            array = np.flip(array, axis=2 - axis_ijk)
    return array


def _planes(volume: Volume, wall: np.ndarray) -> list[np.ndarray]:
    """Axial, coronal and sagittal planes through the wall's centroid, normalised and display-oriented."""
    image = _canonical(volume.array.astype(np.float32), volume.direction)
    mask = _canonical(wall, volume.direction)
    image = image / float(np.percentile(image[mask], 90))
    k, j, i = (round(c) for c in np.argwhere(mask).mean(axis=0))
    axial = image[k, :, :]  # rows: anterior -> posterior, columns: right -> left (radiological)
    coronal = image[::-1, j, :]  # rows: superior -> inferior
    sagittal = image[::-1, :, i]  # rows: superior -> inferior, columns: anterior -> posterior
    return [axial, coronal, sagittal]


def draw_figure(real: Volume, real_wall: np.ndarray, studies: list, path: Path) -> Path:
    """Rows: the real study and the phantoms; columns: three planes through the LV; same window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [("real study (CZT)", real, real_wall)]
    for study in studies:
        labels = study.labels.labels.array == study.label_values["LV_myocardium"]
        protocol = study.metadata["protocol"]
        title = (f"phantom {study.seed} ({protocol['camera']}, {protocol['system_fwhm_mm']:.0f} mm, "
                 f"{protocol['counts'] / 1e6:.1f} M counts)")
        rows.append((title, study.image, labels))
    fig, axes = plt.subplots(len(rows), 3, figsize=(9.5, 3.2 * len(rows)))
    for row, (title, volume, wall) in enumerate(rows):
        spacing = volume.spacing[0]
        for column, (plane, name) in enumerate(zip(_planes(volume, wall), ("axial", "coronal", "sagittal"))):
            ax = axes[row, column]
            height, width = plane.shape
            ax.imshow(plane, cmap="gray", vmin=WINDOW[0], vmax=WINDOW[1],
                      extent=(0, width * spacing, height * spacing, 0), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name}", fontsize=9)
            if column == 0:
                ax.set_ylabel(title, fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    return path


def draw_labels_figure(studies: list, path: Path) -> Path:
    """Rows: the phantoms; columns: label maps in three planes through the LV, landmarks projected onto them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from SPECTFewShotLib.io.segmentation_io import default_color

    fig, axes = plt.subplots(len(studies), 3, figsize=(9.5, 3.2 * len(studies) + 0.8), squeeze=False)
    for row, study in enumerate(studies):
        values = study.label_values
        top = max(values.values())
        colors = [(0.0, 0.0, 0.0)] * (top + 1)
        for name, value in values.items():
            colors[value] = default_color(name, value)
        labels = _canonical(study.labels.labels.array, study.labels.labels.direction)
        wall = labels == values["LV_myocardium"]
        k, j, i = (round(c) for c in np.argwhere(wall).mean(axis=0))
        size_k = labels.shape[0]
        planes = [labels[k], labels[::-1, j, :], labels[::-1, :, i]]
        spacing = study.image.spacing[0]
        points = []
        for landmark in study.landmarks:
            ijk = study.image.lps_to_index(landmark.position_lps)
            ci, cj, ck = _canonical_index(ijk, study.image)
            points.append((landmark.label, ci, cj, size_k - 1 - ck))
        for column, plane in enumerate(planes):
            ax = axes[row, column]
            height, width = plane.shape
            ax.imshow(plane, cmap=ListedColormap(colors), vmin=0, vmax=top, interpolation="nearest",
                      extent=(-0.5, width - 0.5, height - 0.5, -0.5))
            for label, ci, cj, up in points:
                x, y = ((ci, cj), (ci, up), (cj, up))[column]
                ax.plot(x, y, "+", color="white" if label.startswith("LV") else "cyan", markersize=9, mew=2)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(("axial", "coronal", "sagittal")[column], fontsize=9)
            if column == 0:
                ax.set_ylabel(f"phantom {study.seed} ({spacing:.1f} mm voxels)", fontsize=8)
    names = sorted(studies[0].label_values, key=studies[0].label_values.get)
    handles = [Patch(color=default_color(n, studies[0].label_values[n]), label=n) for n in names]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    return path


def _canonical_index(ijk: np.ndarray, volume: Volume) -> tuple[float, float, float]:
    """Continuous (i, j, k) of a point in the canonical (flipped) arrays of `_canonical`."""
    signs = axis_signs(volume.direction)
    size = volume.size
    return tuple(float(c if sign > 0 else size[axis] - 1 - c) for axis, (c, sign) in enumerate(zip(ijk, signs)))
