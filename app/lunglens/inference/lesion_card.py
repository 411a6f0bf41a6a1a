"""The lesion model card: the JSON beside `models/lunglens-lesion.onnx` (DESIGN.md section 9).

The lesion model (Polat et al. 2021) classifies 28 x 28 grey patches of a lung-window rendering;
it is shipped as a fully convolutional graph that classifies every patch on a grid of
`output_stride` pixels in one pass over a whole image. Its card says what the classes are, how the
grey input is made, how large a patch is in mm, the output stride, what it was trained on under which
licences, the exact training command and the measured metrics. Written by
`models/export_lesion.py`, read by `lunglens.inference.lesion_model`.

Card format 1 described the earlier patch graph (image [N, 1, 28, 28] -> probabilities [N, 2]); such a
card is refused with the command that converts its model (`PatchContractError`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lunglens.atomic import write_atomically

LESION_CARD_FORMAT = 2
REQUIRED = (
    "name", "version", "onnx_file", "sha256", "class_names", "lesion_index", "patch_px", "pixel_mm",
    "output_stride",
)  # fmt: skip
CONVERT_COMMAND = "python -m models.export_lesion --convert CARD.json --out NEW.onnx"


class PatchContractError(ValueError):
    """A card of the earlier patch contract (format 1): its model classifies one patch per input."""


@dataclass(frozen=True)
class LesionModelCard:
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

    @property
    def patch_mm(self) -> float:
        """Side of one patch in mm."""
        return self.patch_px * self.pixel_mm

    def to_json(self) -> str:
        """The card as JSON; `patch_mm` (derived) is written too, for readers of the file."""
        data = asdict(self)
        data["patch_mm"] = self.patch_mm
        return json.dumps(data, indent=2) + "\n"

    def save(self, path: Path) -> None:
        """Write the card to `path` atomically: a failed or killed write leaves the card that was
        there (the model stays loadable). Raises WriteError."""
        write_atomically(Path(path), self.to_json().encode("utf-8"))

    @classmethod
    def from_dict(cls, data: dict) -> LesionModelCard:
        """A card from its JSON object; ValueError when a field is missing or out of range."""
        if not isinstance(data, dict):
            raise ValueError("a card is a JSON object")
        if "covid_index" in data and "lesion_index" not in data:  # both cards have card_format 1
            raise ValueError(
                "a classifier model's card: it states covid_index where a lesion model card states "
                "lesion_index, patch_px and output_stride"
            )
        if data.get("card_format") == 1:
            raise PatchContractError(
                "a lesion model of the earlier patch contract (card format 1: image [N, 1, 28, 28] -> "
                "probabilities [N, 2]); LungLens needs its fully convolutional graph (card format "
                f"{LESION_CARD_FORMAT}): convert it with `{CONVERT_COMMAND}`"
            )
        missing = [k for k in REQUIRED if k not in data]
        if missing:
            raise ValueError(f"lesion model card lacks {', '.join(missing)}")
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
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

    @classmethod
    def load(cls, path: Path) -> LesionModelCard:
        """Read a card; raises ValueError naming the file when it is not a valid lesion model card."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except PatchContractError as exc:
            raise PatchContractError(f"{path}: {exc}") from exc
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}: not a valid lesion model card ({exc})") from exc
