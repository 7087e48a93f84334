"""The project's two vocabularies, each defined once: tissue classes and cardiac landmarks.

Everything that names a tissue or a landmark (CLI, MRML glue, Slicer module, phantoms, evaluation, figures,
tests) imports it from here. Label values are the ones written in the project's label volumes; colours are RGB in
0..1, close to Slicer's GenericAnatomyColors.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tissue:
    """One tissue class: its name (also the segment name), label value, colour, meaning and standard terminology."""

    name: str
    label: int
    color: tuple[float, float, float]
    description: str
    terminology: str = ""  # Slicer's serialised terminology entry ("" = none); see `terminology_entry`


@dataclass(frozen=True)
class CardiacLandmark:
    """One cardiac landmark: its name (the markup label), definition and colour."""

    name: str
    definition: str
    color: tuple[float, float, float]


# Slicer's terminology contexts (Terminologies module) whose SNOMED CT codes the painting classes carry.
TERMINOLOGY_CONTEXT = "Segmentation category and type - DICOM master list"
ANATOMIC_CONTEXT = "Anatomic codes - DICOM master list"


def terminology_entry(category: tuple[str, str], type_: tuple[str, str], region: tuple[str, str] | None = None
                      ) -> str:
    """A terminology entry of SNOMED CT (code, meaning) pairs, serialised as Slicer stores it in a segment's tag.

    Slicer's form: context~category~type~type modifier~anatomic context~anatomic region~region modifier, each
    code as scheme^value^meaning.
    """
    def code(pair: tuple[str, str] | None) -> str:
        return f"SCT^{pair[0]}^{pair[1]}" if pair else "^^"

    return "~".join((TERMINOLOGY_CONTEXT, code(category), code(type_), "^^", ANATOMIC_CONTEXT, code(region), "^^"))


_ANATOMICAL_STRUCTURE = ("123037004", "Anatomical Structure")
_TISSUE = ("85756007", "Tissue")
_LEFT_VENTRICLE = ("87878005", "Left ventricle")
# Slicer's DICOM master list has no myocardium type (its cardiac entries are Heart 80891009, the chambers, septa,
# valves and Pericardium): the LV wall is the Tissue category's Muscle in the anatomic region Heart, codes that list
# and its anatomic regions carry (Testing/product/test_slicer_conventions.py checks them against an excerpt of the
# lists).
_MUSCLE = ("71616004", "Muscle")
_HEART = ("80891009", "Heart")

TISSUES: tuple[Tissue, ...] = (
    Tissue("body", 1, (0.69, 0.48, 0.40), "soft tissue of the torso not named otherwise"),
    Tissue("lungs", 2, (0.77, 0.69, 0.81), "both lungs"),
    Tissue("liver", 3, (0.87, 0.51, 0.36), "liver, whose uptake often touches the inferior LV wall",
           terminology_entry(_ANATOMICAL_STRUCTURE, ("10200004", "Liver"))),
    Tissue("spleen", 4, (0.62, 0.40, 0.56), "spleen"),
    Tissue("stomach_gut", 5, (0.85, 0.73, 0.51), "stomach and bowel"),
    Tissue("kidneys", 6, (0.72, 0.61, 0.43), "both kidneys"),
    Tissue("LV_myocardium", 7, (0.85, 0.40, 0.31), "left-ventricular myocardium (the LV wall)",
           terminology_entry(_TISSUE, _MUSCLE, _HEART)),
    Tissue("LV_blood_pool", 8, (0.78, 0.20, 0.20), "left-ventricular cavity (blood pool)",
           terminology_entry(_ANATOMICAL_STRUCTURE, _LEFT_VENTRICLE)),
    Tissue("RV_blood_pool", 9, (0.55, 0.35, 0.70), "right-ventricular cavity"),
    Tissue("RV_wall", 10, (0.90, 0.60, 0.50), "right-ventricular wall"),
    Tissue("background", 11, (0.50, 0.68, 0.50), "everything the other painted classes are not",
           terminology_entry(_TISSUE, _TISSUE)),
)
TISSUE_BY_NAME = {tissue.name: tissue for tissue in TISSUES}
# The classes a clinician paints in the module, in the order the painting offers them.
PAINTING_CLASSES = ("LV_myocardium", "LV_blood_pool", "liver", "background")
# The tissues a phantom labels (every tissue but the painting-only background), name -> label value.
PHANTOM_LABEL_VALUES = {tissue.name: tissue.label for tissue in TISSUES if tissue.name != "background"}
# Other spellings of the same tissues that users and other tools write.
TISSUE_ALIASES = {"myocardium": "LV_myocardium", "blood_pool": "LV_blood_pool"}

LANDMARKS: tuple[CardiacLandmark, ...] = (
    CardiacLandmark("LV_center", "centroid of the LV myocardium", (1.0, 0.85, 0.2)),
    CardiacLandmark("LV_apex", "apical end of the LV myocardium on the long axis", (0.2, 0.8, 1.0)),
    CardiacLandmark("LV_base", "centre of the basal (mitral valve plane) ring of the LV myocardium",
                    (1.0, 0.4, 0.7)),
    CardiacLandmark("RV_insertion_anterior", "anterior RV insertion point on the LV, mid-ventricle", (0.6, 1.0, 0.4)),
    CardiacLandmark("RV_insertion_inferior", "inferior RV insertion point on the LV, mid-ventricle", (0.4, 0.6, 1.0)),
)
LANDMARK_BY_NAME = {landmark.name: landmark for landmark in LANDMARKS}
# The LV's three landmarks: what the localiser places and what can be derived from an LV-wall mask.
LV_LANDMARK_NAMES = ("LV_center", "LV_apex", "LV_base")


def tissue_of_segment(name: str, terminology: str = "") -> str | None:
    """The vocabulary tissue a segment means (None for others): by its name, ignoring case, spaces and hyphens, or
    an alias; else by the type and anatomic region codes of its terminology entry (Slicer's serialised form), except
    the generic Tissue entry, which Slicer gives every new segment."""
    def plain(text: str) -> str:
        return text.strip().lower().replace(" ", "_").replace("-", "_")

    wanted = plain(name)
    for candidate, tissue in ((plain(a), t) for a, t in (*TISSUE_ALIASES.items(), *((t, t) for t in TISSUE_BY_NAME))):
        if candidate == wanted:
            return tissue
    codes = _terminology_codes(terminology)
    if codes is not None and codes != (_TISSUE[0], ""):
        for tissue in TISSUES:
            if tissue.terminology and _terminology_codes(tissue.terminology) == codes:
                return tissue.name
    return None


def _terminology_codes(entry: str) -> tuple[str, str] | None:
    """The (type, anatomic region) code values of a serialised terminology entry; None when it names no type."""
    fields = entry.split("~")
    if len(fields) < 3:
        return None
    type_code = fields[2].split("^")[1] if fields[2].count("^") >= 1 else ""
    region_code = fields[5].split("^")[1] if len(fields) > 5 and fields[5].count("^") >= 1 else ""
    return (type_code, region_code) if type_code else None


def tissue_color(name: str) -> tuple[float, float, float] | None:
    """The colour of a known tissue name or alias (None for other names)."""
    tissue = TISSUE_BY_NAME.get(TISSUE_ALIASES.get(name, name))
    return tissue.color if tissue else None


def tissue_terminology(name: str) -> str:
    """The serialised terminology entry of a known tissue name or alias ("" for other names or none)."""
    tissue = TISSUE_BY_NAME.get(TISSUE_ALIASES.get(name, name))
    return tissue.terminology if tissue else ""
