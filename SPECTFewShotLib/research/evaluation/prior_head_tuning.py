"""Test-time fine-tuning of the embedding's head on the paint (BIFSeg, METHODS §7), cross-fitted: a research
candidate for issue 34, measured against the product's cross-fitted prior in one run.

The head is a linear map W of the ProtoNet embedding (D x D, initialised at the identity; or only a re-weighting of
the channels, W diagonal) trained in numpy with the prototypical loss on the painted voxels. Cross-fitted like the
product's prior (classification/prior_features.py): for fold f of the paint, W_f is trained on the other folds'
paint only, in episodes of its own (prototypes from all those folds but one, queries from that one), and fold f's
probabilities come from W_f and the prototypes of the other folds; no painted voxel's probabilities depend on its
own paint. The unpainted voxels get the mean over the folds, as in the product. With fewer than two training folds
there is no inner check and W_f stays the identity (the product's probabilities exactly).

The prototypes are the product's (k-means and boundary prototypes, prototypes.build_prototypes) in the raw
embedding; a linear head commutes with their means, so the head changes only the distance: for squared Euclidean
distance |W(f - c)|^2 = f'Af - 2 f'Ac + c'Ac with A = W'W, and f'Af is the same for every prototype, so the
probabilities cost what the product's cost (one product per prototype and cell).

Run (each study with ProtoNet weights that never saw it; the "without ProtoNet" rows run once per setting and
random state, shared by every variant):

    python -m SPECTFewShotLib.research.evaluation.prior_head_tuning --real-model 001=...not001.pt \\
        --real-model 003=...not003.pt --studies 001 --seeds 0,1,2 --variants default full diagonal -o FILE.md

With --prior-alone instead: what the cross-fitted prior alone says on the same settings (the painted voxels'
held-out probabilities, the argmax of the unpainted voxels' on the unpainted slices); with --cost SIZE: each
variant's seconds per paint change on the bundled study at SIZE^3. Results:
docs/evaluation/classify/classify_prior_head_tuning.md and docs/decisions.md ("Test-time head fine-tuning (BIFSeg),
measured").
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, ContextManager, Iterator, Optional, Sequence
from unittest import mock

import numpy as np

from SPECTFewShotLib.classification.prior_features import (
    CrossFittedPrior,
    held_out_prototypes,
)
from SPECTFewShotLib.protonet.prototypes import Prototypes, build_prototypes, classes_missing, prototype_mixture
from SPECTFewShotLib.runtime.threads import one_blas_thread

KINDS = ("full", "diagonal")


@dataclass(frozen=True)
class HeadSettings:
    """How the test-time head is trained: `kind` "full" (W is D x D) or "diagonal" (W re-weights the channels);
    Adam `steps` at `learning_rate`; `decay` weighs |W - I|^2 against the loss; at most `queries_per_class` query
    voxels per class and episode (an even spread)."""

    kind: str = "full"
    steps: int = 30
    learning_rate: float = 0.02
    decay: float = 0.1
    queries_per_class: int = 300


@dataclass(frozen=True)
class Episode:
    """One inner episode: query embeddings [n, D] with class indices [n] and per-query weights [n] (each class
    weighs the same), prototype vectors [P, D] with their classes [P]."""

    queries: np.ndarray
    classes: np.ndarray
    weights: np.ndarray
    prototypes: np.ndarray
    class_of: np.ndarray


def episode_loss(head: np.ndarray, episode: Episode, temperature: float, n_classes: int, diagonal: bool
                 ) -> tuple[float, np.ndarray]:
    """The prototypical loss of one episode under the head (W [D, D], or its diagonal [D]) and its gradient with
    respect to the head: the weighted cross-entropy of each query's class probability, the softmax over the
    prototypes of -|W q - W c|^2 / T summed over each class's prototypes."""
    q, c = episode.queries, episode.prototypes
    u = q * head if diagonal else q @ head.T  # [n, D]
    v = c * head if diagonal else c @ head.T  # [P, D]
    logits = (2.0 * (u @ v.T) - (v * v).sum(1)[None, :] - (u * u).sum(1)[:, None]) / temperature
    logits -= logits.max(1, keepdims=True)
    soft = np.exp(logits)
    soft /= soft.sum(1, keepdims=True)
    member = episode.class_of[None, :] == episode.classes[:, None]  # [n, P]: the prototypes of the query's class
    mine = (soft * member).sum(1)
    loss = float(-(episode.weights * np.log(np.maximum(mine, 1e-30))).sum())
    # d loss / d logit_p = w * (s_p - [p in y] s_p / sum_{p' in y} s_p'); the rows sum to zero
    g = episode.weights[:, None] * (soft - member * soft / np.maximum(mine, 1e-30)[:, None])
    # logit_qp = -|u_q - v_p|^2 / T: d/du_q = (2/T) sum_p g_qp v_p (the rows of g sum to zero), d/dv_p =
    # (2/T) (sum_q g_qp u_q - (sum_q g_qp) v_p)
    du = (2.0 / temperature) * (g @ v)
    dv = (2.0 / temperature) * (g.T @ u - g.sum(0)[:, None] * v)
    grad = (du * q).sum(0) + (dv * c).sum(0) if diagonal else du.T @ q + dv.T @ c
    return loss, grad


