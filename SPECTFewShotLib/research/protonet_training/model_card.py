"""The model card written next to trained ProtoNet weights: architecture, data, command, validation scores."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Optional, Sequence

from SPECTFewShotLib.io.atomic import write_text_atomic
from SPECTFewShotLib.protonet.embedding import WORKING_PIXEL_MM, DenseEmbedding
from SPECTFewShotLib.research.protonet_training.pretraining import PretrainingConfig
from SPECTFewShotLib.research.protonet_training.real_studies import RealRecipe
from SPECTFewShotLib.research.protonet_training.validation import DenseScores


@dataclass(frozen=True)
class TrainingSources:
    """Where the weights started and what beyond the default phantoms they saw, and the scores on unseen real
    studies (name -> myocardium Dice of the classifier alone)."""

    from_model: Optional[str] = None
    phantoms: str = "default"
    real_studies: list = field(default_factory=list)
    real_copies: int = 0
    real_scores: dict = field(default_factory=dict)
    recipe: Optional[RealRecipe] = None  # how the real copies were made into training studies (None: plain)
    real_checks: dict = field(default_factory=dict)  # study name -> [RealCheck] (validation.real_prior_checks)


PHANTOM_TEXT = {
    "default": "default configuration: mixed CZT/parallel-hole cameras, 4-6.8 mm voxels, clinical counts, OSEM",
    "real-like": "real-like configuration (phantom.config.real_like_config): CZT camera, 4-4.8 mm voxels, "
                 "70 x 70 x 50 heart-centred grid like the shared real studies, clinical counts, OSEM",
}


def _recipe_text(recipe: Optional[RealRecipe]) -> str:
    """What the real episodes painted, in words."""
    if recipe is None or recipe.plain:
        return "myocardium painted against everything else"
    parts = ["myocardium" + (" and the cavity the wall encloses as classes" if recipe.cavity else
                             " painted against everything else")]
    if recipe.crops:
        parts.append(f"the whole copy and {recipe.crops} random {recipe.crop_sizes[0]}-{recipe.crop_sizes[1]}^3 "
                     "crops around the wall per copy")
    if recipe.low_count_fraction > 0:
        parts.append(f"{recipe.low_count_fraction:.0%} of them thinned to {recipe.low_counts[0]:g}-"
                     f"{recipe.low_counts[1]:g} counts at the hottest voxels")
    return "; ".join(parts)


def write_model_card(path: str | os.PathLike, model_id: str, network: DenseEmbedding, config: PretrainingConfig,
                     seeds: Sequence[int], validation: Sequence[int], scores: DenseScores, history: list[dict],
                     command: str, seconds: float, init_weights: Optional[str],
                     sources: Optional[TrainingSources] = None) -> None:
    """Write the markdown model card (atomically)."""
    sources = sources or TrainingSources()
    initialisation = f"trunk from {os.path.basename(init_weights)}" if init_weights else "random (no ImageNet)"
    if sources.from_model:
        initialisation = f"fine-tuned from the registered embedding {sources.from_model}"
    if sources.real_studies:
        real_text = (f"- Real data: {sources.real_copies} augmented copies (in-plane turn, scale, shift, mirroring, "
                     f"extra Poisson noise) of each of {', '.join(sources.real_studies)} with its LV-wall mask, in "
                     f"{config.real_fraction:.0%} of the steps ({_recipe_text(sources.recipe)}).")
    else:
        real_text = "- No real patient data was used for training."
    checked = "\n".join(f"| {name} | {value:.3f} |" for name, value in sources.real_scores.items())
    real_rows = ("\n## Real studies never seen in training\nProtoNet classifier alone (no spatial prior, no "
                 "connectivity step, no per-study learning), LV myocardium painted against everything else on the "
                 "rounded quartile slices, Dice on the other slices:\n\n| study | myocardium Dice |\n|---|---|\n"
                 f"{checked}\n") if sources.real_scores else ""
    if sources.real_checks:
        rows_checked = "\n".join(
            f"| {name} | {c.setting} | {c.protocol} | {c.myocardium:.3f} | "
            f"{'-' if c.blood_pool is None else f'{c.blood_pool:.3f}'} |"
            for name, checks in sources.real_checks.items() for c in checks)
        real_rows += ("\nThe same classifier as the product uses the prior (validation.real_prior_checks: the whole "
                      "volume and crops around the wall with the cavity as a third class, painted quartile slices "
                      "or strokes):\n\n| study | setting | painting | myocardium | blood pool |\n"
                      "|---|---|---|---|---|\n"
                      f"{rows_checked}\n")
    parameters = sum(p.numel() for p in network.parameters())
    losses = [f"{h['step']}: {h['loss']:.3f}" for h in history[:: max(1, len(history) // 8)]]
    rows = ["| painting | method | class | mean Dice | min Dice | n |", "|---|---|---|---|---|---|"]
    for (protocol, method, name), values in sorted(scores.dice.items()):
        rows.append(f"| {protocol} | {method} | {name} | {sum(values) / len(values):.3f} | {min(values):.3f} | "
                    f"{len(values)} |")
    text = f"""# Model card: {model_id}

ProtoNet embedding for few-shot SPECT voxel classification (task `protonet`), SPECTFewShot.

## Network
- torchvision ResNet-18 trunk (`conv1` .. `layer{network.config.trunk_depth}`, ImageNet-compatible names and shapes)
  on three neighbouring axial slices; slices resampled to {WORKING_PIXEL_MM:g} mm pixels for the trunk; a
  feature-pyramid head ({network.config.deep_dim} channels) interpolated to the voxel grid, plus a full-resolution
  convolutional branch ({network.config.shallow_dim} channels); {network.config.metric} distance to prototypes,
  learned temperature {network.temperature:.4g}.
- {parameters:,} parameters, stored in float16.
- Initialisation: {initialisation}.

## Training data
- Phantom studies (SPECTFewShotLib.research.phantom.generate_study, {PHANTOM_TEXT[sources.phantoms]}) of training
  seeds {seeds[0]}-{seeds[-1]} ({len(seeds)} studies).
{real_text}
- Episodes: clinician-like phantom episodes (random tissue groupings, 1-3 painted axial slices through the LV,
  full slices or one-voxel strokes) and, in {config.superpixel_fraction:.0%} of the steps, self-supervised
  Felzenszwalb superpixel episodes (SSL-ALPNet style).
- No held-out seed (>= 1,000,000) was used for training or for choosing settings.
- Settings: `{json.dumps(config.to_dict())}`.
- Loss (step: class-balanced query NLL + 1 - soft Dice): {", ".join(losses)}.
  Training took {seconds / 60:.0f} min on this machine.

## Command
```
{command}
```

## Validation (phantom seeds {validation[0]}-{validation[-1]}, training range, not held out)
Dice on the unpainted slices, painting the rounded quartile slices of the LV myocardium's axial extent.

{chr(10).join(rows)}
{real_rows}
Held-out results (phantom seeds from 1,000,000 and the bundled real study, next to GrowCut and the random
forest): `spectfewshot evaluate classify`, quoted in docs/evaluation/classify/classify_protonet_prior.md.

## Licence
BSD-3-Clause, like the code. {"Real training data: PhysioNet MPS database (Calixto et al. 2025, "
"doi:10.13026/ce2z-dw74; Goldberger et al. 2000), Open Access." if sources.real_studies else
"Trained only on simulated data generated by this repository."}
"""
    write_text_atomic(path, text)
