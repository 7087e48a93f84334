"""Cohorts: many studies through the single-study commands, one Dask task per study, and what a cohort gives.

- manifest.py: the manifest CSV (one row per study), checked up front; relative paths from the manifest's folder.
- study.py: one study's task (classify when painted, localize, polar-map, exactly the `spectfewshot` commands, in
  the worker), its content hash and the record `study.json` beside its outputs (what makes a rerun skip it).
- table.py: the cohort table (`cohort.csv`, and Parquet when pyarrow is installed).
- figure.py: the cohort polar map (mean and SD of each segment's uptake, per group).
- normals.py: per-segment normal limits from a cohort's normal studies (the `polar-map --normals` format).
- runner.py: the Dask engine: a local cluster or an existing scheduler, progress, a dead worker's study retried.
- batch_command.py, normals_command.py: the `spectfewshot batch` and `spectfewshot normals` commands.
"""

COMMAND_MODULES = ("batch_command", "normals_command")
