"""Another camera's conventions change nothing: the product is judged on studies from other cameras, whose counts
come in another scale (counts, kBq/mL, a vendor's rescaled integers) and whose arrays may be stored in another axis
order with the same anatomy in the same place. Classification and template-free landmarks must not depend on either:
a count threshold written into a stage, or a step that reads the array's axes instead of the patient's, fails here."""

import unittest

import numpy as np

from SPECTFewShotLib.classification.session import StudySession
from SPECTFewShotLib.landmarks.staged import Localizer
from SPECTFewShotLib.volume import Volume
from Testing.fixtures import SPACING, make_volume, ring_volume, study, support_from, tiny_network

SCALES = (1e-3, 7.0, 1000.0)


def scaled(volume: Volume, factor: float) -> Volume:
    """The same study with every count multiplied by `factor`."""
    return volume.with_array((np.asarray(volume.array, dtype=np.float64) * factor).astype(np.float32))


class AxisReversedTest(unittest.TestCase):
    def test_every_voxel_keeps_its_value_at_its_place_in_the_patient(self):
        volume = make_volume()  # an oblique grid of unequal sizes and spacings
        kji = np.argwhere(np.ones(volume.array.shape, dtype=bool))
        places = volume.index_to_lps(kji[:, ::-1].astype(float))
        for axis in (0, 1, 2):
            with self.subTest(axis=axis):
                other = volume.with_axis_reversed(axis)
                self.assertFalse(np.array_equal(other.array, volume.array))
                moved = kji.copy()
                moved[:, axis] = volume.array.shape[axis] - 1 - moved[:, axis]
                np.testing.assert_allclose(other.index_to_lps(moved[:, ::-1].astype(float)), places, atol=1e-6)
                np.testing.assert_array_equal(other.array[tuple(moved.T)], volume.array[tuple(kji.T)])


class ClassificationCountScaleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.volume, cls.classes = ring_volume(size=24)
        cls.reference = cls.classify(cls.volume)

    @classmethod
    def classify(cls, volume: Volume):
        from SPECTFewShotLib.protonet.embedding import TorchSlabEmbedder

        session = StudySession(device="cpu", network=TorchSlabEmbedder(tiny_network()))
        session.set_volume(volume)
        session.set_support(support_from(volume, cls.classes, [7, 12, 16]))
        return session.predict("full")

    def test_labels_and_probabilities_do_not_depend_on_the_count_scale(self):
        self.assertTrue(np.any(self.reference.labels.labels.array == 3))  # the cavity is found at all
        for factor in SCALES:
            with self.subTest(factor=factor):
                result = self.classify(scaled(self.volume, factor))
                np.testing.assert_array_equal(result.labels.labels.array, self.reference.labels.labels.array)
                np.testing.assert_allclose(np.asarray(result.probabilities), np.asarray(self.reference.probabilities),
                                           atol=1e-6)


class LandmarksCameraConventionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.volume, *_ = study()
        cls.reference = cls.place(cls.volume)

    @staticmethod
    def place(volume: Volume) -> dict[str, np.ndarray]:
        return {lm.label: np.asarray(lm.position_lps) for lm in Localizer().place(volume, []).landmarks}

    def test_landmarks_do_not_depend_on_the_count_scale(self):
        for factor in SCALES:
            with self.subTest(factor=factor):
                placed = self.place(scaled(self.volume, factor))
                for label, position in self.reference.items():
                    np.testing.assert_allclose(placed[label], position, atol=1e-3, err_msg=label)

    def test_landmarks_do_not_depend_on_the_axes_storage_order(self):
        for axis in (0, 2):
            with self.subTest(axis=axis):
                placed = self.place(self.volume.with_axis_reversed(axis))
                for label, position in self.reference.items():
                    self.assertLess(np.linalg.norm(placed[label] - position), SPACING, label)


if __name__ == "__main__":
    unittest.main()
