"""Which phantom seeds train models and which are held out for evaluation: the two sets never meet."""

from __future__ import annotations

HELD_OUT_SEED_START = 1_000_000  # evaluation only; training commands refuse seeds from here on
VALIDATION_SEED_START = 900_000  # training range, kept apart from training seeds for choosing settings


def training_seeds(count: int, start: int = 0) -> list[int]:
    """`count` consecutive training seeds from `start` (all below the held-out range)."""
    seeds = list(range(start, start + count))
    if seeds and seeds[-1] >= HELD_OUT_SEED_START:
        raise ValueError(f"training seeds must stay below {HELD_OUT_SEED_START} (the held-out range)")
    return seeds


def held_out_seeds(count: int, skip: int = 0) -> list[int]:
    """`count` held-out evaluation seeds after the first `skip` (a fresh set for a new evaluation)."""
    if skip < 0:
        raise ValueError("skip must not be negative")
    return list(range(HELD_OUT_SEED_START + skip, HELD_OUT_SEED_START + skip + count))


def is_held_out(seed: int) -> bool:
    """Whether a seed belongs to the held-out evaluation range."""
    return seed >= HELD_OUT_SEED_START


def validation_seeds(count: int) -> list[int]:
    """The first `count` validation seeds (training range, never trained on: for model selection)."""
    return list(range(VALIDATION_SEED_START, VALIDATION_SEED_START + count))


def check_training_seeds(seeds: list[int]) -> None:
    """Refuse training seeds that reach the validation or the held-out range (InputError)."""
    from SPECTFewShotLib.errors import InputError

    if seeds and max(seeds) >= VALIDATION_SEED_START:
        raise InputError(f"training seeds must stay below {VALIDATION_SEED_START} (validation) "
                         f"and {HELD_OUT_SEED_START} (held-out evaluation)")
