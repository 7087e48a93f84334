"""classify_identity's comparison: identical dumps say nothing; a changed label, a changed probability, a missing
array and a changed shape each get their line, and `compare` exits 1."""

from __future__ import annotations

import io
import tempfile
import unittest
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

from SPECTFewShotLib.research.evaluation.classify_identity import differences, main


class DifferencesTest(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(0)
        self.before = {"a_labels": rng.integers(0, 3, (4, 5, 6)), "a_probabilities": rng.random((3, 4, 5, 6)),
                       "b_labels": rng.integers(0, 2, (2, 2, 2))}

    def test_identical_and_each_kind_of_change(self):
        self.assertEqual(differences(self.before, dict(self.before)), [])
        after = {name: np.array(value) for name, value in self.before.items()}
        after["a_labels"][0, 0, 0] += 1
        after["a_probabilities"][1, 2, 3, 4] += 1e-7
        after["b_labels"] = after["b_labels"][:1]
        after["c_labels"] = np.zeros(3)
        lines = differences(self.before, after)
        self.assertEqual(lines[0], "a_labels: 1 of 120 labels differ")
        self.assertTrue(lines[1].startswith("a_probabilities: largest difference 1e-07"))
        self.assertEqual(lines[2], "b_labels: shape (2, 2, 2) against (1, 2, 2)")
        self.assertEqual(lines[3], "c_labels: only in after")

    def test_compare_exits_1_on_a_difference(self):
        with tempfile.TemporaryDirectory() as folder:
            before, after = Path(folder, "before.npz"), Path(folder, "after.npz")
            np.savez(before, **self.before)
            np.savez(after, **{**self.before, "b_labels": 1 - self.before["b_labels"]})
            with redirect_stdout(io.StringIO()) as out:
                self.assertEqual(main(["compare", str(before), str(before)]), 0)
            self.assertEqual(out.getvalue(), "identical: 3 arrays\n")
            with redirect_stdout(io.StringIO()) as out:
                self.assertEqual(main(["compare", str(before), str(after)]), 1)
            self.assertEqual(out.getvalue(), "b_labels: 8 of 8 labels differ\n")


if __name__ == "__main__":
    unittest.main()
