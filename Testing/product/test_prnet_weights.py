"""The shipped PRNet weights: registered with their SHA-256 and small enough to ship."""

import unittest

from SPECTFewShotLib.models.registry import find_model, list_models, sha256_of


class ShippedPRNetTest(unittest.TestCase):
    def test_default_model_is_registered_and_matches_its_checksum(self):
        entry = find_model("prnet")
        self.assertTrue(entry.default)
        self.assertTrue(entry.path.exists(), entry.file)
        self.assertEqual(sha256_of(entry.path), entry.sha256)
        self.assertLess(entry.path.stat().st_size, 10e6)
        self.assertTrue((entry.path.parent / entry.card).exists())
        for other in list_models("prnet"):
            self.assertEqual(sha256_of(other.path), other.sha256, other.id)


if __name__ == "__main__":
    unittest.main()
