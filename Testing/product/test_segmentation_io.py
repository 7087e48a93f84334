"""Labelmaps and Slicer segmentation files keep grid, label values, names and colors; Slicer reads them."""

import tempfile
import unittest
from pathlib import Path

import numpy as np

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.io.segmentation_io import (
    Segmentation,
    SegmentInfo,
    color_table_path,
    read_segmentation,
    write_segmentation,
)
from SPECTFewShotLib.io.volume_io import read_volume
from SPECTFewShotLib.resources import sample_study

SEGMENTS = (SegmentInfo(3, "LV_myocardium", (0.85, 0.40, 0.31)), SegmentInfo(7, "background", (0.2, 0.6, 0.9)))


def sample_segmentation() -> Segmentation:
    """The real study's wall mask as label 3, plus a background slab as label 7."""
    _, mask_path = sample_study()
    mask = read_volume(mask_path)
    labels = np.where(mask.array > 0, 3, 0).astype(np.int32)
    labels[:, :6, :] = 7
    return Segmentation(mask.with_array(labels), SEGMENTS)


class SegmentationFilesTest(unittest.TestCase):
    def test_real_study_labels_reopen_with_grid_names_and_colors(self):
        original = sample_segmentation()
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("labels.seg.nrrd", "labels.nrrd", "labels.nii.gz"):
                path = write_segmentation(original, Path(tmp) / name)
                back = read_segmentation(path)
                self.assertEqual(back.labels.grid_differences(original.labels), [], name)
                np.testing.assert_array_equal(back.labels.array, original.labels.array)
                self.assertEqual([s.label for s in back.segments], [3, 7])
                self.assertEqual([s.name for s in back.segments], ["LV_myocardium", "background"])
                for got, want in zip(back.segments, SEGMENTS):
                    np.testing.assert_allclose(got.color, want.color, atol=1 / 255)
            self.assertTrue(color_table_path(Path(tmp) / "labels.nii.gz").exists())

    def test_slicer_reads_the_seg_nrrd_with_names_colors_and_values(self):
        slicer = _slicer_or_skip(self)
        with tempfile.TemporaryDirectory() as tmp:
            path = write_segmentation(sample_segmentation(), Path(tmp) / "s.seg.nrrd")
            scene = slicer.vtkMRMLScene()
            node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
            storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
            storage.SetFileName(str(path))
            self.assertTrue(storage.ReadData(node))
            segmentation = node.GetSegmentation()
            found = {}
            for index in range(segmentation.GetNumberOfSegments()):
                segment = segmentation.GetNthSegment(index)
                found[segment.GetName()] = (tuple(segment.GetColor()), segment.GetLabelValue())
            self.assertEqual(set(found), {"LV_myocardium", "background"})
            np.testing.assert_allclose(found["LV_myocardium"][0], (0.85, 0.40, 0.31), atol=1e-4)
            self.assertEqual(found["background"][1], 7)

    def test_multi_layer_and_overlapping_segments(self):
        import SimpleITK as sitk

        base = sample_segmentation().labels
        layers = np.zeros((*base.array.shape, 2), dtype=np.uint8)
        layers[10:20, 10:20, 10:20, 0] = 1
        layers[15:25, 15:25, 15:25, 1] = 1  # overlaps the first segment in a cube of 5^3 voxels
        image = sitk.GetImageFromArray(layers, isVector=True)
        image.CopyInformation(base.to_sitk())
        for index, name in enumerate(("a", "b")):
            image.SetMetaData(f"Segment{index}_ID", name)
            image.SetMetaData(f"Segment{index}_Name", name)
            image.SetMetaData(f"Segment{index}_LabelValue", "1")
            image.SetMetaData(f"Segment{index}_Layer", str(index))
            image.SetMetaData(f"Segment{index}_Color", "0.1 0.2 0.3")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "layers.seg.nrrd"
            sitk.WriteImage(image, str(path), True)
            back = read_segmentation(path)
        self.assertEqual([(s.label, s.name) for s in back.segments], [(1, "a"), (2, "b")])
        self.assertEqual(int((back.labels.array == 1).sum()), 1000 - 125)
        self.assertEqual(int((back.labels.array == 2).sum()), 1000 - 125)

    def test_fractional_or_negative_labelmaps_are_refused(self):
        base = sample_segmentation().labels
        from SPECTFewShotLib.io.volume_io import write_volume

        with tempfile.TemporaryDirectory() as tmp:
            frac = write_volume(base.with_array(base.array * 0.5), Path(tmp) / "f.nrrd")
            with self.assertRaises(InputError):
                read_segmentation(frac)
            neg = write_volume(base.with_array(-base.array), Path(tmp) / "n.nrrd")
            with self.assertRaises(InputError):
                read_segmentation(neg)


def _slicer_or_skip(test):
    try:
        import slicer
    except ImportError:
        test.skipTest("slicer-core is not installed")
    return slicer


if __name__ == "__main__":
    unittest.main()
