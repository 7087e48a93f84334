"""`evaluate classify`'s prior's share: the study classifier minus its without-ProtoNet ablation, per setting the
mean over the learner's random states, then the mean over the settings; and --seeds, the random states."""

import contextlib
import io
import unittest
from types import SimpleNamespace

import numpy as np

from SPECTFewShotLib.research.evaluation.classify_evaluation import (
    GROWCUT,
    STUDY,
    STUDY_WITHOUT_PROTONET,
    CaseResult,
    evaluate_case,
    per_state_shares,
    prior_shares,
    share_markdown,
    share_summary,
)

MYO, BP = "LV_myocardium", "LV_blood_pool"


def _pair(group, case, protocol, state, with_prior, without):
    """The study classifier's and its ablation's rows of one setting and random state."""
    return [CaseResult(case, group, protocol, STUDY, with_prior, 1.0, random_state=state),
            CaseResult(case, group, protocol, STUDY_WITHOUT_PROTONET, without, 1.0, random_state=state)]


def _known_rows():
    """Setting a (patient001, slices, three classes): myocardium +0.02, +0.08 (mean +0.05), blood pool -0.05,
    -0.03 (mean -0.04). Setting b (patient003, strokes, two classes): myocardium -0.01, -0.05, -0.03 over three
    states (mean -0.03). A phantom setting (+0.5) and a GrowCut row that must not count in the real means."""
    rows = []
    rows += _pair("real patient001, 32^3", "a", "slices", 0, {MYO: 0.90, BP: 0.80}, {MYO: 0.88, BP: 0.85})
    rows += _pair("real patient001, 32^3", "a", "slices", 1, {MYO: 0.92, BP: 0.80}, {MYO: 0.84, BP: 0.83})
    for state, diff in ((0, -0.01), (1, -0.05), (2, -0.03)):
        rows += _pair("real patient003", "b", "strokes", state, {MYO: 0.80 + diff}, {MYO: 0.80})
    rows += _pair("held-out phantoms", "phantom seed 1", "slices", 0, {MYO: 0.9}, {MYO: 0.4})
    rows.append(CaseResult("a", "real patient001, 32^3", "slices", GROWCUT, {MYO: 0.1, BP: 0.1}, 1.0))
    return rows


class PriorShareSummaryTest(unittest.TestCase):
    """The share from known rows: the sign (with minus without) and the averaging (per setting, then over them)."""

    def test_the_share_is_with_minus_without_averaged_per_setting_first(self):
        shares = prior_shares(_known_rows())
        self.assertEqual(len(shares), 3)
        self.assertAlmostEqual(shares[0].share[MYO], 0.05)
        self.assertAlmostEqual(shares[0].share[BP], -0.04)
        self.assertAlmostEqual(shares[1].share[MYO], -0.03)
        self.assertNotIn(BP, shares[1].share)
        rows = {row["label"]: row for row in share_summary(shares)}
        real = rows["real settings, all"]
        self.assertEqual(real["settings"], 2)  # the phantom is not a real setting
        # (0.05 - 0.03) / 2; pooling the five runs instead would give +0.002, the phantom in would give +0.173
        self.assertAlmostEqual(real["classes"][MYO]["mean"], 0.01)
        self.assertAlmostEqual(real["classes"][BP]["mean"], -0.04)
        self.assertEqual(real["classes"][BP]["settings"], 1)
        self.assertAlmostEqual(real["classes"][MYO]["worst"], -0.03)
        self.assertEqual(real["classes"][MYO]["worst_setting"], "b, strokes")
        self.assertEqual(real["classes"][MYO]["worse"], 1)
        self.assertAlmostEqual(rows["patient001"]["classes"][MYO]["mean"], 0.05)
        self.assertAlmostEqual(rows["patient003"]["classes"][MYO]["mean"], -0.03)
        self.assertAlmostEqual(rows["held-out phantoms"]["classes"][MYO]["mean"], 0.5)
        self.assertAlmostEqual(rows["real settings, strokes"]["classes"][MYO]["mean"], -0.03)
        states = per_state_shares(shares)
        self.assertAlmostEqual(states[0][MYO], 0.005)
        self.assertAlmostEqual(states[1][MYO], 0.015)
        self.assertAlmostEqual(states[2][MYO], -0.03)
        text = share_markdown(_known_rows())
        self.assertIn("| real settings, all | 2 (2 with myocardium, 1 with blood pool) | +0.0100 | -0.0400 |", text)

    def test_each_random_state_reaches_the_learner_and_only_its_rows_repeat(self):
        class_map = np.ones((4, 6, 6), dtype=np.int32)
        class_map[:, 2:4, 2:4] = 2
        case = SimpleNamespace(name="toy", volume=SimpleNamespace(with_array=lambda a: a), class_map=class_map,
                               class_names={1: "background", 2: MYO}, slices=[1, 2], classes=[1, 2])

        class Session:
            random_state = 7

            def set_volume(self, volume):
                pass

            def set_support(self, support):
                pass

            def predict(self, stages, use_protonet=True):
                labels = class_map.copy()
                if not use_protonet:  # the ablation misses more of the wall the higher the state
                    labels[0, 2:4, 2:2 + self.random_state] = 1
                array = SimpleNamespace(array=labels)
                return SimpleNamespace(labels=SimpleNamespace(labels=array), probabilities=None)

        session = Session()
        results = evaluate_case(case, "real patient001", session, ("slices",), (STUDY, STUDY_WITHOUT_PROTONET),
                                random_states=[0, 2])
        self.assertEqual(session.random_state, 7)  # restored
        self.assertEqual([(r.method, r.random_state) for r in results],
                         [(STUDY, 0), (STUDY_WITHOUT_PROTONET, 0), (STUDY, 2), (STUDY_WITHOUT_PROTONET, 2)])
        (share,) = prior_shares(results)
        self.assertAlmostEqual(share.per_state[0][MYO], 0.0)
        self.assertGreater(share.per_state[2][MYO], 0.0)  # with ProtoNet is better: a positive share


class SeedsOptionTest(unittest.TestCase):
    """--seeds: a list of distinct random states, anything else refused in one line before any work."""

    def test_seeds_parse_and_bad_values_are_one_line(self):
        from SPECTFewShotLib import cli
        from SPECTFewShotLib.research.commands.evaluate_classify import parse_random_states

        self.assertEqual(parse_random_states("0,1, 2"), [0, 1, 2])
        self.assertEqual(parse_random_states(None), [0])
        for bad in ("a,b", "0,,1", "-1", "1,1", "1.5", "4294967296", ""):
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = cli.main(["evaluate", "classify", "--seeds", bad])
            self.assertEqual(code, 2, bad)
            lines = err.getvalue().strip().splitlines()
            self.assertEqual(len(lines), 1, lines)
            self.assertTrue(lines[0].startswith("error: --seeds takes"), lines[0])

    def test_the_report_names_real_models_without_machine_paths(self):
        from SPECTFewShotLib.research.provenance import portable_argument

        self.assertEqual(portable_argument("001=/elsewhere/loso/weights.pt"), "001=.../weights.pt")
        self.assertEqual(portable_argument("001=weights.pt"), "001=weights.pt")


if __name__ == "__main__":
    unittest.main()
