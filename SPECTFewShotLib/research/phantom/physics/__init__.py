"""Imaging physics of the phantom simulator: camera models, the SPECT projector, scatter and counts."""
