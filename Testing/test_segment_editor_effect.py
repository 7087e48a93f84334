"""The "Few-shot SPECT" Segment Editor effect's logic on slicer-core: preview, apply, cancel, masking, export."""

import math
import tempfile
import unittest
from pathlib import Path

import numpy as np

from SPECTFewShotLib.io.segmentation_io import Segmentation, read_segmentation, segments_for
from SPECTFewShotLib.io.volume_io import read_volume, write_volume
from SPECTFewShotLib.mrml.images import image_array
from SPECTFewShotLib.mrml.scene import new_scene, node_fingerprint, slicer_module
from SPECTFewShotLib.mrml.scene_logic import SceneLogic
from SPECTFewShotLib.mrml.segment_editor_effect import FewShotEffectLogic
from SPECTFewShotLib.mrml.segmentations import segmentation_from_node, segmentation_to_node
from SPECTFewShotLib.mrml.volumes import volume_to_node
from SPECTFewShotLib.resources import sample_study
from SPECTFewShotLib.volume import Volume
from Testing.segmentation_reference import hand_written_segmentation_on_grid


def run_classify_command(*argv) -> int:
    """`spectfewshot classify ARGV...` through the command's own parser and code (stdout silenced)."""
    import argparse
    import contextlib
    import io

    from SPECTFewShotLib.commands import classify

    parser = argparse.ArgumentParser(prog="spectfewshot")
    classify.register(parser.add_subparsers())
    args = parser.parse_args(["classify", *(str(a) for a in argv)])
    with contextlib.redirect_stdout(io.StringIO()):
        return args.func(args)

NAMES = {1: "LV_myocardium", 2: "background"}


def cropped_study() -> tuple[Volume, np.ndarray]:
    """The bundled study cropped around the heart (fast to classify) and its LV-wall mask on the same grid."""
    image_path, mask_path = sample_study()
    volume, mask = read_volume(image_path), read_volume(mask_path).array > 0
    k, j, i = np.nonzero(mask)
    box = tuple(slice(max(0, low - 8), high + 9) for low, high in ((k.min(), k.max()), (j.min(), j.max()),
                                                                     (i.min(), i.max())))
    origin = volume.index_to_lps([box[2].start, box[1].start, box[0].start])
    cropped = Volume(np.ascontiguousarray(volume.array[box]), volume.spacing, tuple(origin), volume.direction)
    return cropped, mask[box]


