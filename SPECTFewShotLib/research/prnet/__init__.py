"""PRNet: a self-supervised relative-position network (research; the landmark localiser does not use it).

Modules: `config` (scale and architecture settings), `network` (encoder–decoder with a position head),
`patches` (count normalisation and patch sampling in LPS millimetres; the registration baseline uses them),
`model_io` (weights payload), `fusion` (several templates' placements combined, confidence wording), `localize`
(the import path of the staged landmark localiser, `SPECTFewShotLib.landmarks`). Importing this package does not
import torch.
"""
