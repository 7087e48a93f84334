"""ProtoNet in the graph cut's pairwise term (research/evaluation/prior_pairwise.py): the contrast factors fall
across an edge of the channels, the variants parse, and the study session's graph cut reads the embedding's term."""

from __future__ import annotations

import unittest

import numpy as np

from SPECTFewShotLib.classification.graph_cut import SMOOTHNESS, contrast_weights
from SPECTFewShotLib.classification.session import StudySession, spacing_kji
from SPECTFewShotLib.research.evaluation import prior_pairwise as pairwise
from Testing.fixtures import ring_volume, support_from, tiny_network


class HelpersTest(unittest.TestCase):
    def test_variants_parse(self):
        default = pairwise.parse_variant("default")
        self.assertTrue(default["counts"])
        self.assertEqual(default["embedding"], 0)
        self.assertEqual(pairwise.parse_variant("emb8w+counts+s4.5+b0.25+norm"),
                         {"embedding": 8, "whiten": True, "prior": False, "counts": True, "smoothness": 4.5,
                          "beta": 0.25, "norm": True})
        self.assertEqual(pairwise.parse_variant("prior")["counts"], False)
        for text in ("s6", "emb", "smooth"):
            with self.assertRaises(ValueError):
                pairwise.parse_variant(text)

    def test_contrast_factors_fall_across_an_edge_and_ignore_the_scale(self):
        channels = np.zeros((2, 6, 5, 4), dtype=np.float32)
        channels[:, 3:] = 1.0  # an edge between k = 2 and k = 3
        channels += np.random.default_rng(0).normal(0, 0.05, channels.shape).astype(np.float32)
        factors = pairwise.contrast_factors(channels)
        self.assertLess(factors[0][2].max(), factors[0][1].min())
        self.assertTrue(np.all(factors[0][-1] == 0) and np.all(factors[2][..., -1] == 0))
        scaled = pairwise.contrast_factors(channels * 40.0)
        for a, b in zip(factors, scaled):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-12)

    def test_a_single_channel_gives_the_products_contrast(self):
        image = np.random.default_rng(1).random((5, 6, 7)).astype(np.float32)
        spacing = (4.0, 4.0, 5.0)
        product = contrast_weights(image, spacing, 2.0)
        for w, f, s in zip(product, pairwise.contrast_factors(image[None]), pairwise.spacing_factors(spacing)):
            np.testing.assert_allclose(w, 2.0 * s * f, rtol=1e-5, atol=1e-12)

    def test_the_embedding_term_replaces_or_multiplies_the_counts(self):
        rng = np.random.default_rng(2)
        counts = [rng.random((4, 5, 6)) + 0.5 for _ in range(3)]
        embedding = rng.normal(size=(4, 4, 5, 6)).astype(np.float32)
        spacing = (4.0, 4.0, 4.0)
        alone = pairwise.variant_weights(pairwise.parse_variant("emb4"), counts, spacing, 3.0, embedding)
        other = pairwise.variant_weights(pairwise.parse_variant("emb4"), [c * 2 for c in counts], spacing, 3.0,
                                         embedding)
        factors = pairwise.contrast_factors(embedding)
        for a, b, f in zip(alone, other, factors):
            np.testing.assert_allclose(a, b)  # the counts' weights are not read
            np.testing.assert_allclose(a, 3.0 * f)
        both = pairwise.variant_weights(pairwise.parse_variant("emb4+counts+s6"), counts, spacing, 3.0, embedding)
        for w, c, f in zip(both, counts, factors):
            np.testing.assert_allclose(w, 2.0 * c * f)
        normed = pairwise.variant_weights(pairwise.parse_variant("emb4+counts+norm+b0.5"), counts, spacing, 3.0,
                                          embedding)
        self.assertAlmostEqual(sum(float(w.sum()) for w in normed), sum(float(c.sum()) for c in counts))
        softer = pairwise.contrast_factors(embedding, 0.5)
        inside = softer[0] > 0  # not the last plane
        ratio = normed[0][inside] / (counts[0] * softer[0])[inside]
        np.testing.assert_allclose(ratio, ratio[0])  # one scale for every pair
        self.assertFalse(np.allclose(softer[0], factors[0]))
        with self.assertRaises(AssertionError):
            pairwise.variant_weights(pairwise.parse_variant("prior"), counts, spacing, 3.0, embedding)


    def test_boundary_ratio_is_low_where_the_weights_fall_on_the_class_edge(self):
        classes = np.zeros((6, 4, 4), dtype=np.int32)
        classes[3:] = 1
        sharp = [np.ones(classes.shape) for _ in range(3)]
        sharp[0][2] = 0.1  # the pairs (k = 2, k = 3): the class edge
        self.assertAlmostEqual(pairwise.boundary_ratio(sharp, classes), 0.1)
        flat = [np.ones(classes.shape) for _ in range(3)]
        self.assertAlmostEqual(pairwise.boundary_ratio(flat, classes), 1.0)


class SessionTest(unittest.TestCase):
    def test_the_study_sessions_graph_cut_reads_the_embeddings_term(self):
        volume, classes = ring_volume(size=20)
        session = StudySession(network=tiny_network(), device="cpu")
        session.set_volume(volume)
        session.set_support(support_from(volume, classes, [6, 13]))
        components = session.prior.principal_channels(4)
        settings = pairwise.parse_variant("emb4")
        seen: list = []

        def weights_for(product):
            seen.append(product)
            return pairwise.variant_weights(settings, product, spacing_kji(volume), session.smoothness, components)

        with pairwise.pairwise_term(weights_for) as used:
            session.predict("full")
        self.assertEqual(len(used), 1)
        expected = [SMOOTHNESS * f * c for f, c in zip(pairwise.spacing_factors(spacing_kji(volume)),
                                                       pairwise.contrast_factors(components))]
        for w, e, product in zip(used[0], expected, seen[0]):
            np.testing.assert_allclose(w, e, rtol=1e-5)
            self.assertGreater(np.abs(w - product).max(), 0.1)  # not the counts' weights
        settings = pairwise.parse_variant("default")
        with pairwise.pairwise_term(weights_for) as used:
            session.predict("full")
        for w, product in zip(used[0], seen[-1]):
            np.testing.assert_array_equal(w, product)  # the default is the product's weights


if __name__ == "__main__":
    unittest.main()