def train_head(episodes: Sequence[Episode], dims: int, temperature: float, n_classes: int,
               settings: HeadSettings) -> np.ndarray:
    """The head W [D, D] trained by Adam on the episodes' mean loss plus decay |W - I|^2, from the identity (the
    identity itself without episodes)."""
    diagonal = settings.kind == "diagonal"
    identity = np.ones(dims) if diagonal else np.eye(dims)
    head = identity.copy()
    if not episodes:
        return np.diag(head) if diagonal else head
    first, second = np.zeros_like(head), np.zeros_like(head)
    beta1, beta2 = 0.9, 0.999
    for step in range(1, settings.steps + 1):
        grad = 2.0 * settings.decay * (head - identity)
        for episode in episodes:
            grad += episode_loss(head, episode, temperature, n_classes, diagonal)[1] / len(episodes)
        first = beta1 * first + (1 - beta1) * grad
        second = beta2 * second + (1 - beta2) * grad * grad
        head -= settings.learning_rate * (first / (1 - beta1 ** step)) / (np.sqrt(second / (1 - beta2 ** step)) + 1e-8)
    return np.diag(head) if diagonal else head


def _spread_rows(rows: np.ndarray, classes: np.ndarray, limit: int) -> np.ndarray:
    """At most `limit` of `rows` per class, evenly spaced (deterministic)."""
    chosen = []
    for c in np.unique(classes[rows]):
        mine = rows[classes[rows] == c]
        if len(mine) > limit:
            mine = mine[(np.arange(limit) * (len(mine) / limit)).astype(np.int64)]
        chosen.append(mine)
    return np.concatenate(chosen)


def inner_episodes(columns: np.ndarray, classes: np.ndarray, edge: np.ndarray, folds: np.ndarray,
                   training: Sequence[int], n_classes: int, queries_per_class: int) -> list[Episode]:
    """One episode per training fold g (of at least two): prototypes (the product's) from the other training folds
    (a class painted only in g keeps its prototypes from g, as in the product), queries from fold g."""
    if len(training) < 2:
        return []
    episodes = []
    for g in training:
        support = np.flatnonzero(np.isin(folds, [t for t in training if t != g]))
        queries = np.flatnonzero(folds == g)
        missing = queries[classes_missing(classes[support], classes[queries], n_classes)]
        chosen = np.concatenate([support, missing]) if len(missing) else support
        present = np.unique(classes[chosen])
        if len(present) < n_classes:  # a class painted in no training fold: it cannot be a query's answer here
            continue
        prototypes = build_prototypes(columns[:, chosen].T, classes[chosen], n_classes, edge[chosen])
        picked = _spread_rows(queries, classes, queries_per_class)
        counts = np.bincount(classes[picked], minlength=n_classes).astype(np.float64)
        weights = 1.0 / (counts[classes[picked]] * np.count_nonzero(counts))
        episodes.append(Episode(columns[:, picked].T.astype(np.float64), classes[picked], weights,
                                np.asarray(prototypes.vectors, dtype=np.float64), np.asarray(prototypes.class_of)))
    return episodes


