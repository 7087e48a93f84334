"""Torch's CPU threads: run single-threaded inside a block, so that work can be spread over Python threads instead."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch single-threaded inside the block: k-means is hundreds of tiny operations, which stall for tens of
    milliseconds each with two threads whenever another process shares the cores (measured: 25x slower), and
    independent jobs (slice batches, templates) spread over Python threads, each single-threaded, use the cores
    better than torch's own threads do."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
