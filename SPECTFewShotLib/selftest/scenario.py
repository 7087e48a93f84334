"""The Slicer module's end-to-end scenario on a scene: its self-test runs it inside Slicer, pytest on slicer-core.

Load the bundled real study, paint the protocol's slices, classify, paint one more stroke and classify again
(features reused), place landmarks (template: the study with landmarks derived from its LV-wall mask) in the study,
in a translated copy of it (they must move by exactly the translation, with the LV long-axis line) and in a copy
turned 20 degrees about an oblique axis and shifted (they must move the same way within one voxel), in the LV frame
of the classified wall, measure, and check every output. It uses shipped files only. Nothing is downloaded; it
takes the scene it is given.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Optional

import numpy as np

from ..cardiac_landmarks import lv_landmarks
from ..io.markups_io import Landmark
from ..io.segmentation_io import Segmentation, read_segmentation, segments_for
from ..io.volume_io import read_volume, require_counts
from ..mrml import (
    SceneLogic,
    landmarks_from_node,
    landmarks_to_node,
    node_fingerprint,
    paint_segment,
    segment_infos,
    segmentation_from_node,
    segmentation_to_node,
    table_rows,
    volume_from_node,
    volume_to_node,
)
from ..resources import sample_study
from ..runtime.progress import ProgressCallback, report
from ..vocabulary import TISSUE_BY_NAME
from ..volume import Volume
from .painting import paint_slices, quartile_slices, unpainted_slices

log = logging.getLogger(__name__)

# The painting's two classes by their values in a segmentation node (1, 2, ... in segment order).
MYOCARDIUM, BACKGROUND = 1, 2
CLASS_NAMES = {MYOCARDIUM: TISSUE_BY_NAME["LV_myocardium"].name, BACKGROUND: TISSUE_BY_NAME["background"].name}
# A floor that catches broken plumbing (a flipped or shifted grid, classes swapped, a network that did not load),
# not an accuracy claim: accuracy is measured by `spectfewshot evaluate`. Myocardium Dice on the unpainted slices
# of the real study with the protocol's three painted slices: an untrained network scores 0.2-0.4 there, GrowCut
# 0.869; pytest also checks that the value equals the command line's to the last voxel.
MIN_DICE_UNPAINTED = 0.5
# Landmarks placed in a translated copy of a study must move by the same vector, within this distance.
MAX_TRANSLATION_DISCREPANCY_MM = 0.5
# The translation, in whole voxels so that the voxels themselves are identical.
TRANSLATION_VOXELS = (3, -2, 4)
# A rigidly moved copy (its grid turned about the field of view's centre about an oblique axis, then shifted; the
# voxels untouched): the template's landmarks must come back moved the same way, within one voxel.
ROTATION_AXIS, ROTATION_DEGREES = (1.0, 1.0, 1.0), 20.0
ROTATION_SHIFT_MM = (12.0, -8.0, 16.0)
TEMPLATE_LANDMARKS_NAME = "patient001 landmarks (from the LV-wall mask)"


class ScenarioCheckFailed(AssertionError):
    """An output of the scenario is wrong (a regression); the message says which and by how much."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ScenarioCheckFailed(message)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks (1.0 when both are empty)."""
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


def run_scenario(scene: Any, model: Optional[str] = None,
                 device: str = "auto", localize: bool = True, progress: Optional[ProgressCallback] = None) -> dict:
    """Run the scenario on `scene`; raises ScenarioCheckFailed on a wrong output, returns the numbers measured."""
    logic = SceneLogic(scene, model=model, device=device)
    result: dict = {"nodes": {}}
    report(progress, 0.0, "loading the bundled study")
    classification = _classification_part(scene, logic, result, progress)
    result.update(classification)
    if localize:
        result.update(_localization_part(scene, logic, result, progress))
        result.update(_views_part(scene, result, progress))
    report(progress, 0.95, "measuring")
    nodes = result["nodes"]
    table = logic.measure(nodes["volume"], nodes["classes"])
    rows = {name: (value, unit) for name, value, unit in table_rows(table)}
    expected_ml = float((classification["updated_labels"] == MYOCARDIUM).sum()) * classification["voxel_ml"]
    _check(abs(rows.get(f"{CLASS_NAMES[MYOCARDIUM]} volume", (-1.0, ""))[0] - expected_ml) < 1e-6,
           "the table's myocardium volume is not that of the output")
    nodes["table"] = table
    result["table"] = rows
    if localize:
        landmark_table = logic.measure(nodes["target"], None, nodes["landmarks"])
        landmark_rows = {name: (value, unit) for name, value, unit in table_rows(landmark_table)}
        found = {m.label: np.asarray(m.position_lps) for m in result["landmarks"]}
        if {"LV_apex", "LV_base"} <= set(found):
            length = float(np.linalg.norm(found["LV_apex"] - found["LV_base"]))
            _check(abs(landmark_rows["LV length (LV_apex to LV_base)"][0] - length) < 1e-6,
                   "the table's LV length is not the apex-to-base distance")
        nodes["landmark_table"] = landmark_table
        result["landmark_table"] = landmark_rows
    report(progress, 1.0, "scenario passed")
    return result