def metric_probabilities(columns: np.ndarray, prototypes: Prototypes, head: np.ndarray, temperature: float
                         ) -> np.ndarray:
    """Class probabilities [C, N] (float32) of the columns [D, N] against the prototypes under the head W: the
    softmax over the prototypes of -|W(f - c)|^2 / T, summed per class (f'Af dropped: the same for every
    prototype), block by block as prototypes.column_probabilities."""
    vectors = np.asarray(prototypes.vectors, dtype=np.float64)
    metric = head.T @ head
    weight = np.ascontiguousarray((2.0 * vectors @ metric / temperature).astype(np.float32))  # [P, D]
    bias = (-(vectors @ metric * vectors).sum(1) / temperature).astype(np.float32)[:, None]
    return prototype_mixture(columns, weight, bias, prototypes)


def grid_columns(prior: Any) -> np.ndarray:
    """The embedding [D, cells] (float32) of every cell of the prior's feature grid, in the grid's order."""
    cells = np.indices(prior.grid.cells).reshape(3, -1).T * prior.grid.stride  # one voxel per grid cell
    return np.ascontiguousarray(prior.embedding_columns(cells))


class HeadTunedPrior(CrossFittedPrior):
    """CrossFittedPrior whose fold f reads the embedding through a head trained on the other folds' paint only."""

    def __init__(self, prior: Any, painted: np.ndarray, where: np.ndarray,
                 settings: HeadSettings = HeadSettings()) -> None:
        """As CrossFittedPrior, with the head's `settings`."""
        started = time.perf_counter()
        self.settings = settings
        self.heads: dict[int, np.ndarray] = {}
        self.features = grid_columns(prior)
        super().__init__(prior, painted, where)
        self.seconds = time.perf_counter() - started

    def fold_cells(self, fold: int) -> np.ndarray:
        """Probabilities [C, k', j', i'] through the head trained on the other folds' paint, of the prototypes built
        without fold `fold`'s paint."""
        prototypes = held_out_prototypes(self.columns, self.classes, self.edge, self.folds == fold, self.n_classes)
        temperature = float(self.prior.network.temperature)
        with one_blas_thread():
            training = [int(f) for f in np.unique(self.folds) if f != fold]
            episodes = inner_episodes(self.columns, self.classes, self.edge, self.folds, training, self.n_classes,
                                      self.settings.queries_per_class)
            head = train_head(episodes, self.columns.shape[0], temperature, self.n_classes, self.settings)
        self.heads[int(fold)] = head
        return metric_probabilities(self.features, prototypes, head, temperature).reshape(self.n_classes,
                                                                                          *self.prior.grid.cells)


def timed_priors(build: Callable[[Any, np.ndarray, np.ndarray], CrossFittedPrior]) -> tuple[Callable, list]:
    """A stand-in for the session's CrossFittedPrior that builds each prior with `build`, timed (its `seconds`),
    and the list it appends every prior built to."""
    built: list = []

    def factory(prior: Any, painted: np.ndarray, where: np.ndarray) -> CrossFittedPrior:
        started = time.perf_counter()
        made = build(prior, painted, where)
        made.seconds = time.perf_counter() - started
        built.append(made)
        return made

    return factory, built


@contextlib.contextmanager
def head_variant(settings: Optional[HeadSettings]) -> Iterator[list]:
    """The study session's cross-fitted prior replaced by HeadTunedPrior(settings) (the product's for None, timed);
    yields the list of the priors built, each with its `seconds`."""
    factory, built = timed_priors(CrossFittedPrior if settings is None else (
        lambda prior, painted, where: HeadTunedPrior(prior, painted, where, settings)))
    with mock.patch("SPECTFewShotLib.classification.session.CrossFittedPrior", factory):
        yield built


