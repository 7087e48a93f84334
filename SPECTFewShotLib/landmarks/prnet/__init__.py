"""PRNet's inference half in the product: the relative-position network (`network`), its settings (`config`),
count normalisation and patch sampling in LPS millimetres (`patches`), the weights file (`model_io`: from the model
registry, SHA-256 checked) and the refinement stage of the landmark localiser (`refine`). Training stays in
`research/prnet_training`. Importing this package does not import torch.
"""
