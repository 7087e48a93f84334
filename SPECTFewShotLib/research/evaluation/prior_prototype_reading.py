"""What the per-study learner reads from the prototypes (issue 34): distances instead of probabilities, fewer
prototypes, no boundary prototypes, a softer softmax, measured against the product's default in one run.

The product (classification/prior_features.py) gives the learner, per class but the myocardium (prior_channels),
the cross-fitted softmax probability of the nearest prototypes: a painted voxel of fold f reads prototypes built
without fold f, every other voxel the mean over the folds. A softmax hides "far from every prototype": a voxel
unlike anything painted still gets probabilities summing to 1. A variant (tokens joined by "+"; "default" the
product) changes what each fold's prototypes give, the cross-fitting untouched:

- `dist`: per class, the distance of the voxel's embedding to that class's nearest prototype (Euclidean, or
  1 - cosine similarity under a cosine network), instead of the probability;
- `prob`: the probability (with `dist`: both, the distances' columns after the probabilities');
- `kN` (e.g. `k1`, `k4`): at most N prototypes per class (the product's MAX_PROTOTYPES_PER_CLASS is 12);
- `nobound`: no boundary prototypes;
- `tX` (e.g. `t4`): the softmax's temperature multiplied by X (above 1 a softer softmax that saturates less far
  from the prototypes: the same idea as the distances, keeping the probabilities' scale).

Only the study classifier changes; its ablation without ProtoNet (the share's reference) reads no prior.

    python -m SPECTFewShotLib.research.evaluation.prior_prototype_reading \\
        --real-model 001=.../protonet-loso-not001.pt --studies 001 --seeds 0,1,2 \\
        --variants default dist dist+prob k4 -o FILE.md
    python -m SPECTFewShotLib.research.evaluation.prior_prototype_reading --cost 128 --variants default dist

Results: docs/evaluation/classify/classify_prior_reading.md and docs/decisions.md ("What the learner reads from the
prototypes, measured").
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator, Optional, Sequence
from unittest import mock

import numpy as np

from SPECTFewShotLib.classification.prior_features import CrossFittedPrior, held_out_prototypes
from SPECTFewShotLib.protonet.prototypes import (
    CHUNK,
    MAX_PROTOTYPES_PER_CLASS,
    Prototypes,
    column_probabilities,
    normalize_rows,
)
from SPECTFewShotLib.research.evaluation.classify_evaluation import real_models_from
from SPECTFewShotLib.research.evaluation.prior_head_tuning import (
    evaluate_variants,
    grid_columns,
    report_run,
    share_parser,
    sized_paint,
    timed_priors,
    variant_sections,
)
from SPECTFewShotLib.runtime.threads import one_blas_thread

DEFAULT_VARIANTS = ["default", "dist", "dist+prob"]


def parse_variant(text: str) -> dict:
    """'default' or tokens joined by '+' (dist, prob, kN, nobound, tX) -> {"distances": bool, "probabilities":
    bool, "max_per_class": int, "boundary": bool, "temperature": float}; without dist or prob, the probabilities."""
    settings: dict = {"distances": False, "probabilities": False, "max_per_class": MAX_PROTOTYPES_PER_CLASS,
                      "boundary": True, "temperature": 1.0}
    if text != "default":
        for token in text.split("+"):
            if token == "dist":
                settings["distances"] = True
            elif token == "prob":
                settings["probabilities"] = True
            elif token.startswith("k") and token[1:].isdigit() and int(token[1:]) >= 1:
                settings["max_per_class"] = int(token[1:])
            elif token == "nobound":
                settings["boundary"] = False
            elif token.startswith("t") and _positive(token[1:]):
                settings["temperature"] = float(token[1:])
            else:
                raise ValueError(f"unknown variant token {token!r} in {text!r}")
    if not settings["distances"]:
        settings["probabilities"] = True
    return settings


def _positive(text: str) -> bool:
    """Whether `text` reads as a positive float."""
    try:
        return float(text) > 0
    except ValueError:
        return False


def nearest_distances(columns: np.ndarray, prototypes: Prototypes, metric: str = "euclidean") -> np.ndarray:
    """Per class, the distance [C, N] (float32) of every column of `columns` [D, N] to that class's nearest
    prototype: Euclidean, or 1 - cosine similarity for metric 'cosine' (columns already L2-normalised)."""
    vectors = np.asarray(prototypes.vectors, dtype=np.float32)
    if metric == "cosine":
        vectors = normalize_rows(vectors)
    class_of = np.asarray(prototypes.class_of)
    squared_norms = (vectors * vectors).sum(1)[:, None]
    n = columns.shape[1]
    out = np.empty((prototypes.n_classes, n), dtype=np.float32)
    with one_blas_thread():
        for start in range(0, n, CHUNK):
            block = columns[:, start:start + CHUNK]
            products = vectors @ block  # [P, n']
            if metric == "cosine":
                distance = 1.0 - products
            else:
                distance = squared_norms - 2.0 * products + (block * block).sum(0)[None, :]
            for c in range(prototypes.n_classes):
                out[c, start:start + CHUNK] = distance[class_of == c].min(0)
    if metric != "cosine":
        np.sqrt(np.maximum(out, 0.0, out=out), out=out)
    return out


def readings(columns: np.ndarray, prototypes: Prototypes, settings: dict, temperature: float, metric: str
             ) -> np.ndarray:
    """What the learner reads of the columns [D, N] against the prototypes under a variant's settings: the
    probabilities [C, N] (softmax temperature times settings["temperature"]), the distances [C, N] or both
    stacked [2C, N] (float32)."""
    parts = []
    if settings["probabilities"]:
        parts.append(column_probabilities(columns, prototypes, temperature * settings["temperature"], metric))
    if settings["distances"]:
        parts.append(nearest_distances(columns, prototypes, metric))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


class ReadingPrior(CrossFittedPrior):
    """CrossFittedPrior whose folds' cells hold a variant's readings (parse_variant) of prototypes built under the
    variant's limits; cross-fitting as the product: a fold's cells come from prototypes without that fold."""

    def __init__(self, prior: Any, painted: np.ndarray, where: np.ndarray, settings: dict) -> None:
        """As CrossFittedPrior, with the variant's `settings`."""
        started = time.perf_counter()
        self.settings = settings
        self.features = grid_columns(prior)
        super().__init__(prior, painted, where)
        self.seconds = time.perf_counter() - started

    def fold_cells(self, fold: int) -> np.ndarray:
        """The variant's readings [R, k', j', i'] of the prototypes built without fold `fold`'s paint."""
        edge = self.edge if self.settings["boundary"] else np.zeros_like(self.edge)
        prototypes = held_out_prototypes(self.columns, self.classes, edge, self.folds == fold, self.n_classes,
                                         self.settings["max_per_class"])
        values = readings(self.features, prototypes, self.settings, float(self.prior.network.temperature),
                          self.prior.network.config.metric)
        return values.reshape(values.shape[0], *self.prior.grid.cells)