def _classification_part(scene: Any, logic: SceneLogic, result: dict,
                         progress: Optional[ProgressCallback]) -> dict:
    image_path, mask_path = sample_study()
    volume = require_counts(read_volume(image_path), image_path.name)
    wall = read_segmentation(mask_path).labels.array > 0
    volume_node = volume_to_node(volume, scene, "PhysioNet MPS patient001")
    reference = Segmentation(volume.with_array(wall.astype(np.int32)), segments_for([MYOCARDIUM], CLASS_NAMES))
    segmentation_to_node(reference, scene, "patient001 reference LV wall", reference_volume_node=volume_node)

    report(progress, 0.05, "painting the protocol's slices")
    slices = quartile_slices(wall)
    support_labels = paint_slices(np.where(wall, MYOCARDIUM, BACKGROUND).astype(np.int32), slices)
    support = Segmentation(volume.with_array(support_labels), segments_for([MYOCARDIUM, BACKGROUND], CLASS_NAMES))
    painted_node = segmentation_to_node(support, scene, "patient001 painting", reference_volume_node=volume_node)
    volume_print, painted_print = node_fingerprint(volume_node), node_fingerprint(painted_node)

    report(progress, 0.1, "classifying (features computed once)")
    start = time.perf_counter()
    output = logic.classify(volume_node, painted_node)
    first_s = time.perf_counter() - start
    _check(node_fingerprint(volume_node) == volume_print, "classify modified the input volume")
    _check(node_fingerprint(painted_node) == painted_print, "classify modified the painted segmentation")
    _check(output is not painted_node and output is not volume_node, "classify wrote into an input node")
    _check([(i.name, i.color) for _, i in segment_infos(output)]
           == [(i.name, i.color) for _, i in segment_infos(painted_node)],
           "the output's segments do not carry the painted names and colors")
    labels = segmentation_from_node(output, volume_node).labels.array
    unpainted = unpainted_slices(wall.shape, slices)
    score = dice(labels[unpainted] == MYOCARDIUM, wall[unpainted])
    _check(score >= MIN_DICE_UNPAINTED,
           f"myocardium Dice on the unpainted slices {score:.3f} is below {MIN_DICE_UNPAINTED}")

    report(progress, 0.45, "painting a stroke and classifying again")
    stroke_slice = (slices[0] + slices[1]) // 2
    stroke = np.zeros(wall.shape, dtype=bool)
    rows = np.nonzero(wall[stroke_slice].any(axis=1))[0]
    stroke[stroke_slice, : int(np.median(rows)) + 1] = wall[stroke_slice, : int(np.median(rows)) + 1]
    _check(bool(stroke.any()), "the stroke slice holds no myocardium")
    paint_segment(painted_node, CLASS_NAMES[MYOCARDIUM], stroke, volume_node)
    painted_print = node_fingerprint(painted_node)
    computations = logic.feature_computations
    start = time.perf_counter()
    updated = logic.classify(volume_node, painted_node, output)
    update_s = time.perf_counter() - start
    _check(updated is output, "the update did not write into the same output node")
    _check(logic.feature_computations == computations, "the update computed the features again")
    _check(node_fingerprint(volume_node) == volume_print, "the update modified the input volume")
    _check(node_fingerprint(painted_node) == painted_print, "the update modified the painted segmentation")
    updated_labels = segmentation_from_node(output, volume_node).labels.array
    _check(bool(np.all(updated_labels[stroke] == MYOCARDIUM)), "voxels painted as myocardium are not myocardium")

    result["nodes"].update(volume=volume_node, painting=painted_node, classes=output)
    return {
        "painted_slices": slices,
        "stroke_slice": stroke_slice,
        "dice_unpainted": score,
        "labels": labels,
        "updated_labels": updated_labels,
        "voxel_ml": volume.voxel_volume_ml,
        "first_classify_s": first_s,
        "update_classify_s": update_s,
        "update_timings": dict(logic.timings),
        "feature_computations": logic.feature_computations,
    }


