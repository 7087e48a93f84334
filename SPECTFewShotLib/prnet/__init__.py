"""PRNet one-shot landmark localisation: self-supervised relative-position network, coarse-to-fine search.

Modules: `config` (scale and architecture settings), `network` (encoder–decoder with a position head),
`patches` (count normalisation and patch sampling in LPS millimetres), `masking` (random input blocks for the
reconstruction loss), `losses`, `pairs` (training pair sampling), `training`, `model_io` (weights payload),
`localize` (the `Localizer`). Importing this package does not import torch.
"""
