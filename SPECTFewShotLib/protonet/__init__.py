"""ProtoNet few-shot classification of SPECT voxels: painted shots -> prototypes -> every voxel classified.

Modules: `normalization` (robust count scaling), `embedding` (the ResNet-18-trunk dense embedding network),
`features` (the network over a whole volume, with progress and cancel), `prototypes` (masked average pooling,
several prototypes per heterogeneous class, distances to probabilities), `support` (checking a painted support
against the volume), `refinement` (connectivity to the painted voxels), `model_store` (building the network from
registered weights), `session` (the live API: FewShotSession, classify_volume), `episodes` and `pretraining`
(episodic meta-training on phantoms and superpixel pseudo-classes), `patch_protocol` (the paper's 3-way patch test).
Importing this package does not import torch; its modules do.
"""
