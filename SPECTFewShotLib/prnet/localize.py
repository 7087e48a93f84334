"""The localiser's import path for existing callers: the staged localiser in the LV's own frame
(`SPECTFewShotLib.landmarks.staged`) under the names this module has always given it."""

from __future__ import annotations

from ..landmarks.staged import Localizer, Placement, check_template

__all__ = ["Localizer", "Placement", "check_template"]
