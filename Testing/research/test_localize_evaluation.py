"""`evaluate localize` bookkeeping: errors in mm per landmark, and cases with several templates fused by the median
for every method alike."""

import unittest

import numpy as np

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.io.markups_io import Landmark
from SPECTFewShotLib.research.evaluation.localize_cases import LandmarkCase, phantom_cases
from SPECTFewShotLib.research.evaluation.localize_eval import evaluate_cases
from SPECTFewShotLib.volume import Volume


def _volume(value: float) -> Volume:
    return Volume(np.full((4, 4, 4), value, np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))


class LandmarkEvaluationTest(unittest.TestCase):
    def test_a_case_with_three_templates_scores_the_geometric_median_of_their_placements(self):
        from SPECTFewShotLib.landmarks.fusion import geometric_median

        truth = [Landmark("LV_apex", (0.0, 0.0, 0.0))]
        templates = [(_volume(v), [Landmark("LV_apex", p)]) for v, p in
                     ((1.0, (3.0, 0.0, 0.0)), (2.0, (0.0, 4.0, 0.0)), (3.0, (40.0, 40.0, 0.0)))]
        case = LandmarkCase("three templates", *templates[0], _volume(0.0), truth, tuple(templates[1:]))
        calls = []

        def carry_over(target, template_volume, template_landmarks):  # "places" each template landmark as it is
            calls.append(float(template_volume.array.flat[0]))
            return list(template_landmarks)

        one = LandmarkCase("one template", *templates[2], _volume(0.0), truth)
        results = evaluate_cases([case, one], {"carry over": carry_over})["carry over"]
        self.assertEqual(calls, [1.0, 2.0, 3.0, 3.0])
        fused = np.linalg.norm(geometric_median(np.array([(3.0, 0.0, 0.0), (0.0, 4.0, 0.0), (40.0, 40.0, 0.0)])))
        self.assertLess(fused, 5.0)  # near the two agreeing placements, not pulled toward (40, 40)
        self.assertAlmostEqual(results.errors["LV_apex"][0], fused)
        self.assertAlmostEqual(results.errors["LV_apex"][1], np.hypot(40.0, 40.0))
        self.assertAlmostEqual(results.summary()["LV_apex"]["median"], (fused + np.hypot(40.0, 40.0)) / 2)
        own = []

        def own_path(target, template_list):  # a method's own several-template path is used where it has one
            own.append(len(template_list))
            return [Landmark("LV_apex", (0.0, 0.0, 1.0))]

        results = evaluate_cases([case, one], {"carry over": carry_over}, several={"carry over": own_path})
        self.assertEqual(own, [3])
        self.assertEqual(results["carry over"].errors["LV_apex"], [1.0, np.hypot(40.0, 40.0)])

    def test_templates_per_case_need_more_phantoms(self):
        with self.assertRaises(InputError):
            phantom_cases([1000000, 1000001], templates=2)


if __name__ == "__main__":
    unittest.main()
