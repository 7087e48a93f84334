"""Simulated cardiac SPECT studies (MCAT-like anatomy, attenuation, collimator blur, Poisson counts, OSEM) with
exact tissue labels and landmarks: `generate_study(seed, config) -> PhantomStudy`."""

from .config import PhantomConfig
from .study import PhantomStudy, generate_study

__all__ = ["PhantomConfig", "PhantomStudy", "generate_study"]
