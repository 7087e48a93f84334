"""Where the blood pool and the myocardium are lost far from the paint, and candidates for the prior's share that act
there (issue 34): a research module measured against the product's default in one run.

Where: per axial distance to the nearest painted slice (in slices), Dice and error voxels of the study classifier,
its ablation without ProtoNet, the cross-fitted prior's own argmax (the mean over the folds, what the learner reads)
and ProtoNet alone (`--stages prior`), one random state of the trees.

Candidates (variants; tokens joined by "+", "default" the product):

- `fill`: after the graph cut, unpainted voxels labelled neither myocardium nor blood pool that the labelled
  myocardium encloses (enclosure.enclosed_share >= ENCLOSED_SHARE; rays that leave the volume are no evidence) and
  that the cross-fitted prior calls blood pool (its argmax) become blood pool. `fillany`: the same without asking
  the prior (the control: does the prior's call matter?).
- `offD` (e.g. `off2`, `off4`): the prior's probabilities (the classes the learner reads, prior_channels) read at
  +-D voxels along each axis, 6 channels per class, as learner inputs (directional context).
- `sdist` / `sdistkept` / `sdistshape` / `sdistpool`: the signed distance (mm, negative inside) to the region that
  the prior's argmax calls each class (every class / the classes the learner reads / the myocardium and the blood
  pool / the blood pool), as learner inputs.

Cross-fitting holds: a painted voxel of fold f reads fold f's held-out probabilities (prototypes without fold f's
paint) at its offsets, and the signed distance to fold f's argmax; every other voxel reads the mean over the folds,
as the product's prior does (prior_features.py). The fill changes unpainted voxels only.

    python -m SPECTFewShotLib.research.evaluation.prior_far_slices --where --real-model 001=...not001.pt --studies 001
    python -m SPECTFewShotLib.research.evaluation.prior_far_slices --real-model 001=...not001.pt --studies 001 \\
        --seeds 0,1,2 --variants default fill off2 sdist -o FILE.md

Results: docs/evaluation/classify/classify_prior_far_slices.md and docs/decisions.md ("Candidates far from the
paint, measured").
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any, Iterator, Optional, Sequence
from unittest import mock

import numpy as np
from scipy import ndimage

from SPECTFewShotLib.classification.enclosure import ENCLOSED_SHARE, enclosed_share
from SPECTFewShotLib.classification.prior_features import CrossFittedPrior
from SPECTFewShotLib.research.evaluation.classify_evaluation import real_models_from
from SPECTFewShotLib.research.evaluation.prior_head_tuning import (
    ablated_settings,
    painted_settings,
    report_run,
    scored,
    share_parser,
    variant_sections,
)

FILLS = {"fill": "prior", "fillany": "any", "fillnear": "near", "fillstrict": "strict"}
DISTANCES = {"sdist": "all", "sdistkept": "kept", "sdistshape": "shape", "sdistpool": "pool"}
STRICT_SHARE = 0.9  # `fillstrict`: the share of the rays that must meet the wall
DISTANCE_BINS = ((1, 1), (2, 2), (3, 3), (4, 5), (6, 999))
DEFAULT_VARIANTS = ["default", "fill", "off2", "sdist"]
FAR_MM = 100.0  # the signed distance of a voxel when the prior's argmax never calls that class


def parse_variant(text: str) -> dict:
    """'default' or tokens joined by '+': a fill (FILLS), offD (D voxels), a distance (DISTANCES) -> the variant's
    settings {"fill": None or a FILLS value, "offsets": [D, ...], "distance": None or a DISTANCES value}."""
    settings: dict = {"fill": None, "offsets": [], "distance": None}
    if text == "default":
        return settings
    for token in text.split("+"):
        if token in FILLS:
            settings["fill"] = FILLS[token]
        elif token.startswith("off") and token[3:].isdigit():
            settings["offsets"].append(int(token[3:]))
        elif token in DISTANCES:
            settings["distance"] = DISTANCES[token]
        else:
            raise ValueError(f"unknown variant token {token!r} in {text!r}")
    return settings


def shifted(array: np.ndarray, axis: int, offset: int) -> np.ndarray:
    """array[..., x + offset, ...] along `axis` (the last three axes are k, j, i), clamped at the volume's faces."""
    axis = array.ndim - 3 + axis
    index = np.clip(np.arange(array.shape[axis]) + offset, 0, array.shape[axis] - 1)
    return np.take(array, index, axis=axis)


