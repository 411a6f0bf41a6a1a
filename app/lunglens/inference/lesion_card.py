"""The lesion model card: the JSON beside `models/lunglens-lesion.onnx` (DESIGN.md section 9).

The lesion model (Polat et al. 2021) classifies 28 x 28 grey patches of a lung-window rendering;
it is shipped as a fully convolutional graph that classifies every patch on a grid of
`output_stride` pixels in one pass over a whole image. Its card says what the classes are, how the
grey input is made, how large a patch is in mm, the output stride, what it was trained on under which
licences, the exact training command and the measured metrics. Written by
`models/export_lesion.py`, read by `lunglens.inference.lesion_model`.

Card format 1 described the earlier patch graph (image [N, 1, 28, 28] -> probabilities [N, 2]); such a
card is refused with the command that converts its model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from lunglens.inference.card import JsonCard

LESION_CARD_FORMAT = 2
CONVERT_COMMAND = "python -m models.export_lesion --convert CARD.json --out NEW.onnx"


@dataclass(frozen=True)
class LesionModelCard(JsonCard):
    """What a dense lesion model is and how it must be fed.

    Input `image`: float32 [N, 1, H, W] (H, W >= patch_px), grey 0..255 (see `input_grey`) at
    `pixel_mm` millimetres per pixel. Output `probabilities` [N, 2, (H - patch_px) // output_stride
    + 1, (W - patch_px) // output_stride + 1] in the order of `class_names`: at (i, j) the patch
    probability of the patch_px x patch_px patch whose top-left corner is (output_stride i,
    output_stride j); for H = W = patch_px the patch probability. `lesion_index` is the lesion class.
    """

    name: str
    version: str
    onnx_file: str
    """File name of the ONNX model, relative to the card's folder."""
    sha256: str
    class_names: tuple[str, ...]
    lesion_index: int
    patch_px: int
    pixel_mm: float
    """The physical pixel size the model assumes (mm); a patch covers patch_px x pixel_mm mm."""
    output_stride: int
    """Pixels between neighbouring outputs of the dense graph (the network's total pooling stride)."""
    input_grey: str = ""
    provenance: dict = field(default_factory=dict)
    training_data: tuple[dict, ...] = ()
    """Each source with its use and licence."""
    command: str = ""
    """The exact command that trained and exported the model."""
    intended_use: str = ""
    licence: str = ""
    architecture: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    card_format: int = LESION_CARD_FORMAT

    KIND: ClassVar[str] = "lesion model card"
    DERIVED: ClassVar[tuple[str, ...]] = ("patch_mm",)

    @property
    def patch_mm(self) -> float:
        """Side of one patch in mm."""
        return self.patch_px * self.pixel_mm

    @classmethod
    def from_dict(cls, data: dict) -> LesionModelCard:
        """A card from its JSON object; ValueError when a field is missing or out of range."""
        data = cls.json_object(data)
        if "covid_index" in data and "lesion_index" not in data:  # both cards have card_format 1
            raise ValueError(
                "a classifier model's card: it states covid_index where a lesion model card states "
                "lesion_index, patch_px and output_stride"
            )
        if data.get("card_format") == 1:
            raise ValueError(
                "a lesion model of the earlier patch contract (card format 1: image [N, 1, 28, 28] -> "
                "probabilities [N, 2]); LungLens needs its fully convolutional graph (card format "
                f"{LESION_CARD_FORMAT}): convert it with `{CONVERT_COMMAND}`"
            )
        values = cls.fields_of(data)
        values["class_names"] = tuple(str(n) for n in values["class_names"])
        values["training_data"] = tuple(values.get("training_data", ()))
        card = cls(**values)
        if (
            len(card.class_names) != 2
            or not isinstance(card.lesion_index, int)
            or not 0 <= card.lesion_index < 2
        ):
            raise ValueError("the card must name two classes and the lesion index (0 or 1)")
        if not isinstance(card.patch_px, int) or card.patch_px < 8:
            raise ValueError(f"patch_px must be an integer >= 8, found {card.patch_px!r}")
        if not isinstance(card.pixel_mm, (int, float)) or not 0.05 <= card.pixel_mm <= 10:
            raise ValueError(f"pixel_mm must be a size in mm (0.05-10), found {card.pixel_mm!r}")
        if not isinstance(card.output_stride, int) or not 1 <= card.output_stride <= card.patch_px:
            raise ValueError(f"output_stride must be an integer 1..patch_px, found {card.output_stride!r}")
        return card