def parse_variant(text: str) -> Optional[HeadSettings]:
    """'default' (the product), or KIND[:key=value,...] with KIND in KINDS and keys of HeadSettings, e.g.
    'full:steps=50,decay=0.3'."""
    if text == "default":
        return None
    kind, _, rest = text.partition(":")
    if kind not in KINDS:
        raise ValueError(f"unknown variant {text!r}")
    settings = HeadSettings(kind=kind)
    for pair in filter(None, rest.split(",")):
        key, _, value = pair.partition("=")
        field = type(getattr(settings, key))
        settings = replace(settings, **{key: field(value)})
    return settings


def painted_settings(studies: Sequence[str], real_models: dict) -> Iterator[tuple[str, Any, Any, np.ndarray, str, Any]]:
    """Every condition case of the chosen `studies` painted by each protocol: (group, case, a StudySession on the
    case's volume with its study's weights from `real_models`, the unpainted slices, protocol, the painted
    Segmentation); one session per weights, shared by the cases."""
    from SPECTFewShotLib.classification.session import StudySession
    from SPECTFewShotLib.io.segmentation_io import Segmentation, segments_for
    from SPECTFewShotLib.research.evaluation.cases import condition_cases, cut_heart_cases
    from SPECTFewShotLib.selftest.painting import PROTOCOLS, paint, unpainted_slices

    cases = [(g, c) for g, c in condition_cases() + cut_heart_cases() if any(f"patient{s}" in g for s in studies)]
    sessions: dict = {}
    for group, case in cases:
        model = next((m for p, m in real_models.items() if f"patient{p}" in group), None)
        session = sessions.setdefault(model, StudySession(model, "cpu"))
        session.set_volume(case.volume)
        where = unpainted_slices(case.class_map.shape, case.slices)
        for protocol in PROTOCOLS:
            support = paint(case.class_map, case.slices, protocol)
            yield group, case, session, where, protocol, Segmentation(case.volume.with_array(support),
                                                                      segments_for(case.classes, case.class_names))


def ablated_settings(studies: Sequence[str], real_models: dict, states: Sequence[int]) -> Iterator[tuple]:
    """Every setting (painted_settings) under every random state, with the study classifier's ablation without
    ProtoNet scored once for the variants to share: yields (group, case, session, where, protocol, painted, state,
    without); the session's random state is set and the paint given. Prints each setting's name when done."""
    from SPECTFewShotLib.research.evaluation.classify_evaluation import STUDY_WITHOUT_PROTONET

    for group, case, session, where, protocol, painted in painted_settings(studies, real_models):
        for state in states:
            session.random_state = state
            session.set_support(painted)
            without = scored(case, group, protocol, where, STUDY_WITHOUT_PROTONET,
                              session.predict("full", use_protonet=False).labels.labels.array, state)
            yield group, case, session, where, protocol, painted, state, without
        sys.stdout.write(f"  {case.name} {protocol}\n")
        sys.stdout.flush()


def evaluate(studies: Sequence[str], real_models: dict, variants: Sequence[str], states: Sequence[int]
             ) -> tuple[dict, dict]:
    """Per variant, the CaseResults of the study classifier and of its ablation without ProtoNet (the ablation
    run once per setting and state, shared) on the conditions of the chosen studies; per variant, the seconds its
    cross-fitted priors took."""
    parsed = {v: parse_variant(v) for v in variants}
    return evaluate_variants(studies, real_models, variants, states, lambda v: head_variant(parsed[v]))


def evaluate_variants(studies: Sequence[str], real_models: dict, variants: Sequence[str], states: Sequence[int],
                      patched: Callable[[str], ContextManager[list]]) -> tuple[dict, dict]:
    """Per variant, the CaseResults of the study classifier with `patched(variant)` in force (a context yielding
    the priors it builds, each with its `seconds`) and of its ablation without ProtoNet (run once per setting and
    state, shared), on the conditions of the chosen studies; per variant, the seconds of its priors per paint
    change."""
    from SPECTFewShotLib.research.evaluation.classify_evaluation import STUDY

    results: dict = {v: [] for v in variants}
    seconds: dict = {v: [] for v in variants}
    for group, case, session, where, protocol, painted, state, without in ablated_settings(studies, real_models,
                                                                                           states):
        for variant in variants:
            session.set_support(painted)  # a new cross-fitted prior for this variant
            with patched(variant) as built:
                labels = session.predict("full").labels.labels.array
            seconds[variant].append(sum(b.seconds for b in built))
            results[variant] += [without, scored(case, group, protocol, where, STUDY, labels, state)]
    return results, seconds


