"""What only the Slicer application needs, above the MRML glue (Qt-free, tested headless).

- `panel`: `ModulePanel`, the module panel's actions (Classify, Place landmarks, Show views, Cancel, live update) on
  the scene's one job runner;
- `dependencies`: which Python packages the library needs inside Slicer and how Slicer installs them;
- `sample_data`: the bundled studies as Sample Data sources.
Importing this package imports none of them (each imports Slicer's parts lazily).
"""
