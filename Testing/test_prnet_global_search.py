"""The whole-volume search for heart candidates (global_search.py) and the localiser's second try from them: a
hollow shell (the LV's ring) found beside a hotter solid ball (a liver hotter than the heart), which a search that
follows the counts lands in."""

import unittest
from unittest import mock

import numpy as np
import torch
from scipy import ndimage

from SPECTFewShotLib.io.markups_io import Landmark
from SPECTFewShotLib.prnet.fusion import agreement_confidence
from SPECTFewShotLib.prnet.global_search import GlobalSearchSettings, candidate_translations, peak_indices
from SPECTFewShotLib.prnet.localize import Localizer, SearchSettings
from SPECTFewShotLib.prnet.patches import prepare_volume
from SPECTFewShotLib.volume import Volume
from Testing.test_prnet import analytic_models

SHELL_TEMPLATE = np.array([-30.0, 20.0, 10.0])
SHELL_TARGET = np.array([25.0, -15.0, -20.0])
HOT_BALL = np.array([-45.0, 45.0, 35.0])


def shell_volume(shell_centre, ball_centre=None, ball_counts=2.0, spacing=5.0, size=48):
    """A blurred hollow shell (radius 24 mm, 10 mm wall) of counts 1 on a background of 0.05, optionally beside a
    solid ball (radius 25 mm) of `ball_counts`."""
    origin = np.full(3, -(size - 1) * spacing / 2)
    volume = Volume(np.zeros((size,) * 3, np.float32), (spacing,) * 3, tuple(origin))
    k, j, i = np.indices((size,) * 3)
    lps = volume.index_to_lps(np.stack([i, j, k], -1).reshape(-1, 3).astype(float)).reshape(size, size, size, 3)
    radius = np.linalg.norm(lps - shell_centre, axis=-1)
    counts = np.where(np.abs(radius - 24.0) < 5.0, 1.0, 0.05)
    if ball_centre is not None:
        counts = np.where(np.linalg.norm(lps - ball_centre, axis=-1) < 25.0, ball_counts, counts)
    return volume.with_array((ndimage.gaussian_filter(counts, 0.8) * 1000).astype(np.float32))


def shell_landmarks(centre):
    """Three landmarks along the shell's axis, like the LV's base, centre and apex."""
    return [Landmark("LV_base", tuple(centre + np.array([0, 0, 12.0]))), Landmark("LV_center", tuple(centre)),
            Landmark("LV_apex", tuple(centre - np.array([0, 0, 14.0])))]


class CandidateTranslationsTest(unittest.TestCase):
    def test_the_shell_beats_a_hotter_ball_and_the_ball_comes_second(self):
        settings = GlobalSearchSettings()
        template = prepare_volume(shell_volume(SHELL_TEMPLATE), settings.spacing_mm)
        target = prepare_volume(shell_volume(SHELL_TARGET, HOT_BALL), settings.spacing_mm)
        points = np.array([lm.position_lps for lm in shell_landmarks(SHELL_TEMPLATE)])
        found = candidate_translations(target, template, points, settings)
        self.assertEqual(len(found), 2)
        error = np.linalg.norm(found[0].translation - (SHELL_TARGET - SHELL_TEMPLATE))
        self.assertLess(error, 2.5 * np.sqrt(3) + 1e-6)  # the shifts are 5 mm apart
        self.assertGreater(found[0].score, 0.9)
        self.assertGreater(found[0].score, found[1].score + 0.2)
        self.assertGreater(np.linalg.norm(found[1].translation - found[0].translation), settings.separation_mm)

    def test_a_box_larger_than_the_field_of_view_gives_no_candidate(self):
        settings = GlobalSearchSettings(margin_mm=30.0)  # a box 90 mm high
        template = prepare_volume(shell_volume(SHELL_TEMPLATE), settings.spacing_mm)
        small = prepare_volume(shell_volume(SHELL_TARGET, size=16), settings.spacing_mm)  # an 80 mm field of view
        points = np.array([lm.position_lps for lm in shell_landmarks(SHELL_TEMPLATE)])
        self.assertEqual(candidate_translations(small, template, points, settings), [])
        self.assertTrue(candidate_translations(small, template, points, GlobalSearchSettings(
            margin_mm=30.0, inside_fraction=0.5)))  # half of the box inside is enough there

    def test_peaks_are_local_maxima_apart_and_stop_at_excluded_shifts(self):
        score = torch.full((12, 12, 12), -np.inf, dtype=torch.float64)
        score[2, 2, 2], score[5, 5, 5], score[9, 9, 9] = 0.9, 0.8, 0.5
        self.assertEqual(peak_indices(score, 4, 3), [(2, 2, 2), (9, 9, 9)])
        self.assertEqual(peak_indices(score, 4, 1), [(2, 2, 2), (5, 5, 5), (9, 9, 9)])
        k, j, i = torch.meshgrid(*[torch.arange(12, dtype=torch.float64)] * 3, indexing="ij")
        self.assertEqual(peak_indices(i + j + k, 3, 2), [(11, 11, 11)])  # one slope: one maximum


