"""Baselines every classification is compared with on the same input: an ilastik-style random forest here, and
Slicer's GrowCut ("Grow from seeds") in growcut.py, and affine registration for landmarks."""
