"""Tc-99m sestamibi uptake of each tissue at rest, relative to normal LV myocardium (= 1); attenuation at 140 keV."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# Linear attenuation coefficients at 140 keV (narrow beam), per millimetre.
MU_SOFT_TISSUE = 0.0153
MU_LUNG = 0.0045
MU_BONE = 0.0250


@dataclass(frozen=True)
class UptakeRatios:
    """Activity concentration of each tissue relative to normal myocardium (ranges from rest MPI studies)."""

    blood: float
    rv_wall: float
    body: float
    lungs: float
    liver: float
    spleen: float
    stomach: float
    gut: tuple[float, ...]
    kidneys: float
    bone: float

    def as_dict(self) -> dict:
        """Plain dictionary (for the study's metadata)."""
        return {key: (list(value) if isinstance(value, tuple) else round(float(value), 4))
                for key, value in asdict(self).items()}


def sample_uptake(rng: np.random.Generator, gut_loops: int) -> UptakeRatios:
    """Draw uptake ratios of a rest sestamibi study (liver and gut up to about as hot as the heart: next to the
    inferior wall, real studies show 45-62 % of the wall's counts)."""
    return UptakeRatios(
        blood=rng.uniform(0.05, 0.14),
        rv_wall=rng.uniform(0.30, 0.55),
        body=rng.uniform(0.10, 0.18),
        lungs=rng.uniform(0.05, 0.12),
        liver=float(np.exp(rng.uniform(np.log(0.25), np.log(0.9)))),
        spleen=rng.uniform(0.2, 0.6),
        stomach=rng.uniform(0.1, 0.45),
        gut=tuple(float(np.exp(rng.uniform(np.log(0.25), np.log(1.0)))) for _ in range(gut_loops)),
        kidneys=rng.uniform(0.4, 1.2),
        bone=rng.uniform(0.03, 0.06),
    )