class CandidateRetryTest(unittest.TestCase):
    """The localiser's second try from the global candidates, with the local steps replaced by a stand-in whose
    two ways agree (1 mm apart) only when started within 10 mm of the shell."""

    def place(self, **settings):
        template, target = shell_volume(SHELL_TEMPLATE), shell_volume(SHELL_TARGET, HOT_BALL)
        landmarks = shell_landmarks(SHELL_TEMPLATE)
        truth = np.array([lm.position_lps for lm in shell_landmarks(SHELL_TARGET)])
        starts = []

        def finish(self, volume, template_volume, start, **kwargs):
            starts.append(np.linalg.norm(start - truth, axis=1).max())
            near = np.linalg.norm(start - truth, axis=1).max() < 10.0
            return start, np.full(len(start), 1.0 if near else 20.0)

        with mock.patch.object(Localizer, "_finish", finish):
            placed = Localizer(models=analytic_models(), device="cpu", settings=SearchSettings(**settings)).localize(
                target, template, landmarks)
        errors = np.linalg.norm(np.array([lm.position_lps for lm in placed]) - truth, axis=1)
        return errors, [lm.confidence for lm in placed], starts

    def test_a_candidate_whose_two_ways_agree_replaces_a_first_try_in_the_hot_ball(self):
        errors, confidence, starts = self.place()
        self.assertGreater(starts[0], 25.0)  # PRNet's moves follow the hot ball
        self.assertLess(errors.max(), 2.5 * np.sqrt(3) + 1e-6)
        self.assertEqual(confidence, [agreement_confidence(1.0)] * 3)

    def test_the_first_try_stays_without_candidates_far_enough_from_it(self):
        for settings in (dict(global_candidates=0), dict(candidate_distance_mm=1000.0)):
            errors, confidence, starts = self.place(**settings)
            self.assertEqual(len(starts), 1, settings)
            self.assertGreater(errors.min(), 25.0)
            self.assertEqual(confidence, [agreement_confidence(20.0)] * 3)

    def test_a_candidate_that_disagrees_less_but_still_disagrees_is_not_taken(self):
        template, target = shell_volume(SHELL_TEMPLATE), shell_volume(SHELL_TARGET, HOT_BALL)
        landmarks = shell_landmarks(SHELL_TEMPLATE)
        calls, tilted = [], []

        def finish(self, volume, template_volume, start, tilted_retry=True, **kwargs):
            calls.append(start)
            tilted.append(tilted_retry)
            return start, np.full(len(start), 20.0 if len(calls) == 1 else 12.0)

        with mock.patch.object(Localizer, "_finish", finish):
            placed = Localizer(models=analytic_models(), device="cpu").localize(target, template, landmarks)
        self.assertGreater(len(calls), 1)
        self.assertEqual(tilted, [True] + [False] * (len(calls) - 1))  # candidates are tried untilted
        np.testing.assert_allclose([lm.position_lps for lm in placed], calls[0])
        self.assertEqual([lm.confidence for lm in placed], [agreement_confidence(20.0)] * 3)


if __name__ == "__main__":
    unittest.main()
