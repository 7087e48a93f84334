"""The embedding's ResNet-18 trunk stands on torch alone: torchvision's names, shapes, initialisation and outputs."""

import importlib.util
import subprocess
import sys
import unittest

import torch

from SPECTFewShotLib.protonet.embedding import DenseEmbedding, EmbeddingConfig
from SPECTFewShotLib.protonet.resnet_trunk import resnet18_trunk

HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None
_SCHEMAS = ("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
            "qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor")
_LIBRARIES = []


def import_reference_resnet18():
    """torchvision's resnet18, the reference; PyPI's CUDA-built torchvision next to a CPU torch needs its two
    operator schemas declared before it imports (the product never imports it)."""
    try:
        from torchvision.models import resnet18
    except RuntimeError as error:
        if "does not exist" not in str(error):
            raise
        library = torch.library.Library("torchvision", "FRAGMENT")
        for schema in _SCHEMAS:
            library.define(schema)
        _LIBRARIES.append(library)
        for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        from torchvision.models import resnet18
    return resnet18


class TorchOnlyTrunkTest(unittest.TestCase):
    def test_the_product_never_imports_torchvision(self):
        # torchvision is made unimportable: building, loading the shipped weights and embedding must not need it
        code = ("import sys; sys.modules['torchvision'] = None\n"
                "import torch\n"
                "from SPECTFewShotLib.protonet.embedding import DenseEmbedding, EmbeddingConfig\n"
                "from SPECTFewShotLib.protonet.model_store import load_embedding\n"
                "DenseEmbedding(EmbeddingConfig(trunk_depth=1, head_channels=8, deep_dim=4, shallow_dim=4))\n"
                "network, _ = load_embedding()\n"
                "with torch.inference_mode(): print(tuple(network(torch.rand(1, 3, 32, 32)).shape))\n")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.split()[-4:], ["(1,", "48,", "32,", "32)"])

    def test_training_initialisation_is_torchvision_resnet18s(self):
        stem, stages = resnet18_trunk(3, initialise=True)
        conv, norm = stem[0], stem[1]
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        self.assertAlmostEqual(float(conv.weight.std()), (2.0 / fan_out) ** 0.5, delta=0.1 * (2.0 / fan_out) ** 0.5)
        self.assertTrue(torch.equal(norm.weight, torch.ones(64)) and torch.equal(norm.bias, torch.zeros(64)))
        block_norm = stages[2][0].downsample[1]
        self.assertTrue(torch.equal(block_norm.weight, torch.ones(256)))
        _, untouched = resnet18_trunk(1, initialise=False)  # PyTorch's default (uniform) init: a smaller spread
        weight = untouched[0][0].conv1.weight
        self.assertLess(float(weight.std()), 0.7 * (2.0 / (64 * 9)) ** 0.5)

    def test_inference_and_training_trunks_agree_state_for_state(self):
        torch.manual_seed(3)
        trained = DenseEmbedding(EmbeddingConfig(), for_training=True).eval()
        light = DenseEmbedding(EmbeddingConfig(), for_training=False)
        self.assertEqual(list(trained.state_dict()), list(light.state_dict()))
        light.load_state_dict(trained.state_dict())
        light.eval()
        slabs = torch.rand(2, 3, 37, 41)
        with torch.inference_mode():
            self.assertTrue(torch.equal(trained(slabs, 1.3), light(slabs, 1.3)))

    @unittest.skipUnless(HAS_TORCHVISION, "torchvision is not installed (it is not a dependency)")
    def test_same_seed_same_tensors_as_torchvision(self):
        resnet18 = import_reference_resnet18()
        for depth in (1, 3):
            torch.manual_seed(7)
            reference = resnet18(weights=None)
            after_reference = torch.rand(8)
            torch.manual_seed(7)
            stem, stages = resnet18_trunk(depth, initialise=True)
            after_own = torch.rand(8)
            own = torch.nn.Sequential()
            for name, module in zip(("conv1", "bn1", "relu", "maxpool"), stem):
                own.add_module(name, module)
            for index, stage in enumerate(stages, start=1):
                own.add_module(f"layer{index}", stage)
            expected = reference.state_dict()
            for key, value in own.state_dict().items():
                self.assertTrue(torch.equal(value, expected[key]), key)
            self.assertTrue(torch.equal(after_own, after_reference))  # modules built next draw the same numbers
            torch.manual_seed(1)
            own.eval()
            reference.eval()
            image = torch.rand(1, 3, 64, 64)
            with torch.inference_mode():
                features = own(image)
                expected_features = reference.layer1(reference.maxpool(reference.relu(reference.bn1(
                    reference.conv1(image)))))
                for index in range(2, depth + 1):
                    expected_features = getattr(reference, f"layer{index}")(expected_features)
            self.assertTrue(torch.equal(features, expected_features))


if __name__ == "__main__":
    unittest.main()
