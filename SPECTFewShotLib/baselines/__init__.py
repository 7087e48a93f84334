"""Baselines every classification is compared with on the same input: an ilastik-style random forest here, and
Slicer's GrowCut ("Grow from seeds"), which is SPECTFewShotLib.mrml.grow_from_seeds."""
