"""ProtoNet in the default classification: the embedding runs, its prototypes reach the learner without leaking the
paint back, `--without-protonet` is the same pipeline without it, and the written probabilities are the labels'."""

import tempfile
import unittest
from pathlib import Path
from unittest import mock

import numpy as np

from SPECTFewShotLib.classification import session as session_module
from SPECTFewShotLib.classification.prior_features import CrossFittedPrior, paint_folds
from SPECTFewShotLib.classification.session import StudySession
from SPECTFewShotLib.io.segmentation_io import read_segmentation, write_segmentation
from SPECTFewShotLib.io.volume_io import write_volume
from SPECTFewShotLib.protonet.probability_io import read_probabilities
from SPECTFewShotLib.protonet.support import class_index_map, painted_voxels
from Testing.cli_runner import run_cli
from Testing.fixtures import ring_prior, ring_volume, support_from, tiny_network


class CountingNetwork:
    """Wraps an embedding network (a features.SlabEmbedder) and counts the slabs it embeds."""

    def __init__(self, network):
        self.network, self.slabs = network, 0

    def __getattr__(self, name):
        return getattr(self.network, name)

    def embed_slabs(self, slabs, trunk_scale):
        self.slabs += int(slabs.shape[0])
        return self.network.embed_slabs(slabs, trunk_scale)


class DefaultPathRunsProtoNetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.volume, cls.classes = ring_volume(size=24)
        cls.support = support_from(cls.volume, cls.classes, [7, 12, 16])

    def session(self, **options) -> tuple[StudySession, CountingNetwork]:
        from SPECTFewShotLib.protonet.embedding import TorchSlabEmbedder

        network = CountingNetwork(TorchSlabEmbedder(tiny_network()))
        session = StudySession(device="cpu", network=network, **options)
        return session, network

    def test_the_default_path_embeds_the_volume_and_reads_the_prototypes(self):
        session, network = self.session()
        session.set_volume(self.volume)
        self.assertEqual(network.slabs, self.volume.array.shape[0])  # every axial slice, once per volume
        session.set_support(self.support)
        with mock.patch.object(session_module, "CrossFittedPrior", wraps=CrossFittedPrior) as prototypes:
            session.predict("preview")  # the quick answer reads the embedding's components, not yet the prototypes
            self.assertEqual(prototypes.call_count, 0)
            for stages in ("learner", "full"):
                session.predict(stages)
            self.assertEqual(prototypes.call_count, 1)  # once per paint change, shared by the stages
            session.set_support(self.support)
            session.predict("full")
            self.assertEqual(prototypes.call_count, 2)
        self.assertEqual(session._embedding.shape[0], session.embedding_channels)
        self.assertEqual(network.slabs, self.volume.array.shape[0])  # a paint change costs no network pass

    def test_without_protonet_nothing_is_embedded(self):
        session, network = self.session(use_protonet=False)
        session.set_volume(self.volume)
        session.set_support(self.support)
        with mock.patch.object(session_module, "CrossFittedPrior", wraps=CrossFittedPrior) as prototypes:
            session.predict("full")
        self.assertEqual(network.slabs, 0)
        self.assertEqual(prototypes.call_count, 0)


class HeldOutPrototypesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.volume, cls.classes, cls.prior = ring_prior(size=24)

    def painted(self, slices):
        support = support_from(self.volume, self.classes, slices)
        self.prior.set_support(support)
        checked = self.prior._support
        painted = class_index_map(checked)
        return painted, painted_voxels(painted, checked.slices)

    def test_each_painted_slice_sees_prototypes_of_the_other_slices_only(self):
        painted, where = self.painted([7, 12, 16])
        held_out = CrossFittedPrior(self.prior, painted, where).held_out()
        all_paint = self.prior.probabilities_at(self.prior.prototypes(painted, where), where).T
        self.assertGreater(float(np.abs(held_out - all_paint).max()), 0.01)  # the leak it removes
        mine = where[:, 0] == 12
        others = self.prior.prototypes(painted, where[~mine])
        np.testing.assert_allclose(held_out[mine], self.prior.probabilities_at(others, where[mine]).T, atol=1e-5)

    def test_paint_on_one_slice_is_split_into_sectors(self):
        painted, where = self.painted([12])
        folds = paint_folds(where)
        self.assertGreaterEqual(len(np.unique(folds)), 3)
        held_out = CrossFittedPrior(self.prior, painted, where).held_out()
        all_paint = self.prior.probabilities_at(self.prior.prototypes(painted, where), where).T
        self.assertFalse(np.allclose(held_out, all_paint, atol=1e-3))


class AblationFlagAndProbabilitiesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)
        self.volume, self.classes = ring_volume(size=20)
        self.volume_path = write_volume(self.volume, self.dir / "volume.nii.gz")
        painted = support_from(self.volume, self.classes, [6, 10, 14])
        self.support = write_segmentation(painted, self.dir / "painted.seg.nrrd")

    def tearDown(self):
        self.tmp.cleanup()

    def classify(self, *extra):
        output, probabilities = self.dir / "classes.seg.nrrd", self.dir / "probabilities.nrrd"
        code, out, err = run_cli("classify", self.volume_path, "--support", self.support, "-o", output,
                                 "--probabilities", probabilities, *extra)
        self.assertEqual(code, 0, err)
        return out, read_segmentation(output).labels.array, read_probabilities(probabilities)

    def test_without_protonet_runs_and_says_so(self):
        out_with, _, _ = self.classify()
        self.assertIn("ProtoNet prototypes from the paint", out_with)
        out_without, labels, _ = self.classify("--without-protonet")
        self.assertNotIn("ProtoNet", out_without)
        self.assertIn("per-study learner and graph cut", out_without)
        self.assertEqual(set(np.unique(labels)), {1, 2, 3})
        code, _, err = run_cli("classify", self.volume_path, "--support", self.support, "-o",
                               self.dir / "x.seg.nrrd", "--stages", "prior", "--without-protonet")
        self.assertEqual(code, 2)
        self.assertIn("--without-protonet", err)

    def test_the_written_probabilities_are_the_labels(self):
        for extra in ((), ("--stages", "prior"), ("--stages", "learner")):
            _, labels, (probabilities, class_labels, _) = self.classify(*extra)
            values = np.asarray(class_labels)[probabilities.argmax(0)]
            self.assertEqual(float((values == labels).mean()), 1.0, extra)


if __name__ == "__main__":
    unittest.main()
