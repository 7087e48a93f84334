"""Commands with sub-commands contributed by several parts of the library (`train`, `evaluate`, `bench`).

Each part adds an entry `name -> "module:function"` to the command's table; the function receives the
sub-parser, adds its arguments and calls `parser.set_defaults(func=run)`. A command with no entries is not
shown at all, so no placeholder sub-command ever appears.
"""

from __future__ import annotations

import argparse
import importlib

# command -> {sub-command: "SPECTFewShotLib.module:register_function"}
SUBCOMMANDS: dict[str, dict[str, str]] = {
    "train": {"protonet": "SPECTFewShotLib.commands.train_protonet:register",
              "prnet": "SPECTFewShotLib.commands.train_prnet:register"},
    "evaluate": {"realism": "SPECTFewShotLib.commands.phantom:register_realism",
                 "classify": "SPECTFewShotLib.commands.evaluate_classify:register",
                 "localize": "SPECTFewShotLib.commands.evaluate_localize:register"},
    "bench": {"phantom": "SPECTFewShotLib.commands.phantom:register_bench",
              "classify": "SPECTFewShotLib.commands.bench_classify:register",
              "localize": "SPECTFewShotLib.commands.bench_localize:register",
              "live-update": "SPECTFewShotLib.commands.bench_live_update:register"},
}
HELP = {
    "train": "train the shipped models (reproducible by seed)",
    "evaluate": "measure accuracy on held-out phantoms and the bundled study, next to the baselines",
    "bench": "time and memory benchmarks, next to the baselines, medians of several runs",
}

SUBCOMMAND_HELP = {
    "train protonet": "episodic meta-training of the ProtoNet embedding on phantom studies",
    "train prnet": "self-supervised training of the coarse and fine PRNet on phantom studies",
    "evaluate realism": "phantom realism numbers next to the bundled real study",
    "evaluate classify": "per-class Dice of ProtoNet, GrowCut and the random forest on the same paint",
    "evaluate localize": "landmark error (mm) of PRNet and affine registration on the same cases",
    "bench phantom": "seconds and peak memory to simulate a study",
    "bench classify": "ProtoNet's time and peak memory on a 128^3 volume, next to GrowCut",
    "bench localize": "seconds per volume to place landmarks, PRNet next to affine registration",
    "bench live-update": "what a stroke costs in the Slicer module, next to GrowCut",
}


def register_group(subparsers: argparse._SubParsersAction, command: str) -> None:
    """Add `command` with its registered sub-commands (nothing at all when it has none)."""
    entries = SUBCOMMANDS[command]
    if not entries:
        return
    parser = subparsers.add_parser(command, help=HELP[command], description=HELP[command])
    inner = parser.add_subparsers(dest=f"{command}_what", metavar="WHAT")
    inner.required = True
    for name, target in entries.items():
        module_name, function_name = target.split(":")
        register = getattr(importlib.import_module(module_name), function_name)
        register(inner.add_parser(name, help=SUBCOMMAND_HELP.get(f"{command} {name}")))
