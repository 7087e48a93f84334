"""`spectfewshot train ...`: sub-commands registered in registry_dispatch.SUBCOMMANDS["train"]."""

from __future__ import annotations

import argparse

from SPECTFewShotLib.research.commands.registry_dispatch import register_group


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `train` and its sub-commands (absent while none is registered)."""
    register_group(subparsers, "train")
