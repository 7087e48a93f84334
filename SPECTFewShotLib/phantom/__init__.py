"""Simulated cardiac SPECT studies (MCAT-like anatomy, attenuation, collimator blur, Poisson counts, OSEM) with
exact tissue labels and landmarks: `generate_study(seed, config) -> PhantomStudy`."""

from .anatomy import LABEL_VALUES
from .config import PhantomConfig
from .landmarks import LANDMARK_NAMES
from .study import PhantomStudy, generate_study

__all__ = ["LABEL_VALUES", "LANDMARK_NAMES", "PhantomConfig", "PhantomStudy", "generate_study"]
