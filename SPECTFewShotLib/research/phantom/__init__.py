"""Simulated cardiac SPECT studies (MCAT-like anatomy, attenuation, collimator blur, Poisson counts, OSEM) with
exact tissue labels and landmarks: `generate_study(seed, config) -> PhantomStudy`."""

from SPECTFewShotLib.research.phantom.anatomy import LABEL_VALUES
from SPECTFewShotLib.research.phantom.config import PhantomConfig
from SPECTFewShotLib.research.phantom.landmarks import LANDMARK_NAMES
from SPECTFewShotLib.research.phantom.study import PhantomStudy, generate_study

__all__ = ["LABEL_VALUES", "LANDMARK_NAMES", "PhantomConfig", "PhantomStudy", "generate_study"]
