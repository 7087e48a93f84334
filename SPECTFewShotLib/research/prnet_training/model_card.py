"""The model card (Resources/Models/<id>.md) of a trained PRNet pair: data, command, settings and scores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from SPECTFewShotLib.landmarks.prnet.config import ScaleConfig
from SPECTFewShotLib.research.prnet_training.config import TrainingConfig


def write_model_card(path: Path, model_id: str, scales: dict[str, ScaleConfig], training: dict[str, TrainingConfig],
                     seeds: Sequence[int], validation_seeds: Sequence[int], validation_lines: Sequence[str],
                     histories: dict[str, list[dict]], command: str, seconds: float, parameters: int) -> Path:
    """Write the card as Markdown; returns its path."""
    lines = [
        f"# {model_id}: PRNet one-shot landmark localiser ({scales['coarse'].variant})",
        "",
        "Coarse and fine PRNet (encoder–decoder with skip connections and a position head) trained without labels",
        "(relative offsets of patch pairs through R·tanh, plus reconstruction of randomly block-masked patches).",
        "Used by `spectfewshot localize` and the Slicer module to carry a template's landmarks to a new study.",
        "",
        "## Data",
        f"- {len(seeds)} simulated phantom studies, training seeds {seeds[0]}–{seeds[-1]} "
        "(SPECTFewShotLib.research.phantom,",
        "  default configuration); no labels or landmarks are used in training.",
        f"- Validation (model selection only): phantom seeds {validation_seeds[0]}–{validation_seeds[-1]} "
        "(training range, not the held-out evaluation seeds).",
        "- Never trained or tuned on the bundled real study or on held-out seeds (>= 1,000,000).",
        "",
        "## Command",
        f"    {command}",
        f"Training took {seconds / 60:.1f} min on the development machine (CPU); {parameters:,} parameters in all.",
        "",
        "## Settings",
    ]
    for name in ("coarse", "fine"):
        lines.append(f"- {name}: `{json.dumps(scales[name].to_dict())}`")
        t = training[name]
        lines.append(f"  training: {t.steps} steps of {t.groups_per_batch} groups of {t.patches_per_group} patches, "
                     f"lr {t.learning_rate}, "
                     f"mask fraction {t.mask_fraction}, rotations ±{t.rotation_degrees}°, scale ±{t.scale_jitter}, "
                     f"seed {t.seed}")
        if histories.get(name):
            last = histories[name][-1]
            lines.append(f"  final: L_dis {last['dis']:.4f}, L_rec {last['rec']:.5f}, "
                         f"pair offset error {last['err_mm']:.1f} mm")
    lines += ["", "## Scores", "Landmark error (mm) on the validation phantoms (each with the next one as template):",
              "", "```", *validation_lines, "```", "",
              "Held-out evaluation: `spectfewshot evaluate localize` (see docs/prnet.md).", "",
              "## Licence", "BSD-3-Clause, like the project; trained only on simulated data.", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
