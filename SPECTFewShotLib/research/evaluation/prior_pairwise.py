"""ProtoNet in the graph cut's pairwise term (issue 34): the Potts weights from the embedding's leading principal
components or from the cross-fitted prior's probabilities, alone or multiplied with the counts' contrast term,
measured against the product's default (contrast on the counts only) in one run.

The product's graph cut (classification/graph_cut.py) weighs a pair of face neighbours with different labels by
    w_pq = smoothness * (smallest spacing / spacing along the pair's axis) * exp(-beta (I_p - I_q)^2)
on the normalised, smoothed counts. A variant (tokens joined by "+"; "default" the product) replaces or multiplies
that contrast factor with
    exp(-beta_x ||x_p - x_q||^2),  beta_x = 1 / (2 <||x_p - x_q||^2>) over the volume's pairs,
for x:

- `embN` (e.g. `emb4`): the embedding's N leading principal components (the learner reads the first 4); paint-free,
  computed once per volume. `embNw`: the same components each divided by its standard deviation over the volume
  (every component weighs alike; unwhitened, the first dominates).
- `prior`: the cross-fitted prior's probabilities (the mean over the folds, every class: what the learner's prior
  channels hold); computed once per paint change. The graph cut does not train and painted voxels are hard
  constraints, so nothing of the paint leaks into a painted voxel's own answer.
- `counts`: keep the product's counts term in the product (without it the new term replaces it).
- `sX` (e.g. `s6`, `s1.5`): the smoothness (the product's SMOOTHNESS, 3, otherwise).
- `bX` (e.g. `b0.25`): beta_x of the new terms multiplied by X (below 1 a softer contrast; the counts' unchanged).
- `norm`: the weights rescaled so that their mean over the volume's pairs is the product's (the new factors,
  all below 1, otherwise lower the smoothing overall; this keeps its scale and moves only where it acts).

Only the study classifier's graph cut changes; its ablation without ProtoNet (the share's reference) keeps the
counts' term, as the product's does.

    python -m SPECTFewShotLib.research.evaluation.prior_pairwise --real-model 001=.../protonet-loso-not001.pt \\
        --studies 001 --seeds 0,1,2 --variants default emb4 emb4+counts prior+counts -o FILE.md
    python -m SPECTFewShotLib.research.evaluation.prior_pairwise --cost 128   # seconds of each term at 128^3

Results: docs/evaluation/classify/classify_prior_pairwise.md and docs/decisions.md ("The embedding in the graph
cut's pairwise term, measured").
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Iterator, Optional, Sequence
from unittest import mock

import numpy as np

from SPECTFewShotLib.research.evaluation.classify_evaluation import real_models_from
from SPECTFewShotLib.research.evaluation.prior_far_slices import checked_paint
from SPECTFewShotLib.research.evaluation.prior_head_tuning import (
    ablated_settings,
    report_run,
    scored,
    share_parser,
    variant_sections,
)

DEFAULT_VARIANTS = ["default", "emb4", "emb4+counts", "prior+counts"]


def parse_variant(text: str) -> dict:
    """'default' or tokens joined by '+' (embN, embNw, prior, counts, sX, bX, norm) -> {"embedding": N or 0,
    "whiten": bool, "prior": bool, "counts": bool, "smoothness": float or None, "beta": float, "norm": bool};
    "default" is the counts' term alone."""
    settings: dict = {"embedding": 0, "whiten": False, "prior": False, "counts": False, "smoothness": None,
                      "beta": 1.0, "norm": False}
    if text == "default":
        settings["counts"] = True
        return settings
    for token in text.split("+"):
        if token.startswith("emb") and token[3:].rstrip("w").isdigit():
            settings["embedding"], settings["whiten"] = int(token[3:].rstrip("w")), token.endswith("w")
        elif token == "prior":
            settings["prior"] = True
        elif token == "counts":
            settings["counts"] = True
        elif token.startswith("s") and _is_number(token[1:]):
            settings["smoothness"] = float(token[1:])
        elif token.startswith("b") and _is_number(token[1:]):
            settings["beta"] = float(token[1:])
        elif token == "norm":
            settings["norm"] = True
        else:
            raise ValueError(f"unknown variant token {token!r} in {text!r}")
    if not (settings["embedding"] or settings["prior"] or settings["counts"]):
        raise ValueError(f"variant {text!r} has no pairwise term")
    return settings


