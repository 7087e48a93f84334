"""Which phantom seeds train models and which are held out for evaluation: the two sets never meet."""

from __future__ import annotations

HELD_OUT_SEED_START = 1_000_000  # evaluation only; training commands refuse seeds from here on


def training_seeds(count: int, start: int = 0) -> list[int]:
    """`count` consecutive training seeds from `start` (all below the held-out range)."""
    seeds = list(range(start, start + count))
    if seeds and seeds[-1] >= HELD_OUT_SEED_START:
        raise ValueError(f"training seeds must stay below {HELD_OUT_SEED_START} (the held-out range)")
    return seeds


def held_out_seeds(count: int) -> list[int]:
    """The first `count` held-out evaluation seeds."""
    return list(range(HELD_OUT_SEED_START, HELD_OUT_SEED_START + count))


def is_held_out(seed: int) -> bool:
    """Whether a seed belongs to the held-out evaluation range."""
    return seed >= HELD_OUT_SEED_START