def read_channels(keep: list[int], n_classes: int, settings: dict) -> list[int]:
    """The reading rows the learner takes for the classes `keep` (the product's prior_channels): the same rows,
    or with both readings each class's probability row and its distance row (n_classes further on)."""
    if settings["probabilities"] and settings["distances"]:
        return list(keep) + [n_classes + c for c in keep]
    return list(keep)


@contextlib.contextmanager
def reading_variant(settings: Optional[dict]) -> Iterator[list]:
    """The study session's cross-fitted prior replaced by ReadingPrior(settings) (the product's, timed, for None),
    and the rows the learner takes widened to both readings when the variant has both; yields the priors built."""
    from SPECTFewShotLib.classification import session as session_module

    factory, built = timed_priors(CrossFittedPrior if settings is None else (
        lambda prior, painted, where: ReadingPrior(prior, painted, where, settings)))
    original_channels = session_module.prior_channels

    def channels(support: Any) -> list[int]:
        keep = original_channels(support)
        return keep if settings is None else read_channels(keep, len(support.segments), settings)

    with mock.patch.object(session_module, "CrossFittedPrior", factory), \
            mock.patch.object(session_module, "prior_channels", channels):
        yield built


def evaluate(studies: Sequence[str], real_models: dict, variants: Sequence[str], states: Sequence[int]
             ) -> tuple[dict, dict]:
    """Per variant, the CaseResults of the study classifier and of its ablation without ProtoNet (run once per
    setting and state, shared) on the conditions of the chosen studies; per variant, its priors' seconds."""
    parsed = {v: None if v == "default" else parse_variant(v) for v in variants}
    return evaluate_variants(studies, real_models, variants, states, lambda v: reading_variant(parsed[v]))


def cost(size: int, variants: Sequence[str], repeats: int = 3) -> dict:
    """Per variant, the median seconds of its cross-fitted prior for one paint (prior_head_tuning.sized_paint; the
    untrained network), variants in turn."""
    prior, painted, where = sized_paint(size)
    seconds: dict = {v: [] for v in variants}
    for _ in range(repeats):
        for variant in variants:
            started = time.perf_counter()
            if variant == "default":
                CrossFittedPrior(prior, painted, where)
            else:
                ReadingPrior(prior, painted, where, parse_variant(variant))
            seconds[variant].append(time.perf_counter() - started)
    return {v: float(np.median(s)) for v, s in seconds.items()}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the variants (or --cost), print and write the markdown."""
    parser = share_parser(__doc__.splitlines()[0], DEFAULT_VARIANTS)
    parser.add_argument("--cost", type=int, metavar="SIZE",
                        help="instead: each variant's seconds of its cross-fitted prior at SIZE^3")
    args = parser.parse_args(argv)
    for variant in args.variants:
        if variant != "default":
            parse_variant(variant)
    started = time.perf_counter()
    if args.cost:
        text = "| variant | cross-fitted prior per paint change (s) |\n|---|---|\n" + "".join(
            f"| `{v}` | {s:.3f} |\n" for v, s in cost(args.cost, args.variants).items())
    else:
        seeds = [int(s) for s in args.seeds.split(",")]
        results, seconds = evaluate(args.studies, real_models_from(args.real_model), args.variants, seeds)
        text = variant_sections(args.variants, results, lambda v: (
            f"Cross-fitted prior per paint change: median {np.median(seconds[v]):.3f} s"))
    report_run(text, started, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