def prior_alone_scores(studies: Sequence[str], real_models: dict, variants: Sequence[str]) -> dict:
    """Per variant, one row per setting (case and painting) of what the cross-fitted prior alone says: the painted
    voxels' held-out log-probability of their class and accuracy (class-balanced means), and the Dice per class name
    of the argmax of the unpainted voxels' probabilities (the mean over the folds) on the unpainted slices."""
    from SPECTFewShotLib.protonet.support import check_support, class_index_map, painted_voxels
    from SPECTFewShotLib.research.evaluation.metrics import class_dice

    rows: dict = {v: [] for v in variants}
    for _, case, session, where, protocol, segmentation in painted_settings(studies, real_models):
        session.set_support(segmentation)
        session.prepare_prior()
        checked = check_support(segmentation, case.volume)
        painted = class_index_map(checked)
        voxels = painted_voxels(painted, checked.slices)
        classes = painted[tuple(voxels.T)]
        for variant in variants:
            settings = parse_variant(variant)
            prior = (CrossFittedPrior(session.prior, painted, voxels) if settings is None
                     else HeadTunedPrior(session.prior, painted, voxels, settings))
            held = prior.held_out()
            mine = held[np.arange(len(classes)), classes]
            present = np.unique(classes)
            log_p = float(np.mean([np.log(np.maximum(mine[classes == c], 1e-9)).mean() for c in present]))
            accuracy = float(np.mean([(held.argmax(1) == c)[classes == c].mean() for c in present]))
            labels = np.asarray(case.classes)[prior.voxels().argmax(0)]
            scores = class_dice(labels, case.class_map, case.classes, where)
            rows[variant].append({"case": case.name, "protocol": protocol, "log_p": log_p, "accuracy": accuracy,
                                  "dice": {case.class_names[c]: scores[c] for c in case.classes}})
    return rows


def sized_paint(size: int) -> tuple:
    """One paint for timing (the bundled study resampled to size^3, as `bench live-update --size` paints it: three
    quartile slices, full labels, two classes): the prior session on that volume, its class index map and painted
    voxels."""
    from SPECTFewShotLib.classification.prior_session import FewShotSession
    from SPECTFewShotLib.io.segmentation_io import Segmentation, read_segmentation, segments_for
    from SPECTFewShotLib.io.volume_io import read_volume
    from SPECTFewShotLib.protonet.support import check_support, class_index_map, painted_voxels
    from SPECTFewShotLib.research.evaluation.classify_identity import resampled
    from SPECTFewShotLib.resources import sample_study
    from SPECTFewShotLib.selftest.painting import paint_slices, quartile_slices

    image, mask = sample_study()
    volume, wall = resampled(read_volume(image), read_segmentation(mask).labels.array > 0, size)
    slices = [int(k) for k in quartile_slices(wall)]
    support = Segmentation(volume.with_array(paint_slices(np.where(wall, 1, 2).astype(np.int32), slices)),
                           segments_for([1, 2], {1: "LV_myocardium", 2: "background"}))
    prior = FewShotSession(device="cpu")
    prior.set_volume(volume)
    checked = check_support(support, volume)
    painted = class_index_map(checked)
    where = painted_voxels(painted, checked.slices)
    return prior, painted, where


def paint_change_seconds(size: int, variants: Sequence[str], repeats: int = 5) -> dict:
    """Per variant, the seconds of each cross-fitted prior for one paint (`sized_paint`), variants in turn."""
    prior, painted, where = sized_paint(size)
    seconds: dict = {v: [] for v in variants}
    for _ in range(repeats):
        for variant in variants:
            settings = parse_variant(variant)
            started = time.perf_counter()
            if settings is None:
                CrossFittedPrior(prior, painted, where)
            else:
                HeadTunedPrior(prior, painted, where, settings)
            seconds[variant].append(time.perf_counter() - started)
    return seconds


