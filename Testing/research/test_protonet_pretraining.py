"""ProtoNet's meta-training (research): reproducible by seed, and ImageNet-named weights load into the trunk."""

import unittest

import numpy as np
import torch

from SPECTFewShotLib.protonet.embedding import DenseEmbedding, EmbeddingConfig
from Testing.fixtures import ring_volume


class PretrainingTest(unittest.TestCase):
    def test_training_is_reproducible_by_seed_and_imagenet_weights_load(self):
        from SPECTFewShotLib.protonet.embedding import load_imagenet_trunk
        from SPECTFewShotLib.research.protonet_training.pretraining import PretrainingConfig, TrainingData, pretrain

        volume, classes = ring_volume(size=24)
        tissues = np.choose(classes - 1, [1, 7, 8]).astype(np.uint8)
        values = {"body": 1, "LV_myocardium": 7, "LV_blood_pool": 8}
        data = TrainingData([volume.array / volume.array.max()] * 2, [tissues] * 2, [values] * 2, [0, 1], [1.3, 1.3])
        tiny = EmbeddingConfig(trunk_depth=1, head_channels=8, deep_dim=4, shallow_dim=4).to_dict()
        config = PretrainingConfig(iterations=3, warmup=1, superpixel_fraction=0.5, recalibration_studies=1,
                                   embedding=tiny, seed=5)
        runs = []
        for _ in range(2):
            torch.manual_seed(5)
            network, _ = pretrain(data, config)
            runs.append(network.state_dict())
        self.assertFalse(network.training)
        for key, value in runs[0].items():
            self.assertTrue(torch.equal(value, runs[1][key]), key)
        torch.manual_seed(6)
        imagenet_like = DenseEmbedding(EmbeddingConfig(trunk_depth=3)).state_dict()  # ResNet-18's names and shapes
        copied = load_imagenet_trunk(network, imagenet_like)
        self.assertIn("layer1.0.conv1.weight", copied)
        self.assertTrue(torch.equal(network.state_dict()["conv1.weight"], imagenet_like["conv1.weight"]))


if __name__ == "__main__":
    unittest.main()
