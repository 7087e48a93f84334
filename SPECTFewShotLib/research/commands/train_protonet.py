"""`spectfewshot train protonet`: episodic meta-training of the ProtoNet embedding on phantom studies.

Generates (or reads from the cache) phantom studies of training seeds, trains the network on phantom and
superpixel episodes, validates it on validation seeds (training range, never the held-out evaluation seeds),
writes the weights in float16 to Resources/Models/<id>.pt with a model card, and registers them with their
SHA-256. Reproducible: the same seeds, settings and thread count give the same weights.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time

import numpy as np

from SPECTFewShotLib.research.commands.training_options import add_output_arguments, output_folder, phantom_cache
from SPECTFewShotLib.research.seeds import check_training_seeds, training_seeds, validation_seeds


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of `train protonet`."""
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
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
    add_output_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train, validate, save, register and write the model card."""
    import torch

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
    config = PretrainingConfig(iterations=args.iterations, seed=args.seed,
                               superpixel_fraction=args.superpixel_fraction)
    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(config.seed)
    network = DenseEmbedding(EmbeddingConfig.from_dict(config.embedding))
    if args.init_weights:
        state = torch.load(args.init_weights, map_location="cpu", weights_only=True)
        copied = load_imagenet_trunk(network, state.get("state_dict", state))
        print(f"trunk initialised from {args.init_weights} ({len(copied)} tensors)")

    started = time.perf_counter()
    studies = []
    for number, seed in enumerate(seeds, start=1):
        studies.append(load_study(seed, None, cache))
        if number % 10 == 0 or number == len(seeds):
            print(f"phantom studies: {number}/{len(seeds)} ({time.perf_counter() - started:.0f} s)", flush=True)
    data = TrainingData.from_studies(studies)
    del studies

    def show(fraction: float, message: str) -> None:
        print(f"  {message} ({time.perf_counter() - started:.0f} s)", flush=True)

    network, history = pretrain(data, config, network, progress=show)
    trained_seconds = time.perf_counter() - started
    scores = validate_dense(network, [load_study(s, None, cache) for s in validation])
    for line in scores.lines():
        print(line)

    command = "spectfewshot train protonet " + " ".join(shlex.quote(a) for a in sys.argv[3:]) \
        if sys.argv[1:3] == ["train", "protonet"] else "spectfewshot train protonet"
    weights = output_dir / f"{args.id}.pt"
    metadata = {"pretraining": json.dumps(config.to_dict()), "training_seeds": f"{seeds[0]}-{seeds[-1]}",
                "command": command}
    save_embedding(network, weights, metadata)
    card = output_dir / f"{args.id}.md"
    from SPECTFewShotLib.research.protonet_training.model_card import write_model_card

    write_model_card(card, args.id, network, config, seeds, validation, scores, history, command,
                     trained_seconds, args.init_weights)
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.1f} MB) and {card}")
    if output_dir.resolve() == MODELS_DIR.resolve():
        entry = ModelEntry(id=args.id, task="protonet", file=weights.name, sha256=sha256_of(weights), default=True,
                           classes=["any painted classes"], spacing_mm=None, card=card.name,
                           config=network.config.to_dict(), trained_with=command)
        register_model(entry)
        print(f"registered {args.id} (sha256 {entry.sha256[:16]}...) as the default ProtoNet model")
    print(f"median validation Dice: {np.median(scores.all_values()):.3f}")
    return 0