def _is_number(text: str) -> bool:
    """Whether `text` reads as a float."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def contrast_factors(channels: np.ndarray, scale: float = 1.0) -> list[np.ndarray]:
    """exp(-beta ||x_p - x_q||^2) of each voxel's pair with its next neighbour along k, j and i (float64, 0 on the
    last plane) for channels [C, k, j, i]; beta = scale / (2 <||x_p - x_q||^2>) over all the volume's pairs."""
    channels = np.asarray(channels, dtype=np.float32)
    shape = channels.shape[1:]
    squared = []
    for axis in range(3):
        d = np.zeros(shape, dtype=np.float64)
        d[_along(axis, 0, -1)] = np.square(np.diff(channels, axis=axis + 1), dtype=np.float64).sum(0)
        squared.append(d)
    pairs = sum(int(np.prod(shape)) - int(np.prod(shape)) // shape[a] for a in range(3))
    beta = scale / (2.0 * sum(float(d.sum()) for d in squared) / max(pairs, 1) + 1e-12)
    factors = []
    for axis, d in enumerate(squared):
        f = np.exp(-beta * d)
        f[_along(axis, -1, None)] = 0.0
        factors.append(f)
    return factors


def spacing_factors(spacing_kji: Sequence[float]) -> list[float]:
    """Per axis k, j, i: the smallest spacing over the spacing along that axis (the product's anisotropy factor)."""
    low = min(float(s) for s in spacing_kji)
    return [low / float(s) for s in spacing_kji]


def whitened(components: np.ndarray) -> np.ndarray:
    """Each component [C, k, j, i] divided by its standard deviation over the volume (a constant one unchanged)."""
    scale = components.reshape(components.shape[0], -1).std(1)
    return components / np.where(scale > 0, scale, 1.0)[:, None, None, None].astype(components.dtype)


def variant_weights(settings: dict, counts_weights: Sequence[np.ndarray], spacing_kji: Sequence[float],
                    session_smoothness: float, embedding: Optional[np.ndarray] = None,
                    prior: Optional[np.ndarray] = None) -> list[np.ndarray]:
    """The variant's Potts weights per axis from the product's (`counts_weights`, made with `session_smoothness`),
    the embedding's components [N, k, j, i] and the prior's probabilities [C, k, j, i] (each needed only when the
    variant reads it)."""
    smoothness = session_smoothness if settings["smoothness"] is None else settings["smoothness"]
    if settings["counts"]:
        weights = [np.asarray(w, dtype=np.float64) * (smoothness / session_smoothness) for w in counts_weights]
    else:
        shape = counts_weights[0].shape
        weights = []
        for axis, factor in enumerate(spacing_factors(spacing_kji)):
            w = np.full(shape, smoothness * factor, dtype=np.float64)
            w[_along(axis, -1, None)] = 0.0
            weights.append(w)
    terms = []
    if settings["embedding"]:
        assert embedding is not None, "the variant reads the embedding"
        terms.append(whitened(embedding) if settings["whiten"] else embedding)
    if settings["prior"]:
        assert prior is not None, "the variant reads the prior"
        terms.append(prior)
    for channels in terms:
        for w, factor in zip(weights, contrast_factors(channels, settings["beta"])):
            w *= factor
    if settings["norm"] and terms:
        reference = sum(float(np.sum(w)) for w in counts_weights) * (smoothness / session_smoothness)
        total = sum(float(np.sum(w)) for w in weights)
        for w in weights:
            w *= reference / total if total > 0 else 1.0
    return weights


@contextlib.contextmanager
def pairwise_term(weights_for: Callable[[Sequence[np.ndarray]], list[np.ndarray]]) -> Iterator[list]:
    """The study session's graph cut reading weights_for(the product's weights) instead of the product's weights;
    yields the list of weights it used (one entry per graph cut), so a caller can check them."""
    from SPECTFewShotLib.classification import session as session_module

    original = session_module.alpha_expansion
    used: list = []

    def expansion(probabilities: np.ndarray, weights: list, painted: np.ndarray, active: Any = None,
                  **options: Any) -> np.ndarray:
        chosen = weights_for(weights)
        used.append(chosen)
        return original(probabilities, chosen, painted, active, **options)

    with mock.patch.object(session_module, "alpha_expansion", expansion):
        yield used


def boundary_ratio(weights: Sequence[np.ndarray], classes: np.ndarray) -> float:
    """The mean Potts weight of the face-neighbour pairs whose reference classes differ over that of the pairs
    within one class (below 1: the weights mark the true boundary; the lower, the sharper)."""
    across, within = [], []
    for axis, w in enumerate(weights):
        head = _along(axis, 0, -1)
        differ = classes[head] != classes[_along(axis, 1, None)]
        across.append(w[head][differ])
        within.append(w[head][~differ])
    a, b = np.concatenate(across), np.concatenate(within)
    return float(a.mean() / b.mean()) if a.size and b.size and b.mean() > 0 else float("nan")


def evaluate(studies: Sequence[str], real_models: dict, variants: Sequence[str], states: Sequence[int]
             ) -> tuple[dict, dict, dict]:
    """Per variant, the CaseResults of the study classifier and of its ablation without ProtoNet (run once per
    setting and state, shared) on the conditions of the chosen studies; per variant, the seconds its pairwise
    weights took per paint change (the per-volume embedding's components counted once per case, not here); per
    variant, each setting's boundary_ratio of the weights its graph cut read (the first state)."""
    from SPECTFewShotLib.classification.session import spacing_kji
    from SPECTFewShotLib.research.evaluation.classify_evaluation import STUDY

    results: dict = {v: [] for v in variants}
    seconds: dict = {v: [] for v in variants}
    ratios: dict = {v: [] for v in variants}
    parsed = {v: parse_variant(v) for v in variants}
    needed = max((s["embedding"] for s in parsed.values()), default=0)
    components: dict = {}
    checked: dict = {}
    for group, case, session, where, protocol, painted, state, without in ablated_settings(studies, real_models,
                                                                                           states):
        if checked.get("painted") is not painted:
            checked = {"painted": painted, "paint": checked_paint(painted, case.volume)[1:]}
        if needed and components.get("case") != (group, case.name):
            components = {"case": (group, case.name), "values": session.prior.principal_channels(needed)}
        spacing = spacing_kji(case.volume)
        for variant in variants:
            settings = parsed[variant]
            session.set_support(painted)
            spent: list = []
            embedding = components["values"][:settings["embedding"]] if settings["embedding"] else None
            weights_for = weights_maker(settings, session, checked["paint"], spacing, embedding, spent)
            with pairwise_term(weights_for) as used:
                labels = session.predict("full").labels.labels.array
            seconds[variant].append(sum(spent))
            if state == states[0]:
                ratios[variant].append(boundary_ratio(used[0], case.class_map))
            results[variant] += [without, scored(case, group, protocol, where, STUDY, labels, state)]
    return results, seconds, ratios


def weights_maker(settings: dict, session: Any, paint: tuple, spacing: Sequence[float],
                  embedding: Optional[np.ndarray], spent: list) -> Callable[[Sequence[np.ndarray]], list[np.ndarray]]:
    """For pairwise_term: the product's weights -> the variant's, reading the session's cross-fitted prior for the
    `paint` (class index map, painted voxels) when the variant needs it; appends each call's seconds to `spent`."""

    def weights_for(product: Sequence[np.ndarray]) -> list[np.ndarray]:
        started = time.perf_counter()
        prior = session.cross_fitted_prior(*paint).voxels() if settings["prior"] else None
        chosen = variant_weights(settings, product, spacing, session.smoothness, embedding, prior)
        spent.append(time.perf_counter() - started)
        return chosen

    return weights_for


def cost(size: int, variants: Sequence[str], repeats: int = 3, seed: int = 0) -> dict:
    """Per variant, the median seconds of its weights at size^3 (4.0 mm voxels) from random channels: the
    embedding's term (per volume) and the rest (per paint change: the prior's term and the product)."""
    rng = np.random.default_rng(seed)
    shape = (size, size, size)
    counts = [rng.random(shape) for _ in range(3)]
    prior = rng.random((3, *shape)).astype(np.float32)
    out = {}
    for variant in variants:
        settings = parse_variant(variant)
        embedding = rng.normal(size=(max(settings["embedding"], 1), *shape)).astype(np.float32)
        per_volume, per_paint = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            factors = contrast_factors(embedding) if settings["embedding"] else None
            per_volume.append(time.perf_counter() - started)
            started = time.perf_counter()
            base = variant_weights({**settings, "embedding": 0}, counts, (4.0, 4.0, 4.0), 3.0, None,
                                   prior if settings["prior"] else None)
            if factors is not None:
                base = [w * f for w, f in zip(base, factors)]
            per_paint.append(time.perf_counter() - started)
        out[variant] = (float(np.median(per_volume)), float(np.median(per_paint)))
    return out


def _along(axis: int, start: int, stop: int | None) -> tuple:
    """An index taking start:stop along `axis` of a [k, j, i] array and everything along the others."""
    index: list = [slice(None)] * 3
    index[axis] = slice(start, stop)
    return tuple(index)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the variants (or --cost), print and write the markdown."""
    parser = share_parser(__doc__.splitlines()[0], DEFAULT_VARIANTS)
    parser.add_argument("--cost", type=int, metavar="SIZE",
                        help="instead: each variant's seconds for its weights at SIZE^3 (random channels)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.cost:
        text = "| variant | per volume (s) | per paint change (s) |\n|---|---|---|\n" + "".join(
            f"| `{v}` | {a:.3f} | {b:.3f} |\n" for v, (a, b) in cost(args.cost, args.variants).items())
    else:
        seeds = [int(s) for s in args.seeds.split(",")]
        results, seconds, ratios = evaluate(args.studies, real_models_from(args.real_model), args.variants, seeds)
        text = variant_sections(args.variants, results, lambda v: (
            f"Pairwise weights per paint change: median {np.median(seconds[v]):.3f} s; the true boundary's pairs' "
            f"mean weight over the other pairs' (boundary_ratio), median over the settings: "
            f"{np.nanmedian(ratios[v]):.3f}"))
    report_run(text, started, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