def paint(mask: np.ndarray) -> np.ndarray:
    """Two painted axial slices: the LV wall (1) and, away from it, background (2)."""
    from scipy import ndimage

    painted = np.zeros(mask.shape, dtype=np.int32)
    far = ~ndimage.binary_dilation(mask, iterations=3)
    rows = np.nonzero(mask.any(axis=(1, 2)))[0]
    for k in (rows[len(rows) // 3], rows[2 * len(rows) // 3]):
        painted[k][mask[k]] = 1
        painted[k][far[k]] = 2
    return painted


class EffectTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.volume, cls.mask = cropped_study()
        cls.painted = paint(cls.mask)
        cls.classifier = SceneLogic(new_scene())  # one feature cache for every test, as in a session

    def setUp(self):
        self.slicer = slicer_module()
        self.scene = new_scene()
        self.volume_node = volume_to_node(self.volume, self.scene, "study")
        seeds = Segmentation(self.volume.with_array(self.painted), segments_for([1, 2], NAMES))
        self.segmentation_node = segmentation_to_node(seeds, self.scene, "painting",
                                                      reference_volume_node=self.volume_node)
        self.editor_node = self.slicer.vtkMRMLSegmentEditorNode()
        self.scene.AddNode(self.editor_node)
        self.editor_node.SetAndObserveSegmentationNode(self.segmentation_node)
        self.editor_node.SetAndObserveSourceVolumeNode(self.volume_node)
        self.logic = FewShotEffectLogic(self.editor_node, self.classifier)

    def fingerprints(self) -> dict:
        nodes = [self.scene.GetNthNode(n) for n in range(self.scene.GetNumberOfNodes())]
        return {node.GetID(): node_fingerprint(node) for node in nodes
                if node.IsA("vtkMRMLVolumeNode") or node.IsA("vtkMRMLSegmentationNode")}


class PreviewTest(EffectTestCase):
    def test_the_preview_is_what_spectfewshot_classify_gives_for_the_same_paint(self):
        self.assertIsNone(self.logic.preview_image)
        self.logic.preview()
        preview = self.logic.preview_labels()
        with tempfile.TemporaryDirectory() as tmp:
            volume_path = write_volume(self.volume, Path(tmp) / "study.nrrd")
            support = Segmentation(self.volume.with_array(self.painted), segments_for([1, 2], NAMES))
            from SPECTFewShotLib.io.segmentation_io import write_segmentation

            support_path = write_segmentation(support, Path(tmp) / "support.seg.nrrd")
            code = run_classify_command(volume_path, "--support", support_path, "-o", Path(tmp) / "out.seg.nrrd")
            self.assertEqual(code, 0)
            expected = read_segmentation(Path(tmp) / "out.seg.nrrd")
        self.assertEqual(preview.shape, expected.labels.array.shape)
        for number, segment_id in enumerate(self.logic.segment_ids, start=1):
            name = self.segmentation_node.GetSegmentation().GetSegment(segment_id).GetName()
            label = next(info.label for info in expected.segments if info.name == name)
            np.testing.assert_array_equal(preview == number, expected.labels.array == label, err_msg=name)
        wall = preview == self.logic.segment_ids.index("LV_myocardium") + 1
        dice = 2 * (wall & self.mask).sum() / (wall.sum() + self.mask.sum())
        self.assertGreater(dice, 0.5)  # a real classification, not the paint alone

    def test_one_painted_segment_is_refused_with_a_clear_message(self):
        from SPECTFewShotLib.errors import InputError

        display = self.segmentation_node.GetDisplayNode()
        display.SetSegmentVisibility("background", False)
        with self.assertRaisesRegex(InputError, "at least two"):
            self.logic.preview()


class ApplyCancelTest(EffectTestCase):
    def test_cancel_changes_nothing(self):
        before, nodes = self.fingerprints(), self.scene.GetNumberOfNodes()
        self.logic.preview()
        self.logic.cancel()
        self.assertEqual(self.fingerprints(), before)
        self.assertEqual(self.scene.GetNumberOfNodes(), nodes)
        self.assertIsNone(self.logic.preview_image)

    def test_apply_writes_the_preview_into_the_edited_segmentation_only_and_undoes(self):
        other = segmentation_to_node(Segmentation(self.volume.with_array(self.painted), segments_for([1, 2], NAMES)),
                                     self.scene, "another painting", reference_volume_node=self.volume_node)
        before = self.fingerprints()
        self.logic.preview()
        preview = self.logic.preview_labels()
        self.logic.apply()
        after = self.fingerprints()
        changed = {node_id for node_id in before if before[node_id] != after[node_id]}
        self.assertEqual(changed, {self.segmentation_node.GetID()})
        self.assertEqual(after[other.GetID()], before[other.GetID()])
        written = segmentation_from_node(self.segmentation_node, self.volume_node)
        for number, segment_id in enumerate(self.logic.segment_ids or ["LV_myocardium", "background"], start=1):
            info = next(i for i in written.segments if i.name == segment_id)
            np.testing.assert_array_equal(written.labels.array == info.label, preview == number, err_msg=segment_id)
        self.logic.undo()
        self.assertEqual(self.fingerprints()[self.segmentation_node.GetID()], before[self.segmentation_node.GetID()])

    def test_a_masked_region_stays_untouched(self):
        region = np.zeros(self.mask.shape, dtype=bool)
        region[:, :, : self.mask.shape[2] // 2] = True  # editing allowed in the left half only
        segmentation = self.segmentation_node.GetSegmentation()
        segmentation.AddEmptySegment("editable", "editable", [0.2, 0.2, 0.9])
        from SPECTFewShotLib.mrml.segmentations import paint_segment

        before_labels = segmentation_from_node(self.segmentation_node, self.volume_node)
        paint_segment(self.segmentation_node, "editable", region, self.volume_node)
        self.segmentation_node.GetDisplayNode().SetSegmentVisibility("editable", False)  # a mask, not a seed
        self.editor_node.SetMaskMode(self.slicer.vtkMRMLSegmentationNode.EditAllowedInsideSingleSegment)
        self.editor_node.SetMaskSegmentID("editable")
        self.logic.preview()
        preview = self.logic.preview_labels()
        self.assertFalse(preview[~region].any())
        self.assertTrue(preview[region].any())
        self.logic.apply()
        after = segmentation_from_node(self.segmentation_node, self.volume_node)
        for name in NAMES.values():
            old = before_labels.labels.array == next(i.label for i in before_labels.segments if i.name == name)
            new = after.labels.array == next(i.label for i in after.segments if i.name == name)
            np.testing.assert_array_equal(new[~region], old[~region], err_msg=name)
        self.assertGreater(int(new[region].sum()), int(old[region].sum()))


class SlicerExportPathTest(unittest.TestCase):
    def test_slicers_export_equals_the_hand_written_resampling_under_parent_transforms(self):
        slicer = slicer_module()
        scene = new_scene()
        rng = np.random.default_rng(2)
        volume = Volume(rng.random((12, 14, 16)).astype(np.float32), (2.0, 2.5, 3.0), (5.0, -3.0, 10.0),
                        (1, 0, 0, 0, 1, 0, 0, 0, 1))
        volume_node = volume_to_node(volume, scene, "volume")
        labels = np.zeros(volume.array.shape, dtype=np.int32)
        labels[3:8, 4:10, 5:12], labels[6:10, 2:6, 2:7], labels[1:3, 1:3, 1:3] = 1, 2, 3
        node = segmentation_to_node(Segmentation(volume.with_array(labels), segments_for([1, 2, 3], NAMES)), scene,
                                    reference_volume_node=volume_node)
        self.assertTrue(np.array_equal(segmentation_from_node(node, volume_node).labels.array, labels))

        def rotation(axis: int, angle: float, shift: tuple) -> object:
            matrix = np.eye(4)
            c, s = math.cos(angle), math.sin(angle)
            a, b = [n for n in range(3) if n != axis]
            matrix[a, a], matrix[a, b], matrix[b, a], matrix[b, b] = c, -s, s, c
            matrix[:3, 3] = shift
            transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
            transform.SetMatrixTransformToParent(slicer.util.vtkMatrixFromArray(matrix))
            return transform

        node.SetAndObserveTransformNodeID(rotation(2, 0.3, (4.2, -1.3, 2.7)).GetID())
        for moved_volume in (False, True):
            if moved_volume:
                volume_node.SetAndObserveTransformNodeID(rotation(0, -0.2, (-2.0, 3.3, 1.0)).GetID())
            before = node_fingerprint(node)
            ours = segmentation_from_node(node, volume_node)
            theirs = hand_written_segmentation_on_grid(node, volume_node)
            np.testing.assert_array_equal(ours.labels.array, theirs.labels.array)
            self.assertEqual([i.name for i in ours.segments], [i.name for i in theirs.segments])
            self.assertGreater(int((ours.labels.array != 0).sum()), 100)
            self.assertNotEqual(int((ours.labels.array != labels).sum()), 0)  # the transform moved the labels
            self.assertEqual(node_fingerprint(node), before)
        self.assertEqual(image_array(node.GetSegmentation().GetSegment("LV_myocardium").GetRepresentation(
            "Binary labelmap")).ndim, 3)


if __name__ == "__main__":
    unittest.main()
