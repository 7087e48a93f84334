"""Make docs/figures/effect_preview.png headless: the "Few-shot SPECT" effect's preview on the bundled study.

Run from the repository root: `.venv/bin/python docs/figures/make_effect_preview.py`. A slicer-core scene holds
the study, a painting with two axial slices of LV wall (from the bundled mask) and background, and a segment
editor node; FewShotEffectLogic previews as the Segment Editor effect does, and the figure shows three orthogonal
slices through the LV with the preview over the counts and the painted slices outlined.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for
from SPECTFewShotLib.io.volume_io import read_volume
from SPECTFewShotLib.mrml.scene import new_scene, slicer_module
from SPECTFewShotLib.mrml.segment_editor_effect import FewShotEffectLogic
from SPECTFewShotLib.mrml.segmentations import segmentation_to_node
from SPECTFewShotLib.mrml.volumes import volume_to_node
from SPECTFewShotLib.resources import sample_study
from SPECTFewShotLib.vocabulary import TISSUE_BY_NAME

OUTPUT = Path(__file__).resolve().parent / "effect_preview.png"
NAMES = {1: "LV_myocardium", 2: "background"}


def main() -> Path:
    """Preview the bundled study from two painted slices and write the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image_path, mask_path = sample_study()
    volume, wall = read_volume(image_path), read_volume(mask_path).array > 0
    rows = np.nonzero(wall.any(axis=(1, 2)))[0]
    painted_slices = (rows[len(rows) // 3], rows[2 * len(rows) // 3])
    painted = np.zeros(wall.shape, dtype=np.int32)
    far = ~ndimage.binary_dilation(wall, iterations=4)
    for k in painted_slices:
        painted[k][wall[k]], painted[k][far[k]] = 1, 2
    slicer = slicer_module()
    scene = new_scene()
    volume_node = volume_to_node(volume, scene, "MPS_patient001")
    painting = segmentation_to_node(Segmentation(volume.with_array(painted), segments_for([1, 2], NAMES)), scene,
                                    "painting", reference_volume_node=volume_node)
    editor = slicer.vtkMRMLSegmentEditorNode()
    scene.AddNode(editor)
    editor.SetAndObserveSegmentationNode(painting)
    editor.SetAndObserveSourceVolumeNode(volume_node)
    logic = FewShotEffectLogic(editor)
    logic.preview()
    preview = logic.preview_labels()
    myocardium = preview == logic.segment_ids.index("LV_myocardium") + 1
    dice = 2 * (myocardium & wall).sum() / (myocardium.sum() + wall.sum())

    centre = [round(float(c)) for c in ndimage.center_of_mass(wall)]
    counts = volume.array.astype(float)
    views = [("axial (unpainted slice)", counts[centre[0]], myocardium[centre[0]], wall[centre[0]], None),
             ("coronal", counts[:, centre[1]], myocardium[:, centre[1]], wall[:, centre[1]], painted_slices),
             ("sagittal", counts[:, :, centre[2]], myocardium[:, :, centre[2]], wall[:, :, centre[2]], painted_slices)]
    colour = TISSUE_BY_NAME["LV_myocardium"].color
    figure, axes = plt.subplots(1, 3, figsize=(12, 4.4), facecolor="black")
    for axis, (title, plane, predicted, reference, marks) in zip(axes, views):
        axis.imshow(plane, cmap="gray", vmax=np.percentile(counts, 99.5))
        overlay = np.zeros((*plane.shape, 4))
        overlay[predicted] = (*colour, 0.55)
        axis.imshow(overlay)
        axis.contour(reference, levels=[0.5], colors=["yellow"], linewidths=0.8)
        for k in marks or ():
            axis.axhline(k, color="cyan", linewidth=0.8, linestyle="--")
        axis.set_title(title, color="white", fontsize=10)
        axis.axis("off")
    figure.suptitle(f"Few-shot SPECT effect preview, bundled study (PhysioNet MPS patient001): LV myocardium from two "
                    f"painted axial slices (cyan); yellow = reference LV wall; Dice {dice:.3f}",
                    color="white", fontsize=10)
    figure.tight_layout()
    figure.savefig(OUTPUT, dpi=110, facecolor="black")
    plt.close(figure)
    return OUTPUT


if __name__ == "__main__":
    main()
