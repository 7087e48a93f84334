"""The real-study training recipe (issue 34): copies with the cavity as a class (the evaluation's own cavity), random
crops around the wall and low-count copies, the plain recipe unchanged, and the check that reports ProtoNet alone
on a real study the way the product uses the prior (two-class whole volume, three-class crops, slices and strokes)."""

import contextlib
import io
import unittest

import numpy as np

from SPECTFewShotLib.protonet.embedding import DenseEmbedding, EmbeddingConfig
from SPECTFewShotLib.research.evaluation.cases import enclosed_cavity
from SPECTFewShotLib.research.protonet_training.episodes import BLOOD_POOL, MYOCARDIUM, phantom_episode
from SPECTFewShotLib.research.protonet_training.real_studies import (
    BLOOD_POOL_VALUE,
    MYOCARDIUM_VALUE,
    RealRecipe,
    real_training_studies,
)
from Testing.fixtures import ring_study

TINY = EmbeddingConfig(trunk_depth=1, head_channels=8, deep_dim=4, shallow_dim=4)


class RecipeCopiesTest(unittest.TestCase):
    def test_the_cavity_is_the_evaluations_cavity_of_the_moved_wall_and_the_images_are_the_plain_copies(self):
        volume, wall = ring_study(32, end_margin=6)
        plain = real_training_studies([(volume, wall)], 2, seed=3)
        cavity = real_training_studies([(volume, wall)], 2, seed=3, recipe=RealRecipe(cavity=True))
        self.assertEqual(len(cavity), 2)
        for a, b in zip(plain, cavity):
            np.testing.assert_array_equal(a.image.array, b.image.array)
            self.assertEqual(b.label_values, {MYOCARDIUM: MYOCARDIUM_VALUE, BLOOD_POOL: BLOOD_POOL_VALUE})
            moved_wall = b.tissues == MYOCARDIUM_VALUE
            np.testing.assert_array_equal(moved_wall, a.tissues == MYOCARDIUM_VALUE)
            np.testing.assert_array_equal(b.tissues == BLOOD_POOL_VALUE, enclosed_cavity(moved_wall))
            pool = b.tissues == BLOOD_POOL_VALUE
            self.assertGreater(pool.sum(), 0.5 * 12 * np.pi * 16)  # most of the disc on the 12+ ring slices
            # the cavity is the cool disc: cooler than the wall, warmer than the background far away
            self.assertLess(b.image.array[pool].mean(), 0.6 * b.image.array[moved_wall].mean())

    def test_crops_around_the_wall_and_low_count_copies(self):
        volume, wall = ring_study(32, end_margin=6)
        recipe = RealRecipe(cavity=True, crops=3, crop_sizes=(12, 20), low_count_fraction=1.0, low_counts=(4, 4))
        plain = real_training_studies([(volume, wall)], 2, seed=5, recipe=RealRecipe(cavity=True))
        studies = real_training_studies([(volume, wall)], 2, seed=5, recipe=recipe)
        again = real_training_studies([(volume, wall)], 2, seed=5, recipe=recipe)
        self.assertEqual(len(studies), 2 * (1 + 3))
        for a, b in zip(studies, again):
            np.testing.assert_array_equal(a.image.array, b.image.array)
        for index, study in enumerate(studies):
            shape = study.image.array.shape
            self.assertEqual(shape, study.tissues.shape)
            if index % 4 == 0:  # the whole copy, thinned
                whole = plain[index // 4]
                self.assertEqual(shape, volume.array.shape)
                np.testing.assert_array_equal(study.tissues, whole.tissues)
                self.assertFalse(np.array_equal(study.image.array, whole.image.array))
                # thinned to 4 counts at the hottest voxels: much noisier, about the same mean
                self.assertAlmostEqual(study.image.array.mean() / whole.image.array.mean(), 1.0, delta=0.1)
                self.assertGreater(np.std(study.image.array[study.tissues == MYOCARDIUM_VALUE]),
                                   2 * np.std(whole.image.array[whole.tissues == MYOCARDIUM_VALUE]))
            else:
                self.assertEqual(len(set(shape)), 1)
                self.assertTrue(12 <= shape[0] <= 20, shape)
                self.assertTrue((study.tissues == MYOCARDIUM_VALUE).any())
        sizes = {s.image.array.shape[0] for i, s in enumerate(studies) if i % 4}
        self.assertGreater(len(sizes), 1)

    def test_a_cavity_copy_gives_three_class_episodes(self):
        from SPECTFewShotLib.protonet.normalization import normalize_counts

        volume, wall = ring_study(32, end_margin=6)
        study = real_training_studies([(volume, wall)], 1, seed=0, recipe=RealRecipe(cavity=True))[0]
        normalized = normalize_counts(study.image.array)
        classes = [phantom_episode(normalized, study.tissues, study.label_values, np.random.default_rng(s)
                                   ).n_classes for s in range(12)]
        self.assertIn(3, classes)
        plain = real_training_studies([(volume, wall)], 1, seed=0)[0]
        self.assertEqual({phantom_episode(normalized, plain.tissues, plain.label_values, np.random.default_rng(s)
                                          ).n_classes for s in range(6)}, {2})


class RealChecksTest(unittest.TestCase):
    def test_checks_cover_both_protocols_and_score_the_cavity_only_with_three_classes(self):
        from SPECTFewShotLib.research.protonet_training.validation import check_means, real_prior_checks

        volume, wall = ring_study(32, end_margin=6)
        settings = (("whole volume, 2 classes", None, (0, 0, 0), False, False),
                    ("20^3 crop, 3 classes, low counts", 20, (0, 0, 0), True, True))
        checks = real_prior_checks(DenseEmbedding(TINY).eval(), volume, wall, settings=settings)
        self.assertEqual([(c.setting, c.protocol) for c in checks],
                         [(s[0], p) for s in settings for p in ("slices", "strokes")])
        for check in checks:
            self.assertTrue(0.0 <= check.myocardium <= 1.0)
            self.assertEqual(check.blood_pool is None, check.setting.startswith("whole"))
        myocardium, pool = check_means(checks)
        self.assertAlmostEqual(myocardium, np.mean([c.myocardium for c in checks]))
        self.assertAlmostEqual(pool, np.mean([c.blood_pool for c in checks[2:]]))

    def test_the_first_check_is_the_old_real_prior_dice(self):
        from SPECTFewShotLib.research.protonet_training.validation import (
            CHECK_SETTINGS,
            real_prior_checks,
            real_prior_dice,
        )

        volume, wall = ring_study(32, end_margin=6)
        network = DenseEmbedding(TINY).eval()
        first = real_prior_checks(network, volume, wall, ("slices",), CHECK_SETTINGS[:1])[0]
        self.assertAlmostEqual(first.myocardium, real_prior_dice(network, volume, wall), places=6)


class ModelCardTest(unittest.TestCase):
    def test_the_card_says_what_the_real_episodes_painted_and_lists_every_check(self):
        import tempfile
        from pathlib import Path

        from SPECTFewShotLib.research.protonet_training.model_card import TrainingSources, write_model_card
        from SPECTFewShotLib.research.protonet_training.pretraining import PretrainingConfig
        from SPECTFewShotLib.research.protonet_training.validation import DenseScores, RealCheck

        checks = {"patient001": [RealCheck("whole volume, 2 classes", "slices", 0.81, None),
                                 RealCheck("32^3 crop, 3 classes", "strokes", 0.52, 0.43)]}
        texts = {}
        with tempfile.TemporaryDirectory() as folder:
            for name, recipe in (("plain", RealRecipe()), ("recipe", RealRecipe(True, 2, low_count_fraction=0.25))):
                path = Path(folder) / f"{name}.md"
                sources = TrainingSources("protonet-spect-v1", "real-like", ["patient003"], 8, {"patient001": 0.81},
                                          recipe, checks if name == "recipe" else {})
                write_model_card(path, "x", DenseEmbedding(TINY), PretrainingConfig(real_fraction=0.5), [0, 1],
                                 [900000], DenseScores(), [{"step": 1, "loss": 1.0}], "cmd", 60.0, None, sources)
                texts[name] = path.read_text()
        self.assertIn("myocardium painted against everything else", texts["plain"])
        self.assertNotIn("| patient001 | 32^3 crop", texts["plain"])
        self.assertIn("the cavity the wall encloses as classes", texts["recipe"])
        self.assertIn("2 random 24-48^3 crops", texts["recipe"])
        self.assertIn("25% of them thinned to 4-16 counts", texts["recipe"])
        self.assertIn("| patient001 | 32^3 crop, 3 classes | strokes | 0.520 | 0.430 |", texts["recipe"])
        self.assertIn("| patient001 | whole volume, 2 classes | slices | 0.810 | - |", texts["recipe"])


class RecipeFlagsTest(unittest.TestCase):
    def test_bad_recipe_flags_give_one_error_line(self):
        from SPECTFewShotLib import cli

        for flags in (["--real-crops", "-1"], ["--real-low-count", "1.5"]):
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = cli.main(["train", "protonet", "--iterations", "1", "--studies", "1", *flags])
            self.assertNotEqual(code, 0, flags)
            lines = err.getvalue().strip().splitlines()
            self.assertEqual(len(lines), 1, lines)
            self.assertTrue(lines[0].startswith("error: "), lines)


if __name__ == "__main__":
    unittest.main()
