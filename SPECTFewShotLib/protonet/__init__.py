"""ProtoNet few-shot classification of SPECT voxels: painted shots -> prototypes -> every voxel classified.

Modules: `normalization` (robust count scaling), `embedding` (the ResNet-18-trunk dense embedding network),
`resnet_trunk` (the ResNet-18 stages, torchvision's names), `features` (the network over a whole volume, with progress
and cancel), `prototypes` (masked average pooling, several prototypes per heterogeneous class, distances to
probabilities), `support` (checking a painted support against the volume), `refinement` (connectivity to the painted
voxels), `spatial_prior` (the shape prior from the painted slices), `model_store` (building the network from
registered weights), `probability_io` (per-class probabilities as one vector volume). The session that classifies
with ProtoNet alone (FewShotSession) is classification/prior_session.py. Training (episodes, pretraining) and the
paper's patch test live in research/protonet_training.
Importing this package does not import torch; its modules do.
"""
