"""Training's side of the shared prototypes and the ONNX export: the differentiable prototypes are the product's
prototypes with gradients, their probabilities the product's, and an exported network embeds as torch does."""

import importlib.util
import unittest

import numpy as np
import torch

from SPECTFewShotLib.protonet.prototypes import build_prototypes, class_probabilities
from SPECTFewShotLib.research.protonet_training.prototype_loss import (
    class_log_probabilities,
    differentiable_prototypes,
    prototype_logits,
)
from Testing.fixtures import tiny_network

HAS_EXPORT = all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


class DifferentiablePrototypesTest(unittest.TestCase):
    def setUp(self):
        generator = torch.Generator().manual_seed(1)
        self.features = torch.randn(500, 6, generator=generator)
        self.classes = torch.arange(500) % 3
        self.boundary = torch.arange(500) % 7 == 0

    def test_they_are_the_product_s_prototypes_and_carry_gradients(self):
        painted = self.features[:300].clone().requires_grad_(True)
        trained = differentiable_prototypes(painted, self.classes[:300], 3, self.boundary[:300],
                                            voxels_per_prototype=40)
        product = build_prototypes(painted.detach().numpy(), self.classes[:300].numpy(), 3,
                                   self.boundary[:300].numpy(), voxels_per_prototype=40)
        np.testing.assert_array_equal(trained.class_of, product.class_of)
        np.testing.assert_allclose(trained.vectors.detach().numpy(), product.vectors, atol=1e-5)
        trained.vectors.sum().backward()
        self.assertGreater(float(painted.grad.abs().sum()), 0)

    def test_the_loss_s_probabilities_are_the_product_s(self):
        trained = differentiable_prototypes(self.features[:300], self.classes[:300], 3, voxels_per_prototype=40)
        product = build_prototypes(self.features[:300].numpy(), self.classes[:300].numpy(), 3,
                                   voxels_per_prototype=40)
        for metric in ("euclidean", "cosine"):
            reference = class_log_probabilities(prototype_logits(self.features, trained, 0.7, metric), trained).exp()
            rows = torch.nn.functional.normalize(self.features, dim=1) if metric == "cosine" else self.features
            fast = class_probabilities(rows.numpy(), product, 0.7, metric)
            np.testing.assert_allclose(fast.T, reference.numpy(), atol=1e-5, err_msg=metric)


@unittest.skipUnless(HAS_EXPORT, "onnx and onnxruntime are needed for the export")
class OnnxExportTest(unittest.TestCase):
    def test_an_exported_network_embeds_as_torch_at_every_trunk_scale(self):
        from SPECTFewShotLib.protonet.onnx_embedding import OnnxEmbedding
        from SPECTFewShotLib.research.protonet_training.export_onnx import export_bytes, largest_difference

        network = tiny_network()
        exported = OnnxEmbedding(export_bytes(network), network.config, network.temperature, "tiny")
        self.assertFalse(network.training)  # the export leaves the network as it found it: in eval mode
        self.assertLess(largest_difference(network, exported), 1e-4)
        slabs = np.random.default_rng(0).random((2, 3, 30, 26)).astype(np.float32)
        self.assertEqual(exported.embed_slabs(slabs, 1.7).shape, (2, network.config.dim, 30, 26))


if __name__ == "__main__":
    unittest.main()
