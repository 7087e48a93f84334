"""`.seg.nrrd` files the product writes, read by slicerio and by Slicer's storage node, and slicerio's read back."""

import tempfile
import unittest
from pathlib import Path

import numpy as np

from SPECTFewShotLib.io.segmentation_io import Segmentation, SegmentInfo, read_segmentation, write_segmentation
from SPECTFewShotLib.vocabulary import PAINTING_CLASSES, TISSUE_BY_NAME
from SPECTFewShotLib.volume import Volume

try:
    import slicerio
except ImportError:  # the test extra installs it
    slicerio = None

# A tilted, anisotropic grid so that axis order, origin and direction all show in the comparison.
_ANGLE = np.deg2rad(20)
_DIRECTION = (np.cos(_ANGLE), -np.sin(_ANGLE), 0.0, np.sin(_ANGLE), np.cos(_ANGLE), 0.0, 0.0, 0.0, 1.0)
_EXPECTED_TYPES = {"LV_myocardium": "71616004", "LV_blood_pool": "87878005", "liver": "10200004",
                   "background": "85756007"}


def painted_study() -> Segmentation:
    """The four painting classes plus a segment with a name the vocabulary does not know, on a tilted grid."""
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 6, size=(7, 9, 11)).astype(np.int32)
    names = {number: name for number, name in enumerate(PAINTING_CLASSES, start=1)}
    names[5] = "scar"
    segments = tuple(SegmentInfo(value, name, (0.1 * value, 0.5, 1.0 - 0.1 * value)) for value, name in names.items())
    volume = Volume(labels, (2.0, 3.0, 4.5), (-10.0, 20.0, 5.0), _DIRECTION)
    return Segmentation(volume, segments)


@unittest.skipIf(slicerio is None, "slicerio is not installed (pip install -e .[test])")
class SlicerioRoundTripTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.study = painted_study()
        self.path = write_segmentation(self.study, Path(self.tmp.name) / "painted.seg.nrrd")

    def test_slicerio_reads_voxels_geometry_names_colors_and_terminology(self):
        read = slicerio.read_segmentation(str(self.path))
        np.testing.assert_allclose(read["ijkToLPS"], self.study.labels.index_to_lps_matrix, atol=1e-6)
        voxels = np.asarray(read["voxels"]).transpose(2, 1, 0)  # slicerio's (i, j, k) -> the library's (k, j, i)
        by_name = {segment["name"]: segment for segment in read["segments"]}
        self.assertEqual(sorted(by_name), sorted(info.name for info in self.study.segments))
        for info in self.study.segments:
            segment = by_name[info.name]
            mask = voxels == segment["labelValue"]
            np.testing.assert_array_equal(mask, self.study.labels.array == info.label, err_msg=info.name)
            np.testing.assert_allclose(segment["color"], info.color, atol=1e-5)
            if info.name in _EXPECTED_TYPES:
                terminology = segment["terminology"]
                self.assertEqual(terminology["type"][:2], ["SCT", _EXPECTED_TYPES[info.name]], info.name)
                self.assertEqual(terminology["category"][0], "SCT")
            else:
                self.assertNotIn("terminology", segment)
        myocardium = by_name["LV_myocardium"]["terminology"]
        self.assertEqual(myocardium["anatomicRegion"][:2], ["SCT", "80891009"])  # heart

    def test_slicers_storage_node_reads_the_terminology(self):
        from SPECTFewShotLib.mrml.scene import new_scene, slicer_module

        slicer = slicer_module()
        scene = new_scene()
        node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "read")
        storage = slicer.vtkMRMLSegmentationStorageNode()
        scene.AddNode(storage)
        storage.SetFileName(str(self.path))
        self.assertTrue(storage.ReadData(node))
        segmentation = node.GetSegmentation()
        self.assertEqual(segmentation.GetNumberOfSegments(), len(self.study.segments))
        for name in PAINTING_CLASSES:
            segment = segmentation.GetSegment(segmentation.GetSegmentIdBySegmentName(name))
            self.assertEqual(segment.GetTerminology(), TISSUE_BY_NAME[name].terminology)
            entry = slicer.vtkSlicerTerminologyEntry()
            self.assertTrue(slicer.vtkSlicerTerminologiesModuleLogic.DeserializeTerminologyEntry(
                segment.GetTerminology(), entry))
            self.assertEqual(entry.GetTypeObject().GetCodeValue(), _EXPECTED_TYPES[name])
            self.assertEqual(entry.GetTypeObject().GetCodingSchemeDesignator(), "SCT")

    def test_the_product_reads_what_slicerio_writes_and_keeps_its_terminology(self):
        read = slicerio.read_segmentation(str(self.path))
        scar = next(segment for segment in read["segments"] if segment["name"] == "scar")
        scar["terminology"] = slicerio.segmentation.terminology_entry_from_string(
            "Segmentation category and type - DICOM master list~SCT^49755003^Morphologically Altered Structure"
            "~SCT^443066008^Scar tissue~^^~Anatomic codes - DICOM master list~^^~^^")
        rewritten = Path(self.tmp.name) / "rewritten.seg.nrrd"
        slicerio.write_segmentation(str(rewritten), read)
        again = read_segmentation(rewritten)
        self.assertEqual(again.labels.array.shape, self.study.labels.array.shape)
        np.testing.assert_allclose(again.labels.index_to_lps_matrix, self.study.labels.index_to_lps_matrix,
                                   atol=1e-6)
        for info in self.study.segments:
            match = next(s for s in again.segments if s.name == info.name)
            np.testing.assert_array_equal(again.labels.array == match.label, self.study.labels.array == info.label)
            self.assertEqual(match.terminology_entry(), info.terminology_entry() or match.terminology)
        scar_info = next(s for s in again.segments if s.name == "scar")
        self.assertIn("SCT^443066008^Scar tissue", scar_info.terminology)
        kept = read_segmentation(write_segmentation(again, Path(self.tmp.name) / "kept.seg.nrrd"))
        self.assertEqual({s.name: s.terminology_entry() for s in kept.segments},
                         {s.name: s.terminology_entry() for s in again.segments})


if __name__ == "__main__":
    unittest.main()