def _localization_part(scene: Any, logic: SceneLogic, result: dict,
                       progress: Optional[ProgressCallback]) -> dict:
    volume_node = result["nodes"]["volume"]
    study = logic.read_volume(volume_node)
    _, mask_path = sample_study()
    template_landmarks = lv_landmarks(read_segmentation(mask_path).labels)
    template_markups = landmarks_to_node(template_landmarks, scene, TEMPLATE_LANDMARKS_NAME)
    template_print = node_fingerprint(volume_node)

    report(progress, 0.65, "placing the landmarks in the study")
    in_place = landmarks_from_node(logic.localize(volume_node, volume_node, template_markups))
    report(progress, 0.75, "placing them in a translated copy of it")
    shift = study.direction_matrix @ (np.asarray(TRANSLATION_VOXELS) * np.asarray(study.spacing))
    moved = Volume(study.array, study.spacing, tuple(np.asarray(study.origin) + shift), study.direction)
    moved_node = volume_to_node(moved, scene, "patient001 translated")
    found_node = logic.localize(moved_node, volume_node, template_markups)
    _check(node_fingerprint(volume_node) == template_print, "localize modified the template volume")
    found = landmarks_from_node(found_node)
    _check([m.label for m in found] == [m.label for m in template_landmarks],
           "the landmarks found do not carry the template's labels")
    _check(all(m.confidence is not None and 0.0 <= m.confidence <= 1.0 for m in found),
           "a landmark has no confidence in [0, 1]")
    outside = [m.label for m in found if not moved.contains_lps(m.position_lps)]
    _check(not outside, f"landmarks {', '.join(outside)} were placed outside the volume")
    discrepancy = max(float(np.linalg.norm(np.subtract(b.position_lps, a.position_lps) - shift))
                      for a, b in zip(in_place, found))
    _check(discrepancy <= MAX_TRANSLATION_DISCREPANCY_MM,
           f"a translated copy moved the landmarks {discrepancy:.2f} mm away from the same translation")
    axis_node = logic.long_axis_node
    _check(axis_node is not None and axis_node.GetNumberOfControlPoints() == 2, "localize wrote no LV long-axis line")
    report(progress, 0.77, "placing them in a rotated and shifted copy of it")
    rotation_error = _moved_copy_error(scene, logic, volume_node, template_markups)
    _check(rotation_error <= min(study.spacing),
           f"a rotated and shifted copy moved the landmarks {rotation_error:.2f} mm away from the same motion (over "
           "one voxel)")
    axis_points = {axis_node.GetNthControlPointLabel(n): np.asarray(axis_node.GetNthControlPointPositionWorld(n))
                   * (-1, -1, 1) for n in range(2)}
    placed = {m.label: np.asarray(m.position_lps) for m in found}
    _check(all(float(np.linalg.norm(axis_points[name] - placed[name])) < 1e-3 for name in ("LV_base", "LV_apex")),
           "the LV long-axis line does not run from the placed LV_base to the placed LV_apex")

    report(progress, 0.8, "placing them in the LV frame of the classified wall")
    classes_node = result["nodes"]["classes"]
    logic.localize(volume_node, volume_node, template_markups, segmentationNode=classes_node)
    placement = logic.place_landmarks(study, [], myocardium=logic.read_myocardium(classes_node, volume_node))
    _check(placement.frame.source == "segmentation", "the LV frame did not come from the classified wall")
    classified = segmentation_from_node(classes_node, volume_node).labels.array == MYOCARDIUM
    own = lv_landmarks(study.with_array(classified.astype(np.uint8)))
    expected = {m.label: np.asarray(m.position_lps) for m in own}
    off = max(float(np.linalg.norm(np.asarray(m.position_lps) - expected[m.label])) for m in placement.landmarks)
    _check(off <= MAX_TRANSLATION_DISCREPANCY_MM,
           f"placed with the classification, the LV landmarks lie {off:.2f} mm from the classified wall's own")
    itself = landmarks_from_node(logic.localize(volume_node, volume_node, template_markups,
                                                segmentationNode=classes_node, templateSegmentationNode=classes_node))
    drift = max(float(np.linalg.norm(np.subtract(a.position_lps, b.position_lps)))
                for a, b in zip(itself, template_landmarks))
    _check(drift <= MAX_TRANSLATION_DISCREPANCY_MM,
           f"the template placed in itself, both frames from the same wall, moved its landmarks {drift:.2f} mm")

    result["nodes"].update(landmarks=found_node, long_axis=axis_node, template=volume_node, target=moved_node)
    return {
        "translation_shift_mm": tuple(float(v) for v in shift),
        "translation_discrepancy_mm": discrepancy,
        "rotation_discrepancy_mm": rotation_error,
        "rotation": (ROTATION_AXIS, ROTATION_DEGREES, ROTATION_SHIFT_MM),
        "classified_wall_discrepancy_mm": off,
        "landmarks": [Landmark(m.label, m.position_lps, m.confidence) for m in found],
    }


