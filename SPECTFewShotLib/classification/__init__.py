"""Few-shot classification that learns from the study being painted.

Modules: `study_features` (per-volume filter bank at the volume's own resolution, computed once),
`paint_distances` (Euclidean and geodesic distances to each class's paint, leave-one-slice-out for training
voxels), `learner` (the per-study tree ensemble fitted on the painted voxels at every paint change),
`graph_cut` (multi-label alpha-expansion with contrast-sensitive Potts terms and painted voxels as hard
constraints), `prior_features` (ProtoNet's prototypes from the paint, cross-fitted into the learner's features),
`enclosure` (the blood pool kept inside the wall), `result` (labels and probabilities), `session` (the live API:
StudySession, classify_study), `prior_session` (FewShotSession: ProtoNet alone, `--stages prior`). The ProtoNet
network and prototypes live in `protonet`.
Importing this package does not import torch or scikit-learn; its modules do.
"""
