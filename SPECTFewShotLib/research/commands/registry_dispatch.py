"""Commands with sub-commands contributed by several parts of the library (`train`, `evaluate`, `bench`).

Each part adds an entry `name -> ("module:function", help)` to the command's table; the function receives the
sub-parser, adds its arguments and calls `parser.set_defaults(func=run)`. A command with no entries is not
shown at all, so no placeholder sub-command ever appears.
"""

from __future__ import annotations

import argparse
import importlib

# command -> {sub-command: ("SPECTFewShotLib.module:register_function", one-line help)}
SUBCOMMANDS: dict[str, dict[str, tuple[str, str]]] = {
    "train": {
        "protonet": ("SPECTFewShotLib.research.commands.train_protonet:register",
                     "episodic meta-training of the ProtoNet embedding on phantom studies"),
        "prnet": ("SPECTFewShotLib.research.commands.train_prnet:register",
                  "self-supervised training of the coarse and fine PRNet on phantom studies"),
    },
    "evaluate": {
        "realism": ("SPECTFewShotLib.research.commands.phantom:register_realism",
                    "phantom realism numbers next to the bundled real study"),
        "realism-behaviour": ("SPECTFewShotLib.research.commands.phantom:register_realism_behaviour",
                              "GrowCut and the forest on phantoms and real studies, painted alike, with statistics"),
        "classify": ("SPECTFewShotLib.research.commands.evaluate_classify:register",
                     "per-class Dice of ProtoNet, GrowCut and the random forest on the same paint"),
        "classify-ceiling": ("SPECTFewShotLib.research.commands.evaluate_classify_ceiling:register",
                             "oracle count thresholds that know each real study's mask, next to the classifier"),
        "localize": ("SPECTFewShotLib.research.commands.evaluate_localize:register",
                     "landmark error (mm) of PRNet and affine registration on the same cases"),
        "polar-map": ("SPECTFewShotLib.research.commands.evaluate_polar_map:register",
                      "polar-map defects found per AHA segment on held-out phantoms; real studies mask vs product"),
    },
    "bench": {
        "phantom": ("SPECTFewShotLib.research.commands.phantom:register_bench",
                    "seconds and peak memory to simulate a study"),
        "classify": ("SPECTFewShotLib.research.commands.bench_classify:register",
                     "ProtoNet's time and peak memory on a 128^3 volume, next to GrowCut"),
        "localize": ("SPECTFewShotLib.research.commands.bench_localize:register",
                     "seconds per volume to place landmarks, PRNet next to affine registration"),
        "live-update": ("SPECTFewShotLib.research.commands.bench_live_update:register",
                        "what a stroke costs in the Slicer module, next to GrowCut"),
        "views": ("SPECTFewShotLib.research.commands.bench_views:register",
                  "reorientation + polar map on a 128^3 study, and a moved axis line in the Slicer scene"),
        "batch": ("SPECTFewShotLib.research.commands.bench_batch:register",
                  "a cohort of 12 small studies on Dask, 1 worker against 2, next to the commands in one process"),
    },
}
HELP = {
    "train": "train the shipped models (reproducible by seed)",
    "evaluate": "measure accuracy on held-out phantoms and the bundled study, next to the baselines",
    "bench": "time and memory benchmarks, next to the baselines, medians of several runs",
}

def register_group(subparsers: argparse._SubParsersAction, command: str) -> None:
    """Add `command` with its registered sub-commands (nothing at all when it has none)."""
    entries = SUBCOMMANDS[command]
    if not entries:
        return
    parser = subparsers.add_parser(command, help=HELP[command], description=HELP[command])
    inner = parser.add_subparsers(dest=f"{command}_what", metavar="WHAT")
    inner.required = True
    for name, (target, help_text) in entries.items():
        module_name, function_name = target.split(":")
        module = importlib.import_module(module_name)
        getattr(module, function_name)(inner.add_parser(name, help=help_text, description=module.__doc__,
                                                        formatter_class=argparse.RawDescriptionHelpFormatter))