def signed_distance(region: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Signed distance (mm, float32) to the boundary of `region` (bool [k, j, i]): positive outside, negative inside;
    FAR_MM (or -FAR_MM) when the region is empty (or everything)."""
    if not region.any():
        return np.full(region.shape, FAR_MM, dtype=np.float32)
    if region.all():
        return np.full(region.shape, -FAR_MM, dtype=np.float32)
    outside = ndimage.distance_transform_edt(~region, sampling=spacing)
    inside = ndimage.distance_transform_edt(region, sampling=spacing)
    return np.minimum(outside - inside, FAR_MM).astype(np.float32)


class ExtendedPrior(CrossFittedPrior):
    """CrossFittedPrior with extra channels appended after its C classes: the kept classes' probabilities at
    offsets and the signed distances to the argmax's regions, cross-fitted (a painted voxel of fold f reads fold f's
    held-out cells; every other voxel the mean over the folds)."""

    def __init__(self, prior: Any, painted: np.ndarray, where: np.ndarray, keep: Sequence[int],
                 offsets: Sequence[int], distance_classes: Sequence[int], spacing: Sequence[float]) -> None:
        """As CrossFittedPrior; `keep`: the classes read at the `offsets` (voxels); `distance_classes`: the classes
        whose argmax region's signed distance is a channel; `spacing`: mm along k, j, i."""
        super().__init__(prior, painted, where)
        self.n_classes = self.mean_cells.shape[0]
        grid = prior.grid
        mean = grid.to_voxels(self.mean_cells)
        per_fold = [grid.to_voxels(cells) for cells in self.cells]
        fold_ids = np.unique(self.folds)
        channels: list[np.ndarray] = []
        train: list[np.ndarray] = []
        for offset in offsets:
            for axis in range(3):
                for sign in (-1, 1):
                    channels.extend(shifted(mean[c], axis, sign * offset) for c in keep)
                    column = np.empty((len(where), len(keep)), dtype=np.float32)
                    for fold, probabilities in zip(fold_ids, per_fold):
                        rows = np.flatnonzero(self.folds == fold)
                        position = where[rows].copy()
                        position[:, axis] = np.clip(position[:, axis] + sign * offset, 0,
                                                    probabilities.shape[1 + axis] - 1)
                        column[rows] = probabilities[(slice(None), *position.T)][list(keep)].T
                    train.append(column)
        if len(distance_classes):
            calls = mean.argmax(0)
            channels.extend(signed_distance(calls == c, spacing) for c in distance_classes)
            column = np.empty((len(where), len(distance_classes)), dtype=np.float32)
            for fold, probabilities in zip(fold_ids, per_fold):
                rows = np.flatnonzero(self.folds == fold)
                fold_calls = probabilities.argmax(0)
                for n, c in enumerate(distance_classes):
                    column[rows, n] = signed_distance(fold_calls == c, spacing)[tuple(where[rows].T)]
            train.append(column)
        self.extra_voxels = (np.stack(channels).astype(np.float32) if channels
                             else np.zeros((0, *mean.shape[1:]), dtype=np.float32))
        self.extra_train = np.concatenate(train, axis=1) if train else np.zeros((len(where), 0), dtype=np.float32)

    @property
    def extra_count(self) -> int:
        """How many channels follow the C class probabilities."""
        return self.extra_voxels.shape[0]

    def held_out(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The painted voxels' held-out probabilities [n, C] followed by their extra channels [n, E]."""
        base = super().held_out(rows)
        extra = self.extra_train if rows is None else self.extra_train[np.asarray(rows)]
        return np.concatenate([base, extra], axis=1)

    def voxels(self, classes: Optional[list[int]] = None) -> np.ndarray:
        """Channels [len(classes), k, j, i]: indices below C are class probabilities (the mean over the folds),
        C and above the extra channels (all channels when None)."""
        if classes is None:
            classes = list(range(self.n_classes + self.extra_count))
        base = [c for c in classes if c < self.n_classes]
        extra = [c - self.n_classes for c in classes if c >= self.n_classes]
        assert classes == base + [c + self.n_classes for c in extra], "class channels first, then extra ones"
        parts = []
        if base:
            parts.append(super().voxels(base))
        if extra:
            parts.append(self.extra_voxels[extra])
        return np.concatenate(parts) if len(parts) > 1 else parts[0]


@contextlib.contextmanager
def learner_channels(support: Any, volume: Any, settings: dict) -> Iterator[None]:
    """The study session's cross-fitted prior replaced by ExtendedPrior with the variant's channels, and the learner
    reading them (prior_channels extended), for the checked `support` on `volume`; nothing replaced when the
    variant adds no channel."""
    if not settings["offsets"] and settings["distance"] is None:
        yield
        return
    from SPECTFewShotLib.classification import session as session_module

    original = session_module.prior_channels
    made: list = []

    def factory(prior: Any, painted: np.ndarray, where: np.ndarray) -> CrossFittedPrior:
        keep = original(support)
        n_classes = int(painted.max()) + 1
        roles = session_module.cavity_classes(support)
        distance = {None: [], "all": list(range(n_classes)), "kept": keep,
                    "shape": list(roles) if roles else list(range(n_classes)),
                    "pool": [roles[1]] if roles else list(range(n_classes))}[settings["distance"]]
        built = ExtendedPrior(prior, painted, where, keep, settings["offsets"], distance,
                              session_module.spacing_kji(volume))
        made.append(built)
        return built

    def channels(checked: Any) -> list[int]:
        keep = original(checked)
        built = made[-1]
        return keep + list(range(built.n_classes, built.n_classes + built.extra_count))

    with mock.patch.object(session_module, "CrossFittedPrior", factory), \
            mock.patch.object(session_module, "prior_channels", channels):
        yield


def cavity_fill(support: Any, volume: Any, prior: Any, labels: np.ndarray, mode: str) -> np.ndarray:
    """The labels (class values) with the fill applied: unpainted voxels labelled neither myocardium nor blood pool
    that the labelled myocardium encloses become blood pool, where the cross-fitted prior's argmax is blood pool
    (`mode` "prior"; "near": and in a region of such voxels touching the labelled blood pool; "strict": enclosed
    along STRICT_SHARE of the rays) or wherever enclosed ("any"). Unchanged without named myocardium and blood
    pool classes. `support`: the checked paint; `prior`: its CrossFittedPrior."""
    from SPECTFewShotLib.classification.session import cavity_classes, spacing_kji
    from SPECTFewShotLib.protonet.support import class_index_map

    roles = cavity_classes(support)
    if roles is None:
        return labels
    values = np.asarray(support.class_labels)
    wall_value, pool_value = values[roles[0]], values[roles[1]]
    painted = class_index_map(support)
    wall = labels == wall_value
    candidates = (painted < 0) & ~wall & (labels != pool_value)
    if mode != "any":
        candidates &= prior.voxels(list(range(prior.mean_cells.shape[0]))).argmax(0) == roles[1]
    if mode == "near":  # only the candidates' regions that touch the labelled blood pool
        regions, _ = ndimage.label(candidates, structure=np.ones((3, 3, 3), dtype=bool))
        touching = np.unique(regions[ndimage.binary_dilation(labels == pool_value, np.ones((3, 3, 3), bool))])
        candidates &= np.isin(regions, touching[touching > 0])
    points = np.argwhere(candidates)
    out = labels.copy()
    if len(points):
        share = enclosed_share(wall, points, spacing_kji(volume))
        chosen = points[share >= (STRICT_SHARE if mode == "strict" else ENCLOSED_SHARE)]
        out[tuple(chosen.T)] = pool_value
    return out


def evaluate(studies: Sequence[str], real_models: dict, variants: Sequence[str], states: Sequence[int]
             ) -> tuple[dict, dict]:
    """Per variant, the CaseResults of the study classifier and of its ablation without ProtoNet (run once per
    setting and state, shared) on the conditions of the chosen studies; per variant, seconds per predict."""
    from SPECTFewShotLib.research.evaluation.classify_evaluation import STUDY

    results: dict = {v: [] for v in variants}
    seconds: dict = {v: [] for v in variants}
    parsed = {v: parse_variant(v) for v in variants}
    checked: dict = {}
    for group, case, session, where, protocol, painted, state, without in ablated_settings(studies, real_models,
                                                                                           states):
        if checked.get("painted") is not painted:
            checked = {"painted": painted, "paint": checked_paint(painted, case.volume)}
        support, paint_index, paint_where = checked["paint"]
        cache: dict = {}
        for variant in variants:
            settings = parsed[variant]
            key = (tuple(settings["offsets"]), settings["distance"])
            started = time.perf_counter()
            if key not in cache:
                session.set_support(painted)  # a new cross-fitted prior for these channels
                with learner_channels(support, case.volume, settings):
                    cache[key] = (session.predict("full").labels.labels.array,
                                  session.cross_fitted_prior(paint_index, paint_where))
            labels, prior = cache[key]
            if settings["fill"]:
                labels = cavity_fill(support, case.volume, prior, labels, settings["fill"])
            seconds[variant].append(time.perf_counter() - started)
            results[variant] += [without, scored(case, group, protocol, where, STUDY, labels, state)]
    return results, seconds


def checked_paint(painted: Any, volume: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """The painted Segmentation checked on the volume (a PaintedSupport), its class indices [k, j, i] (-1
    unpainted) and its painted voxels (n, 3), as the study session reads them."""
    from SPECTFewShotLib.protonet.support import check_support, class_index_map, painted_voxels

    support = check_support(painted, volume)
    index = class_index_map(support)
    return support, index, painted_voxels(index, support.slices)


def distance_to_paint(shape: Sequence[int], slices: Sequence[int]) -> np.ndarray:
    """Per axial slice k, its distance (in slices) to the nearest painted slice (0 on a painted one)."""
    k = np.arange(shape[0])
    return np.min(np.abs(k[:, None] - np.asarray(list(slices))[None, :]), axis=1)


def where_lost(studies: Sequence[str], real_models: dict, state: int = 0, variants: Sequence[str] = ()
               ) -> list[dict]:
    """One row per setting, method and distance bin: per class name the Dice within the bin's unpainted slices and
    the error voxels (false negatives, false positives, and the class the missed voxels went to), for the study
    classifier, its ablation, the cross-fitted prior's argmax, ProtoNet alone (`--stages prior`) and the
    `variants` (other than "default")."""
    from SPECTFewShotLib.research.evaluation.metrics import dice

    rows = []
    for group, case, session, where, protocol, painted in painted_settings(studies, real_models):
        support, paint_index, paint_where = checked_paint(painted, case.volume)
        session.random_state = state
        session.set_support(painted)
        methods = {"without ProtoNet": session.predict("full", use_protonet=False).labels.labels.array}
        session.set_support(painted)
        methods["full"] = session.predict("full").labels.labels.array
        values = np.asarray(support.class_labels)
        calls = values[session.cross_fitted_prior(paint_index, paint_where).voxels().argmax(0)]
        calls[paint_index >= 0] = values[paint_index[paint_index >= 0]]
        methods["prior argmax (cross-fitted)"] = calls
        methods["ProtoNet alone (stages prior)"] = session.predict("prior").labels.labels.array
        for variant in (v for v in variants if v != "default"):
            settings = parse_variant(variant)
            session.set_support(painted)
            with learner_channels(support, case.volume, settings):
                labels = session.predict("full").labels.labels.array
            if settings["fill"]:
                labels = cavity_fill(support, case.volume, session.cross_fitted_prior(paint_index, paint_where),
                                     labels, settings["fill"])
            methods[variant] = labels
        distance = distance_to_paint(case.class_map.shape, case.slices)[:, None, None]
        for low, high in DISTANCE_BINS:
            chosen = where & (distance >= low) & (distance <= high)
            if not chosen.any():
                continue
            for method, labels in methods.items():
                row = {"group": group, "case": case.name, "protocol": protocol, "method": method,
                       "bin": (low, high), "voxels": int(chosen.sum())}
                for c in case.classes:
                    name = case.class_names[c]
                    truth, said = case.class_map == c, labels == c
                    missed = truth & ~said & chosen
                    row[name] = {"dice": dice(said, truth, chosen), "truth": int((truth & chosen).sum()),
                                 "fn": int(missed.sum()), "fp": int((said & ~truth & chosen).sum()),
                                 "missed_as": {case.class_names[o]: int((missed & (labels == o)).sum())
                                               for o in case.classes if o != c}}
                rows.append(row)
        sys.stdout.write(f"  {case.name} {protocol}\n")
        sys.stdout.flush()
    return rows


def where_markdown(rows: Sequence[dict]) -> str:
    """where_lost's rows as markdown: per protocol, method and distance bin, the mean Dice over the settings with
    the class present in the bin, and the error voxels summed (missed as which class)."""
    lines = []
    names = ("LV_myocardium", "LV_blood_pool")
    for protocol in ("all", *dict.fromkeys(r["protocol"] for r in rows)):
        chosen = [r for r in rows if protocol in ("all", r["protocol"])]
        lines += [f"#### {protocol}", "",
                  "| distance (slices) | method | settings | myocardium Dice | blood pool Dice | myocardium FN / FP | "
                  "blood pool FN / FP | blood pool missed as |", "|---|---|---|---|---|---|---|---|"]
        for low, high in DISTANCE_BINS:
            for method in dict.fromkeys(r["method"] for r in chosen):
                mine = [r for r in chosen if r["bin"] == (low, high) and r["method"] == method]
                if not mine:
                    continue
                cells = []
                for name in names:
                    present = [r[name]["dice"] for r in mine if name in r and r[name]["truth"] > 0]
                    cells.append(f"{np.mean(present):.3f} ({len(present)})" if present else "-")
                errors = [f"{sum(r[n]['fn'] for r in mine if n in r)} / {sum(r[n]['fp'] for r in mine if n in r)}"
                          for n in names]
                missed: dict = {}
                for r in mine:
                    for other, count in r.get("LV_blood_pool", {}).get("missed_as", {}).items():
                        missed[other] = missed.get(other, 0) + count
                span = f"{low}" if low == high else (f"{low}-{high}" if high < 999 else f">= {low}")
                lines.append(f"| {span} | {method} | {len(mine)} | {cells[0]} | {cells[1]} | {errors[0]} | "
                             f"{errors[1]} | " + ", ".join(f"{k} {v}" for k, v in missed.items()) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the measurement (--where) or the variants, print and write the markdown."""
    parser = share_parser(__doc__.splitlines()[0], DEFAULT_VARIANTS,
                          "with --where: the variants measured beside the product (none unless given)")
    parser.add_argument("--where", action="store_true",
                        help="instead: where the classes are lost, per distance to the paint (the first seed)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.where:
        variants = [v for v in args.variants if v != "default"] if args.variants != DEFAULT_VARIANTS else []
        text = where_markdown(where_lost(args.studies, real_models_from(args.real_model), seeds[0], variants))
    else:
        results, seconds = evaluate(args.studies, real_models_from(args.real_model), args.variants, seeds)
        text = variant_sections(args.variants, results, lambda v: (
            f"Predict (with the fill) per setting: median {np.median(seconds[v]):.2f} s"))
    report_run(text, started, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
