"""`spectfewshot evaluate ...`: sub-commands registered in registry_dispatch.SUBCOMMANDS["evaluate"]."""

from __future__ import annotations

import argparse

from SPECTFewShotLib.research.commands.registry_dispatch import register_group


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `evaluate` and its sub-commands (absent while none is registered)."""
    register_group(subparsers, "evaluate")
