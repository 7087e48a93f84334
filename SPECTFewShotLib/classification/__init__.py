"""Few-shot classification that learns from the study being painted.

Modules: `study_features` (per-volume filter bank at the volume's own resolution, computed once),
`paint_distances` (Euclidean and geodesic distances to each class's paint, leave-one-slice-out for training
voxels), `learner` (the per-study tree ensemble fitted on the painted voxels at every paint change),
`graph_cut` (multi-label alpha-expansion with contrast-sensitive Potts terms and painted voxels as hard
constraints), `session` (the live API: StudySession, classify_study). The ProtoNet prior lives in `protonet`.
Importing this package does not import torch or scikit-learn; its modules do.
"""
