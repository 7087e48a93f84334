"""`spectfewshot train protonet`: episodic meta-training of the ProtoNet embedding on phantom studies.

Generates (or reads from the cache) phantom studies of training seeds, trains the network on phantom and
superpixel episodes (and, with --real-study, on augmented copies of real studies with their LV-wall masks),
validates it on validation seeds (training range, never the held-out evaluation seeds) and on every --check-study
(a real study it never saw: the ProtoNet classifier alone, three painted slices), writes the weights in float16 to
Resources/Models/<id>.pt with a model card, and registers them with their SHA-256 (as the task's default only
with --default). --from-model fine-tunes a registered embedding instead of starting from scratch.
Reproducible: the same seeds, settings and thread count give the same weights.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from SPECTFewShotLib.research.commands.training_options import add_output_arguments, output_folder, phantom_cache
from SPECTFewShotLib.research.seeds import check_training_seeds, training_seeds, validation_seeds


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of `train protonet`."""
    parser.add_argument("--id", default="protonet-spect-v1", help="model id (default: %(default)s)")
    parser.add_argument("--studies", type=int, default=96, help="phantom training studies (default: %(default)s)")
    parser.add_argument("--seed-start", type=int, default=0, help="first training seed (default: %(default)s)")
    parser.add_argument("--validation-studies", type=int, default=8,
                        help="validation studies from seed 900000 on (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=4000, help="training steps (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of episode sampling and initialisation")
    parser.add_argument("--superpixel-fraction", type=float, default=0.3,
                        help="share of steps with a self-supervised superpixel episode (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (default: %(default)s; one thread is fastest on a busy machine, and the "
                        "same thread count reproduces the same weights)")
    parser.add_argument("--init-weights", metavar="FILE",
                        help="start the trunk from a torchvision ResNet-18 state dict, e.g. ImageNet weights")
    parser.add_argument("--from-model", metavar="ID",
                        help="fine-tune this registered ProtoNet embedding (e.g. protonet-spect-v1)")
    parser.add_argument("--phantoms", choices=PHANTOM_PROFILES, default="default",
                        help="phantom configuration: the simulator's default mix, or real-like (CZT, 4-4.8 mm "
                        "voxels, 70 x 70 x 50 like the shared real studies) (default: %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="peak learning rate (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up steps (default: %(default)s)")
    parser.add_argument("--real-study", nargs=2, action="append", default=[], metavar=("IMAGE", "MASK"),
                        help="a real study and its LV-wall mask to train on (augmented copies; repeatable)")
    parser.add_argument("--real-copies", type=int, default=8, help="augmented copies per real study "
                        "(default: %(default)s)")
    parser.add_argument("--real-fraction", type=float, default=0.3,
                        help="share of steps on the real copies, when there are any (default: %(default)s)")
    parser.add_argument("--real-cavity", action="store_true",
                        help="in real copies, the cavity the wall encloses (as evaluate classify derives it) is a "
                        "class of its own in most episodes, as in the product's three-class crops")
    parser.add_argument("--real-crops", type=int, default=0, metavar="N",
                        help="random cubic crops (24-48 voxels, centre moved up to a third of the side) around the "
                        "wall per real copy, trained on beside the whole copy (default: %(default)s)")
    parser.add_argument("--real-low-count", type=float, default=0.0, metavar="FRACTION",
                        help="chance that a real copy or crop is thinned to 4-16 expected counts at its hottest "
                        "voxels (default: %(default)s)")
    parser.add_argument("--check-study", nargs=2, action="append", default=[], metavar=("IMAGE", "MASK"),
                        help="a real study (never trained on) to report the prior's Dice on (repeatable): the "
                        "ProtoNet classifier alone on the whole volume (2 classes) and on crops with the cavity as "
                        "a third class, painted slices and strokes")
    parser.add_argument("--baseline-model", metavar="FILE",
                        help="also report these weights (a .pt file or registered id) on every --check-study, by "
                        "the same code in the same run")
    parser.add_argument("--default", action="store_true", help="register the weights as the default ProtoNet model")
    add_output_arguments(parser)
    parser.set_defaults(func=run)


PHANTOM_PROFILES = ("default", "real-like")


def phantom_config(profile: str):
    """The PhantomConfig of a --phantoms profile (None: the simulator's default)."""
    from SPECTFewShotLib.research.phantom.config import real_like_config

    return real_like_config() if profile == "real-like" else None


def read_studies(pairs: list) -> list:
    """(name, volume, wall mask) of every (IMAGE, MASK) pair; the same file twice is refused."""
    from pathlib import Path

    from SPECTFewShotLib.errors import InputError
    from SPECTFewShotLib.research.evaluation.realism_behaviour import read_real_study

    studies = []
    for image, mask in pairs:
        if not Path(image).exists() or not Path(mask).exists():
            raise InputError(f"real study {image} or its mask {mask} not found")
        volume, wall = read_real_study(Path(image), Path(mask))
        studies.append((Path(image).name.split(".")[0], volume, wall))
    return studies


def report_checks(network, checks: list, label: str) -> tuple[dict, dict]:
    """Print ProtoNet alone on every check study (every setting and protocol, then the means); returns the
    whole-volume slices myocardium Dice per study and every study's checks."""
    from SPECTFewShotLib.research.protonet_training.validation import check_means, real_prior_checks

    scores, everything = {}, {}
    for name, volume, wall in checks:
        results = real_prior_checks(network, volume, wall)
        for result in results:
            print(f"[{label}] {result.line(name)}")
        myocardium, pool = check_means(results)
        print(f"[{label}] real study {name} (never seen): mean over the {len(results)} checks: myocardium "
              f"{myocardium:.3f}, blood pool {pool:.3f} (three-class checks)", flush=True)
        scores[name] = results[0].myocardium
        everything[name] = results
    return scores, everything


def run(args: argparse.Namespace) -> int:
    """Train, validate, save, register and write the model card."""
    import torch

    from SPECTFewShotLib.errors import InputError
    from SPECTFewShotLib.models.registry import MODELS_DIR, ModelEntry, register_model, sha256_of
    from SPECTFewShotLib.protonet.embedding import DenseEmbedding, EmbeddingConfig, load_imagenet_trunk
    from SPECTFewShotLib.protonet.model_store import save_embedding
    from SPECTFewShotLib.research.protonet_training.phantom_cache import load_study
    from SPECTFewShotLib.research.protonet_training.pretraining import PretrainingConfig, TrainingData, pretrain
    from SPECTFewShotLib.research.protonet_training.validation import validate_dense

    seeds = training_seeds(args.studies, args.seed_start)
    check_training_seeds(seeds)
    validation = validation_seeds(args.validation_studies)
    output_dir = output_folder(args)
    cache = phantom_cache(args)
    real = read_studies(args.real_study)
    checks = read_studies(args.check_study)
    trained_on = {str(Path(image).resolve()) for image, _ in args.real_study}
    if any(str(Path(image).resolve()) in trained_on for image, _ in args.check_study):
        raise InputError("a --check-study is also a --real-study: check on studies the model never saw")
    if args.real_crops < 0 or not 0.0 <= args.real_low_count <= 1.0:
        raise InputError("--real-crops must be >= 0 and --real-low-count between 0 and 1")
    phantoms = phantom_config(args.phantoms)
    config = PretrainingConfig(iterations=args.iterations, seed=args.seed, learning_rate=args.learning_rate,
                               warmup=args.warmup, superpixel_fraction=args.superpixel_fraction,
                               real_fraction=args.real_fraction if real else 0.0)
    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(config.seed)
    if args.from_model:
        from SPECTFewShotLib.protonet.model_store import load_embedding

        network, _ = load_embedding(args.from_model, "cpu")
        config = PretrainingConfig(**{**config.to_dict(), "embedding": network.config.to_dict()})
    else:
        network = DenseEmbedding(EmbeddingConfig.from_dict(config.embedding))
    if args.init_weights:
        state = torch.load(args.init_weights, map_location="cpu", weights_only=True)
        copied = load_imagenet_trunk(network, state.get("state_dict", state))
        print(f"trunk initialised from {args.init_weights} ({len(copied)} tensors)")

    started = time.perf_counter()
    studies = []
    for number, seed in enumerate(seeds, start=1):
        studies.append(load_study(seed, phantoms, cache))
        if number % 10 == 0 or number == len(seeds):
            print(f"phantom studies: {number}/{len(seeds)} ({time.perf_counter() - started:.0f} s)", flush=True)
    from SPECTFewShotLib.research.protonet_training.real_studies import RealRecipe, real_training_studies

    recipe = RealRecipe(cavity=args.real_cavity, crops=args.real_crops, low_count_fraction=args.real_low_count)
    copies = real_training_studies([(v, w) for _, v, w in real], args.real_copies, args.seed, recipe)
    data = TrainingData.from_studies(studies, copies)
    del studies, copies

    def show(fraction: float, message: str) -> None:
        print(f"  {message} ({time.perf_counter() - started:.0f} s)", flush=True)

    network, history = pretrain(data, config, network, progress=show)
    trained_seconds = time.perf_counter() - started
    scores = validate_dense(network, [load_study(s, phantoms, cache) for s in validation])
    for line in scores.lines():
        print(line)
    real_scores, real_checks = report_checks(network, checks, "these weights")
    if args.baseline_model:
        from SPECTFewShotLib.protonet.model_store import load_embedding

        report_checks(load_embedding(args.baseline_model, "cpu")[0], checks, f"baseline {args.baseline_model}")

    command = "spectfewshot train protonet " + " ".join(shlex.quote(a) for a in sys.argv[3:]) \
        if sys.argv[1:3] == ["train", "protonet"] else "spectfewshot train protonet"
    weights = output_dir / f"{args.id}.pt"
    metadata = {"pretraining": json.dumps(config.to_dict()), "training_seeds": f"{seeds[0]}-{seeds[-1]}",
                "command": command, "real_studies": ",".join(name for name, _, _ in real)}
    save_embedding(network, weights, metadata)
    card = output_dir / f"{args.id}.md"
    from SPECTFewShotLib.research.protonet_training.model_card import TrainingSources, write_model_card

    write_model_card(card, args.id, network, config, seeds, validation, scores, history, command,
                     trained_seconds, args.init_weights, TrainingSources(args.from_model, args.phantoms,
                                                                         [name for name, _, _ in real],
                                                                         args.real_copies, real_scores,
                                                                         recipe, real_checks))
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.1f} MB) and {card}")
    if output_dir.resolve() == MODELS_DIR.resolve():
        entry = ModelEntry(id=args.id, task="protonet", file=weights.name, sha256=sha256_of(weights),
                           default=bool(args.default),
                           classes=["any painted classes"], spacing_mm=None, card=card.name,
                           config=network.config.to_dict(), trained_with=command)
        register_model(entry)
        role = "the default ProtoNet model" if args.default else "a ProtoNet model (not the default)"
        print(f"registered {args.id} (sha256 {entry.sha256[:16]}...) as {role}")
    print(f"median validation Dice: {np.median(scores.all_values()):.3f}")
    return 0