def _moved_copy_error(scene: Any, logic: SceneLogic, volume_node: Any, template_node: Any) -> float:
    """The largest distance (mm) between the template's landmarks (`template_node` on the study `volume_node`)
    placed through the scene's `localize` in a copy of the study turned by `ROTATION_DEGREES` about `ROTATION_AXIS`
    through its field of view's centre and shifted by `ROTATION_SHIFT_MM` (the grid moved, the voxels untouched),
    and the template's own landmarks moved the same way."""
    from ..cardiac_views.rotations import axis_rotation

    study, template = volume_from_node(volume_node), landmarks_from_node(template_node)
    rotation = axis_rotation(ROTATION_AXIS, ROTATION_DEGREES)
    centre = study.index_to_lps((np.asarray(study.size, dtype=float) - 1) / 2)
    shift = np.asarray(ROTATION_SHIFT_MM)

    def move(point: Any) -> np.ndarray:
        return rotation @ (np.asarray(point, dtype=float) - centre) + centre + shift

    direction = rotation @ study.direction_matrix
    moved = Volume(study.array, study.spacing, tuple(move(study.origin)), tuple(direction.ravel()))
    moved_node = volume_to_node(moved, scene, "patient001 rotated and shifted")
    placed = landmarks_from_node(logic.localize(moved_node, volume_node, template_node))
    _check([p.label for p in placed] == [t.label for t in template],
           "the landmarks placed in the moved copy do not carry the template's labels")
    return max(float(np.linalg.norm(np.asarray(p.position_lps) - move(t.position_lps)))
               for p, t in zip(placed, template))


def _views_part(scene: Any, result: dict, progress: Optional[ProgressCallback]) -> dict:
    """The cardiac views of the classified study along the placed long axis; they must follow a moved axis."""
    from ..mrml.cardiac_view_nodes import CardiacViewsLogic, segment_table_rows

    nodes = result["nodes"]
    report(progress, 0.85, "short-axis views and the polar map")
    views = CardiacViewsLogic(scene)
    views_nodes = views.setup(nodes["target"], _copy_to_grid(scene, nodes), nodes["landmarks"],
                              axis_line_node=nodes["long_axis"])
    rows = segment_table_rows(views_nodes.segment_table)
    _check([row[0] for row in rows] == list(range(1, 18)), "the polar map's table does not hold the 17 AHA segments")
    _check(all(0.0 <= row[2] <= 100.0 for row in rows), "a segment's uptake lies outside 0-100 %")
    views.observe_axis_line()
    line = nodes["long_axis"]
    base = np.asarray(line.GetNthControlPointPositionWorld(0))
    start = time.perf_counter()
    line.SetNthControlPointPositionWorld(0, *(base + np.array([4.0, -4.0, 4.0])))
    follow_s = time.perf_counter() - start
    moved = np.asarray(views.result.frame.base) * (-1, -1, 1)
    _check(float(np.linalg.norm(moved - (base + np.array([4.0, -4.0, 4.0])))) < 1e-3,
           "the cardiac views did not follow the moved long-axis line")
    line.SetNthControlPointPositionWorld(0, *base)  # back: the views return to the placed axis
    views.stop_observing()
    nodes.update(polar_table=views_nodes.segment_table, short_axis=views_nodes.short_axis)
    return {"polar_map_rows": rows, "views_follow_s": follow_s}


def _copy_to_grid(scene: Any, nodes: dict) -> Any:
    """The classification, as the views read it, moved with the translated copy the landmarks were placed in."""
    classes = segmentation_from_node(nodes["classes"], nodes["volume"])
    moved_grid = volume_from_node(nodes["target"])
    return segmentation_to_node(Segmentation(moved_grid.with_array(classes.labels.array), classes.segments), scene,
                                "patient001 translated classes", reference_volume_node=nodes["target"])
