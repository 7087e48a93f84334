"""`spectfewshot train prnet`: self-supervised training of the coarse and fine PRNet on phantom studies.

Generates (or reads from the shared phantom cache) studies of training seeds, trains the coarse then the fine
scale on pairs of patches of the same study (no labels), writes Resources/Models/<id>.pt (coarse + fine in one file)
with a model card holding the networks' pair-offset errors, and registers it with its SHA-256. PRNet is a research
model: the product's staged landmark localiser does not load it. Reproducible: the same seeds,
settings and thread count give the same weights.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import replace

from SPECTFewShotLib.errors import InputError
from SPECTFewShotLib.research.commands.training_options import add_output_arguments, output_folder, phantom_cache
from SPECTFewShotLib.research.seeds import check_training_seeds, training_seeds, validation_seeds


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of `train prnet`."""
    parser.add_argument("--variant", choices=("2.5d", "3d"), default="2.5d",
                        help="2.5d: 2D network on neighbouring axial slices; 3d: 3D patches (default: %(default)s)")
    parser.add_argument("--id", help="model id (default: prnet-<variant>-v1)")
    parser.add_argument("--studies", type=int, default=128, help="phantom training studies (default: %(default)s)")
    parser.add_argument("--seed-start", type=int, default=0, help="first training seed (default: %(default)s)")
    parser.add_argument("--coarse-steps", type=int, default=3000, help="coarse training steps (default: %(default)s)")
    parser.add_argument("--fine-steps", type=int, default=3000, help="fine training steps (default: %(default)s)")
    parser.add_argument("--groups", type=int, default=4, help="studies per step (default: %(default)s)")
    parser.add_argument("--group-size", type=int, default=8,
                        help="patches per study and step; each two form a pair (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of pair sampling and initialisation")
    parser.add_argument("--validation-studies", type=int, default=8,
                        help="validation phantoms from seed 900000 on (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 is fastest on busy shared cores; default: %(default)s)")
    parser.add_argument("--parallel-scales", action="store_true",
                        help="train the coarse and the fine scale at the same time in two processes of --threads "
                        "threads each (the same weights as one after the other, in about half the time)")
    parser.add_argument("--default", action="store_true", help="register as the default PRNet model")
    add_output_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train both scales, validate, save, register and write the model card."""
    import torch

    from SPECTFewShotLib.landmarks.prnet.config import default_scales
    from SPECTFewShotLib.landmarks.prnet.model_io import SCALES, save_pair
    from SPECTFewShotLib.models.registry import MODELS_DIR, ModelEntry, register_model, sha256_of
    from SPECTFewShotLib.research.prnet_training.config import TrainingConfig
    from SPECTFewShotLib.research.prnet_training.model_card import write_model_card
    from SPECTFewShotLib.research.prnet_training.training import train_scale
    from SPECTFewShotLib.research.protonet_training.phantom_cache import load_study

    seeds = training_seeds(args.studies, args.seed_start)
    check_training_seeds(seeds)
    if args.threads < 1:
        raise InputError("--threads must be at least 1")
    output_dir = output_folder(args)
    model_id = args.id or f"prnet-{args.variant.replace('.', '')}-v1"
    torch.set_num_threads(args.threads)
    cache = phantom_cache(args)

    started = time.perf_counter()
    volumes = []
    for number, seed in enumerate(seeds, start=1):
        volumes.append(load_study(seed, None, cache).image)
        if number % 16 == 0 or number == len(seeds):
            print(f"phantom studies: {number}/{len(seeds)} ({time.perf_counter() - started:.0f} s)", flush=True)

    scales = default_scales(args.variant)
    base = TrainingConfig(groups_per_batch=args.groups, patches_per_group=args.group_size, seed=args.seed)
    training = {"coarse": replace(base, steps=args.coarse_steps), "fine": replace(base, steps=args.fine_steps)}
    if args.parallel_scales:
        models, histories = _train_scales_in_parallel(volumes, scales, training, args.threads)
    else:
        models, histories = {}, {}
        for name in SCALES:
            def show(fraction: float, message: str, name: str = name) -> None:
                step = round(fraction * training[name].steps)
                if step % 250 == 0:
                    print(f"  {name}: {message} ({time.perf_counter() - started:.0f} s)", flush=True)

            models[name], histories[name] = train_scale(volumes, scales[name], training[name], progress=show)
    for name in SCALES:
        last = histories[name][-1]
        print(f"{name}: L_dis {last['dis']:.4f}  L_rec {last['rec']:.5f}  pair offset error {last['err_mm']:.1f} mm",
              flush=True)
    trained_seconds = time.perf_counter() - started
    del volumes

    validation = validation_seeds(args.validation_studies)
    # the product's localiser does not load PRNet, so the card reports the networks' own pair-offset errors
    lines = [f"{name}: L_dis {histories[name][-1]['dis']:.4f}, L_rec {histories[name][-1]['rec']:.5f}, "
             f"pair offset error {histories[name][-1]['err_mm']:.1f} mm" for name in SCALES]

    command = "spectfewshot train prnet " + " ".join(shlex.quote(a) for a in sys.argv[3:]) \
        if sys.argv[1:3] == ["train", "prnet"] else "spectfewshot train prnet"
    weights = save_pair(models, output_dir / f"{model_id}.pt",
                        {"variant": args.variant, "training_seeds": f"{seeds[0]}-{seeds[-1]}", "command": command})
    parameters = sum(p.numel() for m in models.values() for p in m.parameters())
    card = write_model_card(output_dir / f"{model_id}.md", model_id, scales, training, seeds, validation, lines,
                            histories, command, trained_seconds, parameters)
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.1f} MB) and {card}")
    if output_dir.resolve() == MODELS_DIR.resolve():
        config = {"scales": {name: scales[name].to_dict() for name in scales}, "variant": args.variant}
        entry = ModelEntry(id=model_id, task="prnet", file=weights.name, sha256=sha256_of(weights),
                           default=args.default, classes=["any template landmarks"], spacing_mm=None,
                           card=card.name, config=config, trained_with=command)
        register_model(entry)
        print(f"registered {model_id} (sha256 {entry.sha256[:16]}...)" + (" as the default PRNet model"
                                                                            if args.default else ""))
    return 0


def _train_one_scale(volumes, scale, training, threads: int):
    """One scale in a worker process: its state dict and loss history."""
    import torch

    from SPECTFewShotLib.research.prnet_training.training import train_scale

    torch.set_num_threads(threads)
    model, history = train_scale(volumes, scale, training)
    return model.state_dict(), history


def _train_scales_in_parallel(volumes, scales, training, threads: int):
    """Both scales at once in two spawned processes (each seeds itself as train_scale does, so the weights are
    those of a sequential run with the same thread count)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from SPECTFewShotLib.landmarks.prnet.model_io import SCALES
    from SPECTFewShotLib.landmarks.prnet.network import PRNet

    with ProcessPoolExecutor(max_workers=len(SCALES), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {name: pool.submit(_train_one_scale, volumes, scales[name], training[name], threads)
                   for name in SCALES}
        results = {name: future.result() for name, future in futures.items()}
    models, histories = {}, {}
    for name, (state, history) in results.items():
        models[name] = PRNet(scales[name])
        models[name].load_state_dict(state)
        models[name].eval()
        histories[name] = history
    print(f"trained {', '.join(SCALES)} in parallel", flush=True)
    return models, histories
