"""Pre-training with real studies: augmented copies keep their mask on the wall, the draw honours the real share,
training on them is reproducible by seed, and the prior's real-study Dice is measured on unseen slices."""

import unittest

import numpy as np
import torch

from SPECTFewShotLib.protonet.embedding import DenseEmbedding, EmbeddingConfig
from SPECTFewShotLib.research.protonet_training.pretraining import (
    PretrainingConfig,
    TrainingData,
    _draw_study,
    pretrain,
)
from SPECTFewShotLib.research.protonet_training.real_studies import MYOCARDIUM_VALUE, real_training_studies
from Testing.fixtures import ring_study

TINY = EmbeddingConfig(trunk_depth=1, head_channels=8, deep_dim=4, shallow_dim=4)


class AugmentedCopiesTest(unittest.TestCase):
    def test_copies_are_reproducible_and_the_mask_stays_on_the_hot_wall(self):
        volume, wall = ring_study()
        a = real_training_studies([(volume, wall)], 3, seed=4)
        b = real_training_studies([(volume, wall)], 3, seed=4)
        self.assertEqual(len(a), 3)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x.image.array, y.image.array)
            np.testing.assert_array_equal(x.tissues, y.tissues)
            self.assertLess(x.seed, 0)
            self.assertEqual(x.label_values, {"LV_myocardium": MYOCARDIUM_VALUE})
            mask = x.tissues == MYOCARDIUM_VALUE
            self.assertLess(abs(mask.sum() / wall.sum() - 1.0), 0.3)
            self.assertGreater(x.image.array[mask].mean(), 3 * x.image.array[~mask].mean())
        self.assertFalse(np.array_equal(a[0].image.array, a[1].image.array))


class RealShareTest(unittest.TestCase):
    def data(self, real: list[bool]) -> TrainingData:
        n = len(real)
        return TrainingData([np.zeros((1, 1, 1))] * n, [np.zeros((1, 1, 1))] * n, [{}] * n, list(range(n)),
                            [1.0] * n, real)

    def test_share_of_real_draws_and_the_plain_draw_without_real_studies(self):
        data = self.data([False] * 6 + [True] * 2)
        rng = np.random.default_rng(0)
        draws = [_draw_study(data, rng, 0.3) for _ in range(2000)]
        self.assertAlmostEqual(np.mean([d >= 6 for d in draws]), 0.3, delta=0.04)
        plain = [int(np.random.default_rng(1).integers(6))]
        self.assertEqual([_draw_study(self.data([False] * 6), np.random.default_rng(1), 0.3)], plain)


class RealTrainingTest(unittest.TestCase):
    def test_training_with_real_copies_is_reproducible_and_reports_a_real_dice(self):
        from SPECTFewShotLib.research.protonet_training.validation import real_prior_dice

        volume, wall = ring_study()
        tissues = np.where(wall, 7, 1).astype(np.uint8)
        phantom = type(real_training_studies([(volume, wall)], 1, 0)[0])(0, volume, tissues,
                                                                         {"body": 1, "LV_myocardium": 7})
        copies = real_training_studies([(volume, wall)], 2, seed=1)
        data = TrainingData.from_studies([phantom], copies)
        self.assertEqual(data.real, [False, True, True])
        config = PretrainingConfig(iterations=2, warmup=1, superpixel_fraction=0.0, recalibration_studies=1,
                                   real_fraction=0.5, embedding=TINY.to_dict(), seed=2)
        states = []
        for _ in range(2):
            torch.manual_seed(2)
            network, _ = pretrain(data, config, DenseEmbedding(TINY))
            states.append(network.state_dict())
        for key, value in states[0].items():
            self.assertTrue(torch.equal(value, states[1][key]), key)
        score = real_prior_dice(network, volume, wall)
        self.assertTrue(0.0 <= score <= 1.0)


if __name__ == "__main__":
    unittest.main()
