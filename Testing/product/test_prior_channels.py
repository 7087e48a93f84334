"""The learner reads the prototypes' probabilities of every class but the LV myocardium when the segments say which
class that is (session.prior_channels), held out by fold on the painted voxels as before."""

import unittest
from unittest import mock

import numpy as np

from SPECTFewShotLib.classification import session as session_module
from SPECTFewShotLib.classification.learner import TreeEnsemble
from SPECTFewShotLib.classification.session import StudySession, prior_channels
from SPECTFewShotLib.protonet.support import check_support
from Testing.fixtures import ring_volume, support_from, tiny_network

NAMES = {1: "background", 2: "LV_myocardium", 3: "LV_blood_pool"}


class PriorChannelsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.volume, cls.classes = ring_volume(size=20)

    def support(self, names=None, values=None):
        return support_from(self.volume, self.classes, [6, 10, 14], values=values, names=names)

    def test_every_class_but_the_named_myocardium(self):
        self.assertEqual(prior_channels(check_support(self.support(NAMES), self.volume)), [0, 2])
        # the class order follows the painted values: the wall painted with the largest value is the last class
        values = np.array([0, 1, 3, 2])  # background 1, wall 3, cavity 2
        named = {1: "background", 2: "LV blood pool", 3: "Myocardium"}
        checked = check_support(self.support(named, values), self.volume)
        self.assertEqual(prior_channels(checked), [0, 1])

    def test_unnamed_classes_keep_every_channel(self):
        self.assertEqual(prior_channels(check_support(self.support(), self.volume)), [0, 1, 2])
        two = support_from(self.volume, np.minimum(self.classes, 2), [6, 10, 14], names=NAMES)
        self.assertEqual(prior_channels(check_support(two, self.volume)), [0])

    def test_the_learner_reads_one_channel_less_with_named_segments(self):
        widths = []
        fit = TreeEnsemble.fit

        def recording_fit(learner, features, classes, *rest, **options):
            widths.append(features.shape[1])
            return fit(learner, features, classes, *rest, **options)

        session = StudySession(device="cpu", network=tiny_network())
        session.set_volume(self.volume)
        columns = {}
        with mock.patch.object(session_module.TreeEnsemble, "fit", autospec=True, side_effect=recording_fit):
            for label, names in (("named", NAMES), ("unnamed", None)):
                session.set_support(self.support(names))
                held_out = mock.patch.object(session_module.CrossFittedPrior, "held_out", autospec=True,
                                             side_effect=session_module.CrossFittedPrior.held_out)
                with held_out as spy:
                    session.predict("learner")
                self.assertEqual(spy.call_count, 1)  # the training voxels still read held-out prototypes
                columns[label] = widths[-1]
        self.assertEqual(columns["unnamed"] - columns["named"], 1)

if __name__ == "__main__":
    unittest.main()