def scored(case: Any, group: str, protocol: str, where: np.ndarray, method: str, labels: np.ndarray,
            state: int) -> Any:
    """A CaseResult of the labels: Dice per class name on the unpainted slices `where`."""
    from SPECTFewShotLib.research.evaluation.classify_evaluation import CaseResult
    from SPECTFewShotLib.research.evaluation.metrics import class_dice

    scores = class_dice(labels, case.class_map, case.classes, where)
    return CaseResult(case.name, group, protocol, method, {case.class_names[c]: scores[c] for c in case.classes},
                      0.0, random_state=state)


def report(text: str, output: Optional[str]) -> None:
    """Print a research run's markdown and, with -o, write it to that file too."""
    sys.stdout.write(text)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)


def variant_sections(variants: Sequence[str], results: dict, caption: Callable[[str], str]) -> str:
    """Each variant's share table (classify_evaluation.share_markdown) under its own heading, after the line
    `caption(variant)` (what the variant cost in the run)."""
    from SPECTFewShotLib.research.evaluation.classify_evaluation import share_markdown

    return "\n\n".join(f"### {variant}\n\n{caption(variant)}\n\n" + share_markdown(results[variant])
                       for variant in variants)


def report_run(text: str, started: float, output: Optional[str]) -> None:
    """`report` the run's markdown with the minutes since `started` (time.perf_counter) appended."""
    report(text + f"\n\n({(time.perf_counter() - started) / 60:.1f} min)\n", output)


def share_parser(description: str, variants: Sequence[str], variants_help: Optional[str] = None
                 ) -> argparse.ArgumentParser:
    """The options every prior-share research run takes: --real-model, --studies, --seeds, --variants, -o."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--real-model", action="append", default=[], metavar="PATIENT=MODEL")
    parser.add_argument("--studies", nargs="+", default=["001", "003"])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variants", nargs="+", default=list(variants), help=variants_help)
    parser.add_argument("-o", "--output", metavar="FILE.md")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the variants and print (and write) their shares."""
    from SPECTFewShotLib.research.evaluation.classify_evaluation import real_models_from

    parser = share_parser(__doc__.splitlines()[0], ["default", "full", "diagonal"])
    parser.add_argument("--cost", type=int, metavar="SIZE",
                        help="instead: each variant's seconds per paint change on the bundled study at SIZE^3")
    parser.add_argument("--prior-alone", action="store_true",
                        help="instead: what the cross-fitted prior alone says (held-out paint, unpainted slices)")
    args = parser.parse_args(argv)
    if args.prior_alone:
        for variant, rows in prior_alone_scores(args.studies, real_models_from(args.real_model), args.variants).items():
            for protocol in ("all", *dict.fromkeys(r["protocol"] for r in rows)):
                chosen = [r for r in rows if protocol in ("all", r["protocol"])]
                dice = {name: np.mean([r["dice"][name] for r in chosen if name in r["dice"]])
                        for name in ("LV_myocardium", "LV_blood_pool")}
                sys.stdout.write(f"{variant} {protocol} ({len(chosen)}): held-out log p "
                                 f"{np.mean([r['log_p'] for r in chosen]):.3f}, accuracy "
                                 f"{np.mean([r['accuracy'] for r in chosen]):.3f}; unpainted slices Dice "
                                 + " / ".join(f"{v:.3f}" for v in dice.values()) + "\n")
        return 0
    if args.cost:
        for variant, seconds in paint_change_seconds(args.cost, args.variants).items():
            sys.stdout.write(f"{variant}: median {np.median(seconds):.3f} s ("
                             + " ".join(f"{x:.2f}" for x in seconds) + ")\n")
        return 0
    started = time.perf_counter()
    results, seconds = evaluate(args.studies, real_models_from(args.real_model), args.variants,
                                [int(s) for s in args.seeds.split(",")])
    report_run(variant_sections(args.variants, results, lambda v: (
        f"Cross-fitted prior per paint change: median {np.median(seconds[v]):.3f} s (max {np.max(seconds[v]):.3f} s)")),
        started, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
