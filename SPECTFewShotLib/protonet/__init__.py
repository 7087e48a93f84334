"""ProtoNet few-shot classification of SPECT voxels: painted shots -> prototypes -> every voxel classified.

Modules: `normalization` (robust count scaling), `embedding_config` (the network's configuration and input geometry),
`embedding` (the ResNet-18-trunk dense embedding network, torch), `onnx_embedding` (the same network exported to
ONNX, run by ONNX Runtime: the product's default), `resnet_trunk` (the ResNet-18 stages, torchvision's names),
`features` (the network over a whole volume, with progress and cancel; the feature grid), `prototypes` (masked average
pooling, several prototypes per heterogeneous class, distances to probabilities; numpy), `support` (checking a
painted support against the volume), `refinement` (connectivity to the painted voxels), `spatial_prior` (the shape
prior from the painted slices), `model_store` (building the torch network from registered weights),
`probability_io` (per-class probabilities as one vector volume). The session that classifies with ProtoNet alone
(FewShotSession) is classification/prior_session.py. Training (episodes, pretraining, prototypes with gradients, the
ONNX export) and the paper's patch test live in research/protonet_training.
Importing this package does not import torch; `embedding`, `resnet_trunk` and `model_store` do, the others do not.
"""
