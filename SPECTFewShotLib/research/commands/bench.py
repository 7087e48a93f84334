"""`spectfewshot bench ...`: sub-commands registered in registry_dispatch.SUBCOMMANDS["bench"]."""

from __future__ import annotations

import argparse

from SPECTFewShotLib.research.commands.registry_dispatch import register_group


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `bench` and its sub-commands (absent while none is registered)."""
    register_group(subparsers, "bench")
